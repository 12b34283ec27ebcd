"""Consent operations: record and withdraw the scopes users grant to apps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from idflow.clock import new_id, now_ms
from idflow.errors import InvalidArgument
from idflow.services.audit import Actor, AuditAction, emit
from idflow.store import consents as consent_store
from idflow.store.records import Consent, User


def grant_consent(
    conn: Any,
    actor: Actor,
    user: User,
    app_id: str,
    scopes: Iterable[str],
    *,
    tenant_id: str | None = None,
) -> Consent:
    """Record a consent and write `ConsentGranted`.

    Raises:
        InvalidArgument: when the app id is blank or no scope is given.
    """
    scope_list = tuple(dict.fromkeys(s for s in scopes if s))
    if not app_id.strip() or not scope_list:
        raise InvalidArgument("A consent needs an app id and at least one scope.")
    consent = Consent(
        project_id=user.project_id,
        consent_id=new_id("C"),
        user_id=user.user_id,
        app_id=app_id,
        scopes=scope_list,
        granted_by=actor.actor_id,
        created_ms=now_ms(),
        tenant_id=tenant_id,
    )
    consent_store.insert_consent(conn, consent)
    emit(
        conn,
        actor,
        user.project_id,
        AuditAction.CONSENT_GRANTED,
        user_id=user.user_id,
        tenant_id=tenant_id,
        data={
            "appId": app_id,
            "scopes": list(scope_list),
            "consentId": consent.consent_id,
        },
    )

    return consent


def revoke_consents(
    conn: Any, actor: Actor, user: User, app_id: str | None = None
) -> int:
    """Delete the user's consents (for one app, or all); write `ConsentRevoked` if any.

    Returns:
        How many consents were deleted.
    """
    deleted = consent_store.delete_consents(
        conn, user.project_id, user_id=user.user_id, app_id=app_id
    )
    if deleted:
        emit(
            conn,
            actor,
            user.project_id,
            AuditAction.CONSENT_REVOKED,
            user_id=user.user_id,
            data={"appId": app_id, "count": deleted},
        )
    return deleted


def consent_to_wire(consent: Consent) -> dict[str, Any]:
    """Render a consent as the Descope consent search answers it."""
    return {
        "id": consent.consent_id,
        "appId": consent.app_id,
        "userId": consent.user_id,
        "scopes": list(consent.scopes),
        "grantedBy": consent.granted_by,
        "createdTime": consent.created_ms // 1000,
        "tenantId": consent.tenant_id or "",
    }
