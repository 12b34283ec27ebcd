"""Access over real HTTP: keys and their scopes, project isolation, limits, paths."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import EXAMPLES, Server
from tests.acceptance.wire import error, ok


def _create_key(http: httpx.Client, name: str, scope: str) -> dict[str, Any]:
    answer: dict[str, Any] = ok(
        http.post("/v1/mgmt/idflow/key/create", json={"name": name, "scope": scope})
    )
    return answer


@pytest.fixture(scope="module")
def seeded(server: Server) -> dict[str, str]:
    server.cli("flow", "apply", str(EXAMPLES / "disable-inactive-user.yaml"))
    with server.client() as http:
        user = ok(
            http.post("/v1/mgmt/user/create", json={"loginId": "owned@example.com"})
        )
    return {"userId": user["user"]["userId"], "flowId": "disable-inactive-user"}


def test_a_new_key_is_shown_once_and_listed_without_its_secret(
    http: httpx.Client,
) -> None:
    created = _create_key(http, "ci", "full")

    listed = ok(http.get("/v1/mgmt/idflow/key/all"))["keys"]

    assert created["cleartext"].startswith("K2")
    assert created["key"]["scope"] == "full"
    assert created["key"]["status"] == "active"
    mine = [key for key in listed if key["id"] == created["key"]["id"]]
    assert mine == [created["key"]]
    assert created["cleartext"] not in str(listed)


def test_a_read_only_key_reads_but_may_not_write_or_run(
    api: Server, http: httpx.Client, seeded: dict[str, str]
) -> None:
    secret = _create_key(http, "dashboards", "read-only")["cleartext"]

    with api.client(secret) as reader:
        loaded = reader.get("/v1/mgmt/user", params={"userId": seeded["userId"]})
        search = reader.post("/v2/mgmt/user/search", json={})
        write = reader.post("/v1/mgmt/user/create", json={"loginId": "ro@example.com"})
        run = reader.post("/v1/mgmt/flow/run", json={"flowId": seeded["flowId"]})
        keys = reader.get("/v1/mgmt/idflow/key/all")

    assert ok(loaded)["user"]["userId"] == seeded["userId"]
    assert ok(search)["total"] >= 1
    for refused in (write, run, keys):
        error(refused, 403, "E011102")


def test_a_run_flows_key_runs_flows_and_nothing_else(
    api: Server, http: httpx.Client, seeded: dict[str, str]
) -> None:
    secret = _create_key(http, "scheduler", "run-flows")["cleartext"]
    inputs = {"userId": seeded["userId"], "daysInactive": 1, "thresholdDays": 90}

    with api.client(secret) as runner:
        run = runner.post(
            "/v1/mgmt/flow/run", json={"flowId": seeded["flowId"], "input": inputs}
        )
        read = runner.get("/v1/mgmt/user", params={"userId": seeded["userId"]})

    assert ok(run)["output"]["status"] == "enabled"
    error(read, 403, "E011102")


def test_a_revoked_key_stops_working_at_once(api: Server, http: httpx.Client) -> None:
    created = _create_key(http, "short-lived", "full")
    with api.client(created["cleartext"]) as holder:
        ok(holder.get("/v1/mgmt/idflow/key/all"))

        revoked = ok(
            http.post("/v1/mgmt/idflow/key/revoke", json={"id": created["key"]["id"]})
        )
        after = holder.get("/v1/mgmt/idflow/key/all")

    assert revoked["key"]["status"] == "revoked"
    assert revoked["key"]["revokedTime"] > 0
    error(after, 401, "E011101")
    again = http.post("/v1/mgmt/idflow/key/revoke", json={"id": created["key"]["id"]})
    error(again, 404, "E011106")


def test_the_last_full_key_cannot_be_revoked(api: Server) -> None:
    fresh = api.cli_json("project", "create", "--name", "keys")
    first = {"Authorization": f"Bearer {fresh['projectId']}:{fresh['managementKey']}"}
    with httpx.Client(base_url=api.base_url, headers=first) as owner:
        first_id = ok(owner.get("/v1/mgmt/idflow/key/all"))["keys"][0]["id"]
        alone = owner.post("/v1/mgmt/idflow/key/revoke", json={"id": first_id})
        second = _create_key(owner, "successor", "full")
        handed_over = owner.post("/v1/mgmt/idflow/key/revoke", json={"id": first_id})
    with api.client() as unrelated:
        foreign = unrelated.post(
            "/v1/mgmt/idflow/key/revoke", json={"id": second["key"]["id"]}
        )
    last = {"Authorization": f"Bearer {fresh['projectId']}:{second['cleartext']}"}
    with httpx.Client(base_url=api.base_url, headers=last) as successor:
        refused = successor.post(
            "/v1/mgmt/idflow/key/revoke", json={"id": second["key"]["id"]}
        )

    error(alone, 409, "E011110")
    assert ok(handed_over)["key"]["id"] == first_id
    error(foreign, 404, "E011106")
    error(refused, 409, "E011110")


@pytest.mark.parametrize(
    ("body", "named"),
    [({"scope": "full"}, "name"), ({"name": "x", "scope": "admin"}, "scope")],
)
def test_a_bad_key_body_is_answered_400(
    http: httpx.Client, body: dict[str, Any], named: str
) -> None:
    assert named in error(
        http.post("/v1/mgmt/idflow/key/create", json=body), 400, "E011003"
    )


def test_projects_are_isolated(api: Server, seeded: dict[str, str]) -> None:
    other = api.cli_json("project", "create", "--name", "other")
    headers = {"Authorization": f"Bearer {other['projectId']}:{other['managementKey']}"}

    with httpx.Client(base_url=api.base_url, headers=headers) as stranger:
        user = stranger.get("/v1/mgmt/user", params={"userId": seeded["userId"]})
        flow = stranger.post("/v1/mgmt/flow/export", json={"flowId": seeded["flowId"]})
        run = stranger.post("/v1/mgmt/flow/run", json={"flowId": seeded["flowId"]})
        users = ok(stranger.post("/v2/mgmt/user/search", json={}))
        audits = ok(stranger.post("/v1/mgmt/audit/search", json={}))
    mixed = httpx.get(
        f"{api.base_url}/v1/mgmt/user",
        params={"userId": seeded["userId"]},
        headers={"Authorization": f"Bearer {api.project_id}:{other['managementKey']}"},
    )

    error(user, 404, "E112102")
    error(flow, 404, "E102101")
    error(run, 404, "E102101")
    assert users == {"users": [], "total": 0}
    assert {a["projectId"] for a in audits["audits"]} <= {other["projectId"]}
    error(mixed, 401, "E011101")


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic abc", "Bearer", "Bearer onlyproject", "Bearer P1:refresh:key"],
)
def test_a_missing_or_malformed_bearer_is_answered_401(
    api: Server, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = httpx.post(
        f"{api.base_url}/v2/mgmt/user/search", json={}, headers=headers
    )

    error(response, 401, "E011101")


def test_a_body_over_the_limit_is_answered_413(http: httpx.Client) -> None:
    padding = "x" * (1024 * 1024 + 1)

    response = http.post(
        "/v1/mgmt/user/create", json={"loginId": "big@example.com", "pad": padding}
    )

    error(response, 413, "E011113")
    error(
        http.get("/v1/mgmt/user", params={"loginId": "big@example.com"}), 404, "E112102"
    )


def test_unknown_paths_and_methods_get_a_json_404(http: httpx.Client) -> None:
    error(http.post("/v1/mgmt/nothing/here", json={}), 404, "E011104")
    error(http.get("/v1/mgmt/user/create"), 404, "E011104")


def test_a_base_url_ending_in_a_slash_still_reaches_the_api(
    api: Server, http: httpx.Client
) -> None:
    response = httpx.post(
        f"{api.base_url}//v1/mgmt/flow/list",
        headers={"Authorization": api.bearer},
    )

    assert ok(response)["total"] >= 0


def test_the_license_answers_a_fixed_tier(http: httpx.Client) -> None:
    assert ok(http.get("/v1/mgmt/license")) == {"rateLimitTier": "tier4"}
