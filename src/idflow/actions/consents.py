"""Consent actions: grant and revoke."""

from __future__ import annotations

from idflow.actions import arguments
from idflow.engine.contract import ActionCall, ActionResult
from idflow.services import consents, users
from idflow.services.audit import Actor


def grant_consent(call: ActionCall) -> ActionResult:
    """`consent-grant`: record scopes the user granted to an app."""
    user = users.require_user(call.conn, call.run.project_id, arguments.user_ref(call))
    app_id = arguments.text(call, "appId", required=True)
    assert app_id is not None
    scopes = arguments.text_list(call, "scopes", required=True)
    consent = consents.grant_consent(
        call.conn,
        Actor.for_run(call.run),
        user,
        app_id,
        scopes,
        tenant_id=arguments.text(call, "tenantId"),
    )
    return ActionResult(
        consents.consent_to_wire(consent), {"consentId": consent.consent_id}
    )


def revoke_consent(call: ActionCall) -> ActionResult:
    """`consent-revoke`: delete the user's consents for one app or all."""
    user = users.require_user(call.conn, call.run.project_id, arguments.user_ref(call))
    app_id = arguments.text(call, "appId")
    deleted = consents.revoke_consents(call.conn, Actor.for_run(call.run), user, app_id)
    return ActionResult(
        {"revoked": deleted}, {"userId": user.user_id, "revoked": deleted}
    )
