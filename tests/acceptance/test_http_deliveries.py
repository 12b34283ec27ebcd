"""Event-triggered flows on `idflow serve` alone (SQLite, embedded worker), over HTTP and CLI."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from idflow.flows.authoring import compile_authoring
from tests.acceptance.conftest import Server
from tests.acceptance.wire import error_body, ok

WAIT_SECONDS = 30.0

FLAG_ON_EVENT = {
    "id": "flag-on-event",
    "trigger": {"events": ["account.flagged"]},
    "steps": [
        {
            "id": "severe",
            "if": [
                {
                    "id": "high",
                    "when": "triggeringEvent.data.severity equal high",
                    "goto": "load",
                }
            ],
            "else": "ignored",
        },
        {"id": "load", "action": "user-load-from-triggering-event"},
        {"id": "disable", "action": "user-disable", "next": "disabled"},
        {"id": "disabled", "end": {"userId": "{{ user.userId }}"}},
        {"id": "ignored", "end": {"ignored": True}},
    ],
}


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    # Dead-letter at the first failure, so the redrive test need not wait.
    return {"IDFLOW_DELIVERY_MAX_ATTEMPTS": "1"}


def _post_event(http: httpx.Client, user_id: str, severity: str) -> None:
    ok(
        http.post(
            "/v1/mgmt/audit/event",
            json={
                "action": "account.flagged",
                "type": "info",
                "actorId": "risk-engine",
                "tenantId": "T-none",
                "userId": user_id,
                "data": {"severity": severity},
            },
        )
    )


def _settled(http: httpx.Client, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found: list[dict[str, Any]] = ok(
            http.post("/v1/mgmt/idflow/delivery/search", json={"limit": 1000})
        )["deliveries"]
        if len(found) >= count and all(
            d["status"] in ("done", "dead", "skipped") for d in found
        ):
            return found
        time.sleep(0.05)
    pytest.fail("The embedded worker did not settle the deliveries in time.")


def _event_id(http: httpx.Client, user_id: str) -> str:
    audits = ok(
        http.post(
            "/v1/mgmt/audit/search",
            json={"actions": ["account.flagged"], "userIds": [user_id]},
        )
    )["audits"]
    event_id: str = audits[0]["id"]
    return event_id


@pytest.fixture(scope="module")
def flagged(server: Server) -> dict[str, Any]:
    """A flow on `account.flagged`, a severe event, a mild one, and one for no user."""
    with server.client() as http:
        ok(
            http.post(
                "/v2/mgmt/flow/import", json={"flow": compile_authoring(FLAG_ON_EVENT)}
            )
        )
        users = {
            name: ok(
                http.post(
                    "/v1/mgmt/user/create", json={"loginId": f"{name}@example.com"}
                )
            )["user"]["userId"]
            for name in ("severe", "mild")
        }
        _post_event(http, users["severe"], "high")
        _post_event(http, users["mild"], "low")
        _post_event(http, "U-missing", "high")
        deliveries = _settled(http, 3)
        events = {name: _event_id(http, user_id) for name, user_id in users.items()}
        events["missing"] = _event_id(http, "U-missing")
    return {"users": users, "events": events, "deliveries": deliveries}


def test_an_event_posted_to_serve_runs_its_flow_with_nothing_else_started(
    http: httpx.Client, flagged: dict[str, Any]
) -> None:
    user = ok(http.get("/v1/mgmt/user", params={"userId": flagged["users"]["severe"]}))

    assert user["user"]["status"] == "disabled"
    assert sorted(d["status"] for d in flagged["deliveries"]) == [
        "dead",
        "done",
        "done",
    ]


def test_the_event_report_says_which_condition_filtered_the_flow_out(
    http: httpx.Client, flagged: dict[str, Any]
) -> None:
    report = ok(
        http.get("/v1/mgmt/idflow/event", params={"id": flagged["events"]["mild"]})
    )

    [delivery] = report["deliveries"]
    assert report["event"]["action"] == "account.flagged"
    assert delivery["status"] == "done"
    assert delivery["stoppedAt"]["taskId"] == "severe"
    [operand] = delivery["stoppedAt"]["operands"]
    assert (operand["target"], operand["value"], operand["result"]) == (
        "triggeringEvent.data.severity",
        "low",
        False,
    )


def test_redrive_counts_on_a_dry_run_then_queues_the_dead_delivery_again(
    http: httpx.Client, flagged: dict[str, Any]
) -> None:
    body = {"flowIds": ["flag-on-event"]}

    counted = ok(
        http.post("/v1/mgmt/idflow/delivery/redrive", json={**body, "dryRun": True})
    )
    redriven = ok(http.post("/v1/mgmt/idflow/delivery/redrive", json=body))

    assert counted == {"count": 1, "dryRun": True}
    assert redriven == {"count": 1, "dryRun": False}
    [dead] = [
        d for d in _settled(http, 3) if d["eventId"] == flagged["events"]["missing"]
    ]
    assert (dead["status"], dead["attempts"], dead["lastError"]["code"]) == (
        "dead",
        1,
        "E112102",
    )


def test_a_delivery_loads_by_id_and_an_unknown_one_is_404(
    http: httpx.Client, flagged: dict[str, Any]
) -> None:
    first = flagged["deliveries"][0]

    loaded = ok(
        http.get("/v1/mgmt/idflow/delivery", params={"id": first["deliveryId"]})
    )
    missing = http.get("/v1/mgmt/idflow/delivery", params={"id": "D-nope"})

    assert loaded["delivery"]["deliveryId"] == first["deliveryId"]
    error_body(missing, 404, "E102107")


def test_events_show_prints_the_stopping_condition(
    api: Server, flagged: dict[str, Any]
) -> None:
    shown = api.cli("events", "show", flagged["events"]["mild"])

    assert "flag-on-event: done, 1 attempt, run R" in shown.stdout
    assert "stopped at condition severe" in shown.stdout
    assert 'triggeringEvent.data.severity = "low" equal "high" -> false' in shown.stdout


def test_deliveries_list_filters_dead_ones_by_flow_and_time(
    api: Server, flagged: dict[str, Any]
) -> None:
    listed = api.cli_json(
        "deliveries",
        "list",
        "--status",
        "dead",
        "--flow",
        "flag-on-event",
        "--since",
        "2000-01-01T00:00:00Z",
    )
    future = api.cli_json(
        "deliveries", "list", "--status", "dead", "--since", "2999-01-01"
    )
    counted = api.cli_json(
        "deliveries", "redrive", "--flow", "flag-on-event", "--dry-run"
    )
    events = api.cli_json("events", "list", "--action", "account.flagged")

    assert [d["eventId"] for d in listed["deliveries"]] == [
        flagged["events"]["missing"]
    ]
    assert future == {"deliveries": [], "total": 0}
    assert counted == {"count": 1, "dryRun": True}
    assert len(events) == 3
