"""The store's write lock: this process's SQLite writers take turns instead of failing.

SQLite's busy handler is switched off on every connection here, so a writer
that meets another's transaction fails at once with "database is locked"; only
the store's own lock keeps these tests passing. PostgreSQL takes no such lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from idflow.errors import StoreError
from idflow.store.database import Store
from tests.integration.store.notes import create_notes, insert_note, stored_notes

JOIN_SECONDS = 30.0
# Long enough for the other thread to reach its BEGIN while the lock is held.
OVERLAP_SECONDS = 0.2


@pytest.fixture
def notes(tmp_path: Path) -> Iterator[Store]:
    """A store with a scratch table whose writers never wait for another's SQLite lock."""
    # A busy timeout of 0: SQLite's handler is off, and the store's BEGIN
    # tries once (`store.database._begin_sqlite_transaction`).
    store = Store.open(f"sqlite:///{tmp_path / 'notes.db'}", sqlite_busy_timeout_ms=0)
    create_notes(store)
    yield store
    store.dispose()


def add(store: Store, name: str) -> None:
    with store.begin() as conn:
        insert_note(conn, name)


class Writer(threading.Thread):
    """A thread that keeps what its work raised, for the test to look at."""

    def __init__(self, work: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.work()
        except BaseException as exc:
            self.error = exc

    def finish(self) -> None:
        self.join(JOIN_SECONDS)
        assert not self.is_alive(), "the thread is stuck"
        if self.error is not None:
            raise self.error


def test_without_the_store_a_second_writer_fails_at_once(notes: Store) -> None:
    # The set-up these tests rely on: two writers that bypass the store meet.
    with notes.engine.connect() as first, notes.engine.connect() as second:
        insert_note(first, "first")
        with pytest.raises(OperationalError, match="database is locked"):
            insert_note(second, "second")
        first.rollback()


def test_a_write_waits_for_a_batch_on_another_thread_and_both_commit(
    notes: Store,
) -> None:
    batch_open = threading.Event()
    writer_going = threading.Event()

    def batch() -> None:
        with notes.batch(), notes.begin() as conn:
            insert_note(conn, "batch")
            batch_open.set()
            writer_going.wait(JOIN_SECONDS)
            time.sleep(OVERLAP_SECONDS)

    def write() -> None:
        batch_open.wait(JOIN_SECONDS)
        writer_going.set()
        add(notes, "begin")

    threads = [Writer(batch), Writer(write)]
    for thread in threads:
        thread.finish()

    assert stored_notes(notes) == ["batch", "begin"]


def test_a_batch_waits_for_a_write_on_another_thread_and_both_commit(
    notes: Store,
) -> None:
    write_open = threading.Event()
    batch_going = threading.Event()

    def write() -> None:
        with notes.begin() as conn:
            insert_note(conn, "begin")
            write_open.set()
            batch_going.wait(JOIN_SECONDS)
            time.sleep(OVERLAP_SECONDS)

    def batch() -> None:
        write_open.wait(JOIN_SECONDS)
        batch_going.set()
        with notes.batch():
            add(notes, "batch")

    threads = [Writer(write), Writer(batch)]
    for thread in threads:
        thread.finish()

    assert stored_notes(notes) == ["batch", "begin"]


def test_many_threads_writing_alone_and_in_batches_all_commit(notes: Store) -> None:
    def alone(prefix: str) -> Callable[[], None]:
        def work() -> None:
            for n in range(40):
                add(notes, f"{prefix}-{n:02}")

        return work

    def batched(prefix: str) -> Callable[[], None]:
        def work() -> None:
            for start in range(0, 40, 5):
                with notes.batch():
                    for n in range(start, start + 5):
                        add(notes, f"{prefix}-{n:02}")
                    # A flush commits midway and frees the lock until next use.
                    notes.flush()

        return work

    threads = [
        Writer(alone("a")),
        Writer(alone("b")),
        Writer(batched("c")),
        Writer(batched("d")),
    ]
    for thread in threads:
        thread.finish()

    assert len(stored_notes(notes)) == 160


def test_failed_writes_hand_the_lock_back(notes: Store) -> None:
    def fail_both_ways() -> None:
        with pytest.raises(RuntimeError), notes.begin() as conn:
            insert_note(conn, "rolled back")
            raise RuntimeError("the block fails")
        with (
            pytest.raises(StoreError, match="FOREIGN KEY"),
            notes.batch(),
            notes.begin() as conn,
        ):
            conn.execute(text("INSERT INTO pins VALUES ('missing')"))

    # The failing thread stays alive, as an owner of the lock would.
    failed = threading.Event()
    done = threading.Event()

    def failing() -> None:
        try:
            fail_both_ways()
        finally:
            failed.set()
            done.wait(JOIN_SECONDS)

    owner = Writer(failing)
    failed.wait(JOIN_SECONDS)
    try:
        Writer(lambda: add(notes, "after")).finish()
    finally:
        done.set()
    owner.finish()

    assert stored_notes(notes) == ["after"]


def test_reads_do_not_wait_for_a_writer(notes: Store) -> None:
    add(notes, "committed")
    batch_open = threading.Event()
    read_done = threading.Event()

    def batch() -> None:
        with notes.batch():
            add(notes, "uncommitted")
            batch_open.set()
            read_done.wait(JOIN_SECONDS)

    writer = Writer(batch)
    batch_open.wait(JOIN_SECONDS)
    seen: list[str] = []

    def read() -> None:
        with notes.connect() as conn:
            seen.extend(r[0] for r in conn.execute(text("SELECT name FROM notes")))

    try:
        Writer(read).finish()
    finally:
        read_done.set()
    writer.finish()

    assert seen == ["committed"]


@pytest.mark.postgres
def test_postgresql_writers_do_not_take_turns(pg_store: Store) -> None:
    first_open = threading.Event()
    second_open = threading.Event()

    def first() -> None:
        with pg_store.begin() as conn:
            conn.execute(text("SELECT 1"))
            first_open.set()
            assert second_open.wait(JOIN_SECONDS), "the second writer never began"

    def second() -> None:
        first_open.wait(JOIN_SECONDS)
        with pg_store.begin() as conn:
            conn.execute(text("SELECT 1"))
            second_open.set()

    threads = [Writer(first), Writer(second)]
    for thread in threads:
        thread.finish()


def test_a_writer_waits_for_another_processs_lock_in_short_steps(
    sqlite_file_store: Store,
) -> None:
    # Another process's write transaction, as far as the store can tell: a
    # connection of its own, outside the store and its in-process lock.
    path = sqlite_file_store.engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    released: list[float] = []

    def release() -> None:
        holder.rollback()
        released.append(time.monotonic())

    # Released 240 ms in: SQLite's handler, which sleeps 1, 2, 5, 10, 15, 20,
    # 25, 25, 25, 50, 50 and then 100 ms between its tries, is then asleep
    # until about 330 ms.
    timer = threading.Timer(0.24, release)
    started = time.monotonic()
    timer.start()
    try:
        with sqlite_file_store.begin() as conn:
            began = time.monotonic()
            # The transaction's own statements keep SQLite's busy timeout.
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        timer.join(JOIN_SECONDS)
        holder.close()

    assert began - started >= 0.24
    # The store tries every half millisecond.
    assert began - released[0] < 0.04
