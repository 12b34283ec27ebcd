"""Delivery operations shared by workers, the API and the CLI: what a run sees, what is stuck.

Workers use `trigger_record` for the `triggeringEvent` a run starts with,
`subject_key` for the lock that keeps runs about one user apart, and
`stale_reason` to skip a delivery whose flow changed since its event. Operators
list and inspect deliveries and redrive the dead-lettered ones, always with a
count first when they ask for a dry run.
"""

from __future__ import annotations

from typing import Any

from idflow.errors import DeliveryNotFound
from idflow.store import deliveries as delivery_store
from idflow.store import flows as flow_store
from idflow.store import triggers as trigger_store
from idflow.store.deliveries import DeliveryQuery
from idflow.store.records import AuditEvent, Delivery, DeliveryStatus, SkipReason


def trigger_record(event: AuditEvent) -> dict[str, Any]:
    """The event as a run started by it reads it, under `triggeringEvent`.

    Keys follow the audit record's camelCase names (docs/flow-format.md lists
    each): absent values are null, `occurred` is epoch milliseconds as a number,
    and the chain (`originEventId`, `depth`, `runId`) says what caused it.
    """
    return {
        "id": event.event_id,
        "action": event.action,
        "type": str(event.type),
        "custom": event.custom,
        "userId": event.user_id,
        "actorId": event.actor_id,
        "tenantId": event.tenant_id,
        "externalIds": list(event.external_ids),
        "occurred": event.occurred_ms,
        "data": dict(event.data),
        "originEventId": event.origin_event_id,
        "depth": event.depth,
        "runId": event.run_id,
    }


def subject_key(event: AuditEvent) -> str | None:
    """The key runs about this event's user (or tenant) are serialised on, if any."""
    if event.user_id:
        return f"{event.project_id}:user:{event.user_id}"
    if event.tenant_id:
        return f"{event.project_id}:tenant:{event.tenant_id}"
    return None


def stale_reason(conn: Any, delivery: Delivery, action: str) -> SkipReason | None:
    """Why the delivery's flow no longer takes its event, or None when it still does.

    A flow may be switched off, deleted or given a version without the trigger
    between the event and its delivery; the run would then surprise its owner.
    """
    if trigger_store.is_triggered(conn, delivery.project_id, delivery.flow_id, action):
        return None
    record = flow_store.get_flow(conn, delivery.project_id, delivery.flow_id)
    if record is None:
        return SkipReason.FLOW_DELETED
    if record.disabled:
        return SkipReason.FLOW_DISABLED

    return SkipReason.TRIGGER_REMOVED


def list_deliveries(
    conn: Any, project_id: str, query: DeliveryQuery
) -> tuple[list[Delivery], int]:
    """Return one page of the project's deliveries matching a query, and the total."""
    found = delivery_store.list_deliveries(conn, project_id, query)
    total = delivery_store.count_deliveries(conn, project_id, query)

    return found, total


def require_delivery(conn: Any, project_id: str, delivery_id: str) -> Delivery:
    """Return a delivery of the project, or raise DeliveryNotFound."""
    delivery = delivery_store.get_delivery(conn, project_id, delivery_id)
    if delivery is None:
        raise DeliveryNotFound(
            f"No delivery has the id {delivery_id!r} in this project."
        )
    return delivery


def redrive(
    conn: Any, project_id: str, query: DeliveryQuery, *, dry_run: bool, now_ms: int
) -> int:
    """Queue the dead-lettered deliveries matching a query again, or count them.

    Each redriven delivery starts over with its attempts reset and runs once
    more; its last error stays visible until a new attempt replaces it.

    Args:
        conn: the connection, inside a transaction when not a dry run.
        project_id: the project.
        query: which deliveries: by flow, time range or id; statuses are
            ignored, only dead deliveries are redriven.
        dry_run: count what would be redriven and change nothing.
        now_ms: the current time, when they become claimable.

    Returns:
        How many deliveries were (or, in a dry run, would be) redriven.
    """
    if dry_run:
        dead = DeliveryQuery(
            statuses=(DeliveryStatus.DEAD,),
            flow_ids=query.flow_ids,
            since_ms=query.since_ms,
            until_ms=query.until_ms,
            delivery_ids=query.delivery_ids,
        )
        return delivery_store.count_deliveries(conn, project_id, dead)
    return delivery_store.redrive_deliveries(conn, project_id, query, now_ms)


def delivery_to_wire(delivery: Delivery) -> dict[str, Any]:
    """Render a delivery for the API and `--json`, in camelCase with epoch milliseconds."""
    return {
        "deliveryId": delivery.delivery_id,
        "eventId": delivery.event_id,
        "flowId": delivery.flow_id,
        "status": str(delivery.status),
        "attempts": delivery.attempts,
        "availableTime": delivery.available_ms,
        "leaseOwner": delivery.lease_owner,
        "leaseExpiresTime": delivery.lease_expires_ms,
        "lastError": None if delivery.last_error is None else dict(delivery.last_error),
        "runId": delivery.run_id,
        "skipReason": None
        if delivery.skip_reason is None
        else str(delivery.skip_reason),
        "createdTime": delivery.created_ms,
        "finishedTime": delivery.finished_ms,
    }
