"""The outbox: the deliveries of a new audit event, written in the event's transaction.

`services.audit` calls `enqueue_deliveries` right after it records an event, on
the same connection, so an event that committed always has its deliveries and
a rolled-back change leaves neither. Loop protection is decided here too: a
flow is never delivered an event its own run caused (a `skipped` delivery with
reason `loop` records why), and an event as deep in its chain as
`IDFLOW_MAX_EVENT_DEPTH` is delivered to no flow at all; the caller writes
`EventChainStopped` for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from idflow.clock import new_id
from idflow.engine.contract import RunInfo
from idflow.store import deliveries as delivery_store
from idflow.store import triggers as trigger_store
from idflow.store.claims import claim_dialect
from idflow.store.records import AuditEvent, Delivery, DeliveryStatus, SkipReason

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChainStop:
    """An event too deep in its causal chain to start flows.

    Attributes:
        flow_ids: the flows its type would have started.
        max_depth: the depth limit it reached.
    """

    flow_ids: tuple[str, ...]
    max_depth: int


def enqueue_deliveries(
    conn: Any, event: AuditEvent, run: RunInfo | None
) -> ChainStop | None:
    """Write the deliveries of a just-recorded event to every flow it starts.

    Args:
        conn: the connection, inside the event's transaction.
        event: the event, already recorded.
        run: the run that caused the event, if one did.

    Returns:
        None, or a `ChainStop` when the event was too deep to deliver; the
        caller records that as an `EventChainStopped` event.
    """
    flow_ids = trigger_store.flows_triggered_by(conn, event.project_id, event.action)
    if not flow_ids:
        return None
    if run is not None and event.depth >= run.max_event_depth:
        logger.warning(
            "Event %s at depth %d starts no flows: the chain from %s is at its limit",
            event.event_id,
            event.depth,
            event.origin_event_id,
            extra={"event_name": "event_chain_stopped"},
        )
        return ChainStop(tuple(flow_ids), run.max_event_depth)

    rows = [_delivery(event, flow_id, run) for flow_id in flow_ids]
    delivery_store.insert_deliveries(conn, rows)
    if any(row.status is DeliveryStatus.PENDING for row in rows):
        claim_dialect(conn.dialect.name).announce(conn)

    return None


def _delivery(event: AuditEvent, flow_id: str, run: RunInfo | None) -> Delivery:
    delivery = Delivery(
        delivery_id=new_id("D"),
        project_id=event.project_id,
        event_id=event.event_id,
        flow_id=flow_id,
        status=DeliveryStatus.PENDING,
        created_ms=event.occurred_ms,
        available_ms=event.occurred_ms,
    )
    if run is not None and run.flow_id == flow_id:
        # A flow that reacts to its own changes would run again on every run.
        return replace(
            delivery,
            status=DeliveryStatus.SKIPPED,
            skip_reason=SkipReason.LOOP,
            finished_ms=event.occurred_ms,
        )
    return delivery
