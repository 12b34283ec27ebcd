"""Delivery claims across dialects: the one interface the outbox and the workers see.

PostgreSQL serves many writers at once, so its workers lock the rows they claim
with SKIP LOCKED, learn of new work through LISTEN/NOTIFY and hold a per-subject
advisory lock while a run changes a user. SQLite has a single writer, so none of
that is needed there: claims are plain, and a worker in the same process is woken
when a transaction that added deliveries commits. Each dialect's tricks live in
its own module (`claims_postgres`, `claims_sqlite`); callers get one from
`claim_dialect` and call it the same way on both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import Connection, Select

from idflow.store.claims_postgres import PostgresClaims
from idflow.store.claims_sqlite import SqliteClaims
from idflow.store.database import Store


class WakeListener(Protocol):
    """A connection that hears when new deliveries commit, from any process."""

    def wait(self, timeout_seconds: float) -> bool:
        """Block until work is announced or the timeout passes.

        Returns:
            True when an announcement arrived.

        Raises:
            StoreError: the listening connection failed; open a new listener.
        """

    def close(self) -> None:
        """Release the connection; the listener cannot be used again."""


class ClaimDialect(Protocol):
    """What differs between dialects in claiming and announcing deliveries."""

    def lock_candidates(self, query: Select[Any]) -> Select[Any]:
        """Make the candidate query of a claim skip rows other workers hold."""

    def announce(self, conn: Connection) -> None:
        """Tell workers new deliveries become claimable when this transaction commits."""

    def lock_subject(self, conn: Connection, key: str) -> None:
        """Hold a lock on `key` (a user or tenant) until the transaction ends."""

    def listen(self, store: Store) -> WakeListener | None:
        """Open a listener for announcements, or None where polling must do."""

    def watch_commits(
        self, store: Store, callback: Callable[[], None]
    ) -> Callable[[], None]:
        """Call `callback` when an announcing transaction of this process commits.

        Returns:
            A function that stops the calls.
        """

    def committed_elsewhere(self, store: Store) -> None:
        """Wake this process's watchers for deliveries a helper process committed for it.

        A writer process of `idflow serve` makes runs whose events may queue
        deliveries; the server's embedded worker should hear of them as it
        hears of its own commits.
        """


def claim_dialect(dialect_name: str) -> ClaimDialect:
    """Return the claim strategy for a dialect name, `postgresql` or `sqlite`."""
    return _POSTGRES if dialect_name == "postgresql" else _SQLITE


_POSTGRES: ClaimDialect = PostgresClaims()
_SQLITE: ClaimDialect = SqliteClaims()
