"""Consent queries: record, list and withdraw the scopes users granted to apps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, delete, insert, select

from idflow.store.records import Consent
from idflow.store.tables import consents

_INSERT_CONSENT = insert(consents)


def insert_consent(conn: Connection, consent: Consent) -> None:
    """Store a new consent.

    Args:
        conn: the connection, inside the caller's transaction.
        consent: the consent; its id must be new.
    """
    conn.execute(
        _INSERT_CONSENT,
        {
            "consent_id": consent.consent_id,
            "project_id": consent.project_id,
            "user_id": consent.user_id,
            "app_id": consent.app_id,
            "tenant_id": consent.tenant_id,
            "scopes": list(consent.scopes),
            "granted_by": consent.granted_by,
            "created_ms": consent.created_ms,
        },
    )


def list_consents(
    conn: Connection,
    project_id: str,
    *,
    user_id: str | None = None,
    app_id: str | None = None,
) -> list[Consent]:
    """Return the project's consents, oldest first, optionally narrowed.

    Args:
        conn: the connection.
        project_id: the project.
        user_id: only consents this user granted, when given.
        app_id: only consents granted to this app, when given.

    Returns:
        The matching consents.
    """
    query = (
        select(consents)
        .where(*_filters(project_id, user_id, app_id))
        .order_by(consents.c.created_ms, consents.c.consent_id)
    )
    return [_consent_from_row(row) for row in conn.execute(query)]


def delete_consents(
    conn: Connection, project_id: str, *, user_id: str, app_id: str | None = None
) -> int:
    """Withdraw a user's consents, to one app or to all of them.

    Args:
        conn: the connection, inside the caller's transaction.
        project_id: the project.
        user_id: the user whose consents go.
        app_id: only the consents to this app, when given.

    Returns:
        How many consents were deleted.
    """
    query = delete(consents).where(*_filters(project_id, user_id, app_id))
    return conn.execute(query).rowcount


def _filters(
    project_id: str, user_id: str | None, app_id: str | None
) -> list[ColumnElement[bool]]:
    filters = [consents.c.project_id == project_id]
    if user_id is not None:
        filters.append(consents.c.user_id == user_id)
    if app_id is not None:
        filters.append(consents.c.app_id == app_id)

    return filters


def _consent_from_row(row: Row[Any]) -> Consent:
    return Consent(
        project_id=row.project_id,
        consent_id=row.consent_id,
        user_id=row.user_id,
        app_id=row.app_id,
        scopes=tuple(row.scopes),
        granted_by=row.granted_by,
        created_ms=row.created_ms,
        tenant_id=row.tenant_id,
    )
