"""WAL checkpoints of a SQLite file, taken by a thread of their own instead of in commits.

In WAL mode SQLite appends each commit to the `-wal` file, and a checkpoint
copies those pages back into the database file. By default the commit that
finds the WAL past 1,000 pages (4 MB) runs that checkpoint itself, before it
returns: about 4 MB copied and the database file synced. In the run record
writer, which commits a batch every millisecond or so under load, that was one
commit in a hundred taking 4-6 ms instead of 0.2 ms, while every request whose
run was in the batch waited (bench/RESULTS.md, 2026-12-04 afternoon).

`WalCheckpointer` moves that work to a thread: every `interval_seconds` it runs
a PASSIVE checkpoint, which copies what it can without waiting for, or
blocking, the writer or any reader. The sqlite3 module releases the interpreter
lock while SQLite works, so the thread's copying overlaps the writer's next
batch. The store it serves opens its connections with a higher automatic
checkpoint threshold (`Store.open(sqlite_autocheckpoint_pages=...)`).

The WAL file starts over from its beginning only at a commit that finds every
page copied. Between pauses in the writes the thread gets there; under a
steady stream of commits, one every millisecond, it rarely catches the last
one, so the WAL grows to that threshold, `WRITER_AUTOCHECKPOINT_PAGES` (32 MB).
The commit that reaches it checkpoints by itself, but finds all but the pages
of the last tenth of a second copied already, and the WAL starts over.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from idflow.store.database import Store

logger = logging.getLogger(__name__)

# How often the thread copies the WAL back. At the writer's peak, about 20 MB
# of WAL a second, a tenth of a second is some 500 pages: within the 1,000
# SQLite's own threshold would let accumulate.
CHECKPOINT_INTERVAL_SECONDS = 0.1
# Where the writer's own commits checkpoint: under steady writes, the size the
# WAL file grows to before it starts over (see above).
WRITER_AUTOCHECKPOINT_PAGES = 8000
# Passes a round makes while commits keep adding to the WAL: once a pass has
# copied every page, the next commit starts the WAL file over from the start.
_PASSES_PER_ROUND = 4


class WalCheckpointer:
    """A thread that checkpoints a SQLite file's WAL on a timer, in PASSIVE mode."""

    def __init__(
        self, store: Store, interval_seconds: float = CHECKPOINT_INTERVAL_SECONDS
    ) -> None:
        """Prepare a checkpointer for a SQLite file's store; `start` starts it.

        Raises:
            ValueError: the store is not a SQLite file.
        """
        if store.dialect_name != "sqlite" or store.in_memory:
            raise ValueError(
                f"Only a SQLite file has a WAL to checkpoint, not {store.url_for_display!r}."
            )
        self._store = store
        self._interval = interval_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="idflow-wal-checkpointer", daemon=True
        )
        self.rounds = 0

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current round, and wait for it."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        # A connection of its own, held for the thread's life: the driver's,
        # in autocommit, as a checkpoint must not run inside a transaction.
        connection: Any = self._store.engine.raw_connection()
        try:
            while not self._stopping.wait(self._interval):
                self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: Any) -> None:
        try:
            for _ in range(_PASSES_PER_ROUND):
                cursor = connection.cursor()
                try:
                    busy, wal_pages, copied = cursor.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                finally:
                    cursor.close()
                # Busy: another checkpoint is running. Otherwise done once
                # every page is copied (-1, -1 when the file is not in WAL mode).
                if busy or copied >= wal_pages:
                    break
        except Exception:
            # The next round tries again; meanwhile the writer's own commits
            # checkpoint past WRITER_AUTOCHECKPOINT_PAGES.
            logger.warning(
                "A WAL checkpoint failed",
                exc_info=True,
                extra={"event_name": "wal_checkpoint_failed"},
            )
        self.rounds += 1
