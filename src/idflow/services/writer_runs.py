"""API runs whose work is all in the store, made by the writer process of `idflow serve`.

A run with actions but no connector steps (load a user, disable it, end) spends
its time in SQLite. On the server's store thread that work shares the
interpreter lock with the event loop, and the two together made no more than
1,230-1,660 disabling runs a second, on machines whose bare Starlette served
6,000-19,000 requests (bench/RESULTS.md). The writer process
(`services.record_writer`, decision 0016) has an interpreter of its own, on the
other core: the event loop sends it the runs that arrived while its last batch
was being made, and it makes them with `start_run` in one transaction, each in
a savepoint, as the store thread's group commit would.

Which runs go there: synchronous API runs on a SQLite file, of a flow whose plan
the server last saw had no connector steps (a run that waits on the network
would hold up every run behind it) and is not cached as context-only (those the
event loop makes itself). A flow never run here yet, or one that has since
gained connector steps, takes the standard path, which caches its plan afresh;
so does every run while there is no writer process. A flow the child finds
context-only now goes the standard way once, to be cached as such.

If the process dies with a batch in hand, the batch may or may not have
committed, and it committed whole or not at all: a run and its effects are in
one transaction. The store thread then looks for each run's record by the id
the server gave it: a run recorded happened, and its record is the answer; a
run not recorded never happened, and is made again on the standard path.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from idflow.clock import new_id
from idflow.runtime import Runtime
from idflow.services import runs
from idflow.services.record_writer import MadeBatch, RunOrder, WriterGone
from idflow.services.run_recorder import RunRecorder
from idflow.store import runs as run_store
from idflow.store.claims import claim_dialect
from idflow.store.records import Run

logger = logging.getLogger(__name__)

# Most runs in one batch: a batch holds SQLite's write lock from its first run
# to its commit, and every other writer of the file waits that long.
MAX_BATCH = 64


@dataclass(slots=True)
class _Orders:
    """The orders waiting on one event loop for the writer process."""

    waiting: list[tuple[RunOrder, asyncio.Future[Run | None]]] = field(
        default_factory=list
    )
    sending: asyncio.Task[None] | None = None


class WriterRuns:
    """Sends store-only API runs to the writer process, for one runtime."""

    def __init__(self, runtime: Runtime, recorder: RunRecorder) -> None:
        self._runtime = runtime
        self._recorder = recorder
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Orders] = (
            weakref.WeakKeyDictionary()
        )

    async def run(
        self,
        project_id: str,
        flow_id: str,
        inputs: Mapping[str, Any] | None,
        *,
        preview: bool = False,
        tenant_id: str | None = None,
    ) -> Run | None:
        """Have the writer process make an API run of the flow, if it should.

        Returns:
            The recorded run, completed or failed; None when the run is not for
            the writer process (no process, or a flow that may call connectors),
            and the caller makes it on the standard path. Nothing was written then.

        Raises:
            What `runs.start_run` raises for bad input, a missing or switched-off
            flow or tenant; StoreError when the batch's transaction failed.
        """
        if self._runtime.plans.uses_connectors(project_id, flow_id) is not False:
            return None
        if await self._recorder.writer_process() is None:
            return None
        order = RunOrder(
            project_id=project_id,
            flow_id=flow_id,
            run_id=new_id("R"),
            inputs=inputs,
            preview=preview,
            tenant_id=tenant_id,
        )
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues.setdefault(loop, _Orders())
        answer: asyncio.Future[Run | None] = loop.create_future()
        queue.waiting.append((order, answer))
        if queue.sending is None:
            queue.sending = loop.create_task(self._send(queue))
        return await answer

    async def _send(self, queue: _Orders) -> None:
        # Orders that arrive while a batch is made wait for the next one.
        try:
            while queue.waiting:
                batch = queue.waiting[:MAX_BATCH]
                del queue.waiting[:MAX_BATCH]
                await self._send_batch(batch)
        finally:
            queue.sending = None

    async def _send_batch(
        self, batch: list[tuple[RunOrder, asyncio.Future[Run | None]]]
    ) -> None:
        orders = [order for order, _ in batch]
        try:
            outcomes = await self._make(orders)
        except Exception as exc:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for (_, answer), outcome in zip(batch, outcomes, strict=True):
            if answer.done():
                continue
            if isinstance(outcome, Exception):
                answer.set_exception(outcome)
            else:
                answer.set_result(outcome)

    async def _make(self, orders: list[RunOrder]) -> list[Run | Exception | None]:
        process = await self._recorder.writer_process()
        if process is None:
            # It went between the order and its batch: nothing was sent.
            return [None] * len(orders)
        try:
            made = await process.make(orders)
        except WriterGone:
            await self._recorder.writer_lost(
                process, "It stopped before answering a batch of runs."
            )
            return await self._runtime.call_blocking(lambda: self._after_loss(orders))
        self._take_news(made)
        outcomes: list[Run | Exception | None] = []
        for order, one in zip(orders, made.runs, strict=True):
            if one.run is not None:
                outcomes.append(one.run)  # The child logged its end.
            elif one.error is not None:
                outcomes.append(one.error)
            else:
                # Its flow calls connectors now: the standard path learns so.
                self._runtime.plans.forget_connector_hint(
                    order.project_id, order.flow_id
                )
                outcomes.append(None)
        return outcomes

    def _take_news(self, made: MadeBatch) -> None:
        store = self._runtime.store
        if made.announced:
            claim_dialect(store.dialect_name).committed_elsewhere(store)
        for project_id, flow_id in made.context_only:
            # The standard path caches the context-only plan, and the event
            # loop makes the flow's runs from then on.
            self._runtime.plans.forget_connector_hint(project_id, flow_id)

    def _after_loss(self, orders: list[RunOrder]) -> list[Run | Exception | None]:
        """On the store thread: the runs of a batch the process took with it.

        A run recorded committed with its effects: its record is its outcome.
        One not recorded rolled back with the whole batch, so it is made again,
        unless its flow calls connectors now: that one is left to the caller.
        """
        outcomes: list[Run | Exception | None] = []
        for order in orders:
            with self._runtime.store.connect() as conn:
                run = run_store.get_run(conn, order.project_id, order.run_id)
            if run is None:
                try:
                    run = order.start(self._runtime)
                except runs.CallsConnectors:
                    outcomes.append(None)
                    continue
                except Exception as exc:
                    outcomes.append(exc)
                    continue
            outcomes.append(run)
        return outcomes
