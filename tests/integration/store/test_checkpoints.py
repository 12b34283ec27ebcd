"""WAL checkpoints on a thread: commits leave the WAL alone, the thread copies it back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from idflow.store.checkpoints import WalCheckpointer
from idflow.store.database import Store
from tests.integration.store.notes import create_notes, insert_note, stored_notes

# Far past what these tests write: no commit of theirs checkpoints by itself.
NEVER_PAGES = 1_000_000
INTERVAL_SECONDS = 0.02
# Each commit writes about this much, and the tests write 40 of them: 16 MB,
# four times SQLite's own threshold of 1,000 pages.
NOTE_BYTES = 400_000
COMMITS = 40


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(
        f"sqlite:///{tmp_path / 'notes.db'}", sqlite_autocheckpoint_pages=NEVER_PAGES
    )
    create_notes(store)
    yield store
    store.dispose()


def _write_notes(store: Store) -> None:
    for number in range(COMMITS):
        with store.begin() as conn:
            insert_note(conn, f"{number:03d}" + "x" * NOTE_BYTES)
        time.sleep(INTERVAL_SECONDS * 3)


def _wal_bytes(store: Store, tmp_path: Path) -> int:
    return (tmp_path / "notes.db-wal").stat().st_size


def test_commits_with_a_high_threshold_leave_the_wal_to_grow(
    store: Store, tmp_path: Path
) -> None:
    _write_notes(store)

    # The control for the test below: nothing copied the WAL back.
    assert _wal_bytes(store, tmp_path) > COMMITS * NOTE_BYTES


def test_the_checkpointer_copies_the_wal_back_so_it_starts_over_small(
    store: Store, tmp_path: Path
) -> None:
    checkpointer = WalCheckpointer(store, interval_seconds=INTERVAL_SECONDS)
    checkpointer.start()
    try:
        _write_notes(store)
    finally:
        checkpointer.stop()

    # The commits found the WAL copied back and wrote it from the start, so
    # the file never held more than a few of them (a loaded machine may hold
    # the thread back a round or two), where the control above holds all.
    assert _wal_bytes(store, tmp_path) < 8 * NOTE_BYTES
    assert checkpointer.rounds > 0
    assert len(stored_notes(store)) == COMMITS
    assert (tmp_path / "notes.db").stat().st_size > COMMITS * NOTE_BYTES


def test_only_a_sqlite_file_gets_a_checkpointer() -> None:
    store = Store.open("sqlite://")
    with pytest.raises(ValueError, match="Only a SQLite file has a WAL"):
        WalCheckpointer(store)


def test_stop_ends_the_thread_without_waiting_out_its_interval(
    store: Store,
) -> None:
    checkpointer = WalCheckpointer(store, interval_seconds=60)
    checkpointer.start()
    started = time.monotonic()

    checkpointer.stop()

    assert time.monotonic() - started < 5
    assert not checkpointer._thread.is_alive()
