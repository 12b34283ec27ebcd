"""The run record writer process: what it records, and what happens when it fails.

On a SQLite file, as `idflow serve` uses it. Each test runs in one event loop,
the one the writer process answers. A flow saved straight through the store
stands for another process changing it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson
import pytest
import uvloop

from idflow.errors import StoreBusy, StoreError
from idflow.runtime import Runtime
from idflow.services import record_writer, run_recorder, runs
from idflow.services.run_recorder import RunRecorder
from idflow.settings import Settings
from idflow.store import runs as run_store
from idflow.store.database import Store
from idflow.store.records import Run, RunStatus, RunTrigger
from tests.integration.engine.conftest import SaveFlow
from tests.integration.engine.test_context_only_runs import (
    FLOW_ID,
    INPUTS,
    _cached_plan,
    _stored,
    current_and_moved_on_plans,
    decide,
)


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test on asyncio's own loop and on uvloop, which `idflow serve` runs.

    Their pipe transports differ (uvloop's are no `asyncio.WriteTransport`).
    """
    if request.param == "uvloop":
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield request.param
    finally:
        asyncio.set_event_loop_policy(None)


@pytest.fixture
def runtime(file_runtime: Runtime) -> Runtime:
    return file_runtime


@pytest.fixture
def plan(runtime: Runtime, project_id: str, save_flow: SaveFlow) -> Any:
    """The decide flow, saved, and its plan as the run endpoint caches it."""
    save_flow(decide())
    return _cached_plan(runtime, project_id)


def _make(runtime: Runtime, plan: Any, project_id: str, n: int = 120) -> Run:
    inputs = {"userId": f"U{n}", "daysInactive": n}
    return runs.make_context_only_run(runtime, plan, project_id, FLOW_ID, inputs)


def _count(runtime: Runtime, project_id: str) -> int:
    with runtime.store.connect() as conn:
        return run_store.count_runs(conn, project_id, flow_id=FLOW_ID)


def test_the_writer_process_records_what_the_store_thread_would(
    runtime: Runtime, project_id: str, save_flow: SaveFlow
) -> None:
    plan, other_plan = current_and_moved_on_plans(runtime, project_id, save_flow)
    made = [_make(runtime, plan, project_id, n) for n in range(80, 120)]
    stale = runs.make_context_only_run(runtime, other_plan, project_id, "other", INPUTS)
    recorder = RunRecorder(runtime)

    async def scenario() -> tuple[int | None, list[bool], int]:
        await recorder.use_writer_process(wait=True)
        pid = recorder.writer_pid()
        answers = await asyncio.gather(*(recorder.record(r) for r in [*made, stale]))
        process = recorder._queue().process
        assert process is not None
        await recorder.close()
        return pid, list(answers), process.returncode

    pid, answers, exit_code = asyncio.run(scenario())

    assert pid is not None and pid != os.getpid()
    assert answers == [True] * len(made) + [False]
    assert exit_code == 0  # it stopped when its pipe closed
    # Field for field what was made (test_context_only_runs compares that
    # with what the standard path records).
    for run in made:
        assert _stored(runtime, run) == run
    assert _stored(runtime, stale) is None
    # As on the store thread, the stale plan is dropped for the standard path.
    assert runtime.plans.context_only_plan(project_id, "other") is None


