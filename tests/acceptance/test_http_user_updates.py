"""Single-field user updates over real HTTP: status, login id, contact, names, roles."""

from __future__ import annotations

import httpx
import pytest

from tests.acceptance.conftest import Server
from tests.acceptance.wire import create_user, error, load_user, new_login, ok


@pytest.fixture(scope="module")
def tenant_id(server: Server) -> str:
    with server.client() as http:
        answer = ok(
            http.post(
                "/v1/mgmt/tenant/create", json={"name": "Updates Inc", "id": "T-upd"}
            )
        )
    return str(answer["id"])


def test_status_enable_and_disable(http: httpx.Client) -> None:
    login_id = new_login()
    create_user(http, login_id)

    disabled = ok(
        http.post(
            "/v1/mgmt/user/update/status",
            json={"loginId": login_id, "status": "disabled"},
        )
    )
    enabled = ok(
        http.post(
            "/v1/mgmt/user/update/status",
            json={"loginId": login_id, "status": "enabled"},
        )
    )
    invalid = http.post(
        "/v1/mgmt/user/update/status", json={"loginId": login_id, "status": "gone"}
    )

    assert disabled["user"]["status"] == "disabled"
    assert enabled["user"]["status"] == "enabled"
    assert "status" in error(invalid, 400, "E011003")


def test_login_id_email_phone_and_name_updates(http: httpx.Client) -> None:
    login_id, new_login_id = new_login(), new_login("renamed")
    create_user(http, login_id, email=login_id, verifiedEmail=True)

    renamed = ok(
        http.post(
            "/v1/mgmt/user/update/loginid",
            json={"loginId": login_id, "newLoginId": new_login_id},
        )
    )["user"]
    emailed = ok(
        http.post(
            "/v1/mgmt/user/update/email",
            json={"loginId": new_login_id, "email": "other@example.com"},
        )
    )["user"]
    phoned = ok(
        http.post(
            "/v1/mgmt/user/update/phone",
            json={"loginId": new_login_id, "phone": "+442071838750", "verified": True},
        )
    )["user"]
    named = ok(
        http.post(
            "/v1/mgmt/user/update/name",
            json={"loginId": new_login_id, "displayName": "G H", "middleName": "B"},
        )
    )["user"]

    assert renamed["loginIds"] == [new_login_id]
    assert emailed["email"] == "other@example.com"
    # A new address is not verified unless the call says so.
    assert emailed["verifiedEmail"] is False
    assert phoned["phone"] == "+442071838750"
    assert phoned["verifiedPhone"] is True
    assert (named["name"], named["middleName"]) == ("G H", "B")
    error(http.get("/v1/mgmt/user", params={"loginId": login_id}), 404, "E112102")


def test_a_taken_new_login_id_is_answered_409(http: httpx.Client) -> None:
    first, second = new_login(), new_login()
    create_user(http, first)
    create_user(http, second)

    response = http.post(
        "/v1/mgmt/user/update/loginid", json={"loginId": first, "newLoginId": second}
    )

    error(response, 409, "E062107")


def test_removing_the_last_login_id_is_refused(http: httpx.Client) -> None:
    login_id = new_login()
    create_user(http, login_id)

    response = http.post("/v1/mgmt/user/update/loginid", json={"loginId": login_id})

    error(response, 400, "E011003")
    assert load_user(http, login_id)["loginIds"] == [login_id]


def test_custom_attribute_set_and_removed(http: httpx.Client) -> None:
    login_id = new_login()
    create_user(http, login_id, customAttributes={"keep": True})
    path = "/v1/mgmt/user/update/customAttribute"

    set_int = ok(
        http.post(
            path, json={"loginId": login_id, "attributeKey": "n", "attributeValue": 3}
        )
    )
    removed = ok(http.post(path, json={"loginId": login_id, "attributeKey": "n"}))
    nested = http.post(
        path, json={"loginId": login_id, "attributeKey": "n", "attributeValue": [1]}
    )

    assert set_int["user"]["customAttributes"] == {"keep": True, "n": 3}
    assert removed["user"]["customAttributes"] == {"keep": True}
    assert "attributeValue" in error(nested, 400, "E011003")


def test_roles_project_wide_and_in_a_tenant(http: httpx.Client, tenant_id: str) -> None:
    login_id = new_login()
    create_user(http, login_id)

    ok(
        http.post(
            "/v2/mgmt/user/update/role/add",
            json={"loginId": login_id, "roleNames": ["a", "b"]},
        )
    )
    ok(
        http.post(
            "/v1/mgmt/user/update/role/remove",
            json={"loginId": login_id, "roleNames": ["a"]},
        )
    )
    joined = ok(
        http.post(
            "/v1/mgmt/user/update/tenant/add",
            json={"loginId": login_id, "tenantId": tenant_id},
        )
    )["user"]
    in_tenant = ok(
        http.post(
            "/v1/mgmt/user/update/role/set",
            json={"loginId": login_id, "tenantId": tenant_id, "roleNames": ["owner"]},
        )
    )["user"]
    left = ok(
        http.post(
            "/v1/mgmt/user/update/tenant/remove",
            json={"loginId": login_id, "tenantId": tenant_id},
        )
    )["user"]

    assert joined["roleNames"] == ["b"]
    assert joined["userTenants"][0]["roleNames"] == []
    assert in_tenant["userTenants"][0]["roleNames"] == ["owner"]
    assert left["userTenants"] == []


def test_roles_in_a_tenant_the_user_is_not_in_are_refused(
    http: httpx.Client, tenant_id: str
) -> None:
    login_id = new_login()
    create_user(http, login_id)

    response = http.post(
        "/v2/mgmt/user/update/role/add",
        json={"loginId": login_id, "tenantId": tenant_id, "roleNames": ["x"]},
    )

    error(response, 400, "E011003")


def test_joining_a_missing_tenant_is_answered_404(http: httpx.Client) -> None:
    login_id = new_login()
    create_user(http, login_id)

    response = http.post(
        "/v1/mgmt/user/update/tenant/add",
        json={"loginId": login_id, "tenantId": "T-missing"},
    )

    error(response, 404, "E114102")
