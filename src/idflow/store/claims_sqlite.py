"""Delivery claims for SQLite: one writer, so plain claims and an in-process wake-up.

SQLite lets one transaction write at a time (`BEGIN IMMEDIATE`), so a claim can
never race another and needs no row locks, and runs about the same user cannot
interleave. There is no LISTEN either: workers poll, and a worker in the same
process as the writer is woken when a transaction that added deliveries commits.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Select, event

from idflow.store.database import Store

# Set on a connection by `announce`, read and cleared when its transaction ends.
_ANNOUNCED = "idflow.deliveries_announced"


class SqliteClaims:
    """The SQLite `ClaimDialect`."""

    def lock_candidates(self, query: Select[Any]) -> Select[Any]:
        """Return the query as it is: the claim's write lock excludes every other."""
        return query

    def announce(self, conn: Connection) -> None:
        """Mark the transaction, so its commit wakes this process's workers."""
        conn.info[_ANNOUNCED] = True

    def lock_subject(self, conn: Connection, key: str) -> None:
        """Nothing to lock: the run's write transaction already excludes all others."""

    def listen(self, store: Store) -> None:
        """No listener on SQLite: workers in other processes poll."""
        return None

    def watch_commits(
        self, store: Store, callback: Callable[[], None]
    ) -> Callable[[], None]:
        """Call `callback` after each announcing commit; return how to stop."""
        watchers = _watchers_of(store.engine)
        with _LOCK:
            watchers.append(callback)

        def unwatch() -> None:
            with _LOCK:
                if callback in watchers:
                    watchers.remove(callback)

        return unwatch

    def committed_elsewhere(self, store: Store) -> None:
        """Call the watchers of `store` as an announcing commit of its own would."""
        with _LOCK:
            watchers = list(_WATCHERS.get(store.engine, ()))
        for callback in watchers:
            callback()


_LOCK = threading.Lock()
_WATCHERS: weakref.WeakKeyDictionary[Engine, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)


def _watchers_of(engine: Engine) -> list[Callable[[], None]]:
    with _LOCK:
        watchers = _WATCHERS.get(engine)
        if watchers is not None:
            return watchers
        watchers = _WATCHERS[engine] = []

    # One pair of listeners per engine, whatever the number of watchers: the
    # flag is read once per commit and every watcher is called.
    def committed(conn: Connection) -> None:
        if conn.info.pop(_ANNOUNCED, False):
            for callback in list(watchers):
                callback()

    def rolled_back(conn: Connection) -> None:
        conn.info.pop(_ANNOUNCED, None)

    event.listen(engine, "commit", committed)
    event.listen(engine, "rollback", rolled_back)
    return watchers
