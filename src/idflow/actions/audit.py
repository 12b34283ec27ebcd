"""The audit action: write a custom event from a flow."""

from __future__ import annotations

from idflow.actions import arguments
from idflow.engine.contract import ActionCall, ActionResult
from idflow.errors import InvalidArgument
from idflow.services import audit
from idflow.store.records import AuditType


def generate_event(call: ActionCall) -> ActionResult:
    """`audit-generate-event`: write a custom audit event (type info by default)."""
    action = arguments.text(call, "action", required=True)
    assert action is not None
    severity_text = (arguments.text(call, "type") or "info").lower()
    try:
        severity = AuditType(severity_text)
    except ValueError:
        raise InvalidArgument(
            f"Audit type {severity_text!r} is not known: expected 'info', 'warn' or 'error'."
        ) from None
    event = audit.emit_custom(
        call.conn,
        audit.Actor.for_run(call.run),
        call.run.project_id,
        action,
        severity,
        user_id=arguments.text(call, "userId"),
        tenant_id=arguments.text(call, "tenantId"),
        data=arguments.mapping(call, "data"),
    )
    return ActionResult(
        {"eventId": event.event_id}, {"eventId": event.event_id, "action": action}
    )
