"""Why a flow ran for an audit event, or why not: the event, its deliveries, their runs.

An event's deliveries name every flow its type triggered, with each one's state,
attempts, last error and run. A flow that matched the type but whose run ended
through an ELSE branch without doing anything was filtered out by a condition;
the run's trace holds that condition's operands, which `stopped_at` extracts.
An event too deep in its chain has no deliveries and an `EventChainStopped`
event instead, which the report finds and shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from idflow.errors import EventNotFound
from idflow.flows.model import ELSE
from idflow.services.audit import AuditAction
from idflow.services.deliveries import delivery_to_wire
from idflow.store import audit as audit_store
from idflow.store import deliveries as delivery_store
from idflow.store import runs as run_store
from idflow.store.records import AuditEvent, Delivery, Run, RunStatus

# EventChainStopped is written in the same transaction as the event it is
# about, so it is found within this window after the event's time.
_CHAIN_STOP_WINDOW_MS = 60_000


@dataclass(frozen=True, slots=True)
class ConditionStop:
    """The condition a run stopped at: its task and the operands it compared.

    Attributes:
        operands: each `{"branch", "target", "value", "missing", "operator",
            "predicate", "result"}`, as the trace recorded them (redacted).
    """

    task_id: str
    name: str
    operands: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """One delivery of the event, with its run and, if filtered, where it stopped."""

    delivery: Delivery
    run: Run | None
    stopped_at: ConditionStop | None


@dataclass(frozen=True, slots=True)
class EventReport:
    """An event and what became of it.

    Attributes:
        chain_stopped: the `EventChainStopped` event, when the event was too
            deep in its chain to start any flow.
    """

    event: AuditEvent
    deliveries: tuple[DeliveryReport, ...]
    chain_stopped: AuditEvent | None


def explain_event(conn: Any, project_id: str, event_id: str) -> EventReport:
    """Gather an event, its deliveries with their runs, and any chain stop.

    Raises:
        EventNotFound: the project has no event with this id.
    """
    event = audit_store.get_event(conn, project_id, event_id)
    if event is None:
        raise EventNotFound(f"No audit event has the id {event_id!r} in this project.")

    reports = []
    for delivery in delivery_store.deliveries_for_event(conn, project_id, event_id):
        run = (
            run_store.get_run(conn, project_id, delivery.run_id)
            if delivery.run_id
            else None
        )
        reports.append(DeliveryReport(delivery, run, stopped_at(run)))
    stop = _chain_stop(conn, event) if event.run_id and not reports else None

    return EventReport(event, tuple(reports), stop)


def stopped_at(run: Run | None) -> ConditionStop | None:
    """The condition that filtered a run out, if the run did nothing past it.

    A completed run that took no action step and left its last condition by
    ELSE was filtered out by that condition; for any other run, None.
    """
    if run is None or run.status is not RunStatus.COMPLETED:
        return None
    if any(step.get("type") == "action" for step in run.trace):
        return None
    conditions = [step for step in run.trace if step.get("type") == "condition"]
    if not conditions or conditions[-1].get("outcome") != ELSE:
        return None

    last = conditions[-1]
    operands = tuple(
        {"branch": branch.get("branch"), **operand}
        for branch in last.get("branches", [])
        for operand in branch.get("operands", [])
    )
    return ConditionStop(str(last.get("taskId")), str(last.get("name", "")), operands)


def describe_operand(operand: Mapping[str, Any]) -> str:
    """One operand as a line: `target = value operator predicate -> result`."""
    value = "(missing)" if operand.get("missing") else _compact(operand.get("value"))
    predicate = operand.get("predicate")
    # Unary operators (is-true, empty, ...) carry an empty predicate.
    shown = "" if predicate in (None, "") else f" {_compact(predicate)}"
    verdict = "true" if operand.get("result") else "false"

    return f"{operand.get('target')} = {value} {operand.get('operator')}{shown} -> {verdict}"


def report_to_wire(report: EventReport) -> dict[str, Any]:
    """Render a report for the API and `--json`."""
    return {
        "event": event_to_wire(report.event),
        "deliveries": [
            {
                **delivery_to_wire(item.delivery),
                "runStatus": str(item.run.status) if item.run else None,
                "stoppedAt": _stop_to_wire(item.stopped_at),
            }
            for item in report.deliveries
        ],
        "chainStopped": (
            None if report.chain_stopped is None else dict(report.chain_stopped.data)
        ),
    }


def event_to_wire(event: AuditEvent) -> dict[str, Any]:
    """An event as `events show` and `events list` print it, with its chain."""
    return {
        "id": event.event_id,
        "action": event.action,
        "type": str(event.type),
        "custom": event.custom,
        "actorId": event.actor_id,
        "userId": event.user_id,
        "tenantId": event.tenant_id,
        "occurred": event.occurred_ms,
        "data": dict(event.data),
        "originEventId": event.origin_event_id,
        "depth": event.depth,
        "runId": event.run_id,
    }


def _stop_to_wire(stop: ConditionStop | None) -> dict[str, Any] | None:
    if stop is None:
        return None
    return {
        "taskId": stop.task_id,
        "name": stop.name,
        "operands": [dict(o) for o in stop.operands],
    }


def _chain_stop(conn: Any, event: AuditEvent) -> AuditEvent | None:
    found, _ = audit_store.search_events(
        conn,
        event.project_id,
        actions=[str(AuditAction.EVENT_CHAIN_STOPPED)],
        from_ms=event.occurred_ms,
        to_ms=event.occurred_ms + _CHAIN_STOP_WINDOW_MS,
        limit=1000,
    )
    return next((e for e in found if e.data.get("eventId") == event.event_id), None)


def _compact(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
