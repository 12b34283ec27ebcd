"""`idflow connector`: create, update, list, show, delete, test connectors; rotate the key.

JSON options take the JSON itself, `@path` for a file, or `-` for standard
input; secrets are best given by file or stdin, so they stay out of the shell
history. No command ever prints a secret.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from idflow.cli.output import compact, print_json, print_table, when
from idflow.cli.root import CliState, handled_errors, pass_state
from idflow.connectors.registry import KINDS
from idflow.connectors.secrets import (
    Keyring,
    generate_key,
    key_file_path,
    load_keyring,
    write_key_file,
)
from idflow.errors import InvalidArgument
from idflow.services import connectors as connector_service
from idflow.services.audit import CLI_ACTOR

_JSON_HELP = "JSON, @file or - for stdin."


def _json_object(value: str | None, option: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if value == "-":
        text = sys.stdin.read()
    elif value.startswith("@"):
        text = Path(value[1:]).read_text(encoding="utf-8")
    else:
        text = value
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"{option} is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"{option} must be a JSON object.")
    return data


def _show(view: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(view)
        return
    click.echo(f"Connector {view['name']} ({view['type']}), id {view['connectorId']}")
    click.echo(f"  settings: {compact(view['settings'])}")
    click.echo(f"  secrets:  {', '.join(view['secretNames']) or '(none)'}")
    click.echo(f"  modified: {when(view['modifiedTime'])} UTC")


@click.group()
def connector() -> None:
    """Configure the connectors flows call, and rotate the secret key."""


@connector.command("create")
@click.argument("name")
@click.option(
    "--type",
    "connector_type",
    required=True,
    type=click.Choice(sorted(KINDS)),
    help="The kind of connector.",
)
@click.option("--settings-json", "settings", help=f"The settings: {_JSON_HELP}")
@click.option("--secrets-json", "secrets", help=f"The secrets: {_JSON_HELP}")
@click.option(
    "--json", "json_output", is_flag=True, help="Print the connector as JSON."
)
@pass_state
def create(
    state: CliState,
    name: str,
    connector_type: str,
    settings: str | None,
    secrets: str | None,
    json_output: bool,
) -> None:
    """Create a connector; its secrets are encrypted before they are stored."""
    with handled_errors(json_output):
        chosen = state.project()
        runtime = state.open()
        keyring = runtime.connectors.keyring
        with runtime.store.begin() as conn:
            created = connector_service.create_connector(
                conn,
                keyring,
                CLI_ACTOR,
                chosen.project_id,
                name=name,
                connector_type=connector_type,
                settings=_json_object(settings, "--settings-json") or {},
                secrets=_json_object(secrets, "--secrets-json"),
            )
    _show(connector_service.connector_view(created), json_output)


@connector.command("update")
@click.argument("name")
@click.option("--settings-json", "settings", help=f"New settings, whole: {_JSON_HELP}")
@click.option(
    "--secrets-json",
    "secrets",
    help=f"Secrets to set (null removes one): {_JSON_HELP}",
)
@click.option(
    "--json", "json_output", is_flag=True, help="Print the connector as JSON."
)
@pass_state
def update(
    state: CliState,
    name: str,
    settings: str | None,
    secrets: str | None,
    json_output: bool,
) -> None:
    """Replace a connector's settings and/or set or remove some of its secrets."""
    with handled_errors(json_output):
        chosen = state.project()
        runtime = state.open()
        keyring = runtime.connectors.keyring
        with runtime.store.begin() as conn:
            changed = connector_service.update_connector(
                conn,
                keyring,
                CLI_ACTOR,
                chosen.project_id,
                name,
                settings=_json_object(settings, "--settings-json"),
                secrets=_json_object(secrets, "--secrets-json"),
            )
    _show(connector_service.connector_view(changed), json_output)


