"""`idflow runs`: list runs and show one with its trace."""

from __future__ import annotations

import click

from idflow.cli.output import print_json, print_run, print_table, run_to_json, when
from idflow.cli.root import CliState, handled_errors, pass_state
from idflow.services import runs as run_service
from idflow.store import runs as run_store
from idflow.store.records import RunStatus


@click.group()
def runs() -> None:
    """List runs and show their traces."""


@runs.command("list")
@click.option("--flow", "flow_id", help="Only runs of this flow.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in RunStatus]),
    help="Only runs in this state.",
)
@click.option(
    "--limit", default=50, show_default=True, help="How many runs, newest first."
)
@click.option(
    "--json", "json_output", is_flag=True, help="Print the full records as JSON."
)
@pass_state
def list_runs(
    state: CliState,
    flow_id: str | None,
    status: str | None,
    limit: int,
    json_output: bool,
) -> None:
    """List recent runs, newest first."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.connect() as conn:
            found = run_store.list_runs(
                conn,
                chosen.project_id,
                flow_id=flow_id,
                status=RunStatus(status) if status else None,
                limit=limit,
            )
    if json_output:
        print_json([run_to_json(r) for r in found])
        return
    print_table(
        ["RUN", "FLOW", "VERSION", "TRIGGER", "STATUS", "STARTED (UTC)", "MS"],
        [
            (
                r.run_id,
                r.flow_id,
                r.flow_version,
                r.trigger,
                r.status,
                when(r.started_ms),
                (r.finished_ms - r.started_ms) if r.finished_ms else "",
            )
            for r in found
        ],
    )


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "json_output", is_flag=True, help="Print the full run record.")
@pass_state
def show(state: CliState, run_id: str, json_output: bool) -> None:
    """Show a run: inputs, each step with its outcome and operands, output or error."""
    with handled_errors(json_output):
        chosen = state.project()
        found = run_service.get_run(state.open(), chosen.project_id, run_id)
    if json_output:
        print_json(run_to_json(found))
    else:
        print_run(found)
