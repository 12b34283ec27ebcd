"""Audit endpoints over real HTTP: the trail of API changes, search and custom events."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import Server
from tests.acceptance.wire import ok


def _search(http: httpx.Client, **filters: Any) -> dict[str, Any]:
    # Python and Go send noTenants on every search.
    body: dict[str, Any] = ok(
        http.post("/v1/mgmt/audit/search", json={"noTenants": False, **filters})
    )
    return body


@pytest.fixture(scope="module")
def trail(server: Server) -> dict[str, Any]:
    """A tenant, a user in it, a status change and two custom events."""
    with server.client() as http:
        started = int(time.time() * 1000) - 1
        ok(http.post("/v1/mgmt/tenant/create", json={"name": "Audited", "id": "T-aud"}))
        user = ok(
            http.post(
                "/v1/mgmt/user/create",
                json={
                    "loginId": "audited@example.com",
                    "userTenants": [{"tenantId": "T-aud"}],
                },
            )
        )["user"]
        ok(
            http.post(
                "/v1/mgmt/user/update/status",
                json={"loginId": user["userId"], "status": "disabled"},
            )
        )
        for action, kind in (("pencil.created", "info"), ("pencil.broken", "error")):
            answer = ok(
                http.post(
                    "/v1/mgmt/audit/event",
                    json={
                        "action": action,
                        "type": kind,
                        "actorId": "backend-7",
                        "tenantId": "T-aud",
                        "userId": user["userId"],
                        "data": {"colour": "red"},
                    },
                )
            )
            assert answer == {}
        finished = int(time.time() * 1000) + 1
    return {"user": user, "from": started, "to": finished}


def test_changes_through_the_api_are_in_the_trail_in_the_sdk_shape(
    http: httpx.Client, trail: dict[str, Any]
) -> None:
    user_id = trail["user"]["userId"]

    found = _search(http, userIds=[user_id], actions=["UserCreated"])

    assert found["total"] == 1
    record = found["audits"][0]
    assert record["action"] == "UserCreated"
    assert record["userId"] == user_id
    assert record["type"] == "info"
    assert record["actorId"].startswith("K")
    assert record["externalIds"] == ["audited@example.com"]
    assert isinstance(record["occurred"], str)
    assert trail["from"] <= int(record["occurred"]) <= trail["to"]
    for key in (
        "projectId",
        "device",
        "method",
        "geo",
        "remoteAddress",
        "tenants",
        "data",
    ):
        assert key in record


def test_custom_events_keep_their_action_type_actor_tenant_and_data(
    http: httpx.Client, trail: dict[str, Any]
) -> None:
    found = _search(http, actions=["pencil.broken"])

    assert found["total"] == 1
    record = found["audits"][0]
    assert record["type"] == "error"
    assert record["actorId"] == "backend-7"
    assert record["tenants"] == ["T-aud"]
    assert record["userId"] == trail["user"]["userId"]
    assert record["data"] == {"colour": "red"}


def test_results_are_newest_first_unless_sorted_otherwise(
    http: httpx.Client, trail: dict[str, Any]
) -> None:
    user_id = trail["user"]["userId"]

    newest = [a["action"] for a in _search(http, userIds=[user_id])["audits"]]
    oldest = [
        a["action"]
        for a in _search(
            http, userIds=[user_id], sort=[{"field": "occurred", "desc": False}]
        )["audits"]
    ]

    assert newest == ["pencil.broken", "pencil.created", "UserModified", "UserCreated"]
    assert oldest == list(reversed(newest))


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            {"excludedActions": ["pencil.created", "pencil.broken"]},
            ["UserModified", "UserCreated"],
        ),
        ({"externalIds": ["audited@example.com"]}, ["UserModified", "UserCreated"]),
        ({"text": "PENCIL"}, ["pencil.broken", "pencil.created"]),
        ({"text": "red"}, ["pencil.broken", "pencil.created"]),
    ],
)
def test_filters_by_action_login_id_and_text(
    http: httpx.Client,
    trail: dict[str, Any],
    filters: dict[str, Any],
    expected: list[str],
) -> None:
    found = _search(http, userIds=[trail["user"]["userId"]], **filters)

    assert [a["action"] for a in found["audits"]] == expected


def test_filters_by_tenant_with_and_without_untenanted_events(
    http: httpx.Client, trail: dict[str, Any]
) -> None:
    tenanted = _search(http, tenants=["T-aud"])
    with_untenanted = _search(http, tenants=["T-aud"], noTenants=True)

    assert {a["action"] for a in tenanted["audits"]} == {
        "TenantCreated",
        "pencil.created",
        "pencil.broken",
    }
    assert with_untenanted["total"] > tenanted["total"]
    assert "UserCreated" in {a["action"] for a in with_untenanted["audits"]}


def test_filters_by_time_range(http: httpx.Client, trail: dict[str, Any]) -> None:
    inside = _search(http, **{"from": trail["from"], "to": trail["to"]})
    future = _search(http, **{"from": trail["to"] + 60_000})
    go_zero_time = _search(http, **{"from": -62135596800000})

    assert inside["total"] == 5
    assert future == {"audits": [], "total": 0}
    assert go_zero_time["total"] == _search(http)["total"]


def test_paging_by_size_or_limit_keeps_the_total(
    http: httpx.Client, trail: dict[str, Any]
) -> None:
    user_id = trail["user"]["userId"]

    go_page = _search(http, userIds=[user_id], size=3, page=1)
    widget_page = _search(http, userIds=[user_id], limit=2, page=0)

    assert [a["action"] for a in go_page["audits"]] == ["UserCreated"]
    assert go_page["total"] == 4
    assert [a["action"] for a in widget_page["audits"]] == [
        "pencil.broken",
        "pencil.created",
    ]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"type": "info", "actorId": "a", "tenantId": "t"}, "action"),
        (
            {"action": "x", "type": "Information", "actorId": "a", "tenantId": "t"},
            "type",
        ),
        ({"action": "x", "type": "info", "tenantId": "t"}, "actorId"),
        ({"action": "x", "type": "info", "actorId": "a"}, "tenantId"),
        (
            {
                "action": "x",
                "type": "info",
                "actorId": "a",
                "tenantId": "t",
                "data": [],
            },
            "data",
        ),
    ],
)
def test_a_bad_event_is_answered_400_and_not_recorded(
    http: httpx.Client, body: dict[str, Any], named: str
) -> None:
    before = _search(http)["total"]

    response = http.post("/v1/mgmt/audit/event", json=body)

    assert response.status_code == 400, response.text
    assert named in response.json()["errorMessage"]
    assert _search(http)["total"] == before


def test_a_bad_search_is_answered_400(http: httpx.Client) -> None:
    for body, named in (
        ({"sort": [{"field": "action"}]}, "sort.0.field"),
        ({"userIds": "U1"}, "userIds"),
        ({"from": "yesterday"}, "from"),
    ):
        response = http.post("/v1/mgmt/audit/search", json=body)
        assert response.status_code == 400, response.text
        assert named in response.json()["errorMessage"]
