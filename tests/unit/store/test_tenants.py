from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from idflow.errors import TenantAlreadyExists
from idflow.store import tenants
from idflow.store.database import Store
from idflow.store.records import Tenant

MakeTenant = Callable[..., Tenant]


def test_insert_tenant_round_trips_every_field(store: Store) -> None:
    tenant = Tenant(
        project_id="P1",
        tenant_id="T1",
        name="Acme",
        created_ms=10,
        modified_ms=11,
        self_provisioning_domains=("acme.com", "acme.io"),
        custom_attributes={"tier": "gold", "limits": {"users": 50}},
    )

    with store.begin() as conn:
        tenants.insert_tenant(conn, tenant)
    with store.connect() as conn:
        assert tenants.get_tenant(conn, "P1", "T1") == tenant
        assert tenants.get_tenant(conn, "P1", "T2") is None


def test_insert_tenant_with_a_taken_id_raises_and_keeps_the_transaction(
    store: Store, make_tenant: MakeTenant
) -> None:
    acme = make_tenant(tenant_id="acme")
    other = replace(acme, tenant_id="other")

    with store.begin() as conn:
        with pytest.raises(TenantAlreadyExists, match="acme"):
            tenants.insert_tenant(conn, replace(acme, name="Impostor"))
        tenants.insert_tenant(conn, other)

    with store.connect() as conn:
        assert tenants.list_tenants(conn, acme.project_id) == [acme, other]


def test_replace_tenant_rewrites_it_or_reports_it_missing(
    store: Store, make_tenant: MakeTenant
) -> None:
    acme = make_tenant()
    renamed = replace(acme, name="Acme Ltd", self_provisioning_domains=("acme.co",))

    with store.begin() as conn:
        replaced = tenants.replace_tenant(conn, renamed)
        missing = tenants.replace_tenant(conn, replace(acme, tenant_id="ghost"))
    with store.connect() as conn:
        stored = tenants.get_tenant(conn, acme.project_id, acme.tenant_id)

    assert (replaced, missing) == (True, False)
    assert stored == renamed


def test_delete_tenant_removes_it_once(store: Store, make_tenant: MakeTenant) -> None:
    acme = make_tenant()

    with store.begin() as conn:
        first = tenants.delete_tenant(conn, acme.project_id, acme.tenant_id)
        again = tenants.delete_tenant(conn, acme.project_id, acme.tenant_id)
    with store.connect() as conn:
        remaining = tenants.list_tenants(conn, acme.project_id)

    assert (first, again) == (True, False)
    assert remaining == []


def test_list_tenants_keeps_projects_apart(
    store: Store, make_tenant: MakeTenant
) -> None:
    mine = make_tenant(project_id="P1", created_ms=1)
    make_tenant(project_id="P2")

    with store.connect() as conn:
        assert tenants.list_tenants(conn, "P1") == [mine]
