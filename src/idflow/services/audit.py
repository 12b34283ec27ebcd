"""idflow's own audit events: the closed list of types, and the one way to emit them.

Every change idflow makes writes its event here, in the transaction of the change,
together with the event's deliveries to the flows it starts (`services.outbox`).
Events posted by backends are custom events with free names (`emit_custom`); the
two never mix, because idflow's own names come only from `AuditAction`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from idflow.clock import new_id, now_ms
from idflow.engine.contract import RunInfo
from idflow.services import outbox
from idflow.store import audit as audit_store
from idflow.store.records import AuditEvent, AuditType


class AuditAction(StrEnum):
    """The audit event types idflow emits, by their wire names (docs/events.md)."""

    USER_CREATED = "UserCreated"
    USER_MODIFIED = "UserModified"
    USER_DELETED = "UserDeleted"
    TENANT_CREATED = "TenantCreated"
    TENANT_MODIFIED = "TenantModified"
    TENANT_DELETED = "TenantDeleted"
    CONSENT_GRANTED = "ConsentGranted"
    CONSENT_REVOKED = "ConsentRevoked"
    FLOW_SAVED = "FlowSaved"
    FLOW_DELETED = "FlowDeleted"
    FLOW_MODIFIED = "FlowModified"
    PROJECT_CREATED = "ProjectCreated"
    MANAGEMENT_KEY_CREATED = "ManagementKeyCreated"
    MANAGEMENT_KEY_REVOKED = "ManagementKeyRevoked"
    CONNECTOR_CREATED = "ConnectorCreated"
    CONNECTOR_MODIFIED = "ConnectorModified"
    CONNECTOR_DELETED = "ConnectorDeleted"
    CONNECTOR_SECRETS_REKEYED = "ConnectorSecretsRekeyed"
    EVENT_CHAIN_STOPPED = "EventChainStopped"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: a management key, the CLI, or a flow run.

    Attributes:
        actor_id: the key id, `cli`, or `flow:<flowId>` for a run.
        run: the run making the change, whose chain its events continue.
    """

    actor_id: str
    run: RunInfo | None = None

    @classmethod
    def for_run(cls, run: RunInfo) -> Actor:
        """The actor for changes a flow run makes."""
        return cls(f"flow:{run.flow_id}", run)


CLI_ACTOR = Actor("cli")
_OWN_ACTIONS = frozenset(str(action) for action in AuditAction)


def emit(
    conn: Any,
    actor: Actor,
    project_id: str,
    action: AuditAction,
    *,
    user_id: str | None = None,
    tenant_id: str | None = None,
    login_ids: tuple[str, ...] = (),
    data: Mapping[str, Any] | None = None,
    severity: AuditType = AuditType.INFO,
) -> AuditEvent:
    """Write one of idflow's own audit events in the caller's transaction."""
    return _record(
        conn,
        actor,
        project_id,
        str(action),
        severity,
        custom=False,
        user_id=user_id,
        tenant_id=tenant_id,
        login_ids=login_ids,
        data=data,
    )


def emit_custom(
    conn: Any,
    actor: Actor,
    project_id: str,
    action: str,
    severity: AuditType,
    *,
    user_id: str | None = None,
    tenant_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Write a custom event, posted by a backend or a flow's audit step.

    A custom event starts the flows that list its name, unless the name is one
    of idflow's own types: a backend cannot pass off its events as idflow's.
    """
    return _record(
        conn,
        actor,
        project_id,
        action,
        severity,
        custom=True,
        user_id=user_id,
        tenant_id=tenant_id,
        login_ids=(),
        data=data,
        deliver=action not in _OWN_ACTIONS,
    )


def _record(
    conn: Any,
    actor: Actor,
    project_id: str,
    action: str,
    severity: AuditType,
    *,
    custom: bool,
    user_id: str | None,
    tenant_id: str | None,
    login_ids: tuple[str, ...],
    data: Mapping[str, Any] | None,
    deliver: bool = True,
) -> AuditEvent:
    run = actor.run
    event = AuditEvent(
        project_id=project_id,
        event_id=new_id("A"),
        occurred_ms=now_ms(),
        action=action,
        type=severity,
        actor_id=actor.actor_id,
        custom=custom,
        user_id=user_id,
        tenant_id=tenant_id,
        external_ids=login_ids,
        tenants=(tenant_id,) if tenant_id else (),
        data=dict(data or {}),
        # An event a run causes continues the chain of the event that started
        # the run, one level deeper; loop protection reads these fields.
        origin_event_id=(run.origin_event_id if run else None),
        depth=(run.depth + 1 if run and run.origin_event_id else 0),
        run_id=run.run_id if run else None,
    )
    audit_store.record_event(conn, event)
    # The outbox: deliveries to the flows this event starts, in this transaction.
    stop = outbox.enqueue_deliveries(conn, event, run) if deliver else None
    if stop is not None:
        audit_store.record_event(conn, _chain_stopped(event, stop))

    return event


def _chain_stopped(event: AuditEvent, stop: outbox.ChainStop) -> AuditEvent:
    # Recorded straight to the store, never through the outbox: it must not
    # start flows itself, or a loop would only move one event further.
    return replace(
        event,
        event_id=new_id("A"),
        action=str(AuditAction.EVENT_CHAIN_STOPPED),
        type=AuditType.WARN,
        custom=False,
        external_ids=(),
        data={
            "eventId": event.event_id,
            "action": event.action,
            "depth": event.depth,
            "maxDepth": stop.max_depth,
            "flowIds": list(stop.flow_ids),
        },
    )


def search_audit(
    conn: Any, project_id: str, query: audit_store.AuditQuery
) -> tuple[list[AuditEvent], int]:
    """Return one page of the project's audit events matching a query, and the total."""
    return audit_store.search_audit(conn, project_id, query)


def audit_to_wire(event: AuditEvent) -> dict[str, Any]:
    """Render an audit event as Descope's search answers it.

    `occurred` is epoch milliseconds as a decimal string: Go parses only strings,
    Python and Node accept either. Absent values are empty strings, as the SDKs
    default them, and `id` is the event id the descope-js widget reads.
    """
    return {
        "id": event.event_id,
        "projectId": event.project_id,
        "userId": event.user_id or "",
        "action": event.action,
        "type": str(event.type),
        "actorId": event.actor_id,
        "occurred": str(event.occurred_ms),
        "device": event.device or "",
        "method": event.method or "",
        "geo": event.geo or "",
        "remoteAddress": event.remote_address or "",
        "externalIds": list(event.external_ids),
        "tenants": list(event.tenants),
        "data": dict(event.data),
    }
