"""Tenant endpoints of the management API: create, update, patch, delete, load, search.

idflow keeps a tenant's name, self-provisioning domains and custom attributes.
The SSO switches Descope adds (`enforceSSO`, `disabled`, exclusions, federated
apps) are accepted when off or empty, as the SDKs send them by default, and
refused when set, so nothing is silently dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from starlette.requests import Request

from idflow.api.bodies import WireModel, refuse_unsupported
from idflow.api.context import ApiContext, require_query_param
from idflow.api.responses import JsonResponse
from idflow.clock import new_id
from idflow.services import tenants as tenant_service
from idflow.store.records import KeyScope


class _SsoSwitches(WireModel):
    enforceSSO: bool = False
    disabled: bool = False
    enforceSSOExclusions: list[str] = []
    federatedAppIds: list[str] = []

    def check_supported(self) -> None:
        refuse_unsupported(
            enforceSSO=self.enforceSSO,
            disabled=self.disabled,
            enforceSSOExclusions=bool(self.enforceSSOExclusions),
            federatedAppIds=bool(self.federatedAppIds),
        )


class TenantBody(_SsoSwitches):
    """`/v1/mgmt/tenant/create` and `/update`: every key, unset ones emptied."""

    name: str = Field(min_length=1)
    id: str | None = None
    selfProvisioningDomains: list[str] = []
    customAttributes: dict[str, Any] = {}


class TenantUpdateBody(TenantBody):
    """`/v1/mgmt/tenant/update`: as create, with the id required."""

    id: str = Field(min_length=1)


class TenantPatchBody(_SsoSwitches):
    """PATCH `/v1/mgmt/tenant/patch`: `id` plus the keys that change."""

    id: str = Field(min_length=1)
    name: str | None = Field(None, min_length=1)
    selfProvisioningDomains: list[str] | None = None
    customAttributes: dict[str, Any] | None = None


class TenantIdBody(WireModel):
    """`/v1/mgmt/tenant/delete`: `cascade` also deletes users of this tenant only."""

    id: str = Field(min_length=1)
    cascade: bool = False


class TenantSearchBody(WireModel):
    """`/v1/mgmt/tenant/search`; the Python SDK sends unset keys as null."""

    tenantIds: list[str] = []
    tenantNames: list[str] = []
    tenantSelfProvisioningDomains: list[str] = []
    customAttributes: dict[str, Any] = {}


async def create_tenant(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/tenant/create` → `{"id"}`; a missing id is generated."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, TenantBody)
    body.check_supported()
    tenant_id = body.id or new_id("T")

    def create(conn: Any) -> dict[str, Any]:
        tenant_service.ensure_name_free(conn, principal.project_id, body.name)
        tenant_service.create_tenant(
            conn,
            principal.actor,
            principal.project_id,
            tenant_id,
            body.name,
            self_provisioning_domains=body.selfProvisioningDomains,
            custom_attributes=body.customAttributes,
        )
        return {"id": tenant_id}

    return JsonResponse(await api.write(create))


async def update_tenant(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/tenant/update`: replace every field → `{}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, TenantUpdateBody)
    body.check_supported()
    tenant_id = body.id

    def update(conn: Any) -> dict[str, Any]:
        tenant = tenant_service.require_tenant(conn, principal.project_id, tenant_id)
        tenant_service.ensure_name_free(
            conn, principal.project_id, body.name, tenant_id
        )
        tenant_service.change_tenant(
            conn,
            principal.actor,
            tenant,
            name=body.name,
            self_provisioning_domains=tuple(body.selfProvisioningDomains),
            custom_attributes=dict(body.customAttributes),
        )
        return {}

    return JsonResponse(await api.write(update))


async def patch_tenant(request: Request) -> JsonResponse:
    """`PATCH /v1/mgmt/tenant/patch`: change the fields given → `{}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, TenantPatchBody)
    body.check_supported()

    def patch(conn: Any) -> dict[str, Any]:
        tenant = tenant_service.require_tenant(conn, principal.project_id, body.id)
        changes: dict[str, Any] = {}
        if body.name is not None:
            tenant_service.ensure_name_free(
                conn, principal.project_id, body.name, body.id
            )
            changes["name"] = body.name
        if body.selfProvisioningDomains is not None:
            changes["self_provisioning_domains"] = tuple(body.selfProvisioningDomains)
        if body.customAttributes is not None:
            changes["custom_attributes"] = dict(body.customAttributes)
        tenant_service.change_tenant(conn, principal.actor, tenant, **changes)
        return {}

    return JsonResponse(await api.write(patch))


async def delete_tenant(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/tenant/delete`: the tenant and its memberships → `{}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, TenantIdBody)

    def delete(conn: Any) -> dict[str, Any]:
        tenant = tenant_service.require_tenant(conn, principal.project_id, body.id)
        tenant_service.delete_tenant_and_memberships(
            conn, principal.actor, tenant, cascade=body.cascade
        )
        return {}

    return JsonResponse(await api.write(delete))


async def load_tenant(request: Request) -> JsonResponse:
    """`GET /v1/mgmt/tenant?id=…` → the bare tenant object."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    tenant_id = require_query_param(request, "id")

    def load(conn: Any) -> dict[str, Any]:
        tenant = tenant_service.require_tenant(conn, principal.project_id, tenant_id)
        return tenant_service.tenant_to_wire(tenant)

    return JsonResponse(await api.read(load))


async def load_all_tenants(request: Request) -> JsonResponse:
    """`GET /v1/mgmt/tenant/all` → `{"tenants"}`, oldest first."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)

    def load(conn: Any) -> dict[str, Any]:
        found = tenant_service.list_tenants(conn, principal.project_id)
        return {"tenants": [tenant_service.tenant_to_wire(t) for t in found]}

    return JsonResponse(await api.read(load))


async def search_tenants(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/tenant/search` → `{"tenants"}` matching every filter given."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    body = await api.body(request, TenantSearchBody)

    def search(conn: Any) -> dict[str, Any]:
        found = tenant_service.search_tenants(
            conn,
            principal.project_id,
            tenant_ids=set(body.tenantIds),
            names=set(body.tenantNames),
            domains=body.tenantSelfProvisioningDomains,
            custom_attributes=body.customAttributes,
        )
        return {"tenants": [tenant_service.tenant_to_wire(t) for t in found]}

    return JsonResponse(await api.read(search))
