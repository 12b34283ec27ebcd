"""Delivery claims for PostgreSQL workers: skip locked rows, NOTIFY and LISTEN, subject locks.

Many workers claim from one table at once. SKIP LOCKED lets each take rows no
other claim holds instead of queueing behind them; NOTIFY, sent inside the
transaction that adds deliveries, reaches every listening worker when (and only
if) that transaction commits. Advisory locks keyed by subject keep two runs about
the same user from interleaving their read-modify-write of the user's row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Connection, Select, bindparam, func, select

from idflow.errors import StoreError
from idflow.store.database import Store
from idflow.store.driver import DriverStatement, execute_driver_sql

CHANNEL = "idflow_deliveries"

# hashtextextended gives the 64-bit key advisory locks take; a collision between
# two subjects only makes their runs wait for each other, never run together.
_LOCK_SUBJECT = DriverStatement(
    select(
        func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key"), 0)).label(
            "locked"
        )
    )
)


class PostgresClaims:
    """The PostgreSQL `ClaimDialect`."""

    def lock_candidates(self, query: Select[Any]) -> Select[Any]:
        """Lock the candidate rows, skipping those another claim holds."""
        return query.with_for_update(skip_locked=True)

    def announce(self, conn: Connection) -> None:
        """Queue a NOTIFY; PostgreSQL sends it at commit and drops it on rollback."""
        execute_driver_sql(conn, f"NOTIFY {CHANNEL}")

    def lock_subject(self, conn: Connection, key: str) -> None:
        """Take a transaction-scoped advisory lock on the subject's key."""
        _LOCK_SUBJECT.first(conn, {"key": key})

    def listen(self, store: Store) -> PostgresListener:
        """Open a dedicated connection listening on the deliveries channel.

        Raises:
            StoreError: the server refused the connection.
        """
        return PostgresListener(store)

    def watch_commits(
        self, store: Store, callback: Callable[[], None]
    ) -> Callable[[], None]:
        """Nothing to watch: NOTIFY reaches this process's own listener too."""
        return _nothing

    def committed_elsewhere(self, store: Store) -> None:
        """Nothing to do: the other process's NOTIFY reached every listener."""


class PostgresListener:
    """A psycopg connection in autocommit that has run `LISTEN idflow_deliveries`."""

    def __init__(self, store: Store) -> None:
        # psycopg takes the libpq form of the URL, without SQLAlchemy's driver name.
        url = store.engine.url.set(drivername="postgresql")
        try:
            self._conn = psycopg.connect(
                url.render_as_string(hide_password=False), autocommit=True
            )
            self._conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            raise StoreError(
                f"Listening for deliveries on {store.url_for_display} failed: {type(exc).__name__}."
            ) from exc

    def wait(self, timeout_seconds: float) -> bool:
        """Block until a NOTIFY arrives or the timeout passes; True when one came.

        Raises:
            StoreError: the connection broke; the listener is unusable.
        """
        try:
            for _ in self._conn.notifies(timeout=timeout_seconds, stop_after=1):
                return True
        except psycopg.Error as exc:
            raise StoreError(
                f"The delivery listener lost its connection: {type(exc).__name__}."
            ) from exc
        return False

    def close(self) -> None:
        """Close the listening connection."""
        self._conn.close()


def _nothing() -> None:
    return None
