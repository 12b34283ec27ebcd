"""The runtime: the store, settings and caches one idflow process shares.

The API, the CLI and the workers each build one `Runtime` at start-up and hand it
to the services; nothing else holds process-wide state. It also chooses the
threads blocking work runs on: the store's, or on SQLite, for runs that wait on
connectors, a few threads of their own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from idflow.connectors.runtime import ConnectorRuntime
from idflow.services.flows import PlanCache
from idflow.settings import Settings
from idflow.store import migrate
from idflow.store.database import Store
from idflow.store.group_commit import GroupCommitThread

_T = TypeVar("_T")

# PostgreSQL serves many writers at once; SQLite has one write lock, and threads
# queueing on its busy handler sleep in steps of milliseconds, so one writer
# thread that never waits is faster than many that do, and it commits the work
# queued behind it together (`store.group_commit`).
POSTGRES_THREADS = 16
# On SQLite, runs that wait on connectors leave the store thread for these, so
# a slow endpoint holds up only them. Each waits on the network far longer than
# it writes, so a few serve many; more would only queue on the write lock.
CONNECTOR_RUN_THREADS = 4


@dataclass(slots=True)
class Runtime:
    """What a process needs to serve flows."""

    store: Store
    settings: Settings
    plans: PlanCache = field(default_factory=PlanCache)
    executor: Executor | None = None
    connectors: ConnectorRuntime = field(init=False)
    _connector_runs: ThreadPoolExecutor | None = field(
        default=None, init=False, repr=False
    )
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False
    )

    def __post_init__(self) -> None:
        self.connectors = ConnectorRuntime(self.settings.connectors)

    @classmethod
    def open(cls, settings: Settings, *, migrate_sqlite: bool = True) -> Runtime:
        """Open the store named by the settings and make sure its schema is current.

        SQLite stores are brought up to date on the spot, since the embedded
        default must need no set-up; a PostgreSQL store shared by many processes
        is only checked, and an outdated one is refused until `idflow migrate`.

        Raises:
            SchemaOutdated: for a PostgreSQL store with pending migrations.
        """
        store = Store.open(settings.database_url)
        try:
            if store.dialect_name == "sqlite" and migrate_sqlite:
                migrate.upgrade(store)
            else:
                migrate.check_schema(store)
        except BaseException:
            # A refused store must not keep its pooled connections open.
            store.dispose()
            raise
        return cls(store, settings)

    async def call_blocking(self, function: Callable[[], _T]) -> _T:
        """Run blocking store work off the event loop, on the store's threads."""
        threads = self._store_threads()
        if isinstance(threads, GroupCommitThread):
            # The SQLite store thread answers the event loop directly.
            return await threads.run(function)
        return await asyncio.get_running_loop().run_in_executor(threads, function)

    def submit_blocking(self, function: Callable[[], _T]) -> Future[_T]:
        """Queue blocking store work on the store's threads without waiting for it.

        `close` waits for queued work, so a process that stops gracefully
        finishes what it accepted.
        """
        return self._store_threads().submit(function)

    async def call_run(
        self, project_id: str, flow_id: str, function: Callable[[], _T]
    ) -> _T:
        """Run a flow run off the event loop, on the threads suited to the flow.

        Like `call_blocking`, except that on a SQLite file a run that may wait
        on connectors goes to threads of its own (see `run_leaves_store_thread`).
        """
        if not self.run_leaves_store_thread(project_id, flow_id):
            return await self.call_blocking(function)
        return await asyncio.get_running_loop().run_in_executor(
            self._connector_run_threads(), function
        )

    def run_leaves_store_thread(self, project_id: str, flow_id: str) -> bool:
        """Whether a run of this flow should be made off the SQLite store thread.

        A connector call waits on the network for up to its timeout. On the one
        SQLite store thread that wait would hold up every other request and
        delivery of the process, so such runs go elsewhere and take the store's
        write lock for their transactions (decision 0011). The plan is known
        only once the flow is loaded, so the plan cache's hint decides: a flow
        whose last plan had connector steps leaves, and so does one not seen
        yet. Either thread runs any flow correctly; a wrong guess off the store
        thread costs a turn on the write lock, a wrong guess onto it holds up
        the process. PostgreSQL has threads enough, and in-memory SQLite one
        connection, so neither ever moves a run.
        """
        if self.store.dialect_name != "sqlite" or self.store.in_memory:
            return False
        return self.plans.uses_connectors(project_id, flow_id) is not False

    def _connector_run_threads(self) -> Executor:
        with self._lock:
            if self._connector_runs is None:
                self._connector_runs = ThreadPoolExecutor(
                    CONNECTOR_RUN_THREADS, thread_name_prefix="idflow-connector-runs"
                )
            return self._connector_runs

    def _store_threads(self) -> Executor:
        if self.executor is None:
            if self.store.dialect_name == "sqlite":
                self.executor = GroupCommitThread(self.store)
            else:
                self.executor = ThreadPoolExecutor(
                    POSTGRES_THREADS, thread_name_prefix="idflow-store"
                )
        return self.executor

    def close(self) -> None:
        """Finish the runs in flight, stop the threads and release the connections."""
        # Runs on the connector run threads start background connector calls,
        # so they end before the connector runtime closes.
        with self._lock:
            runs, self._connector_runs = self._connector_runs, None
        if runs is not None:
            runs.shutdown(wait=True)
        self.connectors.close()
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None
        self.store.dispose()
