"""`POST /v2/mgmt/user/search` over real HTTP: filters, paging, sorting and total."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import Server

# The body the Python SDK always sends, before any filter of the caller's.
SDK_DEFAULTS = {
    "tenantIds": [],
    "roleNames": [],
    "limit": 0,
    "page": 0,
    "testUsersOnly": False,
    "withTestUser": False,
}


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, str]:
    """Five users, created in order, with tenants, roles and attributes to find."""
    specs: list[dict[str, Any]] = [
        {
            "loginId": "alice@acme.io",
            "email": "alice@acme.io",
            "displayName": "Alice Archer",
            "roleNames": ["admin"],
            "userTenants": [{"tenantId": "T-acme", "roleNames": ["owner", "billing"]}],
            "customAttributes": {"plan": "pro", "beta": True},
        },
        {
            "loginId": "bob@acme.io",
            "email": "BOB@acme.io",
            "displayName": "Bob Baker",
            "userTenants": [{"tenantId": "T-acme", "roleNames": ["billing"]}],
            "customAttributes": {"plan": "free", "beta": 1},
        },
        {
            "loginId": "carol@globex.io",
            "displayName": "Carol Cooper",
            "phone": "+15557654321",
            "userTenants": [{"tenantId": "T-globex", "roleNames": ["owner"]}],
            "customAttributes": {"plan": "pro"},
        },
        {"loginId": "dave@globex.io", "displayName": "Dave Dunn", "status": "disabled"},
        {"loginId": "erin@solo.io", "displayName": "Erin Evans", "test": True},
    ]
    with server.client() as http:
        for tenant_id in ("T-acme", "T-globex"):
            http.post(
                "/v1/mgmt/tenant/create", json={"name": tenant_id, "id": tenant_id}
            ).raise_for_status()
        ids = {}
        for spec in specs:
            path = (
                "/v1/mgmt/user/create/test"
                if spec.get("test")
                else "/v1/mgmt/user/create"
            )
            response = http.post(path, json=spec)
            response.raise_for_status()
            ids[spec["loginId"]] = response.json()["user"]["userId"]
    return ids


def _search(http: httpx.Client, **filters: Any) -> tuple[list[str], int]:
    response = http.post("/v2/mgmt/user/search", json={**SDK_DEFAULTS, **filters})
    assert response.status_code == 200, response.text
    body = response.json()
    return [user["loginIds"][0] for user in body["users"]], body["total"]


def test_no_filter_lists_every_user_but_test_users_oldest_first(
    http: httpx.Client, people: dict[str, str]
) -> None:
    found, total = _search(http)

    assert found == [
        "alice@acme.io",
        "bob@acme.io",
        "carol@globex.io",
        "dave@globex.io",
    ]
    assert total == 4


def test_with_test_user_includes_them_and_test_users_only_keeps_only_them(
    http: httpx.Client, people: dict[str, str]
) -> None:
    assert _search(http, withTestUser=True)[1] == 5
    assert _search(http, testUsersOnly=True) == (["erin@solo.io"], 1)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"tenantIds": ["T-globex"]}, ["carol@globex.io"]),
        ({"roleNames": ["owner"]}, ["alice@acme.io", "carol@globex.io"]),
        ({"roleNames": ["admin"]}, ["alice@acme.io"]),
        ({"statuses": ["disabled"]}, ["dave@globex.io"]),
        ({"statuses": ["expired"]}, []),
        ({"emails": ["bob@ACME.io"]}, ["bob@acme.io"]),
        ({"phones": ["+15557654321"]}, ["carol@globex.io"]),
        ({"loginIds": ["dave@globex.io", "nobody"]}, ["dave@globex.io"]),
        ({"text": "cOOper"}, ["carol@globex.io"]),
        ({"text": "globex"}, ["carol@globex.io", "dave@globex.io"]),
        ({"customAttributes": {"plan": "pro"}}, ["alice@acme.io", "carol@globex.io"]),
        ({"customAttributes": {"plan": ["free", "team"]}}, ["bob@acme.io"]),
        ({"customAttributes": {"beta": True}}, ["alice@acme.io"]),
        (
            {
                "tenantRoleNames": {
                    "T-acme": {"values": ["owner", "billing"], "and": True}
                }
            },
            ["alice@acme.io"],
        ),
        (
            {
                "tenantRoleNames": {
                    "T-acme": {"values": ["owner", "billing"], "and": False}
                }
            },
            ["alice@acme.io", "bob@acme.io"],
        ),
        ({"ssoAppIds": ["SA1"]}, []),
        ({"tenantIds": ["T-acme"], "text": "bob"}, ["bob@acme.io"]),
    ],
)
def test_each_filter_keeps_exactly_the_matching_users(
    http: httpx.Client,
    people: dict[str, str],
    filters: dict[str, Any],
    expected: list[str],
) -> None:
    found, total = _search(http, **filters)

    assert found == expected
    assert total == len(expected)


def test_user_ids_and_time_bounds_filter(
    http: httpx.Client, people: dict[str, str]
) -> None:
    carol = people["carol@globex.io"]
    year_2100_ms = 4_102_444_800_000

    assert _search(http, userIds=[carol])[0] == ["carol@globex.io"]
    assert _search(http, fromCreatedTime=year_2100_ms) == ([], 0)
    assert _search(http, toModifiedTime=1) == ([], 0)
    assert _search(http, toCreatedTime=year_2100_ms)[1] == 4
    # Go sends its zero time for an unset bound; it must not filter anything.
    assert _search(http, fromCreatedTime=-62135596800000)[1] == 4


def test_paging_keeps_the_total_of_every_match(
    http: httpx.Client, people: dict[str, str]
) -> None:
    pages = [_search(http, limit=3, page=page) for page in range(3)]

    assert pages[0] == (["alice@acme.io", "bob@acme.io", "carol@globex.io"], 4)
    assert pages[1] == (["dave@globex.io"], 4)
    assert pages[2] == ([], 4)


def test_paging_holds_with_a_filter_read_in_python(
    http: httpx.Client, people: dict[str, str]
) -> None:
    assert _search(http, roleNames=["owner", "billing"], limit=1, page=1) == (
        ["bob@acme.io"],
        3,
    )


def test_sorting_by_a_field_descending(
    http: httpx.Client, people: dict[str, str]
) -> None:
    found, _ = _search(http, sort=[{"field": "name", "desc": True}])

    assert found == [
        "dave@globex.io",
        "carol@globex.io",
        "bob@acme.io",
        "alice@acme.io",
    ]


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"sort": [{"field": "shoeSize"}]}, "sort.0.field"),
        ({"limit": -1}, "limit"),
        ({"page": "2"}, "page"),
        ({"statuses": ["frozen"]}, "statuses.0"),
        ({"tenantIds": "T-acme"}, "tenantIds"),
    ],
)
def test_a_bad_search_body_is_answered_400_naming_the_field(
    http: httpx.Client, filters: dict[str, Any], named: str
) -> None:
    response = http.post("/v2/mgmt/user/search", json={**SDK_DEFAULTS, **filters})

    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "E011003"
    assert named in response.json()["errorMessage"]
