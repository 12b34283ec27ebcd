"""API runs made by the writer process: what it makes, what it refuses, what survives its loss.

On a SQLite file, as `idflow serve` uses it, with a real writer process. A run
the process makes leaves this process's write count alone: that is how the
tests tell where a run was made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from idflow.errors import FlowDisabled, InvalidArgument, TenantNotFound
from idflow.runtime import Runtime
from idflow.services import runs
from idflow.services import users as user_service
from idflow.services.audit import CLI_ACTOR
from idflow.services.record_writer import RecordWriter, WriterGone
from idflow.services.run_recorder import RunRecorder
from idflow.services.writer_runs import WriterRuns
from idflow.store import audit as audit_store
from idflow.store import flows as flow_store
from idflow.store import runs as run_store
from idflow.store import users as user_store
from idflow.store.claims import claim_dialect
from idflow.store.records import Run, RunStatus, RunTrigger, UserStatus
from tests.integration.engine.conftest import SaveFlow

FLOW_ID = "disable"


def disable_flow(**extra: Any) -> dict[str, Any]:
    return {
        "id": FLOW_ID,
        "steps": [
            {
                "id": "load",
                "action": "user-load",
                "with": {"loginId": "{{ client.loginId }}"},
            },
            {"id": "disable", "action": "user-disable"},
            {
                "id": "done",
                "end": {"userId": "{{ user.userId }}", "status": "{{ user.status }}"},
            },
        ],
        **extra,
    }


@pytest.fixture
def runtime(file_runtime: Runtime) -> Runtime:
    return file_runtime


@pytest.fixture
def make_user(runtime: Runtime, project_id: str) -> Callable[[str], str]:
    def make(login_id: str) -> str:
        with runtime.store.begin() as conn:
            user = user_service.create_user(conn, CLI_ACTOR, project_id, login_id)
        return user.user_id

    return make


@pytest.fixture
def seen_flow(
    runtime: Runtime, project_id: str, save_flow: SaveFlow, make_user: Any
) -> None:
    """The disable flow, saved and run once the standard way, as the API's first run is."""
    save_flow(disable_flow())
    make_user("first@example.com")
    run = runs.start_run(
        runtime, project_id, FLOW_ID, {"loginId": "first@example.com"}, RunTrigger.API
    )
    assert run.status is RunStatus.COMPLETED
    assert runtime.plans.uses_connectors(project_id, FLOW_ID) is False


def _in_writer(runtime: Runtime, work: Callable[[WriterRuns], Any]) -> tuple[Any, int]:
    """Run `work` with a writer process; answer its result and this process's writes meanwhile."""
    recorder = RunRecorder(runtime)
    writer_runs = WriterRuns(runtime, recorder)

    async def scenario() -> tuple[Any, int]:
        await recorder.use_writer_process(wait=True)
        assert recorder.writer_pid() is not None
        before = runtime.store.write_activity[0]
        try:
            result = await work(writer_runs)
        finally:
            writes = runtime.store.write_activity[0] - before
            await recorder.close()
        return result, writes

    return asyncio.run(scenario())


def _user_status(runtime: Runtime, project_id: str, user_id: str) -> UserStatus:
    with runtime.store.connect() as conn:
        user = user_store.get_user(conn, project_id, user_id)
    assert user is not None
    return user.status


def _modified_events(runtime: Runtime, project_id: str, run_id: str) -> int:
    with runtime.store.connect() as conn:
        events, _ = audit_store.search_events(
            conn, project_id, actions=["UserModified"]
        )
    return sum(1 for event in events if event.run_id == run_id)


def _stored(runtime: Runtime, project_id: str, run_id: str) -> Run | None:
    with runtime.store.connect() as conn:
        return run_store.get_run(conn, project_id, run_id)


