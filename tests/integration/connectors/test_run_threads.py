"""Where runs are made: on a SQLite file, runs that wait on connectors leave the store thread.

The choice is made before the flow is loaded, from what the plan cache last saw
of the flow; these tests pin that hint and the threads it picks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest

from idflow.flows.authoring import compile_authoring
from idflow.runtime import Runtime
from idflow.services import flows as flow_service
from idflow.services.audit import CLI_ACTOR
from idflow.services.runs import start_run
from idflow.store.database import Store
from idflow.store.records import Connector, RunStatus, RunTrigger
from tests.integration.connectors.conftest import make_runtime
from tests.integration.connectors.servers import RecordingServer

CALLS_CRM = {
    "id": "calls-crm",
    "steps": [
        {"id": "notify", "action": "http-connector", "with": {"connector": "crm"}},
        {"id": "done", "end": {"ok": True}},
    ],
}
PLAIN = {"id": "plain", "steps": [{"id": "done", "end": {"ok": True}}]}


def _save(runtime: Runtime, project_id: str, *flows: dict[str, object]) -> None:
    with runtime.store.begin() as conn:
        for flow in flows:
            flow_service.save_flow(conn, CLI_ACTOR, project_id, compile_authoring(flow))


def _thread_name() -> str:
    return threading.current_thread().name


def test_a_flow_leaves_the_store_thread_until_its_plan_shows_no_connector(
    runtime: Runtime,
    project_id: str,
    add_connector: Callable[..., Connector],
    http_server: RecordingServer,
) -> None:
    add_connector("crm", "http", {"baseUrl": http_server.url})
    _save(runtime, project_id, CALLS_CRM, PLAIN)
    flows = ("calls-crm", "plain")

    unseen = {f: runtime.run_leaves_store_thread(project_id, f) for f in flows}
    statuses = [
        start_run(runtime, project_id, f, {}, RunTrigger.API).status for f in flows
    ]
    seen = {f: runtime.run_leaves_store_thread(project_id, f) for f in flows}

    async def threads() -> list[str]:
        return list(
            await asyncio.gather(
                *(runtime.call_run(project_id, f, _thread_name) for f in flows)
            )
        )

    names = dict(zip(flows, asyncio.run(threads()), strict=True))
    runtime.close()

    assert statuses == [RunStatus.COMPLETED, RunStatus.COMPLETED]
    assert unseen == {"calls-crm": True, "plain": True}
    assert seen == {"calls-crm": True, "plain": False}
    assert names["calls-crm"].startswith("idflow-connector-runs")
    assert names["plain"] == "idflow-store"


def test_a_new_version_without_connectors_brings_the_flow_back(
    runtime: Runtime,
    project_id: str,
    add_connector: Callable[..., Connector],
    http_server: RecordingServer,
) -> None:
    add_connector("crm", "http", {"baseUrl": http_server.url})
    _save(runtime, project_id, CALLS_CRM)
    start_run(runtime, project_id, "calls-crm", {}, RunTrigger.API)
    before = runtime.run_leaves_store_thread(project_id, "calls-crm")

    _save(runtime, project_id, {**PLAIN, "id": "calls-crm"})
    start_run(runtime, project_id, "calls-crm", {}, RunTrigger.API)
    after = runtime.run_leaves_store_thread(project_id, "calls-crm")

    assert (before, after) == (True, False)


@pytest.fixture
def memory_runtime(sqlite_store: Store) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_store)
    yield runtime
    runtime.close()


@pytest.fixture
def pg_runtime(pg_store: Store) -> Iterator[Runtime]:
    runtime = make_runtime(pg_store)
    yield runtime
    runtime.close()


def test_in_memory_sqlite_keeps_every_run_on_the_store_thread(
    memory_runtime: Runtime,
) -> None:
    # One shared connection: two threads must never use it at once.
    assert not memory_runtime.run_leaves_store_thread("P-any", "calls-crm")
    assert asyncio.run(memory_runtime.call_run("P-any", "f", _thread_name)) == (
        "idflow-store"
    )


@pytest.mark.postgres
def test_postgresql_keeps_every_run_on_its_store_threads(pg_runtime: Runtime) -> None:
    name = asyncio.run(pg_runtime.call_run("P-any", "calls-crm", _thread_name))

    assert not pg_runtime.run_leaves_store_thread("P-any", "calls-crm")
    assert name.startswith("idflow-store")
