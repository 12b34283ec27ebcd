"""`POST /v1/mgmt/flow/run` over real HTTP, on a flow and users made with the CLI."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import EXAMPLES, Server
from tests.acceptance.wire import error_body

FLOW_ID = "disable-inactive-user"


@pytest.fixture(scope="module")
def applied(server: Server) -> str:
    server.cli("flow", "apply", str(EXAMPLES / "disable-inactive-user.yaml"))
    return FLOW_ID


def _create_user(api: Server, login_id: str) -> str:
    created = api.cli_json("user", "create", login_id)
    user_id: str = created["user"]["userId"]
    return user_id


def _status(api: Server, login_id: str) -> str:
    status: str = api.cli_json("user", "get", login_id)["user"]["status"]
    return status


def _runs(api: Server) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.cli_json("runs", "list", "--flow", FLOW_ID)
    return found


def test_nested_options_input_disables_an_inactive_user(
    api: Server, http: httpx.Client, applied: str
) -> None:
    user_id = _create_user(api, "nested@example.com")
    inputs = {"userId": "nested@example.com", "daysInactive": 120, "thresholdDays": 90}

    response = http.post(
        "/v1/mgmt/flow/run", json={"flowId": applied, "options": {"input": inputs}}
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"output": {"userId": user_id, "status": "disabled"}}
    assert _status(api, "nested@example.com") == "disabled"


def test_top_level_input_as_the_python_sdk_sends_it_keeps_an_active_user(
    api: Server, http: httpx.Client, applied: str
) -> None:
    user_id = _create_user(api, "top@example.com")
    inputs = {"userId": user_id, "daysInactive": 10, "thresholdDays": 90}

    response = http.post("/v1/mgmt/flow/run", json={"flowId": applied, "input": inputs})

    assert response.status_code == 200, response.text
    assert response.json() == {"output": {"userId": user_id, "status": "enabled"}}
    assert _status(api, "top@example.com") == "enabled"


def test_options_null_falls_back_to_the_top_level_input(
    api: Server, http: httpx.Client, applied: str
) -> None:
    user_id = _create_user(api, "null-options@example.com")
    inputs = {"userId": user_id, "daysInactive": 91, "thresholdDays": 90}

    response = http.post(
        "/v1/mgmt/flow/run", json={"flowId": applied, "options": None, "input": inputs}
    )

    assert response.json() == {"output": {"userId": user_id, "status": "disabled"}}


def test_each_http_run_is_recorded_with_its_inputs_and_outputs(
    api: Server, http: httpx.Client, applied: str
) -> None:
    user_id = _create_user(api, "recorded@example.com")
    inputs = {"userId": user_id, "daysInactive": 200, "thresholdDays": 90}
    before = {run["runId"] for run in _runs(api)}

    http.post("/v1/mgmt/flow/run", json={"flowId": applied, "input": inputs})

    new = [run for run in _runs(api) if run["runId"] not in before]
    assert len(new) == 1
    assert new[0]["trigger"] == "api"
    assert new[0]["status"] == "completed"
    assert new[0]["inputs"] == inputs
    assert new[0]["outputs"] == {"userId": user_id, "status": "disabled"}


def test_a_wrong_management_key_is_answered_401(api: Server, applied: str) -> None:
    with api.client(key="K2not-a-real-key") as stranger:
        response = stranger.post("/v1/mgmt/flow/run", json={"flowId": applied})

    error_body(response, 401, "E011101")


def test_a_missing_bearer_is_answered_401(api: Server, applied: str) -> None:
    response = httpx.post(f"{api.base_url}/v1/mgmt/flow/run", json={"flowId": applied})

    error_body(response, 401, "E011101")


def test_a_missing_flow_is_answered_404_with_the_flow_code(
    http: httpx.Client,
) -> None:
    response = http.post("/v1/mgmt/flow/run", json={"flowId": "no-such-flow"})

    body = error_body(response, 404, "E102101")
    assert "no-such-flow" in body["errorMessage"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "flowId"),
        ({"flowId": 7}, "flowId"),
        ({"flowId": FLOW_ID, "options": {"input": "userId=U1"}}, "options.input"),
        ({"flowId": FLOW_ID, "input": ["U1"]}, "input"),
    ],
)
def test_a_bad_body_is_answered_400_naming_the_field(
    http: httpx.Client, applied: str, body: dict[str, Any], field: str
) -> None:
    response = http.post("/v1/mgmt/flow/run", json=body)

    problem = error_body(response, 400, "E011003")
    assert field in problem["errorMessage"]


def test_a_body_that_is_not_json_is_answered_400(http: httpx.Client) -> None:
    response = http.post(
        "/v1/mgmt/flow/run",
        content=b"{flowId: nope",
        headers={"content-type": "application/json"},
    )

    error_body(response, 400, "E011001")


def test_a_failing_flow_is_answered_400_with_the_step_code_and_recorded(
    api: Server, http: httpx.Client, applied: str
) -> None:
    inputs = {"userId": "ghost@example.com", "daysInactive": 120, "thresholdDays": 90}

    response = http.post("/v1/mgmt/flow/run", json={"flowId": applied, "input": inputs})

    # 400 and never 503: the Python SDK replays 503, repeating the run's effects.
    body = error_body(response, 400, "E112102")
    failed = [run for run in _runs(api) if run["runId"] in body["errorMessage"]]
    assert len(failed) == 1
    assert failed[0]["status"] == "failed"
    assert failed[0]["error"]["taskId"] == "load"


@pytest.mark.parametrize("nested", [True, False], ids=["options", "top-level"])
def test_a_preview_answers_the_outputs_and_keeps_no_change(
    api: Server, http: httpx.Client, applied: str, nested: bool
) -> None:
    login_id = f"preview-{nested}@example.com"
    user_id = _create_user(api, login_id)
    inputs = {"userId": login_id, "daysInactive": 120, "thresholdDays": 90}
    options = {"input": inputs, "preview": True}
    body = {"flowId": applied, **({"options": options} if nested else options)}
    before = {run["runId"] for run in _runs(api)}

    response = http.post("/v1/mgmt/flow/run", json=body)

    assert response.status_code == 200, response.text
    assert response.json() == {"output": {"userId": user_id, "status": "disabled"}}
    # The user the flow disabled is enabled still, and no UserModified was kept.
    assert _status(api, login_id) == "enabled"
    trail = http.post("/v1/mgmt/audit/search", json={"userIds": [user_id]}).json()
    assert [event["action"] for event in trail["audits"]] == ["UserCreated"]
    [run] = [run for run in _runs(api) if run["runId"] not in before]
    assert (run["trigger"], run["status"]) == ("preview", "completed")


def test_an_async_preview_keeps_no_change_either(
    api: Server, http: httpx.Client, applied: str
) -> None:
    login_id = "async-preview@example.com"
    _create_user(api, login_id)
    inputs = {"userId": login_id, "daysInactive": 120, "thresholdDays": 90}

    accepted = http.post(
        "/v1/mgmt/flow/async/run",
        json={"flowId": applied, "input": inputs, "preview": True},
    ).json()
    result = _wait_for_result(http, accepted["executionId"])

    assert result["status"] == "completed"
    assert result["output"]["status"] == "disabled"
    assert _status(api, login_id) == "enabled"


TENANT_ECHO = """
id: tenant-echo
steps:
  - id: done
    end:
      tenantId: "{{ run.tenantId }}"
      name: "{{ tenant.name }}"