def test_the_writer_makes_a_store_run_as_start_run_would_and_this_process_writes_nothing(
    runtime: Runtime, project_id: str, seen_flow: None, make_user: Any
) -> None:
    users = [make_user(f"u{n}@example.com") for n in range(3)]

    async def work(writer_runs: WriterRuns) -> list[Run | None]:
        return list(
            await asyncio.gather(
                *(
                    writer_runs.run(
                        project_id, FLOW_ID, {"loginId": f"u{n}@example.com"}
                    )
                    for n in range(3)
                )
            )
        )

    made, writes = _in_writer(runtime, work)

    assert writes == 0
    for user_id, run in zip(users, made, strict=True):
        assert run is not None and run.status is RunStatus.COMPLETED
        assert run.outputs == {"userId": user_id, "status": "disabled"}
        assert run.trigger is RunTrigger.API
        assert [step["taskId"] for step in run.trace] == ["load", "disable", "done"]
        assert _stored(runtime, project_id, run.run_id) == run
        assert _user_status(runtime, project_id, user_id) is UserStatus.DISABLED
        assert _modified_events(runtime, project_id, run.run_id) == 1


def test_a_flow_not_seen_yet_is_left_to_the_standard_path(
    runtime: Runtime, project_id: str, save_flow: SaveFlow, make_user: Any
) -> None:
    save_flow(disable_flow())
    user_id = make_user("u@example.com")

    made, writes = _in_writer(
        runtime, lambda w: w.run(project_id, FLOW_ID, {"loginId": "u@example.com"})
    )

    assert made is None and writes == 0
    assert _user_status(runtime, project_id, user_id) is UserStatus.ENABLED


def test_what_the_writer_refuses_is_raised_here_as_start_run_raises_it(
    runtime: Runtime, project_id: str, seen_flow: None, make_user: Any
) -> None:
    make_user("u@example.com")

    async def work(writer_runs: WriterRuns) -> list[BaseException | Run | None]:
        return list(
            await asyncio.gather(
                writer_runs.run(project_id, FLOW_ID, ["not", "an", "object"]),  # type: ignore[arg-type]
                writer_runs.run(
                    project_id,
                    FLOW_ID,
                    {"loginId": "u@example.com"},
                    tenant_id="T-none",
                ),
                writer_runs.run(project_id, FLOW_ID, {"loginId": "nobody@example.com"}),
                return_exceptions=True,
            )
        )

    (not_object, no_tenant, no_user), writes = _in_writer(runtime, work)

    assert isinstance(not_object, InvalidArgument)
    assert "expected an object" in not_object.message
    assert isinstance(no_tenant, TenantNotFound)
    assert "T-none" in no_tenant.message
    # A run that fails is a run: recorded failed, its effects rolled back.
    assert isinstance(no_user, Run) and no_user.status is RunStatus.FAILED
    assert no_user.error is not None and no_user.error["taskId"] == "load"
    assert _stored(runtime, project_id, no_user.run_id) == no_user
    assert writes == 0


def test_a_flow_switched_off_elsewhere_is_refused_and_one_that_gained_a_connector_goes_back(
    runtime: Runtime,
    project_id: str,
    seen_flow: None,
    save_flow: SaveFlow,
    make_user: Any,
) -> None:
    user_id = make_user("u@example.com")
    with runtime.store.begin() as conn:
        flow_store.set_flow_disabled(conn, project_id, FLOW_ID, True, 1)

    refused, _ = _in_writer(
        runtime,
        lambda w: asyncio.gather(
            w.run(project_id, FLOW_ID, {"loginId": "u@example.com"}),
            return_exceptions=True,
        ),
    )
    assert isinstance(refused[0], FlowDisabled)

    with runtime.store.begin() as conn:
        flow_store.set_flow_disabled(conn, project_id, FLOW_ID, False, 2)
    calls = disable_flow()
    calls["steps"].insert(
        2,
        {
            "id": "call",
            "action": "http-connector",
            "with": {"connector": "crm", "path": "/"},
        },
    )
    save_flow(calls)  # Another process saves a version that calls out.

    made, writes = _in_writer(
        runtime, lambda w: w.run(project_id, FLOW_ID, {"loginId": "u@example.com"})
    )

    assert made is None and writes == 0
    assert _user_status(runtime, project_id, user_id) is UserStatus.ENABLED
    # Its next run takes the standard path, which finds the connector step.
    assert runtime.plans.uses_connectors(project_id, FLOW_ID) is None


