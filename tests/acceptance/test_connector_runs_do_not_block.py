"""A run waiting on a connector holds up no other request of `idflow serve` on SQLite.

The endpoint the connector calls answers only when the test lets it. While it
holds a run's call open, the same server must answer other requests (a user
created and loaded, an audit event stored, a flow without connectors run) within
`PROMPT_SECONDS`; then the call is let through, and the run must complete and be
recorded. Runs are tried from the synchronous and the asynchronous endpoint and
from an event, through the embedded worker; each twice where it matters: once
for a flow the server has not run yet, once for one it knows calls connectors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from idflow.connectors.secrets import generate_key
from idflow.flows.authoring import compile_authoring
from tests.acceptance.conftest import Server
from tests.acceptance.wire import (
    create_http_connector,
    create_user,
    load_user,
    new_login,
    ok,
)
from tests.integration.connectors.servers import (
    Recorded,
    RecordingServer,
    recording_server,
)

# Other requests must be answered within this; the held call lasts until the
# test lets it go, which is always later.
PROMPT_SECONDS = 10.0
# The most a call is held should a test fail before letting it go.
HOLD_SECONDS = 60.0
WAIT_SECONDS = 30.0

CALL_HOOK = {
    "id": "call-hook",
    "steps": [
        {
            "id": "call",
            "action": "http-connector",
            "with": {
                "connector": "hook",
                "path": "/hook",
                "method": "POST",
                "body": {"runId": "{{ run.id }}"},
                "timeoutSeconds": 30,
            },
        },
        {"id": "done", "end": {"answered": "{{ http.status }}"}},
    ],
}
HOOK_ON_EVENT = {
    "id": "hook-on-event",
    "trigger": {"events": ["hook.requested"]},
    "steps": [
        {
            "id": "call",
            "action": "http-connector",
            "with": {
                "connector": "hook",
                "path": "/hook",
                "method": "POST",
                "body": {"eventId": "{{ triggeringEvent.id }}"},
                "timeoutSeconds": 30,
            },
        },
        {"id": "done", "end": {"ok": True}},
    ],
}
QUICK = {"id": "quick", "steps": [{"id": "done", "end": {"ok": True}}]}


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    # The endpoint lives on loopback, which connectors may not reach by default.
    return {
        "IDFLOW_OUTBOUND_ALLOW": "127.0.0.1/32",
        "IDFLOW_SECRET_KEY": generate_key().to_text(),
    }


class Hook:
    """The connector's endpoint: it answers at once, or holds calls while told to."""

    def __init__(self, server: RecordingServer) -> None:
        self.server = server
        self._arrived = threading.Event()
        self._release = threading.Event()
        self._release.set()
        server.on_request = self._hold

    def _hold(self, _request: Recorded) -> None:
        self._arrived.set()
        self._release.wait(HOLD_SECONDS)

    @contextmanager
    def holding(self) -> Iterator[threading.Event]:
        """Hold every call made in the block; yields the event set when one arrives."""
        self._arrived = threading.Event()
        self._release = threading.Event()
        try:
            yield self._arrived
        finally:
            self._release.set()


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    with recording_server() as server:
        yield Hook(server)


@pytest.fixture(scope="module")
def flows(server: Server, hook: Hook) -> None:
    """The connector, and the flows that call it or not, saved over the API."""
    with server.client() as http:
        create_http_connector(http, "hook", hook.server.url)
        for flow in (CALL_HOOK, HOOK_ON_EVENT, QUICK):
            ok(
                http.post(
                    "/v2/mgmt/flow/import", json={"flow": compile_authoring(flow)}
                )
            )