"""


def test_a_run_for_a_tenant_reads_it_from_the_context(
    api: Server, http: httpx.Client, tmp_path: Path
) -> None:
    flow_file = tmp_path / "tenant-echo.yaml"
    flow_file.write_text(TENANT_ECHO)
    api.cli("flow", "apply", str(flow_file))
    http.post("/v1/mgmt/tenant/create", json={"name": "Acme Echo", "id": "T-echo"})

    response = http.post(
        "/v1/mgmt/flow/run",
        json={"flowId": "tenant-echo", "options": {"tenant": "T-echo"}},
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"output": {"tenantId": "T-echo", "name": "Acme Echo"}}


def test_a_run_for_a_tenant_that_does_not_exist_is_answered_404(
    http: httpx.Client, applied: str
) -> None:
    response = http.post(
        "/v1/mgmt/flow/run", json={"flowId": applied, "tenant": "T-none"}
    )

    body = error_body(response, 404, "E114102")
    assert "T-none" in body["errorMessage"]


def _wait_for_result(http: httpx.Client, execution_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        result: dict[str, Any] = http.post(
            "/v1/mgmt/flow/async/result", json={"executionId": execution_id}
        ).json()
        if result["status"] != "running" or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def _decide_flow(path: Path, status_when_inactive: str) -> Path:
    path.write_text(
        f"""
id: decide-only
steps:
  - id: check
    if:
      - id: inactive
        when: client.daysInactive greater-than 90
        goto: off
    else: on
  - id: off
    end: {{userId: "{{{{ client.userId }}}}", status: {status_when_inactive}}}
  - id: on
    end: {{userId: "{{{{ client.userId }}}}", status: enabled}}
"""
    )
    return path


def test_a_flow_of_conditions_alone_follows_changes_made_by_another_process(
    api: Server, http: httpx.Client, tmp_path: Path
) -> None:
    # Such runs are made on the event loop from the cached plan; the CLI is
    # another process, which the cache never hears from.
    api.cli("flow", "apply", str(_decide_flow(tmp_path / "v1.yaml", "disabled")))
    body = {"flowId": "decide-only", "input": {"userId": "U7", "daysInactive": 120}}
    answers = [http.post("/v1/mgmt/flow/run", json=body) for _ in range(3)]
    assert [a.json() for a in answers] == [
        {"output": {"userId": "U7", "status": "disabled"}}
    ] * 3

    api.cli("flow", "apply", str(_decide_flow(tmp_path / "v2.yaml", "suspended")))
    after_import = http.post("/v1/mgmt/flow/run", json=body)
    api.cli("flow", "disable", "decide-only")
    after_disable = http.post("/v1/mgmt/flow/run", json=body)
    api.cli("flow", "enable", "decide-only")
    after_enable = http.post("/v1/mgmt/flow/run", json=body)

    assert after_import.json() == {"output": {"userId": "U7", "status": "suspended"}}
    error_body(after_disable, 409, "E102105")
    assert after_enable.json() == {"output": {"userId": "U7", "status": "suspended"}}
    recorded = api.cli_json("runs", "list", "--flow", "decide-only")
    assert sorted(run["flowVersion"] for run in recorded) == [1, 1, 1, 2, 2]
