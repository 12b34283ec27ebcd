"""`idflow deliveries`: list and inspect event deliveries, redrive the dead-lettered ones."""

from __future__ import annotations

import datetime as dt

import click

from idflow.cli.output import compact, print_json, print_table, when
from idflow.cli.root import CliState, handled_errors, pass_state
from idflow.clock import now_ms
from idflow.services import deliveries as delivery_service
from idflow.store.deliveries import DeliveryQuery
from idflow.store.records import DeliveryStatus


@click.group()
def deliveries() -> None:
    """List, inspect and redrive the deliveries of events to flows."""


def _moment(
    _ctx: click.Context, param: click.Parameter, value: str | None
) -> int | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time such as 2026-12-03T20:00:00Z."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


_flow_option = click.option(
    "--flow", "flow_ids", multiple=True, help="Only deliveries to this flow."
)
_since_option = click.option(
    "--since",
    "since_ms",
    callback=_moment,
    help="Only deliveries of events at or after this ISO 8601 time (UTC if no zone).",
)
_until_option = click.option(
    "--until",
    "until_ms",
    callback=_moment,
    help="Only deliveries of events before this ISO 8601 time.",
)


@deliveries.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in DeliveryStatus]),
    help="Only deliveries in this state.",
)
@_flow_option
@_since_option
@_until_option
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option(
    "--json", "json_output", is_flag=True, help="Print the deliveries as JSON."
)
@pass_state
def list_deliveries(
    state: CliState,
    statuses: tuple[str, ...],
    flow_ids: tuple[str, ...],
    since_ms: int | None,
    until_ms: int | None,
    limit: int,
    json_output: bool,
) -> None:
    """List deliveries, newest first, with how many match in all."""
    query = DeliveryQuery(
        statuses=tuple(DeliveryStatus(s) for s in statuses),
        flow_ids=flow_ids,
        since_ms=since_ms,
        until_ms=until_ms,
        limit=limit,
    )
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.connect() as conn:
            found, total = delivery_service.list_deliveries(
                conn, chosen.project_id, query
            )
    if json_output:
        print_json(
            {
                "deliveries": [delivery_service.delivery_to_wire(d) for d in found],
                "total": total,
            }
        )
        return
    print_table(
        ["DELIVERY", "EVENT", "FLOW", "STATUS", "ATTEMPTS", "CREATED (UTC)", "RUN"],
        [
            (
                d.delivery_id,
                d.event_id or "(async API run)",
                d.flow_id,
                d.status,
                d.attempts,
                when(d.created_ms),
                d.run_id,
            )
            for d in found
        ],
    )
    click.echo(f"{len(found)} of {total} shown.")


@deliveries.command("show")
@click.argument("delivery_id")
@click.option("--json", "json_output", is_flag=True, help="Print the delivery as JSON.")
@pass_state
def show(state: CliState, delivery_id: str, json_output: bool) -> None:
    """Show one delivery: its state, attempts, lease, last error and run."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.connect() as conn:
            found = delivery_service.require_delivery(
                conn, chosen.project_id, delivery_id
            )
    wire = delivery_service.delivery_to_wire(found)
    if json_output:
        print_json(wire)
        return
    for key, value in wire.items():
        shown = when(value) if key.endswith("Time") and value else value
        if key == "eventId" and value is None:
            shown = "(none: an async API run)"
        click.echo(
            f"{key + ':':<18}{compact(shown) if isinstance(shown, dict) else shown}"
        )


@deliveries.command("redrive")
@_flow_option
@_since_option
@_until_option
@click.option(
    "--id", "delivery_ids", multiple=True, help="Only this delivery (repeatable)."
)
@click.option(
    "--dry-run", is_flag=True, help="Count what would be redriven; change nothing."
)
@click.option("--json", "json_output", is_flag=True, help="Print the count as JSON.")
@pass_state
def redrive(
    state: CliState,
    flow_ids: tuple[str, ...],
    since_ms: int | None,
    until_ms: int | None,
    delivery_ids: tuple[str, ...],
    dry_run: bool,
    json_output: bool,
) -> None:
    """Queue dead-lettered deliveries again, attempts reset; each runs once more."""
    query = DeliveryQuery(
        flow_ids=flow_ids,
        since_ms=since_ms,
        until_ms=until_ms,
        delivery_ids=delivery_ids,
    )
    with handled_errors(json_output):
        chosen = state.project()
        store = state.open().store
        with store.connect() if dry_run else store.begin() as conn:
            count = delivery_service.redrive(
                conn, chosen.project_id, query, dry_run=dry_run, now_ms=now_ms()
            )
    if json_output:
        print_json({"count": count, "dryRun": dry_run})
    elif dry_run:
        click.echo(f"{count} dead deliveries would be redriven.")
    else:
        click.echo(f"Redrove {count} dead deliveries.")
