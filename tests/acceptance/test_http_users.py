"""User endpoints over real HTTP: every call, its answer and its errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import Server
from tests.acceptance.wire import create_user, error, load_user, new_login, ok


@pytest.fixture(scope="module")
def tenant_id(server: Server) -> str:
    with server.client() as http:
        answer = ok(
            http.post(
                "/v1/mgmt/tenant/create", json={"name": "Users Inc", "id": "T-users"}
            )
        )
    return str(answer["id"])


def test_create_answers_the_user_in_the_sdk_shape(
    http: httpx.Client, tenant_id: str
) -> None:
    login_id = new_login()
    user = create_user(
        http,
        login_id,
        email=login_id,
        phone="+15551234567",
        displayName="Ada Lovelace",
        givenName="Ada",
        familyName="Lovelace",
        verifiedEmail=True,
        roleNames=["auditor"],
        userTenants=[{"tenantId": tenant_id, "roleNames": ["admin"]}],
        customAttributes={"plan": "pro", "seats": 3},
        additionalLoginIds=["ada-alt"],
    )

    assert user["userId"].startswith("U")
    assert user["loginIds"] == [login_id, "ada-alt"]
    assert user["email"] == login_id
    assert user["verifiedEmail"] is True
    assert user["verifiedPhone"] is False
    assert user["name"] == "Ada Lovelace"
    assert user["givenName"] == "Ada"
    assert user["middleName"] == ""
    assert user["roleNames"] == ["auditor"]
    assert user["userTenants"] == [
        {
            "tenantId": tenant_id,
            "roleNames": ["admin"],
            "tenantName": "Users Inc",
            "permissions": [],
        }
    ]
    assert user["status"] == "enabled"
    assert user["customAttributes"] == {"plan": "pro", "seats": 3}
    assert isinstance(user["createdTime"], int)
    assert load_user(http, "ada-alt")["userId"] == user["userId"]


def test_a_duplicate_login_id_is_answered_409(http: httpx.Client) -> None:
    login_id = new_login()
    create_user(http, login_id)

    response = http.post("/v1/mgmt/user/create", json={"loginId": login_id})

    assert login_id in error(response, 409, "E062107")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"loginId": ""}, "loginId"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"roleNames": "admin"}, "roleNames"),
        ({"userTenants": [{"roleNames": ["x"]}]}, "userTenants.0.tenantId"),
        ({"verifiedEmail": "yes"}, "verifiedEmail"),
        ({"status": "expired"}, "status"),
        ({"password": "hunter2"}, "password"),
        ({"ssoAppIDs": ["SA1"]}, "ssoAppIDs"),
    ],
)
def test_a_bad_create_body_is_answered_400_naming_the_field_and_writes_nothing(
    http: httpx.Client, fields: dict[str, Any], named: str
) -> None:
    login_id = new_login("bad")

    response = http.post("/v1/mgmt/user/create", json={"loginId": login_id, **fields})

    assert named in error(response, 400, "E011003")
    missing = http.get("/v1/mgmt/user", params={"loginId": login_id})
    assert missing.status_code == 404


def test_an_unknown_tenant_is_answered_404_and_writes_nothing(
    http: httpx.Client,
) -> None:
    login_id = new_login()

    response = http.post(
        "/v1/mgmt/user/create",
        json={"loginId": login_id, "userTenants": [{"tenantId": "T-nowhere"}]},
    )

    error(response, 404, "E114102")
    error(http.get("/v1/mgmt/user", params={"loginId": login_id}), 404, "E112102")


def test_load_finds_a_user_by_login_id_or_user_id(http: httpx.Client) -> None:
    login_id = new_login()
    user_id = create_user(http, login_id)["userId"]

    by_user_id = ok(http.get("/v1/mgmt/user", params={"userId": user_id}))
    by_either = ok(http.get("/v1/mgmt/user", params={"loginId": user_id}))

    assert by_user_id["user"]["loginIds"] == [login_id]
    assert by_either["user"]["userId"] == user_id
    error(http.get("/v1/mgmt/user", params={"userId": login_id}), 404, "E112102")
    assert "loginId" in error(http.get("/v1/mgmt/user"), 400, "E011003")


def test_create_batch_reports_each_failure_and_keeps_the_rest(
    http: httpx.Client,
) -> None:
    taken = new_login()
    create_user(http, taken)
    fresh = new_login()

    answer = ok(
        http.post(
            "/v1/mgmt/user/create/batch",
            json={"users": [{"loginId": fresh}, {"loginId": taken}], "invite": True},
        )
    )

    assert [u["loginIds"] for u in answer["createdUsers"]] == [[fresh]]
    assert answer["createdUsers"][0]["status"] == "invited"
    assert len(answer["failedUsers"]) == 1
    assert answer["failedUsers"][0]["user"]["loginId"] == taken
    assert taken in answer["failedUsers"][0]["failure"]


def test_a_batch_with_one_bad_entry_creates_no_one(http: httpx.Client) -> None:
    first = new_login()

    response = http.post(
        "/v1/mgmt/user/create/batch",
        json={"users": [{"loginId": first}, {"loginId": 42}]},
    )

    assert "users.1.loginId" in error(response, 400, "E011003")
    error(http.get("/v1/mgmt/user", params={"loginId": first}), 404, "E112102")


def test_update_replaces_every_field_and_nulls_clear(
    http: httpx.Client, tenant_id: str
) -> None:
    login_id = new_login()
    create_user(
        http,
        login_id,
        email=login_id,
        verifiedEmail=True,
        displayName="Old",
        givenName="Old",
        roleNames=["a"],
        userTenants=[{"tenantId": tenant_id}],
        customAttributes={"k": "v"},
        additionalLoginIds=["update-alt"],
    )

    # The shape the Python SDK sends: every key, unset ones as null.
    user = ok(
        http.post(
            "/v1/mgmt/user/update",
            json={
                "loginId": login_id,
                "email": login_id,
                "phone": None,
                "displayName": "New",
                "roleNames": ["b"],
                "userTenants": [],
                "test": False,
                "picture": None,
                "customAttributes": None,
                "additionalLoginIds": None,
                "ssoAppIDs": None,
            },
        )
    )["user"]

    assert user["name"] == "New"
    assert user["givenName"] == ""
    assert user["roleNames"] == ["b"]
    assert user["userTenants"] == []
    assert user["customAttributes"] == {}
    assert user["loginIds"] == [login_id]
    assert user["verifiedEmail"] is True


def test_patch_changes_only_the_fields_given(http: httpx.Client) -> None:
    login_id = new_login()
    create_user(http, login_id, displayName="Kept", roleNames=["kept"])

    user = ok(
        http.patch(
            "/v1/mgmt/user/patch",
            json={"loginId": login_id, "givenName": "Grace", "status": "disabled"},
        )
    )["user"]

    assert user["givenName"] == "Grace"
    assert user["name"] == "Kept"
    assert user["roleNames"] == ["kept"]
    assert user["status"] == "disabled"


def test_update_of_a_missing_user_is_answered_404(http: httpx.Client) -> None:
    response = http.post("/v1/mgmt/user/update", json={"loginId": "nobody@example.com"})

    error(response, 404, "E112102")


def test_delete_by_login_id_or_user_id(http: httpx.Client) -> None:
    first, second = new_login(), new_login()
    create_user(http, first)
    second_id = create_user(http, second)["userId"]

    assert ok(http.post("/v1/mgmt/user/delete", json={"loginId": first})) == {}
    assert ok(http.post("/v1/mgmt/user/delete", json={"userId": second_id})) == {}

    for login_id in (first, second):
        error(http.get("/v1/mgmt/user", params={"loginId": login_id}), 404, "E112102")
    error(http.post("/v1/mgmt/user/delete", json={"loginId": first}), 404, "E112102")


def test_delete_batch_deletes_all_or_none(http: httpx.Client) -> None:
    kept = create_user(http, new_login())["userId"]

    response = http.post(
        "/v1/mgmt/user/delete/batch", json={"userIds": [kept, "U-missing"]}
    )

    error(response, 404, "E112102")
    assert ok(http.get("/v1/mgmt/user", params={"userId": kept}))
    assert ok(http.post("/v1/mgmt/user/delete/batch", json={"userIds": [kept]})) == {}


def test_load_users_answers_them_in_the_order_asked(http: httpx.Client) -> None:
    first = create_user(http, new_login())["userId"]
    second = create_user(http, new_login())["userId"]

    answer = ok(
        http.post("/v1/mgmt/users/load", json={"userIds": [second, "U-none", first]})
    )

    assert [u["userId"] for u in answer["users"]] == [second, first]


def test_test_users_are_searched_and_deleted_apart(http: httpx.Client) -> None:
    login_id = new_login("test-user")
    ok(http.post("/v1/mgmt/user/create/test", json={"loginId": login_id}))

    normal = ok(http.post("/v2/mgmt/user/search", json={"loginIds": [login_id]}))
    tests = ok(http.post("/v2/mgmt/user/search/test", json={"loginIds": [login_id]}))
    deleted = http.delete("/v1/mgmt/user/test/delete/all")

    assert normal == {"users": [], "total": 0}
    assert [u["test"] for u in tests["users"]] == [True]
    assert ok(deleted) == {}
    error(http.get("/v1/mgmt/user", params={"loginId": login_id}), 404, "E112102")
