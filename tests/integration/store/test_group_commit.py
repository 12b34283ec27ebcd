"""Group commit on SQLite: `Store.batch` and the store thread that uses it.

Every test works on a scratch table of its own in a migrated SQLite file, and
looks at what another connection sees, which is what durability means here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import pytest
from sqlalchemy import event, text

from idflow.errors import StoreError
from idflow.store.database import Store
from idflow.store.group_commit import GroupCommitThread
from tests.integration.store.notes import create_notes, insert_note, stored_notes


@pytest.fixture
def notes(sqlite_file_store: Store) -> Store:
    create_notes(sqlite_file_store)
    return sqlite_file_store


@pytest.fixture
def commits(notes: Store) -> Iterator[list[int]]:
    """The commits the engine makes, one entry each."""
    made: list[int] = []

    def count(_conn: object) -> None:
        made.append(1)

    event.listen(notes.engine, "commit", count)
    yield made
    event.remove(notes.engine, "commit", count)


def add(store: Store, name: str) -> Callable[[], str]:
    def work() -> str:
        with store.begin() as conn:
            insert_note(conn, name)
        return name

    return work


def test_a_batch_commits_once_and_shows_nothing_before(
    notes: Store, commits: list[int]
) -> None:
    with notes.batch():
        add(notes, "a")()
        add(notes, "b")()
        assert stored_notes(notes) == []
        with notes.connect() as conn:
            # Reads in the batch see its own writes.
            seen = conn.execute(text("SELECT count(*) FROM notes")).scalar_one()
        assert seen == 2

    assert stored_notes(notes) == ["a", "b"]
    assert len(commits) == 1


def test_a_failing_block_rolls_back_alone(notes: Store) -> None:
    with notes.batch():
        add(notes, "kept")()
        with pytest.raises(RuntimeError), notes.begin() as conn:
            conn.execute(text("INSERT INTO notes VALUES ('dropped')"))
            raise RuntimeError("the block fails")
        add(notes, "also kept")()

    assert stored_notes(notes) == ["also kept", "kept"]


def test_work_after_commit_waits_for_the_commit(notes: Store) -> None:
    seen: list[list[str]] = []
    with notes.batch():
        add(notes, "a")()
        notes.after_commit(lambda: seen.append(stored_notes(notes)))
        assert seen == []
    assert seen == [["a"]]

    # Outside a batch there is nothing to wait for.
    notes.after_commit(lambda: seen.append(["now"]))
    assert seen[-1] == ["now"]


def test_work_after_commit_is_dropped_when_the_batch_rolls_back(
    notes: Store,
) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError), notes.batch():
        add(notes, "a")()
        notes.after_commit(lambda: ran.append("ran"))
        raise RuntimeError("the batch fails")
    assert ran == []
    assert stored_notes(notes) == []


def test_flush_commits_early_and_frees_the_write_lock(notes: Store) -> None:
    with notes.batch():
        add(notes, "before")()
        notes.flush()
        assert stored_notes(notes) == ["before"]
        # Another connection can take the write lock while the batch waits.
        with notes.engine.connect() as other:
            other.exec_driver_sql("PRAGMA busy_timeout=0")
            other.execute(text("INSERT INTO notes VALUES ('other')"))
            other.commit()
        add(notes, "after")()
    assert stored_notes(notes) == ["after", "before", "other"]


def test_a_failed_commit_loses_the_whole_batch(notes: Store) -> None:
    def orphan_pin() -> None:
        with notes.begin() as conn:
            conn.execute(text("INSERT INTO pins VALUES ('missing')"))

    with pytest.raises(StoreError, match="FOREIGN KEY"), notes.batch():
        add(notes, "a")()
        orphan_pin()
    assert stored_notes(notes) == []

    # The store is usable again afterwards.
    add(notes, "b")()
    assert stored_notes(notes) == ["b"]


class HeldStoreThread:
    """A store thread whose first job waits, so the jobs behind it queue up."""

    def __init__(self, store: Store) -> None:
        self.thread = GroupCommitThread(store)
        self.release = threading.Event()
        started = threading.Event()

        def hold() -> None:
            started.set()
            self.release.wait(10)

        self.first = self.thread.submit(hold)
        started.wait(10)

    def run(self) -> None:
        self.release.set()
        self.first.result(10)


@pytest.fixture
def held(notes: Store) -> Iterator[HeldStoreThread]:
    held = HeldStoreThread(notes)
    yield held
    held.release.set()
    held.thread.shutdown()


def test_queued_writes_share_one_commit(
    notes: Store, commits: list[int], held: HeldStoreThread
) -> None:
    futures = [held.thread.submit(add(notes, f"n{i}")) for i in range(10)]
    held.run()

    assert [f.result(10) for f in futures] == [f"n{i}" for i in range(10)]
    assert stored_notes(notes) == sorted(f"n{i}" for i in range(10))
    assert len(commits) == 1


def test_no_job_hears_of_success_before_its_commit(
    notes: Store, held: HeldStoreThread
) -> None:
    first = held.thread.submit(add(notes, "first"))
    state: dict[str, object] = {}

    def look() -> None:
        # Runs after `first` in the same batch, before the batch commits.
        state["first answered"] = first.done()
        state["first committed"] = stored_notes(notes)

    second = held.thread.submit(look)
    held.run()
    second.result(10)

    assert state == {"first answered": False, "first committed": []}
    assert first.result(10) == "first"


def test_a_failing_job_keeps_its_error_and_the_others_their_writes(
    notes: Store, held: HeldStoreThread
) -> None:
    good = held.thread.submit(add(notes, "good"))
    duplicate = held.thread.submit(add(notes, "good"))
    later = held.thread.submit(add(notes, "later"))
    held.run()

    assert good.result(10) == "good"
    with pytest.raises(StoreError, match="UNIQUE"):
        duplicate.result(10)
    assert later.result(10) == "later"
    assert stored_notes(notes) == ["good", "later"]


def test_a_failed_group_commit_fails_every_job_in_it(
    notes: Store, held: HeldStoreThread
) -> None:
    def orphan_pin() -> str:
        with notes.begin() as conn:
            conn.execute(text("INSERT INTO pins VALUES ('missing')"))
        return "pinned"

    def count() -> int:
        with notes.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM notes")).scalar_one())

    futures: list[Future[str]] = [
        held.thread.submit(add(notes, "a")),
        held.thread.submit(orphan_pin),
        held.thread.submit(add(notes, "b")),
    ]
    read = held.thread.submit(count)
    held.run()

    # The read saw rows the failed commit then lost, so it fails as well.
    for future in [*futures, read]:
        with pytest.raises(StoreError, match="FOREIGN KEY"):
            future.result(10)
    assert stored_notes(notes) == []


def test_a_flush_keeps_what_it_committed_when_the_batch_fails(
    notes: Store, held: HeldStoreThread
) -> None:
    def flushing() -> str:
        add(notes, "flushed")()
        notes.flush()
        return "flushed"

    def orphan_pin() -> None:
        with notes.begin() as conn:
            conn.execute(text("INSERT INTO pins VALUES ('missing')"))

    before = held.thread.submit(add(notes, "before"))
    flushed = held.thread.submit(flushing)
    failing = held.thread.submit(orphan_pin)
    held.run()

    assert before.result(10) == "before"
    assert flushed.result(10) == "flushed"
    with pytest.raises(StoreError):
        failing.result(10)
    assert stored_notes(notes) == ["before", "flushed"]


def test_shutdown_runs_what_was_queued_and_refuses_more(notes: Store) -> None:
    thread = GroupCommitThread(notes)
    futures = [thread.submit(add(notes, f"n{i}")) for i in range(5)]
    thread.shutdown(wait=True)

    assert all(f.done() for f in futures)
    assert len(stored_notes(notes)) == 5
    with pytest.raises(RuntimeError, match="shut down"):
        thread.submit(add(notes, "late"))


def test_coroutines_awaiting_the_store_thread_get_their_answers_after_the_commit(
    notes: Store, commits: list[int], held: HeldStoreThread
) -> None:
    async def main() -> list[object]:
        def fail() -> None:
            raise LookupError("no such note")

        waiting = [
            asyncio.ensure_future(held.thread.run(add(notes, f"n{i}")))
            for i in range(5)
        ]
        failing = asyncio.ensure_future(held.thread.run(fail))
        await asyncio.sleep(0.05)
        # Queued behind the held job: nothing has run, nothing is answered.
        assert not any(w.done() for w in [*waiting, failing])
        held.release.set()
        answers: list[object] = list(await asyncio.gather(*waiting))
        with pytest.raises(LookupError, match="no such note"):
            await failing
        answers.append(stored_notes(notes))
        return answers

    answers = asyncio.run(main())
    held.first.result(10)

    assert answers == [*(f"n{i}" for i in range(5)), [f"n{i}" for i in range(5)]]
    assert len(commits) == 1


def test_a_coroutine_that_gave_up_is_skipped(
    notes: Store, held: HeldStoreThread
) -> None:
    async def main() -> None:
        abandoned = asyncio.ensure_future(held.thread.run(add(notes, "abandoned")))
        kept = asyncio.ensure_future(held.thread.run(add(notes, "kept")))
        await asyncio.sleep(0.01)
        abandoned.cancel()
        held.release.set()
        assert await kept == "kept"
        with pytest.raises(asyncio.CancelledError):
            await abandoned

    asyncio.run(main())
    assert stored_notes(notes) == ["kept"]


def test_shutdown_can_cancel_what_has_not_started(
    notes: Store, held: HeldStoreThread
) -> None:
    async def main() -> None:
        queued_thread = held.thread.submit(add(notes, "from a thread"))
        queued_loop = asyncio.ensure_future(held.thread.run(add(notes, "from a loop")))
        await asyncio.sleep(0.01)
        stopping = asyncio.get_running_loop().run_in_executor(
            None, lambda: held.thread.shutdown(wait=False, cancel_futures=True)
        )
        await stopping
        held.release.set()
        with pytest.raises(asyncio.CancelledError):
            await queued_loop
        assert queued_thread.cancelled()

    asyncio.run(main())
    held.first.result(10)
    held.thread.shutdown()
    assert stored_notes(notes) == []
