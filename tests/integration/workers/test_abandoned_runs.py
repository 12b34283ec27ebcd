"""Synchronous runs left `running` by a process that died are found and failed by the workers' sweep.

A synchronous run (an API request, a CLI command) is recorded `running` at its
first connector call and finished by the process making it; when that process
dies, the record is all that is left. These tests write such records as the
run would have, then sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from idflow.clock import new_id, now_ms
from idflow.runtime import Runtime
from idflow.services import runs as run_service
from idflow.store import runs as run_store
from idflow.store.records import Run, RunStatus, RunTrigger
from idflow.workers.worker import Worker
from tests.integration.workers.conftest import ManualClock

DECIDE = {
    "id": "decide",
    "steps": [{"id": "done", "end": {"status": "ok"}}],
}


def _left_running(
    runtime: Runtime,
    project_id: str,
    trigger: RunTrigger,
    started_ms: int,
    status: RunStatus = RunStatus.RUNNING,
) -> Run:
    """The record a run leaves behind at its first connector call."""
    run = Run(
        project_id=project_id,
        run_id=new_id("R"),
        flow_id="decide",
        flow_version=1,
        trigger=trigger,
        status=status,
        started_ms=started_ms,
        inputs={"userId": "U1"},
        trace=({"taskId": "call", "name": "Call the HR system"},),
        finished_ms=None if status is RunStatus.RUNNING else started_ms + 5,
    )
    with runtime.store.begin() as conn:
        run_store.insert_run(conn, run)
    return run


def _stored(runtime: Runtime, run: Run) -> Run:
    with runtime.store.connect() as conn:
        found = run_store.get_run(conn, run.project_id, run.run_id)
    assert found is not None
    return found


def _longest_ms(runtime: Runtime) -> int:
    settings = runtime.settings
    seconds = (
        settings.run_timeout_seconds
        + settings.connectors.max_timeout_seconds
        + run_service.ABANDONED_MARGIN_SECONDS
    )
    return int(seconds * 1000)


def test_only_old_synchronous_runs_with_no_delivery_are_failed(
    runtime: Runtime,
    project_id: str,
    save_flow: Callable[[dict[str, Any]], None],
) -> None:
    save_flow(DECIDE)
    started = now_ms()
    # The sweep looks from later on, when these runs are past any run's time.
    now = started + _longest_ms(runtime) + 1_000
    abandoned = [
        _left_running(runtime, project_id, trigger, started)
        for trigger in (RunTrigger.API, RunTrigger.CLI, RunTrigger.PREVIEW)
    ]
    # Still within the time a run may take: it may be going on.
    recent = _left_running(runtime, project_id, RunTrigger.API, now - 5_000)
    # A delivery finishes these: an event run, and an accepted API run.
    event_run = _left_running(runtime, project_id, RunTrigger.EVENT, started)
    accepted = run_service.accept_run(runtime, project_id, "decide", {}, RunTrigger.API)
    finished = _left_running(
        runtime, project_id, RunTrigger.API, started, status=RunStatus.COMPLETED
    )

    failed = run_service.fail_abandoned_runs(runtime, now)

    assert sorted(failed) == sorted(run.run_id for run in abandoned)
    for run in abandoned:
        stored = _stored(runtime, run)
        assert stored.status is RunStatus.FAILED
        assert stored.finished_ms == now
        assert stored.error is not None
        assert "stopped before the run ended" in stored.error["message"]
        assert stored.trace == run.trace  # what it had done stays to be read
    for run in (recent, event_run, accepted):
        assert _stored(runtime, run).status is RunStatus.RUNNING
    assert _stored(runtime, finished).status is RunStatus.COMPLETED
    # A second sweep finds nothing more.
    assert run_service.fail_abandoned_runs(runtime, now) == []


def test_a_workers_sweep_uses_its_clock(
    runtime: Runtime,
    project_id: str,
    save_flow: Callable[[dict[str, Any]], None],
    make_worker: Callable[..., Worker],
    clock: ManualClock,
) -> None:
    save_flow(DECIDE)
    run = _left_running(runtime, project_id, RunTrigger.API, clock.now)
    worker = make_worker()

    assert worker.sweep() == []
    clock.advance(_longest_ms(runtime) / 1000 + 1)

    assert worker.sweep() == [run.run_id]
    assert _stored(runtime, run).status is RunStatus.FAILED
