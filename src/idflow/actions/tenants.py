"""Tenant actions: load and update."""

from __future__ import annotations

from idflow.actions import arguments
from idflow.engine.contract import ActionCall, ActionResult
from idflow.services import tenants
from idflow.services.audit import Actor
from idflow.store.records import Tenant


def _tenant(call: ActionCall) -> Tenant:
    tenant_id = arguments.text(call, "tenantId", required=True)
    assert tenant_id is not None
    return tenants.require_tenant(call.conn, call.run.project_id, tenant_id)


def load_tenant(call: ActionCall) -> ActionResult:
    """`tenant-load`: load a tenant into `tenant.*`."""
    tenant = _tenant(call)
    return ActionResult(tenants.tenant_to_wire(tenant), {"tenantId": tenant.tenant_id})


def _wire_name(attribute: str) -> str:
    # The trace names fields as the arguments and the SDKs do: camelCase.
    head, *rest = attribute.split("_")
    return head + "".join(part.title() for part in rest)


def update_tenant(call: ActionCall) -> ActionResult:
    """`tenant-update`: change name, domains or (merged) custom attributes."""
    tenant = _tenant(call)
    changes: dict[str, object] = {}
    name = arguments.text(call, "name")
    if name is not None:
        changes["name"] = name
    if call.arguments.get("selfProvisioningDomains") is not None:
        changes["self_provisioning_domains"] = tuple(
            arguments.text_list(call, "selfProvisioningDomains")
        )
    custom = arguments.mapping(call, "customAttributes")
    if custom is not None:
        changes["custom_attributes"] = {**tenant.custom_attributes, **custom}
    updated = tenants.change_tenant(
        call.conn, Actor.for_run(call.run), tenant, **changes
    )
    return ActionResult(
        tenants.tenant_to_wire(updated),
        {"tenantId": tenant.tenant_id, "changed": sorted(map(_wire_name, changes))},
    )
