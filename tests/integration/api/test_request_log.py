"""The request log: one line per request, the flow-run endpoint served ahead of the router."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from idflow.api.app import create_app
from idflow.flows.authoring import compile_authoring
from idflow.runtime import Runtime
from idflow.services import flows as flow_service
from idflow.services import projects as project_service
from idflow.services.audit import CLI_ACTOR
from idflow.settings import Settings
from idflow.store.database import Store

DECIDE = {"id": "decide", "steps": [{"id": "done", "end": {"status": "ok"}}]}


@pytest.fixture
def served(sqlite_file_store: Store) -> Iterator[tuple[Any, str]]:
    runtime = Runtime(sqlite_file_store, Settings(database_url="unused"))
    with runtime.store.begin() as conn:
        project, issued = project_service.create_project(conn, CLI_ACTOR, "Acme")
        flow_service.save_flow(
            conn, CLI_ACTOR, project.project_id, compile_authoring(DECIDE)
        )
    yield create_app(runtime), f"Bearer {project.project_id}:{issued.secret}"
    runtime.close()


def _call(
    app: Any, method: str, path: str, bearer: str, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Serve one request whose `receive` hands out `messages`; return what was sent."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", bearer.encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    pending = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if getattr(record, "event_name", None) == "request_finished"
    ]


def test_a_flow_run_is_answered_and_logged_once_with_its_run(
    served: tuple[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    app, bearer = served
    body = orjson.dumps({"flowId": "decide"})
    caplog.set_level(logging.INFO, logger="idflow.api.app")

    sent = _call(
        app,
        "POST",
        "/v1/mgmt/flow/run",
        bearer,
        [{"type": "http.request", "body": body}],
    )

    assert sent[0]["status"] == 200
    assert orjson.loads(sent[1]["body"]) == {"output": {"status": "ok"}}
    (request_id,) = [v for k, v in sent[0]["headers"] if k == b"x-request-id"]
    (line,) = _lines(caplog)
    assert line.startswith("POST /v1/mgmt/flow/run 200 ")
    assert line.endswith(f" request={request_id.decode()}")
    assert " run=R" in line
    assert "Bearer" not in line


def test_a_client_gone_before_its_body_arrived_gets_no_answer_and_is_logged_499(
    served: tuple[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    app, bearer = served
    caplog.set_level(logging.INFO)

    sent = _call(app, "POST", "/v1/mgmt/flow/run", bearer, [])

    assert sent == []
    (line,) = _lines(caplog)
    assert line.startswith("POST /v1/mgmt/flow/run 499 ")
    # Not a fault of idflow: nothing is logged as a crash.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_other_methods_on_the_run_path_still_go_through_the_router(
    served: tuple[Any, str],
) -> None:
    app, bearer = served

    sent = _call(app, "GET", "/v1/mgmt/flow/run", bearer, [])

    assert sent[0]["status"] == 404
    assert orjson.loads(sent[1]["body"])["errorCode"] == "E011104"
