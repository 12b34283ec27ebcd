"""Tenant endpoints over real HTTP: create, update, patch, delete, load, search."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from tests.acceptance.wire import error, ok

_serial = itertools.count()


def _create(http: httpx.Client, **fields: Any) -> str:
    body = {"name": f"Tenant {next(_serial)}", **fields}
    tenant_id: str = ok(http.post("/v1/mgmt/tenant/create", json=body))["id"]
    return tenant_id


def _load(http: httpx.Client, tenant_id: str) -> dict[str, Any]:
    tenant: dict[str, Any] = ok(http.get("/v1/mgmt/tenant", params={"id": tenant_id}))
    return tenant


def test_create_with_an_id_and_load_the_bare_tenant(http: httpx.Client) -> None:
    tenant_id = _create(
        http,
        name="Acme",
        id="T-acme-1",
        selfProvisioningDomains=["acme.io"],
        customAttributes={"tier": "gold"},
        enforceSSO=False,
        disabled=False,
    )

    tenant = _load(http, tenant_id)

    assert tenant_id == "T-acme-1"
    assert tenant["id"] == "T-acme-1"
    assert tenant["name"] == "Acme"
    assert tenant["selfProvisioningDomains"] == ["acme.io"]
    assert tenant["customAttributes"] == {"tier": "gold"}
    assert tenant["authType"] == "none"
    assert isinstance(tenant["createdTime"], int)


def test_create_without_an_id_generates_one(http: httpx.Client) -> None:
    tenant_id = _create(http, id=None)

    assert tenant_id.startswith("T")
    assert _load(http, tenant_id)["id"] == tenant_id


def test_duplicate_ids_and_names_are_answered_409(http: httpx.Client) -> None:
    tenant_id = _create(http, name="Unique Name")

    same_id = http.post("/v1/mgmt/tenant/create", json={"name": "x", "id": tenant_id})
    same_name = http.post("/v1/mgmt/tenant/create", json={"name": "unique name"})

    error(same_id, 409, "E114107")
    error(same_name, 409, "E114107")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        (
            {"name": "x", "selfProvisioningDomains": "acme.io"},
            "selfProvisioningDomains",
        ),
        ({"name": "x", "enforceSSO": True}, "enforceSSO"),
    ],
)
def test_a_bad_create_body_is_answered_400(
    http: httpx.Client, body: dict[str, Any], named: str
) -> None:
    response = http.post("/v1/mgmt/tenant/create", json=body)

    assert named in error(response, 400, "E011003")


def test_update_replaces_and_patch_changes_only_what_is_given(
    http: httpx.Client,
) -> None:
    tenant_id = _create(
        http, selfProvisioningDomains=["a.io"], customAttributes={"k": "v"}
    )

    # The Python SDK's update: every key; customAttributes left out when unset.
    ok(
        http.post(
            "/v1/mgmt/tenant/update",
            json={
                "name": "Renamed",
                "id": tenant_id,
                "selfProvisioningDomains": [],
                "enforceSSO": False,
                "disabled": False,
            },
        )
    )
    replaced = _load(http, tenant_id)
    ok(
        http.patch(
            "/v1/mgmt/tenant/patch",
            json={"id": tenant_id, "customAttributes": {"n": 1}},
        )
    )
    patched = _load(http, tenant_id)

    assert (replaced["name"], replaced["selfProvisioningDomains"]) == ("Renamed", [])
    assert replaced["customAttributes"] == {}
    assert (patched["name"], patched["customAttributes"]) == ("Renamed", {"n": 1})


def test_update_of_a_missing_tenant_is_answered_404(http: httpx.Client) -> None:
    response = http.post("/v1/mgmt/tenant/update", json={"id": "T-gone", "name": "x"})

    error(response, 404, "E114102")


def test_load_all_and_search(http: httpx.Client) -> None:
    first = _create(http, name="Search One", selfProvisioningDomains=["one.io"])
    second = _create(http, name="Search Two", customAttributes={"region": "eu"})

    everything = ok(http.get("/v1/mgmt/tenant/all"))["tenants"]
    # The Python SDK sends unset filters as null.
    by_name = ok(
        http.post(
            "/v1/mgmt/tenant/search",
            json={
                "tenantIds": None,
                "tenantNames": ["Search One"],
                "tenantSelfProvisioningDomains": None,
                "customAttributes": None,
            },
        )
    )["tenants"]
    by_domain = ok(
        http.post(
            "/v1/mgmt/tenant/search", json={"tenantSelfProvisioningDomains": ["ONE.io"]}
        )
    )["tenants"]
    by_attribute = ok(
        http.post("/v1/mgmt/tenant/search", json={"customAttributes": {"region": "eu"}})
    )["tenants"]
    by_id = ok(http.post("/v1/mgmt/tenant/search", json={"tenantIds": [second]}))

    assert {first, second} <= {t["id"] for t in everything}
    assert [t["id"] for t in by_name] == [first]
    assert [t["id"] for t in by_domain] == [first]
    assert [t["id"] for t in by_attribute] == [second]
    assert [t["id"] for t in by_id["tenants"]] == [second]


def test_delete_removes_memberships_and_cascade_removes_sole_members(
    http: httpx.Client,
) -> None:
    doomed, other = _create(http), _create(http)
    only = {"loginId": f"only-{doomed}", "userTenants": [{"tenantId": doomed}]}
    both = {
        "loginId": f"both-{doomed}",
        "userTenants": [{"tenantId": doomed}, {"tenantId": other}],
    }
    for body in (only, both):
        ok(http.post("/v1/mgmt/user/create", json=body))

    assert (
        ok(http.post("/v1/mgmt/tenant/delete", json={"id": doomed, "cascade": True}))
        == {}
    )

    error(http.get("/v1/mgmt/tenant", params={"id": doomed}), 404, "E114102")
    error(
        http.get("/v1/mgmt/user", params={"loginId": only["loginId"]}), 404, "E112102"
    )
    survivor = ok(http.get("/v1/mgmt/user", params={"loginId": both["loginId"]}))
    assert [t["tenantId"] for t in survivor["user"]["userTenants"]] == [other]


def test_delete_without_cascade_keeps_the_members(http: httpx.Client) -> None:
    doomed = _create(http)
    login_id = f"member-{doomed}"
    ok(
        http.post(
            "/v1/mgmt/user/create",
            json={"loginId": login_id, "userTenants": [{"tenantId": doomed}]},
        )
    )

    ok(http.post("/v1/mgmt/tenant/delete", json={"id": doomed}))

    member = ok(http.get("/v1/mgmt/user", params={"loginId": login_id}))["user"]
    assert member["userTenants"] == []


def test_load_without_an_id_and_delete_of_a_missing_tenant(http: httpx.Client) -> None:
    assert "id" in error(http.get("/v1/mgmt/tenant"), 400, "E011003")
    error(http.post("/v1/mgmt/tenant/delete", json={"id": "T-none"}), 404, "E114102")
