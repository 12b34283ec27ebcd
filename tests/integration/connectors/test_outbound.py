"""Outbound safety end to end: refusals after DNS and on redirects, caps, connect retries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from idflow.connectors.outbound import OutboundPolicy
from idflow.flows.authoring import compile_authoring
from idflow.runtime import Runtime
from idflow.services import connectors as connector_service
from idflow.services import flows as flow_service
from idflow.services import projects as project_service
from idflow.services.audit import CLI_ACTOR
from idflow.services.runs import start_run
from idflow.store.database import Store
from idflow.store.records import Run, RunStatus, RunTrigger
from tests.integration.connectors.conftest import make_runtime
from tests.integration.connectors.servers import RecordingServer, Reply, free_port


@pytest.fixture
def run_with(sqlite_file_store: Store) -> Iterator[Callable[..., Run]]:
    """Run one HTTP step against a base URL, on a runtime with the given policy."""
    opened: list[Runtime] = []

    def run(base_url: str, path: str = "/", policy: str = "", **settings: int) -> Run:
        runtime = make_runtime(
            sqlite_file_store, OutboundPolicy.parse(policy), **settings
        )
        opened.append(runtime)
        with runtime.store.begin() as conn:
            project, _ = project_service.create_project(conn, CLI_ACTOR, "Outbound")
            connector_service.create_connector(
                conn,
                runtime.connectors.keyring,
                CLI_ACTOR,
                project.project_id,
                name="api",
                connector_type="http",
                settings={"baseUrl": base_url, "maxAttempts": 2},
            )
            document = compile_authoring(
                {
                    "id": "outbound",
                    "steps": [
                        {
                            "id": "call",
                            "action": "http-connector",
                            "with": {"connector": "api", "path": path},
                        },
                        {"id": "done", "end": {"ok": True}},
                    ],
                }
            )
            flow_service.save_flow(conn, CLI_ACTOR, project.project_id, document)
        return start_run(runtime, project.project_id, "outbound", {}, RunTrigger.API)

    yield run
    for runtime in opened:
        runtime.connectors.close()


def test_a_name_resolving_to_loopback_is_refused_without_an_allowlist(
    http_server: RecordingServer, run_with: Callable[..., Run]
) -> None:
    run = run_with(f"http://localhost:{http_server.port}")

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["code"] == "E123003"
    assert "'localhost' resolves to" in run.error["message"]
    assert http_server.requests == []


def test_a_redirect_to_a_private_address_is_refused(
    http_server: RecordingServer, run_with: Callable[..., Run]
) -> None:
    http_server.script(
        "/go", Reply(302, headers={"Location": "http://10.20.30.40/admin"})
    )

    run = run_with(http_server.url, "/go", policy="127.0.0.1/32")

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["code"] == "E123003"
    assert "10.20.30.40" in run.error["message"]
    assert len(http_server.to("/go")) == 1


def test_a_redirect_to_the_metadata_address_is_refused(
    http_server: RecordingServer, run_with: Callable[..., Run]
) -> None:
    http_server.script(
        "/go",
        Reply(301, headers={"Location": "http://169.254.169.254/latest/meta-data"}),
    )

    run = run_with(http_server.url, "/go", policy="127.0.0.1/32")

    assert run.error is not None
    assert run.error["code"] == "E123003"


def test_an_answer_over_the_size_cap_fails_the_step(
    http_server: RecordingServer, run_with: Callable[..., Run]
) -> None:
    http_server.script("/big", Reply(200, raw=b"x" * 5000))

    run = run_with(
        http_server.url, "/big", policy="127.0.0.1/32", max_response_bytes=1000
    )

    assert run.error is not None
    assert run.error["code"] == "E123001"
    assert "larger than 1000 bytes" in run.error["message"]


def test_a_refused_connection_is_retried_then_fails_the_step(
    run_with: Callable[..., Run], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="idflow.connectors.transport")

    run = run_with(f"http://127.0.0.1:{free_port()}", policy="127.0.0.1/32")

    assert run.error is not None
    assert run.error["code"] == "E123001"
    assert "Could not connect" in run.error["message"]
    retried = [
        r
        for r in caplog.records
        if getattr(r, "event_name", "") == "connector_call_retried"
    ]
    assert len(retried) == 1
