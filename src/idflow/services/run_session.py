"""A run's hold on the store: one transaction, committed in segments at connector calls.

A run without connector steps is one transaction, as before: all its effects
commit with its run record, or none do. A connector call is a checkpoint: the
effects so far commit, the store is released while the network is waited on,
and a new transaction opens for the steps after it. The first checkpoint also
writes the run as `running`, so effects that committed always have a run record
to point at. If the run later fails, only the effects since its last checkpoint
roll back; docs/decisions/0008-connectors-and-runs.md gives the reasons.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from types import TracebackType
from typing import Any

from idflow.engine.contract import ResumePoint
from idflow.store import runs as run_store
from idflow.store.database import Store
from idflow.store.records import Run


class RunTransaction:
    """The `RunSession` that `services.runs` hands the runner.

    Use it as a context manager: leaving the block commits what is open, and
    leaving it by an exception rolls that back and drops the background calls
    queued since the last commit.
    """

    def __init__(
        self,
        store: Store,
        connectors: Any,
        *,
        recorded: bool = False,
        on_reopen: Callable[[Any], None] | None = None,
    ) -> None:
        self._store = store
        self._connectors = connectors
        self._stack: ExitStack | None = None
        self._conn: Any = None
        self._running: Callable[[], Run] | None = None
        self._queued: list[Callable[[], object]] = []
        # An accepted (asynchronous) run was written as `running` on acceptance,
        # so every later write of it is an update.
        self._recorded = recorded
        self._on_checkpoint: Callable[[Any, ResumePoint], None] | None = None
        # Called first in each transaction after a checkpoint (a worker's
        # subject lock, which each commit releases).
        self._on_reopen = on_reopen
        self.checkpoints = 0

    @property
    def conn(self) -> Any:
        """The open transaction's connection; a new transaction when none is open."""
        if self._conn is None:
            stack = ExitStack()
            self._conn = stack.enter_context(self._store.begin())
            self._stack = stack
            if self.checkpoints and self._on_reopen is not None:
                self._on_reopen(self._conn)
        return self._conn

    @property
    def connectors(self) -> Any:
        """The process's connector runtime."""
        return self._connectors

    def announce(
        self,
        running: Callable[[], Run],
        on_checkpoint: Callable[[Any, ResumePoint], None] | None = None,
    ) -> None:
        """Say how to make the `running` record the first checkpoint writes.

        Args:
            running: makes the record.
            on_checkpoint: called with the connection and the resume point at
                every checkpoint, before it commits; it may raise to roll the
                checkpoint back (a worker that lost its delivery).
        """
        self._running = running
        self._on_checkpoint = on_checkpoint

    def checkpoint(self, point: ResumePoint) -> None:
        """Commit the effects so far, then start the background calls they queued.

        Inside a store batch (the SQLite store thread's group commit) this
        commits the batch too: the effects must be durable, and the write lock
        free, before the run waits on the network.
        """
        if self.checkpoints == 0 and self._running is not None and not self._recorded:
            run_store.insert_run(self.conn, self._running())
        if self._on_checkpoint is not None:
            self._on_checkpoint(self.conn, point)
        self._close(None)
        self.checkpoints += 1
        self._start_queued()
        self._store.flush()

    def after_commit(self, work: Callable[[], object]) -> None:
        """Queue a background call until the effects so far commit."""
        self._queued.append(work)

    def save_run(self, run: Run) -> None:
        """Write the finished run in the open transaction, beside its last effects."""
        self._write(self.conn, run)

    def save_failed_run(self, run: Run) -> None:
        """Write a run whose effects rolled back (a failure, or any preview) on its own."""
        with self._store.begin() as conn:
            self._write(conn, run)

    def _write(self, conn: Any, run: Run) -> None:
        if self.checkpoints or self._recorded:
            run_store.update_run(conn, run)
        else:
            run_store.insert_run(conn, run)

    def __enter__(self) -> RunTransaction:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._close(None)
            self._start_queued()
            return
        self._queued.clear()
        self._close((exc_type, exc, traceback))

    def _close(
        self,
        exc_info: tuple[type[BaseException], BaseException | None, Any] | None,
    ) -> None:
        stack, self._stack, self._conn = self._stack, None, None
        if stack is None:
            return
        if exc_info is None:
            stack.close()
        else:
            stack.__exit__(*exc_info)

    def _start_queued(self) -> None:
        queued, self._queued = self._queued, []
        for work in queued:
            # In a store batch, the effects are committed only with the batch.
            self._store.after_commit(partial(self._connectors.dispatch, work))
