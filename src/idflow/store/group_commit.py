"""The SQLite store thread: one writer that commits the work queued behind it together.

SQLite has one write lock, so a process gets the most from it with one thread
doing all store work (see `idflow.runtime`). On that thread, each write paid its
own `BEGIN IMMEDIATE` and `COMMIT`, and the commit, which writes the WAL frames
and now and then checkpoints, cost more than a short flow run's statements.

`GroupCommitThread` is that one thread as an `Executor`. When work arrives while
earlier work runs, it takes everything waiting (up to `max_batch` jobs) and runs
it inside one `Store.batch`: each job's transactions are savepoints, atomic on
their own, and one commit ends the batch. A job's future is resolved only after
that commit, so nobody is ever told of a write that could still be lost. A job
alone in the queue runs as before, with its own commit and no added wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, TypeVar

from idflow.errors import StoreError
from idflow.store.database import Store, WriteBatch

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# Enough to spread a commit over many short runs; few enough that the first
# job of a batch does not wait long for the last one's commit.
DEFAULT_MAX_BATCH = 32


@dataclass(slots=True)
class _Job:
    call: Callable[[], Any]
    # Who waits: a thread, on a concurrent future (`submit`), or a coroutine,
    # on an asyncio future of its event loop (`run`).
    future: Future[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future[Any] | None = None
    # Filled in when the job ran: its result or its exception, and the number
    # of the batch's commit that holds its writes (None: no commit pending).
    result: Any = None
    error: BaseException | None = None
    commit_index: int | None = None

    def start(self) -> bool:
        """Mark the job running; False when its caller has given up on it."""
        if self.future is not None:
            return self.future.set_running_or_notify_cancel()
        # Read across threads, but only ever to skip work nobody awaits.
        return self.waiter is not None and not self.waiter.cancelled()


class GroupCommitThread(Executor):
    """A single store thread that group-commits queued work.

    Args:
        store: the store whose `batch` groups the work.
        max_batch: most jobs in one batch.
        name: the thread's name.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        name: str = "idflow-store",
    ) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Future[Any]:
        """Queue `fn(*args, **kwargs)` for the store thread.

        Raises:
            RuntimeError: the executor was shut down.
        """
        future: Future[Any] = Future()
        self._put(_Job(lambda: fn(*args, **kwargs), future=future))
        return future

    async def run(self, fn: Callable[[], _T]) -> _T:
        """Run `fn` on the store thread and await its answer from an event loop.

        What `loop.run_in_executor(self, fn)` does, for the API's every request,
        without its concurrent future, and with the answers of one batch
        reaching each loop in one call. py-spy put that future's condition
        variable and its chaining at about a sixth of the event loop thread's
        samples; in wall-clock runs the difference stayed within the noise
        (bench/RESULTS.md).

        Raises:
            RuntimeError: the executor was shut down.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_T] = loop.create_future()
        self._put(_Job(fn, loop=loop, waiter=waiter))
        return await waiter

    def _put(self, job: _Job) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("The store thread has been shut down.")
            self._queue.put(job)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Run what is queued, then stop the thread.

        Args:
            wait: wait for the thread to finish.
            cancel_futures: cancel queued work that has not started instead.
        """
        with self._lock:
            if not self._closed:
                self._closed = True
                if cancel_futures:
                    self._cancel_queued()
                self._queue.put(None)
        if wait:
            self._thread.join()

    def _cancel_queued(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None and job.future is not None:
                job.future.cancel()
            elif job is not None and job.loop is not None and job.waiter is not None:
                # Only the waiter's own loop may touch it; a closed loop has
                # nobody left waiting.
                with contextlib.suppress(RuntimeError):
                    job.loop.call_soon_threadsafe(job.waiter.cancel)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs, stop = self._take_waiting(first)
            if len(jobs) == 1:
                self._run_alone(jobs[0])
            else:
                self._run_batch(jobs)
            if stop:
                return

    def _take_waiting(self, first: _Job) -> tuple[list[_Job], bool]:
        jobs = [first]
        while len(jobs) < self._max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
        return jobs, False

    def _run_alone(self, job: _Job) -> None:
        if not job.start():
            return
        try:
            job.result = job.call()
        except BaseException as exc:
            job.error = exc
        _answer([(job, job.error)])

    def _run_batch(self, jobs: list[_Job]) -> None:
        started = [job for job in jobs if job.start()]
        batch: WriteBatch | None = None
        try:
            with self._store.batch() as batch:
                for job in started:
                    try:
                        job.result = job.call()
                    except BaseException as exc:
                        job.error = exc
                    job.commit_index = batch.next_commit()
        except Exception as exc:
            logger.warning(
                "A group commit of %d jobs failed: %s",
                len(started),
                getattr(exc, "message", type(exc).__name__),
                extra={"event_name": "store_group_commit_failed"},
            )
            failure: Exception | None = exc
        else:
            failure = None
        assert batch is not None
        answers: list[tuple[_Job, BaseException | None]] = []
        for job in started:
            if job.error is not None or batch.committed(job.commit_index):
                answers.append((job, job.error))
            else:
                # Its writes were rolled back with a failed commit after it.
                answers.append((job, failure or _lost_by_flush()))
        _answer(answers)


def _answer(answers: list[tuple[_Job, BaseException | None]]) -> None:
    """Resolve each job's future: its result, or the error given for it."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, BaseException | None]]]
    by_loop = {}
    for job, error in answers:
        if job.future is not None:
            if error is None:
                job.future.set_result(job.result)
            else:
                job.future.set_exception(error)
        elif job.loop is not None:
            by_loop.setdefault(job.loop, []).append((job, error))
    for loop, waiting in by_loop.items():
        _answer_loop(loop, waiting)


def _answer_loop(
    loop: asyncio.AbstractEventLoop, waiting: list[tuple[_Job, BaseException | None]]
) -> None:
    # A loop that has closed has nobody left to answer.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, waiting)


def _settle(waiting: list[tuple[_Job, BaseException | None]]) -> None:
    """On the event loop: hand each awaiting coroutine its answer."""
    for job, error in waiting:
        waiter = job.waiter
        if waiter is None or waiter.done():
            continue  # Cancelled while it ran: its caller has gone.
        if error is None:
            waiter.set_result(job.result)
        else:
            waiter.set_exception(error)


def _lost_by_flush() -> StoreError:
    return StoreError(
        "The database failed to commit this work together with other work; "
        "none of it was saved."
    )
