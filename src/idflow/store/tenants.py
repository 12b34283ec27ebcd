"""Tenant queries: create, read, rewrite, delete and list a project's tenants."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from idflow.errors import TenantAlreadyExists
from idflow.store.records import Tenant
from idflow.store.tables import tenants

_KEY_COLUMNS = ("project_id", "tenant_id")
_KEY = and_(
    tenants.c.project_id == bindparam("project_id"),
    tenants.c.tenant_id == bindparam("tenant_id"),
)

# UPDATE reserves bind names equal to column names for its SET clause.
_UPDATE_KEY = and_(
    tenants.c.project_id == bindparam("match_project_id"),
    tenants.c.tenant_id == bindparam("match_tenant_id"),
)

_INSERT_TENANT = insert(tenants)
_GET_TENANT = select(tenants).where(_KEY)
_REPLACE_TENANT = (
    update(tenants)
    .where(_UPDATE_KEY)
    .values(
        {c.name: bindparam(c.name) for c in tenants.c if c.name not in _KEY_COLUMNS}
    )
)
_DELETE_TENANT = delete(tenants).where(_KEY)
_LIST_TENANTS = (
    select(tenants)
    .where(tenants.c.project_id == bindparam("project_id"))
    .order_by(tenants.c.created_ms, tenants.c.tenant_id)
)


def insert_tenant(conn: Connection, tenant: Tenant) -> None:
    """Store a new tenant; on failure the caller's transaction stays usable.

    Args:
        conn: the connection, inside the caller's transaction.
        tenant: the tenant to store.

    Raises:
        TenantAlreadyExists: the project already has a tenant with this id.
    """
    # The savepoint keeps PostgreSQL's duplicate-key error from aborting the
    # caller's transaction, so it may report the conflict and carry on.
    try:
        with conn.begin_nested():
            conn.execute(_INSERT_TENANT, _tenant_values(tenant))
    except IntegrityError as exc:
        raise TenantAlreadyExists(
            f"Tenant {tenant.tenant_id!r} already exists in project {tenant.project_id!r}."
        ) from exc


def get_tenant(conn: Connection, project_id: str, tenant_id: str) -> Tenant | None:
    """Return the tenant with this id, or None when there is none."""
    row = conn.execute(
        _GET_TENANT, {"project_id": project_id, "tenant_id": tenant_id}
    ).first()
    return None if row is None else _tenant_from_row(row)


def replace_tenant(conn: Connection, tenant: Tenant) -> bool:
    """Rewrite every field of a stored tenant.

    Args:
        conn: the connection, inside the caller's transaction.
        tenant: the tenant as it should now be stored.

    Returns:
        True when the tenant was rewritten; False when it does not exist.
    """
    match = {
        "match_project_id": tenant.project_id,
        "match_tenant_id": tenant.tenant_id,
    }
    result = conn.execute(_REPLACE_TENANT, _tenant_values(tenant) | match)
    return result.rowcount > 0


def delete_tenant(conn: Connection, project_id: str, tenant_id: str) -> bool:
    """Delete a tenant; users' memberships of it are the caller's to remove.

    Returns:
        True when a tenant was deleted, False when there was none.
    """
    result = conn.execute(
        _DELETE_TENANT, {"project_id": project_id, "tenant_id": tenant_id}
    )
    return result.rowcount > 0


def list_tenants(conn: Connection, project_id: str) -> list[Tenant]:
    """Return every tenant of the project, oldest first."""
    result = conn.execute(_LIST_TENANTS, {"project_id": project_id})
    return [_tenant_from_row(row) for row in result]


def _tenant_values(tenant: Tenant) -> dict[str, Any]:
    return {
        "project_id": tenant.project_id,
        "tenant_id": tenant.tenant_id,
        "name": tenant.name,
        "self_provisioning_domains": list(tenant.self_provisioning_domains),
        "custom_attributes": dict(tenant.custom_attributes),
        "created_ms": tenant.created_ms,
        "modified_ms": tenant.modified_ms,
    }


def _tenant_from_row(row: Row[Any]) -> Tenant:
    return Tenant(
        project_id=row.project_id,
        tenant_id=row.tenant_id,
        name=row.name,
        created_ms=row.created_ms,
        modified_ms=row.modified_ms,
        self_provisioning_domains=tuple(row.self_provisioning_domains),
        custom_attributes=row.custom_attributes,
    )
