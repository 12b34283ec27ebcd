"""Connector administration over the API, and secrets that never come back out.

Secrets are write-only: no answer, trace, log line or stored column shows them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from idflow.api.app import create_app
from idflow.runtime import Runtime
from idflow.services import projects as project_service
from idflow.services.audit import CLI_ACTOR
from idflow.store import audit as audit_store
from idflow.store.records import Run, RunStatus
from idflow.store.tables import connectors as connectors_table
from tests.integration.connectors.servers import RecordingServer, Reply

TOKEN = "tok-very-secret-4711"
SIGNING = "sign-very-secret-0815"


class ApiClient:
    """Calls the ASGI app in process, one request per event loop."""

    def __init__(self, runtime: Runtime, bearer: str) -> None:
        self._app = create_app(runtime)
        self._headers = {"Authorization": f"Bearer {bearer}"}

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self._app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://idflow", headers=self._headers
            ) as client:
                return await client.request(method, path, **options)

        return asyncio.run(send())

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)


@pytest.fixture
def client(runtime: Runtime) -> tuple[ApiClient, str]:
    with runtime.store.begin() as conn:
        project, issued = project_service.create_project(conn, CLI_ACTOR, "API")
    return ApiClient(
        runtime, f"{project.project_id}:{issued.secret}"
    ), project.project_id


def _create(client: ApiClient, url: str) -> dict[str, Any]:
    answer = client.post(
        "/v1/mgmt/idflow/connector/create",
        json={
            "name": "crm",
            "type": "http",
            "settings": {"baseUrl": url, "auth": {"type": "bearer"}, "signature": {}},
            "secrets": {"token": TOKEN, "signingSecret": SIGNING},
        },
    )
    assert answer.status_code == 200, answer.text
    connector: dict[str, Any] = answer.json()["connector"]
    return connector


def test_the_api_creates_lists_loads_updates_and_deletes_without_showing_secrets(
    client: tuple[ApiClient, str], http_server: RecordingServer
) -> None:
    api, _ = client

    created = _create(api, http_server.url)
    listed = api.get("/v1/mgmt/idflow/connector/all").json()
    loaded = api.get("/v1/mgmt/idflow/connector", params={"name": "crm"}).json()
    updated = api.post(
        "/v1/mgmt/idflow/connector/update",
        json={"name": "crm", "secrets": {"signingSecret": None}},
    ).json()
    deleted = api.post("/v1/mgmt/idflow/connector/delete", json={"name": "crm"})
    missing = api.get("/v1/mgmt/idflow/connector", params={"name": "crm"})

    assert created["secretNames"] == ["signingSecret", "token"]
    assert [c["name"] for c in listed["connectors"]] == ["crm"]
    assert loaded["connector"]["settings"]["baseUrl"] == http_server.url
    assert updated["connector"]["secretNames"] == ["token"]
    assert deleted.status_code == 200
    assert missing.status_code == 404
    assert missing.json()["errorCode"] == "E123101"
    for answer in (created, listed, loaded, updated):
        assert TOKEN not in str(answer)
        assert SIGNING not in str(answer)


def test_the_test_endpoint_sends_a_request_and_reports_the_answer(
    client: tuple[ApiClient, str], http_server: RecordingServer
) -> None:
    api, _ = client
    http_server.script("/ping", Reply(200, {"pong": True, "echo": TOKEN}))
    _create(api, http_server.url)

    report = api.post(
        "/v1/mgmt/idflow/connector/test",
        json={"name": "crm", "request": {"path": "/ping"}},
    ).json()

    assert report["ok"] is True
    assert report["result"]["status"] == 200
    # A server echoing a secret back does not get it shown.
    assert report["result"]["body"] == {"pong": True, "echo": "[redacted]"}
    assert http_server.to("/ping")[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_a_failed_test_request_is_reported_not_raised(
    client: tuple[ApiClient, str],
) -> None:
    api, _ = client
    _create(api, "http://10.255.255.1")

    report = api.post("/v1/mgmt/idflow/connector/test", json={"name": "crm"}).json()

    assert report["ok"] is False
    assert report["error"]["code"] == "E123003"


def test_secrets_are_encrypted_at_rest_and_audited_by_name_only(
    client: tuple[ApiClient, str], runtime: Runtime, http_server: RecordingServer
) -> None:
    api, project_id = client
    _create(api, http_server.url)

    with runtime.store.connect() as conn:
        row = conn.execute(select(connectors_table)).one()
        events, _ = audit_store.search_events(
            conn, project_id, actions=["ConnectorCreated"]
        )

    assert row.secrets.startswith(f"v1.{runtime.connectors.keyring.current.key_id}.")
    assert TOKEN not in row.secrets
    assert events[0].data == {
        "name": "crm",
        "type": "http",
        "secretNames": ["signingSecret", "token"],
    }


def test_secrets_never_reach_the_trace_or_the_logs(
    http_server: RecordingServer,
    add_connector: Callable[..., Any],
    run_steps: Callable[..., Run],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    http_server.script("/ok", Reply(200, {"token": TOKEN}))
    http_server.script("/fail", Reply(500, {"error": TOKEN}))
    add_connector(
        "crm",
        "http",
        {"baseUrl": http_server.url, "auth": {"type": "bearer"}, "maxAttempts": 2},
        {"token": TOKEN},
    )
    add_connector(
        "chat", "slack", {}, {"webhookUrl": f"{http_server.url}/hooks/{SIGNING}"}
    )

    runs = [
        run_steps(
            [
                {
                    "id": "call",
                    "action": "http-connector",
                    "with": {"connector": "crm", "path": path},
                },
                {
                    "id": "chat",
                    "action": "slack-connector",
                    "with": {"connector": "chat", "text": "hi"},
                },
                {"id": "done", "end": {"token": "{{ http.body.token }}"}},
            ]
        )
        for path in ("/ok", "/fail")
    ]

    assert [run.status for run in runs] == [RunStatus.COMPLETED, RunStatus.FAILED]
    recorded = str([(run.trace, run.error) for run in runs])
    assert TOKEN not in recorded
    assert SIGNING not in recorded
    assert TOKEN not in caplog.text
    assert SIGNING not in caplog.text
    # A value under a secret-looking output key is redacted in the stored run.
    assert runs[0].outputs is not None
    assert runs[0].outputs["token"] == "[redacted]"