def test_the_runs_waiting_go_to_the_writer_as_its_answer_to_the_batch_before_arrives(
    runtime: Runtime,
    project_id: str,
    plan: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Sent from the pipe's data callback itself, not after the rest of the
    # loop's ready work, so the writer is not left waiting for its next batch.
    reading: list[bool] = []
    sends: list[tuple[int, bool]] = []
    real_data = record_writer._AnswerReader.pipe_data_received
    real_send = record_writer.RecordWriter.send_records

    def data(self: Any, fd: int, chunk: bytes) -> None:
        reading.append(True)
        try:
            real_data(self, fd, chunk)
        finally:
            reading.pop()

    def send(self: Any, batch: Any, on_kept: Any) -> None:
        sends.append((len(batch), bool(reading)))
        real_send(self, batch, on_kept)

    monkeypatch.setattr(record_writer._AnswerReader, "pipe_data_received", data)
    monkeypatch.setattr(record_writer.RecordWriter, "send_records", send)
    recorder = RunRecorder(runtime)

    async def scenario() -> list[bool]:
        await recorder.use_writer_process(wait=True)
        # The store thread takes the batch after the set-up's own writes.
        await recorder.record(_make(runtime, plan, project_id))
        sends.clear()
        first = asyncio.ensure_future(recorder.record(_make(runtime, plan, project_id)))
        await asyncio.wait_for(_sent(sends), 10)
        # While the first batch is at the writer: these two wait for the next.
        later = [
            asyncio.ensure_future(recorder.record(_make(runtime, plan, project_id)))
            for _ in range(2)
        ]
        answers = await asyncio.gather(first, *later)
        await recorder.close()
        return list(answers)

    answers = asyncio.run(scenario())

    assert answers == [True, True, True]
    assert sends == [(1, False), (2, True)]


async def _sent(sends: list[tuple[int, bool]]) -> None:
    while not sends:
        await asyncio.sleep(0.001)


def test_a_failed_transaction_in_the_writer_fails_its_batch_and_the_writer_goes_on(
    runtime: Runtime, project_id: str, plan: Any
) -> None:
    good = _make(runtime, plan, project_id)
    taken = runs.start_run(runtime, project_id, FLOW_ID, INPUTS, RunTrigger.API)
    clash = replace(_make(runtime, plan, project_id), run_id=taken.run_id)
    again = _make(runtime, plan, project_id)
    recorder = RunRecorder(runtime)

    async def scenario() -> tuple[list[Any], bool, int | None, int | None]:
        await recorder.use_writer_process(wait=True)
        pid = recorder.writer_pid()
        answers = await asyncio.gather(
            recorder.record(good), recorder.record(clash), return_exceptions=True
        )
        recorded = await recorder.record(again)
        still = recorder.writer_pid()
        await recorder.close()
        return list(answers), recorded, pid, still

    answers, recorded, pid, still = asyncio.run(scenario())

    assert all(isinstance(answer, StoreError) for answer in answers), answers
    assert all("unique constraint" in str(answer).lower() for answer in answers)
    assert _stored(runtime, good) is None
    assert recorded is True and _stored(runtime, again) == again
    assert still == pid  # the same process wrote the next batch


@pytest.mark.parametrize("noticed", [False, True], ids=["at-once", "after-exit"])
def test_a_writer_that_dies_is_replaced_and_no_run_is_lost_or_recorded_twice(
    runtime: Runtime,
    project_id: str,
    plan: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    noticed: bool,
) -> None:
    # Killed and written to at once, the batch meets a closed pipe; once the
    # exit has been noticed, the batch is not sent to it at all.
    monkeypatch.setattr(run_recorder, "WRITER_RESTART_SECONDS", 0.0)
    before = _count(runtime, project_id)
    recorder = RunRecorder(runtime)

    async def scenario() -> tuple[int, int, list[bool]]:
        await recorder.use_writer_process(wait=True)
        first = recorder.writer_pid()
        assert first is not None
        answers = [await recorder.record(_make(runtime, plan, project_id))]
        process = recorder._queue().process
        assert process is not None
        os.kill(first, signal.SIGKILL)
        if noticed:
            await asyncio.wait_for(process.wait(), 10)
        # The batch sent to the dead process is written by the store thread.
        answers.append(await recorder.record(_make(runtime, plan, project_id)))
        # The batch after it starts a new process, which answers from then on.
        answers.append(await recorder.record(_make(runtime, plan, project_id)))
        for _ in range(200):
            if recorder.writer_pid() not in (None, first):
                break
            await asyncio.sleep(0.05)
        second = recorder.writer_pid()
        assert second is not None
        answers.append(await recorder.record(_make(runtime, plan, project_id)))
        await recorder.close()
        return first, second, answers

    first, second, answers = asyncio.run(scenario())

    assert second != first
    assert answers == [True, True, True, True]
    assert _count(runtime, project_id) == before + 4
    assert "record_writer_lost" in {
        getattr(record, "event_name", "") for record in caplog.records
    }


def test_a_batch_resent_after_its_writer_vanished_counts_the_runs_it_had_stored(
    runtime: Runtime, project_id: str, plan: Any
) -> None:
    committed, unsent = (
        _make(runtime, plan, project_id),
        _make(runtime, plan, project_id),
    )
    # The writer committed the first run and died before it could answer.
    with runtime.store.begin() as conn:
        assert run_store.insert_current_runs(conn, run_store.run_rows([committed])) == [
            True
        ]
    before = _count(runtime, project_id)

    with runtime.store.begin() as conn:
        kept = run_store.insert_current_runs(
            conn, run_store.run_rows([committed, unsent]), skip_recorded=True
        )

    assert kept == [True, True]
    assert _count(runtime, project_id) == before + 1
    assert _stored(runtime, committed) == committed
    assert _stored(runtime, unsent) == unsent


def test_the_writer_ignores_ctrl_c_and_stops_when_its_server_dies(
    runtime: Runtime, project_id: str, plan: Any
) -> None:

    async def scenario() -> int:
        writer = await record_writer.RecordWriter.start(runtime.settings)
        # A terminal's Ctrl+C reaches the whole process group.
        os.kill(writer.pid, signal.SIGINT)
        await asyncio.sleep(0.2)
        kept: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        writer.send_records([_make(runtime, plan, project_id)], kept.set_result)
        assert await asyncio.wait_for(kept, 10) == [True]
        # A server that dies closes the pipe as `close` does, and no more.
        writer._stdin.close()
        exit_code = await asyncio.wait_for(writer.wait(), 10)
        await writer.close()
        return exit_code

    assert asyncio.run(scenario()) == 0


def test_a_run_goes_down_the_pipe_as_the_row_the_store_thread_inserts(
    runtime: Runtime, project_id: str, plan: Any
) -> None:
    run = _make(runtime, plan, project_id)
    finished_failed = replace(
        run,
        status=RunStatus.FAILED,
        outputs=None,
        error={"code": "E102002", "message": "no", "taskId": "check"},
        triggering_event_id="A1",
    )

    for each in (run, finished_failed):
        sent = orjson.loads(orjson.dumps(each))
        assert sent == orjson.loads(orjson.dumps(run_store.run_rows([each])[0]))


def test_only_a_sqlite_file_gets_a_writer_process(sqlite_store: Store) -> None:
    runtime = Runtime(sqlite_store, Settings(database_url="sqlite://"))
    recorder = RunRecorder(runtime)

    async def scenario() -> int | None:
        await recorder.use_writer_process(wait=True)
        pid = recorder.writer_pid()
        await recorder.close()
        return pid

    assert recorder.can_use_writer_process is False
    assert asyncio.run(scenario()) is None


def test_batches_go_to_the_store_thread_while_this_process_writes(
    runtime: Runtime, project_id: str, save_flow: SaveFlow, plan: Any
) -> None:
    recorder = RunRecorder(runtime)

    def taken() -> int:
        return runtime.store.write_activity[0]

    async def scenario() -> list[int]:
        await recorder.use_writer_process(wait=True)
        await recorder.record(
            _make(runtime, plan, project_id)
        )  # after the set-up's writes
        steps = [taken()]
        await recorder.record(
            _make(runtime, plan, project_id)
        )  # the child: no write here
        steps.append(taken())
        save_flow({**decide(), "id": "other"})  # another write in this process
        steps.append(taken())
        await recorder.record(_make(runtime, plan, project_id))  # the store thread's
        steps.append(taken())
        await recorder.record(_make(runtime, plan, project_id))  # the child's again
        steps.append(taken())
        await recorder.close()
        return steps

    steps = asyncio.run(scenario())

    after_first, after_child, after_save, after_thread, after_child_again = steps
    assert after_child == after_first
    assert after_thread == after_save + 1
    assert after_child_again == after_thread
    assert _count(runtime, project_id) == 1 + 4  # the cached plan's run, and these


def _hold_write_lock(runtime: Runtime) -> sqlite3.Connection:
    # Another process's write transaction, as far as the writer can tell: a
    # connection of its own, outside the store and its in-process lock.
    path = runtime.settings.database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_the_writer_waits_out_another_processs_write_and_then_stores_the_batch(
    runtime: Runtime, project_id: str, plan: Any
) -> None:
    run = _make(runtime, plan, project_id)
    recorder = RunRecorder(runtime)

    async def scenario() -> tuple[bool, float, int | None, int | None]:
        await recorder.use_writer_process(wait=True)
        pid = recorder.writer_pid()
        holder = _hold_write_lock(runtime)
        asyncio.get_running_loop().call_later(0.4, holder.rollback)
        started = time.monotonic()
        recorded = await recorder.record(run)
        waited = time.monotonic() - started
        holder.close()
        still = recorder.writer_pid()
        await recorder.close()
        return recorded, waited, pid, still

    recorded, waited, pid, still = asyncio.run(scenario())

    assert recorded is True and _stored(runtime, run) == run
    assert waited >= 0.35  # it did wait for the other transaction
    assert still == pid  # and no fault was taken for the writer's death


def test_the_writers_wait_for_the_lock_ends_in_store_busy_and_nothing_stored(
    runtime: Runtime, project_id: str, plan: Any
) -> None:
    run = _make(runtime, plan, project_id)
    rows = run_store.run_rows([run])
    # The busy timeout bounds the wait in short steps, as it bounded SQLite's.
    store = Store.open(runtime.settings.database_url, sqlite_busy_timeout_ms=200)
    holder = _hold_write_lock(runtime)
    try:
        started = time.monotonic()
        with pytest.raises(StoreBusy, match="database is locked"):
            record_writer._store_batch(store, rows)
        waited = time.monotonic() - started
        assert _stored(runtime, run) is None
        holder.rollback()
        assert record_writer._store_batch(store, rows) == [True]
    finally:
        holder.close()
        store.dispose()

    assert 0.2 <= waited < 2
    assert _stored(runtime, run) == run


def test_a_batch_that_meets_another_writers_lock_raises_store_busy(
    runtime: Runtime,
) -> None:
    # The writer makes runs in a store batch: the lock is met at the batch's
    # first BEGIN, and must be told from other failures to be waited out.
    store = Store.open(runtime.settings.database_url, sqlite_busy_timeout_ms=0)
    holder = _hold_write_lock(runtime)
    try:
        with pytest.raises(StoreBusy), store.batch(), store.begin():
            pass
        holder.rollback()
        with store.batch(), store.begin() as conn:
            assert run_store.count_runs(conn, "P-none") == 0
    finally:
        holder.close()
        store.dispose()
