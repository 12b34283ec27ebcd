"""`idflow flow`: validate, apply, list, export, run, enable and disable flows."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from idflow.api.flows import run_failure
from idflow.cli.output import print_json, print_run, print_table, when
from idflow.cli.root import (
    EXIT_FAILED,
    EXIT_USAGE,
    CliState,
    handled_errors,
    pass_state,
)
from idflow.errors import FlowDefinitionError
from idflow.flows.files import load_flow_file
from idflow.services import flows as flow_service
from idflow.services import runs as run_service
from idflow.services.audit import CLI_ACTOR
from idflow.store.records import RunStatus, RunTrigger


@click.group()
def flow() -> None:
    """Validate, apply, list, export and run flows."""


@flow.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--json", "json_output", is_flag=True, help="Print every problem as JSON."
)
def validate(files: tuple[str, ...], json_output: bool) -> None:
    """Check flow files (YAML, JSON, or Descope exports) without storing them."""
    report = []
    failed = False
    for path in files:
        try:
            document, _ = load_flow_file(path)
            flow_service.check_document(document, path)
        except FlowDefinitionError as exc:
            failed = True
            report.append(
                {
                    "file": path,
                    "valid": False,
                    "problems": [p.to_dict() for p in exc.problems],
                }
            )
            if not json_output:
                click.echo(
                    click.style("invalid ", fg="red", bold=True) + exc.message, err=True
                )
            continue
        report.append(
            {
                "file": path,
                "valid": True,
                "flowId": document.get("flowId"),
                "problems": [],
            }
        )
        if not json_output:
            click.echo(
                click.style("valid   ", fg="green", bold=True)
                + f"{path} (flow {document.get('flowId')!r})"
            )
    if json_output:
        print_json(report)
    sys.exit(EXIT_USAGE if failed else 0)


@flow.command("apply")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--note", help="Why these versions are saved; kept with each version.")
@click.option(
    "--json", "json_output", is_flag=True, help="Print the saved versions as JSON."
)
@pass_state
def apply(
    state: CliState, files: tuple[str, ...], note: str | None, json_output: bool
) -> None:
    """Validate flow files and save each as a new version of its flow.

    All files are checked before any is saved, so a bad file saves nothing.
    A file whose content equals the flow's current version adds no version.
    """
    with handled_errors(json_output):
        documents = []
        for path in files:
            document, _ = load_flow_file(path)
            flow_service.check_document(document, path)
            documents.append((path, document))
        chosen = state.project()
        with state.open().store.begin() as conn:
            saved = [
                (
                    path,
                    # A file says whether its flow is switched off, as an
                    # export does, so applying it takes that switch too.
                    flow_service.import_flow(
                        conn,
                        CLI_ACTOR,
                        chosen.project_id,
                        document,
                        note=note,
                        source=path,
                    ),
                )
                for path, document in documents
            ]
    if json_output:
        print_json(
            [
                {
                    "file": p,
                    "flowId": s.version.flow_id,
                    "version": s.version.version,
                    "changed": s.changed,
                }
                for p, s in saved
            ]
        )
        return
    for path, result in saved:
        verb = "saved" if result.changed else "unchanged"
        click.echo(
            f"{verb:<9} {result.version.flow_id} v{result.version.version}  ({path})"
        )


@flow.command("list")
@click.option("--json", "json_output", is_flag=True, help="Print JSON.")
@pass_state
def list_flows(state: CliState, json_output: bool) -> None:
    """List the project's flows with their current versions."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.connect() as conn:
            found = flow_service.list_flows(conn, chosen.project_id)
    if json_output:
        print_json(
            [
                {
                    "id": f.flow_id,
                    "name": f.name,
                    "description": f.description,
                    "version": f.current_version,
                    "disabled": f.disabled,
                    "management": True,
                }
                for f in found
            ]
        )
        return
    print_table(
        ["FLOW", "NAME", "VERSION", "STATE", "MODIFIED (UTC)"],
        [
            (
                f.flow_id,
                f.name,
                f.current_version,
                "disabled" if f.disabled else "enabled",
                when(f.modified_ms),
            )
            for f in found
        ],
    )


