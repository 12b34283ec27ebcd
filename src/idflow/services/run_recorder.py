"""Recording context-only runs: many to a transaction, each only if its flow is unchanged.

A run of a context-only plan (conditions and End, see `Plan.context_only`) is
made on the event loop, from the plan the cache handed out last, with no turn on
the store thread (`services.runs.make_context_only_run`). What remains is its
record. `RunRecorder` gathers the records of the runs finished while the
previous batch was being written, and writes them in one transaction that first
reads each flow's head and then inserts, in one statement, the runs whose
version is still current and switched on (`store.runs.insert_current_runs`).

That check is what keeps the shortcut honest. A flow imported, switched off or
deleted by another process since the plan was cached leaves its runs
unrecorded; `record` answers False, and the caller makes the run again on the
store thread, where the flow is read afresh. Such a run never had an effect, so
making it again is safe. A caller is answered only after the commit that holds
its run, as on the standard path.

Who writes: on a SQLite file served by `idflow serve`, a writer process
(`services.record_writer`, decision 0015), so the writes do not wait on the
event loop for the interpreter lock. Its answer to a batch is handled in the
pipe's data callback, which sends the runs waiting as the next batch there and
then (decision 0017). Otherwise the store's threads write: when
there is no such process, while it is gone, and while this process is itself
writing to the store. A batch the process may have committed before it
vanished is written again by the store thread, counting the runs already there.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass, field
from functools import partial

from idflow.runtime import Runtime
from idflow.services.record_writer import RecordWriter, WriterGone
from idflow.store import runs as run_store
from idflow.store.records import Run

logger = logging.getLogger(__name__)

# After the writer process is lost, how long the store thread writes alone
# before another process is started: a child that dies at once is not
# restarted in a tight loop.
WRITER_RESTART_SECONDS = 30.0


@dataclass(slots=True)
class _LoopQueue:
    """The runs waiting on one event loop, and who writes them."""

    waiting: list[tuple[Run, asyncio.Future[bool]]] = field(default_factory=list)
    # The batch on its way, if any: a plain future while the writer process
    # has it, done once its answer is handled; a task while the store thread
    # writes it.
    in_flight: asyncio.Future[None] | None = None
    # A batch is to be sent once the loop's ready work is done.
    send_due: bool = False
    # The writer process, when this loop asked for one (`use_writer_process`).
    process: RecordWriter | None = None
    wants_process: bool = False
    restart_at: float = 0.0
    starting: asyncio.Task[None] | None = None
    # The store's count of write transactions begun, as of the last batch,
    # the recorder's own included: more since then means others wrote.
    writes_seen: int = 0


class RunRecorder:
    """Writes the records of context-only runs in batches, for one runtime.

    Each event loop has its own queue, as futures belong to one loop; the API
    serves from one.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._queues: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, _LoopQueue
        ] = weakref.WeakKeyDictionary()

    @property
    def can_use_writer_process(self) -> bool:
        """True when the store is a SQLite file, the one a process can share."""
        store = self._runtime.store
        return store.dialect_name == "sqlite" and not store.in_memory

    async def use_writer_process(self, *, wait: bool = False) -> None:
        """Have a writer process record this event loop's batches from now on.

        A no-op unless `can_use_writer_process`. The process starts in the
        background (it takes about a second to import idflow and open the
        store); the store thread writes until it is ready, or goes on writing
        if it cannot start, and a start is tried again later.

        Args:
            wait: return only once the process is ready or has failed to start.
        """
        if not self.can_use_writer_process:
            return
        queue = self._queue()
        queue.wants_process = True
        if queue.starting is None and queue.process is None:
            queue.starting = asyncio.get_running_loop().create_task(
                self._start_process(queue)
            )
        if wait and queue.starting is not None:
            await asyncio.gather(queue.starting, return_exceptions=True)

    async def close(self) -> None:
        """Stop this event loop's writer process, once its last batch is answered."""
        queue = self._queue()
        queue.wants_process = False
        if queue.starting is not None:
            await asyncio.gather(queue.starting, return_exceptions=True)
        while (flight := queue.in_flight) is not None:
            await asyncio.gather(flight, return_exceptions=True)
            if queue.in_flight is flight:
                break
        process, queue.process = queue.process, None
        if process is not None:
            await process.close()

    def writer_pid(self) -> int | None:
        """The id of this event loop's writer process, if one is running."""
        process = self._queue().process
        return process.pid if process is not None and process.usable else None

    async def record(self, run: Run) -> bool:
        """Record a finished run once its flow is found unchanged.

        Returns:
            True once the run is committed; False when its flow has another
            current version now, is switched off or is gone, and nothing was
            recorded.

        Raises:
            StoreError: or the driver's error, when the batch's transaction
                failed; none of its runs was recorded.
        """
        queue = self._queue()
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        queue.waiting.append((run, answer))
        if queue.in_flight is None and not queue.send_due:
            # After the loop's other ready work, so that runs finishing in the
            # same turn share the batch.
            queue.send_due = True
            asyncio.get_running_loop().call_soon(self._send_due, queue)
        return await answer

    def _queue(self) -> _LoopQueue:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues.setdefault(loop, _LoopQueue())
        return queue

    def _send_due(self, queue: _LoopQueue) -> None:
        queue.send_due = False
        if queue.in_flight is None and queue.waiting:
            self._send_waiting(queue)

    def _send_waiting(self, queue: _LoopQueue) -> None:
        """Send the runs waiting as one batch: to the writer process, or the store thread.

        Runs that finish while a batch is on its way wait for the next one:
        the busier the loop, the more runs share a transaction. The writer
        process's answer is handled in the pipe's data callback, which sends
        the next batch from there (`_process_answered`).
        """
        batch, queue.waiting = queue.waiting, []
        process = queue.process
        if (
            process is not None
            and process.usable
            and not self._store_thread_writing(queue)
        ):
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            try:
                process.send_records(
                    [run for run, _ in batch],
                    partial(self._process_answered, queue, process, batch, done),
                )
            except Exception as exc:
                # Nothing was sent: the store thread writes the batch, below,
                # and the process is let go there if it has stopped.
                if not isinstance(exc, WriterGone):
                    logger.warning(
                        "A batch could not be sent to the run record writer: %r",
                        exc,
                        extra={"event_name": "record_writer_lost"},
                    )
            else:
                queue.in_flight = done
                return
        queue.in_flight = asyncio.get_running_loop().create_task(
            self._write_elsewhere(queue, batch)
        )

    def _process_answered(
        self,
        queue: _LoopQueue,
        process: RecordWriter,
        batch: list[tuple[Run, asyncio.Future[bool]]],
        done: asyncio.Future[None],
        result: list[bool] | Exception,
    ) -> None:
        if isinstance(result, WriterGone):
            # It may have committed the batch before it stopped: the store
            # thread writes it again, counting the runs already stored.
            queue.in_flight = asyncio.get_running_loop().create_task(
                self._write_elsewhere(queue, batch, lost=process)
            )
            done.set_result(None)
            return
        self._settle(batch, result)
        done.set_result(None)
        self._batch_done(queue)

    async def _write_elsewhere(
        self,
        queue: _LoopQueue,
        batch: list[tuple[Run, asyncio.Future[bool]]],
        *,
        lost: RecordWriter | None = None,
    ) -> None:
        """The store thread writes the batch; a process stopped is let go first.

        Args:
            queue: the event loop's queue.
            batch: the runs, with their callers' futures.
            lost: the writer process that took this batch and stopped before
                answering: it may have committed it, so the runs already
                stored are counted, not inserted again.
        """
        runs = [run for run, _ in batch]
        try:
            if lost is not None:
                await self._lose(queue, lost, "It stopped before answering a batch.")
            else:
                # Lets go of a process found stopped, and starts another when
                # one is wanted and it is time.
                await self._usable_process(queue)
            kept = await self._on_store_thread(
                queue, runs, skip_recorded=lost is not None
            )
        except Exception as exc:
            # Whatever failed, every caller of the batch is answered.
            self._settle(batch, exc)
        else:
            self._settle(batch, kept)
        finally:
            self._batch_done(queue)

    def _batch_done(self, queue: _LoopQueue) -> None:
        queue.in_flight = None
        if queue.waiting:
            self._send_waiting(queue)

    def _settle(
        self,
        batch: list[tuple[Run, asyncio.Future[bool]]],
        result: list[bool] | Exception,
    ) -> None:
        """Answer each run of a batch: whether it is stored, or the batch's error."""
        if isinstance(result, Exception):
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(result)
            return
        for (run, answer), keep in zip(batch, result, strict=True):
            if not keep:
                # Its next run takes the standard path, which caches afresh.
                self._runtime.plans.forget_context_only(run.project_id, run.flow_id)
            if not answer.done():
                answer.set_result(keep)

    def _store_thread_writing(self, queue: _LoopQueue) -> bool:
        """Whether this process wrote to the store since the last batch, or is writing now.

        Then the batch goes to the store thread, to commit with those writes:
        sent to the writer process, it would wait for SQLite's write lock behind
        them. Under a steady stream of other writes (runs with actions) the
        process's batches, then waiting in SQLite's busy handler, rarely found
        the lock free: 25 to 66 runs a second beside 3,000 *disable* runs,
        against 1,070 on the store thread (bench/RESULTS.md). The process now
        waits in short steps (`store.database.LOCK_RETRY_SECONDS`),
        but a batch behind another writer's would still wait its turn.
        """
        taken, held = self._runtime.store.write_activity
        others = taken - queue.writes_seen
        queue.writes_seen = taken
        return held > 0 or others > 0

    async def writer_process(self) -> RecordWriter | None:
        """This event loop's writer process, when it is running and ready.

        One found stopped is let go, and a new one is started in the background
        when it is time (`WRITER_RESTART_SECONDS`); None until it is ready.
        """
        return await self._usable_process(self._queue())

    async def writer_lost(self, process: RecordWriter, why: str) -> None:
        """Let go of a writer process that failed to answer; another starts later."""
        await self._lose(self._queue(), process, why)

    async def _usable_process(self, queue: _LoopQueue) -> RecordWriter | None:
        process = queue.process
        if process is not None and not process.usable:
            await self._lose(queue, process, f"It exited with {process.returncode}.")
            process = None
        if (
            process is None
            and queue.wants_process
            and queue.starting is None
            and time.monotonic() >= queue.restart_at
        ):
            queue.starting = asyncio.get_running_loop().create_task(
                self._start_process(queue)
            )
        return process

    async def _on_store_thread(
        self, queue: _LoopQueue, runs: list[Run], *, skip_recorded: bool = False
    ) -> list[bool]:
        kept = await self._runtime.call_blocking(
            partial(self._insert_current, runs, skip_recorded=skip_recorded)
        )
        queue.writes_seen += 1  # This batch's own write transaction.
        return kept

    async def _lose(self, queue: _LoopQueue, process: RecordWriter, why: str) -> None:
        if queue.process is process:  # Else another caller let it go first.
            queue.process = None
            queue.restart_at = time.monotonic() + WRITER_RESTART_SECONDS
            logger.warning(
                "The run record writer (process %d) is gone: %s The store thread "
                "writes run records, and makes the runs it made, until another starts",
                process.pid,
                why,
                extra={"event_name": "record_writer_lost"},
            )
        # Reaps it; one still running sees its input end. Each caller waits,
        # so none looks at what its batch left before the process has ended.
        await process.close()

    async def _start_process(self, queue: _LoopQueue) -> None:
        try:
            queue.process = await RecordWriter.start(self._runtime.settings)
        except Exception as exc:
            # Whatever the cause, the store thread writes meanwhile, and the
            # next try waits its turn: never a child started per batch.
            queue.restart_at = time.monotonic() + WRITER_RESTART_SECONDS
            logger.warning(
                "The run record writer could not start (%r); the store thread writes run records",
                exc,
                exc_info=not isinstance(exc, OSError | WriterGone),
                extra={"event_name": "record_writer_failed"},
            )
        finally:
            queue.starting = None

    def _insert_current(
        self, runs: list[Run], *, skip_recorded: bool = False
    ) -> list[bool]:
        """On the store thread: insert the runs whose plan is still current."""
        with self._runtime.store.begin() as conn:
            return run_store.insert_current_runs(
                conn, run_store.run_rows(runs), skip_recorded=skip_recorded
            )
