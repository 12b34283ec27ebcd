"""Tenant operations shared by the API, the CLI and flow actions, each with its event."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from idflow.clock import now_ms
from idflow.errors import InvalidArgument, TenantAlreadyExists, TenantNotFound
from idflow.services import users as user_service
from idflow.services.audit import Actor, AuditAction, emit
from idflow.store import tenants as tenant_store
from idflow.store import user_search
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


def list_tenants(conn: Any, project_id: str) -> list[Tenant]:
    """Return every tenant of the project, oldest first."""
    return tenant_store.list_tenants(conn, project_id)


def ensure_name_free(
    conn: Any, project_id: str, name: str, tenant_id: str | None = None
) -> None:
    """Check no other tenant of the project has this name (case-insensitive).

    Raises:
        TenantAlreadyExists: when another tenant has it.
    """
    wanted = name.strip().casefold()
    for tenant in tenant_store.list_tenants(conn, project_id):
        if tenant.tenant_id != tenant_id and tenant.name.strip().casefold() == wanted:
            raise TenantAlreadyExists(
                f"Tenant {tenant.tenant_id!r} already has the name {name!r} in this project."
            )


def search_tenants(
    conn: Any,
    project_id: str,
    *,
    tenant_ids: Collection[str] = (),
    names: Collection[str] = (),
    domains: Collection[str] = (),
    custom_attributes: Mapping[str, Any] | None = None,
) -> list[Tenant]:
    """Return the tenants matching every filter given, oldest first.

    Args:
        conn: the store connection.
        project_id: the project.
        tenant_ids: tenants with one of these ids.
        names: tenants with one of these names.
        domains: tenants with one of these self-provisioning domains.
        custom_attributes: per attribute, the value (or list of values) it must have.
    """
    wanted_domains = {domain.casefold() for domain in domains}
    found = []
    for tenant in tenant_store.list_tenants(conn, project_id):
        own_domains = {d.casefold() for d in tenant.self_provisioning_domains}
        if (
            (tenant_ids and tenant.tenant_id not in tenant_ids)
            or (names and tenant.name not in names)
            or (wanted_domains and not own_domains & wanted_domains)
            or not _attributes_match(tenant, custom_attributes or {})
        ):
            continue
        found.append(tenant)

    return found


def delete_tenant_and_memberships(
    conn: Any, actor: Actor, tenant: Tenant, *, cascade: bool
) -> None:
    """Delete a tenant and take its members out of it.

    Args:
        conn: the store connection.
        actor: who deletes it.
        tenant: the tenant.
        cascade: also delete the users who belong to this tenant and no other.
    """
    query = user_search.UserQuery(
        tenant_ids=(tenant.tenant_id,),
        with_test_users=True,
        limit=user_service.MAX_BULK_USERS,
    )
    members, _ = user_search.search_users(conn, tenant.project_id, query)
    for member in members:
        if cascade and all(t.tenant_id == tenant.tenant_id for t in member.tenants):
            user_service.delete_user(conn, actor, member)
        else:
            user_service.remove_tenant(conn, actor, member, tenant.tenant_id)
    delete_tenant(conn, actor, tenant)


def _attributes_match(tenant: Tenant, wanted: Mapping[str, Any]) -> bool:
    for name, value in wanted.items():
        options = value if isinstance(value, list) else [value]
        if name not in tenant.custom_attributes:
            return False
        if tenant.custom_attributes[name] not in options:
            return False
    return True