@flow.command("export")
@click.argument("flow_id")
@click.option(
    "--v1",
    "v1",
    is_flag=True,
    help="The v1 envelope {flow: {dsl}, screens} instead of v2.",
)
@pass_state
def export(state: CliState, flow_id: str, v1: bool) -> None:
    """Print a flow's current version as a Descope export (v2 by default)."""
    with handled_errors():
        chosen = state.project()
        with state.open().store.connect() as conn:
            if v1:
                answer = flow_service.export_v1(conn, chosen.project_id, flow_id)
            else:
                answer = {
                    "flow": flow_service.export_v2(conn, chosen.project_id, flow_id)
                }
    print_json(answer)


@flow.command("run")
@click.argument("flow_id")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="KEY=VALUE",
    help="An input as text; repeat for more.",
)
@click.option(
    "--input-json",
    "input_json",
    metavar="JSON",
    help="Inputs as a JSON object, with types kept.",
)
@click.option(
    "--preview",
    is_flag=True,
    help="Make no connector call and keep no change; the run is still recorded.",
)
@click.option(
    "--tenant",
    "tenant_id",
    metavar="TENANT_ID",
    help="Run for this tenant, loaded as tenant.*.",
)
@click.option(
    "--json",
    "json_output",
    is_flag=True,
    help="Print exactly the body the API answers.",
)
@pass_state
def run(
    state: CliState,
    flow_id: str,
    inputs: tuple[str, ...],
    input_json: str | None,
    preview: bool,
    tenant_id: str | None,
    json_output: bool,
) -> None:
    """Run a flow now and print its output and trace.

    Inputs reach the flow as client.<key>; --input values override --input-json.
    """
    values = _inputs(inputs, input_json)
    with handled_errors(json_output):
        chosen = state.project()
        result = run_service.start_run(
            state.open(),
            chosen.project_id,
            flow_id,
            values,
            RunTrigger.CLI,
            preview=preview,
            tenant_id=tenant_id,
        )
    if json_output:
        if result.status is RunStatus.COMPLETED:
            print_json({"output": result.outputs or {}})
        else:
            print_json(run_failure(result).to_body())
    else:
        print_run(result)
    if result.status is not RunStatus.COMPLETED:
        sys.exit(EXIT_FAILED)


@flow.command("disable")
@click.argument("flow_id")
@pass_state
def disable(state: CliState, flow_id: str) -> None:
    """Switch a flow off without a new version; runs of it are refused."""
    _set_disabled(state, flow_id, disabled=True)


@flow.command("enable")
@click.argument("flow_id")
@pass_state
def enable(state: CliState, flow_id: str) -> None:
    """Switch a disabled flow back on."""
    _set_disabled(state, flow_id, disabled=False)


def _set_disabled(state: CliState, flow_id: str, *, disabled: bool) -> None:
    with handled_errors():
        chosen = state.project()
        with state.open().store.begin() as conn:
            flow_service.set_flow_disabled(
                conn, CLI_ACTOR, chosen.project_id, flow_id, disabled
            )
    click.echo(f"Flow {flow_id} {'disabled' if disabled else 'enabled'}.")


def _inputs(pairs: tuple[str, ...], input_json: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if input_json:
        try:
            decoded = orjson.loads(input_json)
        except orjson.JSONDecodeError as exc:
            raise click.BadParameter(
                f'not valid JSON ({exc}); expected an object such as \'{{"userId": "U1"}}\'.',
                param_hint="--input-json",
            ) from None
        if not isinstance(decoded, dict):
            raise click.BadParameter(
                f"is a JSON {type(decoded).__name__}; expected an object.",
                param_hint="--input-json",
            )
        values.update(decoded)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(
                f"{pair!r} is not KEY=VALUE.", param_hint="--input"
            )
        values[name] = value
    return values
