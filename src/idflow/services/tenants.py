"""Tenant operations shared by the API, the CLI and flow actions, each with its event."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from idflow.clock import now_ms
from idflow.errors import InvalidArgument, TenantNotFound
from idflow.services.audit import Actor, AuditAction, emit
from idflow.store import tenants as tenant_store
from idflow.store.records import Tenant

_WIRE_NAMES = {
    "name": "name",
    "self_provisioning_domains": "selfProvisioningDomains",
    "custom_attributes": "customAttributes",
}


def require_tenant(conn: Any, project_id: str, tenant_id: str) -> Tenant:
    """Return the tenant, or raise TenantNotFound."""
    tenant = tenant_store.get_tenant(conn, project_id, tenant_id)
    if tenant is None:
        raise TenantNotFound(f"No tenant has the id {tenant_id!r} in this project.")
    return tenant


def create_tenant(
    conn: Any,
    actor: Actor,
    project_id: str,
    tenant_id: str,
    name: str,
    *,
    self_provisioning_domains: Iterable[str] = (),
    custom_attributes: Mapping[str, Any] | None = None,
) -> Tenant:
    """Create a tenant and write `TenantCreated`.

    Raises:
        InvalidArgument: when the id or name is blank.
        TenantAlreadyExists: when the id is taken.
    """
    if not tenant_id.strip() or not name.strip():
        raise InvalidArgument("A tenant needs a non-blank id and name.")
    created = now_ms()
    tenant = Tenant(
        project_id=project_id,
        tenant_id=tenant_id,
        name=name,
        created_ms=created,
        modified_ms=created,
        self_provisioning_domains=tuple(self_provisioning_domains),
        custom_attributes=dict(custom_attributes or {}),
    )
    tenant_store.insert_tenant(conn, tenant)
    emit(
        conn,
        actor,
        project_id,
        AuditAction.TENANT_CREATED,
        tenant_id=tenant_id,
        data={"name": name},
    )

    return tenant


def change_tenant(conn: Any, actor: Actor, tenant: Tenant, **changes: Any) -> Tenant:
    """Apply changes and write `TenantModified` with the new values (none: no-op)."""
    changed = {k: v for k, v in changes.items() if getattr(tenant, k) != v}
    if not changed:
        return tenant

    updated = dataclasses.replace(tenant, modified_ms=now_ms(), **changed)
    tenant_store.replace_tenant(conn, updated)
    data = {
        _WIRE_NAMES[k]: list(v) if isinstance(v, tuple) else v
        for k, v in changed.items()
    }
    emit(
        conn,
        actor,
        tenant.project_id,
        AuditAction.TENANT_MODIFIED,
        tenant_id=tenant.tenant_id,
        data=data,
    )

    return updated


def delete_tenant(conn: Any, actor: Actor, tenant: Tenant) -> None:
    """Delete a tenant and write `TenantDeleted`."""
    tenant_store.delete_tenant(conn, tenant.project_id, tenant.tenant_id)
    emit(
        conn,
        actor,
        tenant.project_id,
        AuditAction.TENANT_DELETED,
        tenant_id=tenant.tenant_id,
    )


def tenant_to_wire(tenant: Tenant) -> dict[str, Any]:
    """Render a tenant as the Descope SDKs see it."""
    return {
        "id": tenant.tenant_id,
        "name": tenant.name,
        "selfProvisioningDomains": list(tenant.self_provisioning_domains),
        "customAttributes": dict(tenant.custom_attributes),
        "createdTime": tenant.created_ms // 1000,
        "authType": "none",
        "enforceSSO": False,
        "disabled": False,
        "domains": [],
    }
