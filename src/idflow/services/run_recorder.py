"""Recording context-only runs: many to a transaction, each only if its flow is unchanged.

A run of a context-only plan (conditions and End, see `Plan.context_only`) is
made on the event loop, from the plan the cache handed out last, with no turn on
the store thread (`services.runs.make_context_only_run`). What remains is its
record. `RunRecorder` gathers the records of the runs finished while the
previous batch was being written, and writes them in one store job: one
transaction that first reads each flow's head and then inserts, in one
statement, the runs whose version is still current and switched on.

That check is what keeps the shortcut honest. A flow imported, switched off or
deleted by another process since the plan was cached leaves its runs
unrecorded; `record` answers False, and the caller makes the run again on the
store thread, where the flow is read afresh. Such a run never had an effect, so
making it again is safe. A caller is answered only after the commit that holds
its run, as on the standard path.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from functools import partial

from idflow.runtime import Runtime
from idflow.store import flows as flow_store
from idflow.store import runs as run_store
from idflow.store.records import Run


@dataclass(slots=True)
class _LoopQueue:
    """The runs waiting on one event loop, and whether a batch is being written."""

    waiting: list[tuple[Run, asyncio.Future[bool]]] = field(default_factory=list)
    writer: asyncio.Task[None] | None = None


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
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues.setdefault(loop, _LoopQueue())
        answer: asyncio.Future[bool] = loop.create_future()
        queue.waiting.append((run, answer))
        if queue.writer is None:
            queue.writer = loop.create_task(self._write(queue))
        return await answer

    async def _write(self, queue: _LoopQueue) -> None:
        # Runs that finish while a batch is written wait for the next one: the
        # busier the loop, the more runs share a transaction.
        try:
            while queue.waiting:
                batch, queue.waiting = queue.waiting, []
                runs = [run for run, _ in batch]
                try:
                    kept = await self._runtime.call_blocking(
                        partial(self._record_current, runs)
                    )
                except Exception as exc:
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                for (_, answer), recorded in zip(batch, kept, strict=True):
                    if not answer.done():
                        answer.set_result(recorded)
        finally:
            queue.writer = None

    def _record_current(self, runs: list[Run]) -> list[bool]:
        """On the store thread: insert the runs whose plan is still current."""
        with self._runtime.store.begin() as conn:
            current: dict[tuple[str, str], int | None] = {}
            for key in {(run.project_id, run.flow_id) for run in runs}:
                head = flow_store.get_flow(conn, *key)
                current[key] = None
                if head is not None and not head.disabled:
                    current[key] = head.current_version
            kept = [
                current[(run.project_id, run.flow_id)] == run.flow_version
                for run in runs
            ]
            run_store.insert_runs(
                conn, [run for run, keep in zip(runs, kept, strict=True) if keep]
            )
        for run, keep in zip(runs, kept, strict=True):
            if not keep:
                # Its next run takes the standard path, which caches afresh.
                self._runtime.plans.forget_context_only(run.project_id, run.flow_id)
        return kept
