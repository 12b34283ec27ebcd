"""The runtime: the store, settings and caches one idflow process shares.

The API, the CLI and the workers each build one `Runtime` at start-up and hand it
to the services; nothing else holds process-wide state.
"""

from __future__ import annotations

import asyncio
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


@dataclass(slots=True)
class Runtime:
    """What a process needs to serve flows."""

    store: Store
    settings: Settings
    plans: PlanCache = field(default_factory=PlanCache)
    executor: Executor | None = None
    connectors: ConnectorRuntime = field(init=False)

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
        return await asyncio.get_running_loop().run_in_executor(
            self._store_threads(), function
        )

    def submit_blocking(self, function: Callable[[], _T]) -> Future[_T]:
        """Queue blocking store work on the store's threads without waiting for it.

        `close` waits for queued work, so a process that stops gracefully
        finishes what it accepted.
        """
        return self._store_threads().submit(function)

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
        """Stop the store threads and release the store's connections."""
        self.connectors.close()
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None
        self.store.dispose()
