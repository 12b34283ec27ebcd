"""Fixtures for connector tests: local servers, a runtime that may reach them, flows."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from idflow.connectors.config import ConnectorSettings
from idflow.connectors.outbound import OutboundPolicy
from idflow.connectors.secrets import generate_key
from idflow.flows.authoring import compile_authoring
from idflow.runtime import Runtime
from idflow.services import connectors as connector_service
from idflow.services import flows as flow_service
from idflow.services import projects as project_service
from idflow.services.audit import CLI_ACTOR
from idflow.services.runs import start_run
from idflow.settings import Settings
from idflow.store.database import Store
from idflow.store.records import Connector, Run, RunTrigger
from tests.integration.connectors.servers import (
    MailSink,
    RecordingServer,
    recording_server,
    smtp_server,
)

# Loopback is refused by default; the tests' own servers live there.
LOOPBACK_ONLY = OutboundPolicy.parse("127.0.0.1/32")
# `.test` is reserved (RFC 6761), so no real resolver ever answers these names.
LOCAL_DOMAIN = ".idflow.test"


def make_runtime(
    store: Store, policy: OutboundPolicy = LOOPBACK_ONLY, **settings: Any
) -> Runtime:
    key = generate_key()
    connectors = ConnectorSettings(
        env={"IDFLOW_SECRET_KEY": key.to_text()}, outbound=policy, **settings
    )
    return Runtime(store, Settings(connectors=connectors))


@pytest.fixture
def runtime(sqlite_file_store: Store) -> Iterator[Runtime]:
    # Connector behaviour does not depend on the store; test_runs.py covers
    # how connector steps split a run's transaction on both databases.
    runtime = make_runtime(sqlite_file_store)
    yield runtime
    runtime.connectors.close()


@pytest.fixture
def local_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Resolve every name under `.idflow.test` to 127.0.0.1, noting each lookup.

    Certificates need a DNS name, not an address, and the tests cannot edit
    /etc/hosts; so the resolver itself answers for these names, wherever it is
    called from. The list returned holds the names looked up, in order.
    """
    looked_up: list[str] = []
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(LOCAL_DOMAIN):
            looked_up.append(host)
            host = "127.0.0.1"
        return resolve(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


@pytest.fixture
def mail() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as sink_and_port:
        yield sink_and_port


@pytest.fixture
def project_id(runtime: Runtime) -> str:
    with runtime.store.begin() as conn:
        project, _ = project_service.create_project(conn, CLI_ACTOR, "Connectors")
    return project.project_id


@pytest.fixture
def add_connector(runtime: Runtime, project_id: str) -> Callable[..., Connector]:
    def add(
        name: str,
        connector_type: str,
        settings: dict[str, Any],
        secrets: dict[str, Any] | None = None,
    ) -> Connector:
        with runtime.store.begin() as conn:
            return connector_service.create_connector(
                conn,
                runtime.connectors.keyring,
                CLI_ACTOR,
                project_id,
                name=name,
                connector_type=connector_type,
                settings=settings,
                secrets=secrets,
            )

    return add


@pytest.fixture
def run_steps(runtime: Runtime, project_id: str) -> Callable[..., Run]:
    """Save a one-off flow from authoring steps and run it once."""
    counter = iter(range(1_000_000))

    def run(
        steps: list[dict[str, Any]],
        inputs: dict[str, Any] | None = None,
        *,
        preview: bool = False,
    ) -> Run:
        flow_id = f"connector-flow-{next(counter)}"
        document = compile_authoring({"id": flow_id, "steps": steps})
        with runtime.store.begin() as conn:
            flow_service.save_flow(conn, CLI_ACTOR, project_id, document)
        return start_run(
            runtime, project_id, flow_id, inputs or {}, RunTrigger.API, preview=preview
        )

    return run
