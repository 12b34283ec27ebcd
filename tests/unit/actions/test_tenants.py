"""Tests for the tenant actions, each run as a flow step on a real store."""

from __future__ import annotations

from collections.abc import Callable

from idflow.services.audit import AuditAction
from idflow.store import tenants as tenant_store
from idflow.store.database import Store
from idflow.store.records import RunStatus, Tenant
from tests.conftest import TEST_PROJECT_ID
from tests.unit.actions.conftest import RunFlow, events, one_step_flow

MakeTenant = Callable[..., Tenant]


def stored(store: Store, tenant: Tenant) -> Tenant | None:
    with store.connect() as conn:
        return tenant_store.get_tenant(conn, TEST_PROJECT_ID, tenant.tenant_id)


def test_tenant_load_puts_the_tenant_in_context(
    run_flow: RunFlow, make_tenant: MakeTenant, store: Store
) -> None:
    acme = make_tenant(
        name="Acme",
        self_provisioning_domains=("acme.com",),
        custom_attributes={"tier": "gold"},
    )

    run = run_flow(
        one_step_flow(
            "tenant-load",
            {"tenantId": "{{ client.tenantId }}"},
            outputs={
                "name": "{{ tenant.name }}",
                "tier": "{{ tenant.customAttributes.tier }}",
                "domains": {
                    "type": "array",
                    "value": "{{ tenant.selfProvisioningDomains }}",
                },
            },
        ),
        {"tenantId": acme.tenant_id},
    )

    assert run.status is RunStatus.COMPLETED
    assert run.outputs == {"name": "Acme", "tier": "gold", "domains": ["acme.com"]}
    assert run.trace[0]["detail"] == {"tenantId": acme.tenant_id}
    assert events(store) == []


def test_tenant_load_of_an_unknown_tenant_fails_with_tenant_not_found(
    run_flow: RunFlow,
) -> None:
    run = run_flow(one_step_flow("tenant-load", {"tenantId": "T-none"}))

    assert run.status is RunStatus.FAILED
    assert run.error == {
        "code": "E114102",
        "message": "No tenant has the id 'T-none' in this project.",
        "taskId": "act",
    }


def test_tenant_load_with_a_tenant_id_that_renders_empty_fails_as_invalid(
    run_flow: RunFlow,
) -> None:
    run = run_flow(one_step_flow("tenant-load", {"tenantId": "{{ client.tenantId }}"}))

    assert run.error is not None
    assert (run.error["code"], run.error["message"]) == (
        "E011003",
        "Argument 'tenantId' rendered empty: expected a non-blank value.",
    )


def test_tenant_update_changes_fields_and_writes_tenant_modified(
    run_flow: RunFlow, make_tenant: MakeTenant, store: Store
) -> None:
    acme = make_tenant(
        name="Acme",
        self_provisioning_domains=("old.com",),
        custom_attributes={"tier": "silver", "region": "eu"},
    )

    run = run_flow(
        one_step_flow(
            "tenant-update",
            {
                "tenantId": acme.tenant_id,
                "name": "Acme Corp",
                "selfProvisioningDomains": "acme.com, acme.org",
                "customAttributes": {"tier": "gold"},
            },
            outputs={"name": "{{ tenant.name }}"},
        )
    )

    assert run.status is RunStatus.COMPLETED
    assert run.outputs == {"name": "Acme Corp"}
    after = stored(store, acme)
    assert after is not None
    assert after.name == "Acme Corp"
    # The domain list is replaced; custom attributes are merged.
    assert after.self_provisioning_domains == ("acme.com", "acme.org")
    assert after.custom_attributes == {"tier": "gold", "region": "eu"}
    [event] = events(store)
    assert (event.action, event.tenant_id, event.tenants) == (
        "TenantModified",
        acme.tenant_id,
        (acme.tenant_id,),
    )
    assert event.data == {
        "name": "Acme Corp",
        "selfProvisioningDomains": ["acme.com", "acme.org"],
        "customAttributes": {"tier": "gold", "region": "eu"},
    }
    assert (event.actor_id, event.run_id) == ("flow:test-tenant-update", run.run_id)
    assert run.trace[0]["detail"] == {
        "tenantId": acme.tenant_id,
        "changed": ["customAttributes", "name", "selfProvisioningDomains"],
    }


def test_tenant_update_reports_only_the_fields_that_changed(
    run_flow: RunFlow, make_tenant: MakeTenant, store: Store
) -> None:
    acme = make_tenant(name="Acme", custom_attributes={"tier": "gold"})

    run_flow(
        one_step_flow(
            "tenant-update",
            {"tenantId": acme.tenant_id, "name": "Acme", "customAttributes": {"x": 1}},
        )
    )

    [event] = events(store, AuditAction.TENANT_MODIFIED)
    assert event.data == {"customAttributes": {"tier": "gold", "x": 1}}


def test_tenant_update_to_the_same_values_writes_no_event(
    run_flow: RunFlow, make_tenant: MakeTenant, store: Store
) -> None:
    acme = make_tenant(name="Acme")

    run = run_flow(
        one_step_flow("tenant-update", {"tenantId": acme.tenant_id, "name": "Acme"})
    )

    assert run.status is RunStatus.COMPLETED
    assert stored(store, acme) == acme
    assert events(store) == []


def test_tenant_update_of_an_unknown_tenant_fails_with_tenant_not_found(
    run_flow: RunFlow,
) -> None:
    run = run_flow(one_step_flow("tenant-update", {"tenantId": "T-none", "name": "X"}))

    assert run.error is not None
    assert run.error["code"] == "E114102"


def test_tenant_update_with_domains_of_the_wrong_kind_fails_as_invalid(
    run_flow: RunFlow, make_tenant: MakeTenant, store: Store
) -> None:
    acme = make_tenant()

    run = run_flow(
        one_step_flow(
            "tenant-update",
            {"tenantId": acme.tenant_id, "selfProvisioningDomains": {"a": 1}},
        )
    )

    assert run.error is not None
    assert (run.error["code"], run.error["message"]) == (
        "E011003",
        "Argument 'selfProvisioningDomains' is {'a': 1}: expected a list or comma-separated text.",
    )
    assert stored(store, acme) == acme
