"""`idflow project` and `idflow key`: projects and their management keys."""

from __future__ import annotations

import click

from idflow.cli.output import print_json, print_table, when
from idflow.cli.root import CliState, handled_errors, pass_state
from idflow.services import projects as project_service
from idflow.services.audit import CLI_ACTOR
from idflow.store import projects as project_store
from idflow.store.records import KeyScope


@click.group()
def project() -> None:
    """Create and list projects."""


@project.command("create")
@click.option(
    "--name", required=True, help="A name for people to recognise the project by."
)
@click.option(
    "--json",
    "json_output",
    is_flag=True,
    help="Print {projectId, managementKey} as JSON.",
)
@pass_state
def create_project(state: CliState, name: str, json_output: bool) -> None:
    """Create a project and print its id and first management key (shown once)."""
    with handled_errors(json_output):
        runtime = state.open()
        with runtime.store.begin() as conn:
            created, issued = project_service.create_project(conn, CLI_ACTOR, name)
    if json_output:
        print_json({"projectId": created.project_id, "managementKey": issued.secret})
        return
    click.echo(f"Project:        {created.project_id}  ({created.name})")
    click.echo(f"Management key: {issued.secret}")
    click.echo("The key is shown only now; store it safely. Use it as:")
    click.echo(f"  Authorization: Bearer {created.project_id}:<management key>")


@project.command("list")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@pass_state
def list_projects(state: CliState, json_output: bool) -> None:
    """List the projects in the store."""
    with handled_errors(json_output):
        runtime = state.open()
        with runtime.store.connect() as conn:
            found = project_store.list_projects(conn)
    if json_output:
        print_json(
            [
                {"projectId": p.project_id, "name": p.name, "createdTime": p.created_ms}
                for p in found
            ]
        )
        return
    print_table(
        ["PROJECT", "NAME", "CREATED (UTC)"],
        [(p.project_id, p.name, when(p.created_ms)) for p in found],
    )


@click.group()
def key() -> None:
    """Create, list and revoke management keys."""


@key.command("create")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--scope",
    type=click.Choice([s.value for s in KeyScope]),
    default=KeyScope.FULL.value,
    show_default=True,
    help="full: everything; read-only: reads only; run-flows: run flows only.",
)
@click.option(
    "--json", "json_output", is_flag=True, help="Print {keyId, managementKey} as JSON."
)
@pass_state
def create_key(state: CliState, name: str, scope: str, json_output: bool) -> None:
    """Make a management key for the project (the secret is shown once)."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.begin() as conn:
            issued = project_service.create_key(
                conn, CLI_ACTOR, chosen.project_id, name, KeyScope(scope)
            )
    if json_output:
        print_json(
            {"keyId": issued.key.key_id, "managementKey": issued.secret, "scope": scope}
        )
        return
    click.echo(f"Key {issued.key.key_id} ({scope}): {issued.secret}")
    click.echo("The secret is shown only now.")


@key.command("list")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@pass_state
def list_keys(state: CliState, json_output: bool) -> None:
    """List the project's management keys (never their secrets)."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.connect() as conn:
            keys = project_store.list_keys(conn, chosen.project_id)
    rows = [
        {
            "keyId": k.key_id,
            "name": k.name,
            "scope": str(k.scope),
            "createdTime": k.created_ms,
            "revokedTime": k.revoked_ms,
        }
        for k in keys
    ]
    if json_output:
        print_json(rows)
        return
    print_table(
        ["KEY", "NAME", "SCOPE", "CREATED (UTC)", "REVOKED"],
        [
            (
                k.key_id,
                k.name,
                k.scope,
                when(k.created_ms),
                when(k.revoked_ms) if k.revoked_ms else "",
            )
            for k in keys
        ],
    )


@key.command("revoke")
@click.argument("key_id")
@pass_state
def revoke(state: CliState, key_id: str) -> None:
    """Revoke a management key; API processes stop accepting it within seconds."""
    with handled_errors():
        chosen = state.project()
        with state.open().store.begin() as conn:
            done = project_service.revoke_key(
                conn, CLI_ACTOR, chosen.project_id, key_id
            )
    if not done:
        raise click.ClickException(
            f"No live key {key_id!r} in project {chosen.project_id}."
        )
    click.echo(f"Revoked {key_id}.")