def _answered_meanwhile(server: Server) -> None:
    """Reads, writes and a run without connectors, each answered within PROMPT_SECONDS."""
    with httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": server.bearer},
        timeout=PROMPT_SECONDS,
    ) as prompt:
        login_id = new_login("meanwhile")
        created = create_user(prompt, login_id)
        assert load_user(prompt, login_id)["userId"] == created["userId"]
        ok(
            prompt.post(
                "/v1/mgmt/audit/event",
                json={
                    "action": "meanwhile.noted",
                    "type": "info",
                    "actorId": "acceptance",
                    "tenantId": "T-none",
                    "userId": created["userId"],
                },
            )
        )
        run = ok(prompt.post("/v1/mgmt/flow/run", json={"flowId": "quick"}))
        assert run == {"output": {"ok": True}}


def _run(server: Server, flow_id: str) -> Any:
    with server.client() as http:
        return ok(http.post("/v1/mgmt/flow/run", json={"flowId": flow_id}))


def _statuses(server: Server, flow_id: str) -> list[str]:
    return [r["status"] for r in server.cli_json("runs", "list", "--flow", flow_id)]


def _deliveries(http: httpx.Client, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found: list[dict[str, Any]] = ok(
            http.post(
                "/v1/mgmt/idflow/delivery/search", json={"flowIds": ["hook-on-event"]}
            )
        )["deliveries"]
        if len(found) == count and all(d["status"] == "done" for d in found):
            return found
        time.sleep(0.05)
    pytest.fail("The embedded worker did not finish the connector deliveries in time.")


def test_a_synchronous_run_waiting_on_a_connector_holds_up_no_other_request(
    api: Server, hook: Hook, flows: None
) -> None:
    answers: list[Any] = []
    still_running: list[bool] = []

    with ThreadPoolExecutor(1) as caller:
        for _ in range(2):
            with hook.holding() as arrived:
                running = caller.submit(_run, api, "call-hook")
                assert arrived.wait(WAIT_SECONDS), "the run never called the endpoint"
                _answered_meanwhile(api)
                still_running.append(not running.done())
            answers.append(running.result(WAIT_SECONDS))

    assert still_running == [True, True]
    assert answers == [{"output": {"answered": "200"}}] * 2
    assert _statuses(api, "call-hook") == ["completed", "completed"]


def test_an_accepted_run_waiting_on_a_connector_holds_up_no_other_request(
    api: Server, http: httpx.Client, hook: Hook, flows: None
) -> None:
    with hook.holding() as arrived:
        accepted = ok(
            http.post("/v1/mgmt/flow/async/run", json={"flowId": "call-hook"})
        )
        body = {"executionId": accepted["executionId"]}
        assert arrived.wait(WAIT_SECONDS), "the run never called the endpoint"
        _answered_meanwhile(api)
        meanwhile = ok(http.post("/v1/mgmt/flow/async/result", json=body))

    deadline = time.monotonic() + WAIT_SECONDS
    finished = meanwhile
    while finished["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        finished = ok(http.post("/v1/mgmt/flow/async/result", json=body))

    assert meanwhile["status"] == "running"
    assert finished["status"] == "completed"
    assert finished["output"] == {"answered": "200"}


def test_an_event_run_waiting_on_a_connector_holds_up_no_other_request(
    api: Server, http: httpx.Client, hook: Hook, flows: None
) -> None:
    pending: list[list[str]] = []

    for round_number in range(1, 3):
        with hook.holding() as arrived:
            ok(
                http.post(
                    "/v1/mgmt/audit/event",
                    json={
                        "action": "hook.requested",
                        "type": "info",
                        "actorId": "acceptance",
                        "tenantId": "T-none",
                        "data": {"round": round_number},
                    },
                )
            )
            assert arrived.wait(WAIT_SECONDS), "the delivery never called the endpoint"
            _answered_meanwhile(api)
            found = ok(
                http.post(
                    "/v1/mgmt/idflow/delivery/search",
                    json={"flowIds": ["hook-on-event"]},
                )
            )["deliveries"]
            pending.append(sorted(d["status"] for d in found))
        done = _deliveries(http, round_number)

    # While held, the newest delivery was still being worked on.
    assert pending[0] == ["running"]
    assert pending[1] == ["done", "running"]
    assert all(d["runId"] for d in done)
    assert _statuses(api, "hook-on-event") == ["completed", "completed"]
