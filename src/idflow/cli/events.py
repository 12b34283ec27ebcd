"""`idflow events`: list audit events and show what became of one: why flows ran or not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from idflow.cli.output import compact, print_json, print_table, when
from idflow.cli.root import CliState, handled_errors, pass_state
from idflow.services.explain import (
    DeliveryReport,
    EventReport,
    describe_operand,
    event_to_wire,
    explain_event,
    report_to_wire,
)
from idflow.store import audit as audit_store
from idflow.store.records import DeliveryStatus

_SKIP_REASONS = {
    "loop": "the event was caused by a run of this flow",
    "flow_disabled": "the flow was switched off before the delivery ran",
    "flow_deleted": "the flow was deleted before the delivery ran",
    "trigger_removed": "the flow's current version no longer lists this event type",
    "event_missing": "the event is gone",
}


@click.group()
def events() -> None:
    """List audit events and explain which flows each one started."""


@events.command("list")
@click.option("--action", "actions", multiple=True, help="Only events of this type.")
@click.option("--user", "user_ids", multiple=True, help="Only events about this user.")
@click.option(
    "--limit", default=50, show_default=True, help="How many events, newest first."
)
@click.option("--json", "json_output", is_flag=True, help="Print the events as JSON.")
@pass_state
def list_events(
    state: CliState,
    actions: tuple[str, ...],
    user_ids: tuple[str, ...],
    limit: int,
    json_output: bool,
) -> None:
    """List recent audit events, newest first, with their place in a chain."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.connect() as conn:
            found, _ = audit_store.search_events(
                conn, chosen.project_id, actions=actions, user_ids=user_ids, limit=limit
            )
    if json_output:
        print_json([event_to_wire(e) for e in found])
        return
    print_table(
        ["EVENT", "OCCURRED (UTC)", "ACTION", "ACTOR", "USER", "DEPTH"],
        [
            (e.event_id, when(e.occurred_ms), e.action, e.actor_id, e.user_id, e.depth)
            for e in found
        ],
    )


@events.command("show")
@click.argument("event_id")
@click.option("--json", "json_output", is_flag=True, help="Print the report as JSON.")
@pass_state
def show(state: CliState, event_id: str, json_output: bool) -> None:
    """Show an event, each flow it was delivered to, and why each ran or did not."""
    with handled_errors(json_output):
        chosen = state.project()
        with state.open().store.connect() as conn:
            report = explain_event(conn, chosen.project_id, event_id)
    if json_output:
        print_json(report_to_wire(report))
    else:
        print_report(report)


def print_report(report: EventReport) -> None:
    """Print an event report for a terminal."""
    event = report.event
    click.echo(
        f"Event {event.event_id}  {event.action}  ({when(event.occurred_ms)} UTC)  "
        f"actor {event.actor_id}"
    )
    if event.user_id or event.tenant_id:
        click.echo(
            f"About:   user {event.user_id or '-'}  tenant {event.tenant_id or '-'}"
        )
    if event.run_id:
        click.echo(
            f"Chain:   caused by run {event.run_id}, depth {event.depth}, "
            f"origin {event.origin_event_id}"
        )
    click.echo(f"Data:    {compact(dict(event.data))}")

    if report.chain_stopped is not None:
        _print_chain_stop(report.chain_stopped.data)
    elif not report.deliveries:
        click.echo(f"No enabled flow is triggered by {event.action} events.")
    for item in report.deliveries:
        _print_delivery(item)


def _print_delivery(item: DeliveryReport) -> None:
    delivery = item.delivery
    plural = "" if delivery.attempts == 1 else "s"
    line = (
        f"  {delivery.flow_id}: {delivery.status}, {delivery.attempts} attempt{plural}"
    )
    if delivery.run_id:
        line += f", run {delivery.run_id}"
    colour = {"done": "green", "dead": "red", "skipped": "yellow"}.get(
        str(delivery.status)
    )
    click.echo(click.style(line, fg=colour) if colour else line)
    if delivery.status is DeliveryStatus.SKIPPED and delivery.skip_reason:
        reason = str(delivery.skip_reason)
        click.echo(f"      skipped: {_SKIP_REASONS.get(reason, reason)}")
    if delivery.last_error and delivery.status is not DeliveryStatus.DONE:
        error = delivery.last_error
        click.echo(
            f"      last error {error.get('code') or ''}: {error.get('message')}"
        )
    if item.stopped_at is not None:
        stop = item.stopped_at
        click.echo(f"      stopped at condition {stop.task_id} ({stop.name}):")
        for operand in stop.operands:
            click.echo(f"        {operand.get('branch')}: {describe_operand(operand)}")


def _print_chain_stop(data: Mapping[str, Any]) -> None:
    click.echo(
        click.style(
            f"Chain stopped: depth {data.get('depth')} reached the limit of "
            f"{data.get('maxDepth')}; flows not started: "
            f"{', '.join(data.get('flowIds') or [])}",
            fg="red",
        )
    )