@connector.command("list")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@pass_state
def list_connectors(state: CliState, json_output: bool) -> None:
    """List the project's connectors (secret names only, never values)."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.connect() as conn:
            found = connector_service.list_connectors(conn, chosen.project_id)
    views = [connector_service.connector_view(c) for c in found]
    if json_output:
        print_json(views)
        return
    print_table(
        ["NAME", "TYPE", "SECRETS", "MODIFIED (UTC)"],
        [
            (v["name"], v["type"], ", ".join(v["secretNames"]), when(v["modifiedTime"]))
            for v in views
        ],
    )


@connector.command("show")
@click.argument("name")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@pass_state
def show(state: CliState, name: str, json_output: bool) -> None:
    """Show one connector's settings and the names of its secrets."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.connect() as conn:
            found = connector_service.require_connector(conn, chosen.project_id, name)
    _show(connector_service.connector_view(found), json_output)


@connector.command("delete")
@click.argument("name")
@pass_state
def delete(state: CliState, name: str) -> None:
    """Delete a connector; flow steps naming it fail from now on."""
    with handled_errors():
        chosen = state.project()
        with state.open().store.begin() as conn:
            connector_service.delete_connector(conn, CLI_ACTOR, chosen.project_id, name)
    click.echo(f"Deleted connector {name}.")


@connector.command("test")
@click.argument("name")
@click.option(
    "--request-json", "request", help=f"What to send, as a step would: {_JSON_HELP}"
)
@click.option("--json", "json_output", is_flag=True, help="Print the report as JSON.")
@pass_state
def test(state: CliState, name: str, request: str | None, json_output: bool) -> None:
    """Send a test request now and show what came back; exit 1 when it failed."""
    with handled_errors(json_output):
        chosen = state.project()
        runtime = state.open()
        with runtime.store.connect() as conn:
            resolved = connector_service.resolve_connector(
                conn, runtime.connectors.keyring, chosen.project_id, name
            )
        report = connector_service.probe_connector(
            runtime.connectors, resolved, _json_object(request, "--request-json")
        )
    if json_output:
        print_json(report)
    elif report["ok"]:
        click.echo(f"OK in {report['durationMs']} ms: {compact(report['result'])}")
    else:
        error = report["error"]
        click.echo(f"Failed ({error['code']}): {error['message']}", err=True)
    if not report["ok"]:
        sys.exit(1)


@connector.command("rotate-key")
@click.option(
    "--new-key",
    is_flag=True,
    help="With IDFLOW_SECRET_KEY: only print a new key to put first in it.",
)
@pass_state
def rotate_key(state: CliState, new_key: bool) -> None:
    """Re-encrypt every connector secret under a new key.

    With a key file (IDFLOW_SECRET_KEY_FILE, default var/secret.key), a new key
    is made and the file rewritten. With IDFLOW_SECRET_KEY, put the new key
    first (`--new-key` prints one), keep the old one after it, run this, then
    drop the old key.
    """
    env = state.settings.connectors.env
    with handled_errors():
        path = key_file_path(env)
        if path is None and new_key:
            click.echo(generate_key().to_text())
            return
        runtime = state.open()
        old = load_keyring(env)
        if path is None:
            count = _rekey(state, old)
            click.echo(
                f"Re-encrypted {count} connector(s) under key {old.current.key_id}. "
                "Remove the old keys from IDFLOW_SECRET_KEY once every process has the new one."
            )
            return

        fresh = generate_key()
        # Old keys stay in the file until every secret is re-encrypted, so a
        # crash at any point leaves every secret readable.
        write_key_file(path, (fresh, *old.keys))
        count = _rekey(state, Keyring((fresh, *old.keys), str(path)))
        write_key_file(path, (fresh,))
        runtime.connectors.use_keyring(Keyring((fresh,), str(path)))
    click.echo(
        f"Re-encrypted {count} connector(s) under the new key {fresh.key_id}, written to {path}. "
        "Running idflow processes read it on their next connector call."
    )


def _rekey(state: CliState, keyring: Keyring) -> int:
    with state.open().store.begin() as conn:
        return connector_service.rekey_all(conn, keyring, CLI_ACTOR)
