"""Trigger index queries: which flows an event type starts, kept beside each flow change.

`flow_triggers` holds a row per (event type, flow) for the flows an event of
that type starts now. The rows are derived data: `services.triggers` rewrites a
flow's rows in the transaction that saves, switches or deletes the flow, and the
outbox reads them in the transaction of every audit event.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, and_, bindparam, delete, insert, select

from idflow.store.driver import DriverStatement
from idflow.store.tables import flow_triggers

# Every audit event asks this: straight to the driver (see store/driver.py).
# Expanding IN lists are not allowed there, so the event type is one value.
_TRIGGERED_FLOWS = DriverStatement(
    select(flow_triggers.c.flow_id)
    .where(
        flow_triggers.c.project_id == bindparam("project_id"),
        flow_triggers.c.event_type == bindparam("event_type"),
    )
    .order_by(flow_triggers.c.flow_id)
)
# Every delivery asks this before its run.
_IS_TRIGGERED = DriverStatement(
    select(flow_triggers.c.flow_id).where(
        flow_triggers.c.project_id == bindparam("project_id"),
        flow_triggers.c.event_type == bindparam("event_type"),
        flow_triggers.c.flow_id == bindparam("flow_id"),
    )
)
_DELETE_FLOW_ROWS = delete(flow_triggers).where(
    and_(
        flow_triggers.c.project_id == bindparam("project_id"),
        flow_triggers.c.flow_id == bindparam("flow_id"),
    )
)
_INSERT = insert(flow_triggers)


def flows_triggered_by(conn: Connection, project_id: str, event_type: str) -> list[str]:
    """Return the ids of the flows an event of this type starts, in id order.

    Args:
        conn: the connection, usually inside the event's transaction.
        project_id: the event's project.
        event_type: the event's action, such as `UserCreated`.

    Returns:
        The flow ids; empty when no enabled flow lists the type.
    """
    return [
        row[0]
        for row in _TRIGGERED_FLOWS.rows(
            conn, {"project_id": project_id, "event_type": event_type}
        )
    ]


def is_triggered(
    conn: Connection, project_id: str, flow_id: str, event_type: str
) -> bool:
    """Return True when the flow, as it stands, is started by events of this type."""
    found = _IS_TRIGGERED.first(
        conn, {"project_id": project_id, "event_type": event_type, "flow_id": flow_id}
    )
    return found is not None


def replace_flow_triggers(
    conn: Connection, project_id: str, flow_id: str, event_types: Iterable[str]
) -> None:
    """Make the flow's rows exactly these event types; none removes the flow.

    Args:
        conn: the connection, inside the transaction of the flow change.
        project_id: the project.
        flow_id: the flow.
        event_types: the types that start the flow from now on.
    """
    conn.execute(_DELETE_FLOW_ROWS, {"project_id": project_id, "flow_id": flow_id})
    rows = [
        {"project_id": project_id, "event_type": kind, "flow_id": flow_id}
        for kind in dict.fromkeys(event_types)
    ]
    if rows:
        conn.execute(_INSERT, rows)