def test_runs_of_a_writer_lost_after_its_commit_are_answered_from_their_records(
    runtime: Runtime,
    project_id: str,
    seen_flow: None,
    make_user: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_id = make_user("u@example.com")
    real_make = RecordWriter.make

    async def commit_then_vanish(self: RecordWriter, orders: Any) -> Any:
        await real_make(self, orders)
        raise WriterGone("lost after its commit")

    monkeypatch.setattr(RecordWriter, "make", commit_then_vanish)

    made, writes = _in_writer(
        runtime, lambda w: w.run(project_id, FLOW_ID, {"loginId": "u@example.com"})
    )

    assert made is not None and made.status is RunStatus.COMPLETED
    assert made == _stored(runtime, project_id, made.run_id)
    assert made.outputs == {"userId": user_id, "status": "disabled"}
    # Made once: this process only looked for the record.
    assert _modified_events(runtime, project_id, made.run_id) == 1
    assert writes == 0


def test_runs_of_a_writer_lost_before_its_commit_are_made_here_once(
    runtime: Runtime,
    project_id: str,
    seen_flow: None,
    make_user: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_id = make_user("u@example.com")

    async def vanish(self: RecordWriter, orders: Any) -> Any:
        raise WriterGone("lost before its commit")

    monkeypatch.setattr(RecordWriter, "make", vanish)

    made, writes = _in_writer(
        runtime, lambda w: w.run(project_id, FLOW_ID, {"loginId": "u@example.com"})
    )

    assert made is not None and made.status is RunStatus.COMPLETED
    assert made == _stored(runtime, project_id, made.run_id)
    assert _user_status(runtime, project_id, user_id) is UserStatus.DISABLED
    assert _modified_events(runtime, project_id, made.run_id) == 1
    assert writes == 1  # The store thread made it.


def test_deliveries_a_writer_run_queued_wake_this_processs_workers(
    runtime: Runtime,
    project_id: str,
    seen_flow: None,
    save_flow: SaveFlow,
    make_user: Any,
) -> None:
    save_flow(
        {
            "id": "on-change",
            "trigger": {"events": ["UserModified"]},
            "steps": [{"id": "done", "end": {"ok": True}}],
        }
    )
    make_user("u@example.com")
    woken: list[bool] = []
    unwatch = claim_dialect("sqlite").watch_commits(
        runtime.store, lambda: woken.append(True)
    )
    try:
        made, writes = _in_writer(
            runtime, lambda w: w.run(project_id, FLOW_ID, {"loginId": "u@example.com"})
        )
    finally:
        unwatch()

    assert made is not None and made.status is RunStatus.COMPLETED
    assert writes == 0
    assert woken == [True]


def test_a_flow_that_became_context_only_is_handed_back_to_the_event_loop(
    runtime: Runtime,
    project_id: str,
    seen_flow: None,
    save_flow: SaveFlow,
) -> None:
    # Another process saves a version of conditions and End alone.
    save_flow(
        {
            "id": FLOW_ID,
            "steps": [
                {"id": "done", "end": {"loginId": "{{ client.loginId }}"}},
            ],
        }
    )

    made, writes = _in_writer(
        runtime, lambda w: w.run(project_id, FLOW_ID, {"loginId": "u@example.com"})
    )

    assert made is not None and made.status is RunStatus.COMPLETED
    assert made.outputs == {"loginId": "u@example.com"}
    assert writes == 0
    # The next run takes the standard path, which caches the plan as
    # context-only, and the event loop makes the runs after it.
    assert runtime.plans.uses_connectors(project_id, FLOW_ID) is None
