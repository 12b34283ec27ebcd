"""The database handle: one SQLAlchemy engine per store, opened from a URL.

`Store` is the only object that opens connections. It sets up SQLite for a
single busy process (WAL, immediate write transactions, one write transaction
of the process at a time) and PostgreSQL through psycopg 3, serialises JSON with
orjson, and turns driver failures that escape a transaction into `StoreError`.
Queries live in the entity modules beside it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, RootTransaction, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import StaticPool

from idflow.errors import ConfigurationError, StoreBusy, StoreError
from idflow.store.driver import execute_driver_sql

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000

# Statements run on every new SQLite connection, before its busy timeout. WAL
# lets readers work while one writer commits; NORMAL skips the fsync per commit,
# which WAL makes safe against corruption (a power cut may lose only the last
# commits).
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)
# SQLite's code for "another connection holds the lock" (the low byte of the
# extended codes, such as SQLITE_BUSY_SNAPSHOT).
_SQLITE_BUSY = 5
# How long a writer sleeps between tries at a write lock another connection
# holds. SQLite's own busy handler sleeps 1, 2, 5, 10, ... up to 100 ms between
# its tries, so a writer behind a busy one often woke long after the lock was
# free: the record writer's batches waited hundreds of milliseconds behind the
# server's store thread (bench/RESULTS.md, the mixed window of 2026-12-04).
LOCK_RETRY_SECONDS = 0.0005

# The execution option that tells the SQLite "begin" hook which BEGIN to emit.
_BEGIN_OPTION = "idflow_sqlite_begin"

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg"}


def _dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


class Store:
    """An open database: hands out connections and transactions.

    Create one per process with `Store.open` and share it; it is safe to use
    from several threads, except in-memory SQLite, which has a single connection.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._is_sqlite = engine.dialect.name == "sqlite"
        self._in_memory = self._is_sqlite and _is_in_memory(engine.url)
        self._batches = _ThreadBatch()
        # SQLite lets one transaction write at a time. Threads of this process
        # that wait for it in SQLite's busy handler sleep in steps of
        # milliseconds and may give up after the busy timeout; waiting here
        # instead, they wake as soon as the writer before them ends. Reentrant,
        # so a thread can never wait for itself: a write begun while it holds
        # the lock goes on to SQLite and its busy timeout, as it would without.
        # In-memory SQLite has one shared connection and no second writer.
        self._write_lock: WriteLock | None = None
        if self._is_sqlite and not self._in_memory:
            self._write_lock = WriteLock()

    @classmethod
    def open(
        cls,
        url: str,
        *,
        sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
        sqlite_autocheckpoint_pages: int | None = None,
    ) -> Store:
        """Open a store for a database URL; no connection is made yet.

        Args:
            url: `sqlite:///path/to/file.db`, `sqlite://` for a private in-memory
                database, or a PostgreSQL URL (`postgresql://`, `postgres://` or
                `postgresql+psycopg://`), always driven by psycopg 3.
            sqlite_busy_timeout_ms: how long SQLite's busy handler lets a
                statement wait for another process's write lock before it
                fails with `StoreBusy`; 0 fails at once, for a caller that
                waits in steps of its own.
            sqlite_autocheckpoint_pages: the WAL size, in pages, at which a
                commit checkpoints it before returning; SQLite's 1,000 by
                default. For a process whose `WalCheckpointer` thread does
                that work (`store.checkpoints`).

        Returns:
            The store.

        Raises:
            ConfigurationError: the URL is malformed or names another database.
        """
        parsed = _parse_url(url)
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(
                parsed, sqlite_busy_timeout_ms, sqlite_autocheckpoint_pages
            )
        else:
            engine = create_engine(
                parsed,
                json_serializer=_dump_json,
                json_deserializer=orjson.loads,
                pool_pre_ping=True,
            )

        return cls(engine)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for migrations and tooling."""
        return self._engine

    @property
    def dialect_name(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._engine.dialect.name

    @property
    def in_memory(self) -> bool:
        """True for `sqlite://`: one connection, shared by every thread in turn."""
        return self._in_memory

    @property
    def url_for_display(self) -> str:
        """The database URL with any password replaced by `***`, safe to log."""
        return self._engine.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """Run a block in one write transaction.

        The transaction commits when the block ends and rolls back when it
        raises. On SQLite it starts with `BEGIN IMMEDIATE`, so a transaction
        that reads before it writes waits for the lock instead of failing, and
        it first waits for the write transactions of this process's other
        threads to end (the store's write lock). Inside a `batch` on the same
        thread, the block is a savepoint of the batch's transaction instead: it
        rolls back alone, commits with the batch, and takes no lock of its own.

        Yields:
            The connection, already inside its transaction.

        Raises:
            StoreError: the database failed to run a statement or to commit.
        """
        batch = self._batches.current
        if batch is not None:
            with batch.savepoint() as conn:
                yield conn
            return
        try:
            with self._engine.connect() as conn:
                if self._is_sqlite:
                    conn.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
                # The lock is taken before BEGIN and given back after the
                # COMMIT or ROLLBACK, so it covers the whole transaction.
                with self._write_lock or nullcontext(), conn.begin():
                    yield conn
        except DBAPIError as exc:
            raise _store_error(exc) from exc

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Open a connection for reads; anything left uncommitted rolls back.

        Inside a `batch`, reads go to the batch's connection, so they see what
        the batch wrote before. Outside one no lock is taken: with WAL, readers
        never wait for the writer.

        Yields:
            The connection; it begins a transaction on first use.

        Raises:
            StoreError: the database failed to run a statement.
        """
        batch = self._batches.current
        if batch is not None:
            with batch.reading() as conn:
                yield conn
            return
        try:
            with self._engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise _store_error(exc) from exc

    @contextmanager
    def batch(self) -> Iterator[WriteBatch]:
        """Let this thread's transactions share one commit until the block ends.

        Group commit: on SQLite a commit costs more than a short flow run's
        statements, and every commit is paid on the one writer, so the store
        thread runs queued work in a batch. Each `begin` inside is a savepoint,
        atomic on its own; the batch commits once at the end. Nothing in it is
        durable, or visible to other connections, before then; `after_commit`
        defers what must wait for that, and `flush` commits early (a run about
        to wait on the network). A batch inside a batch joins the outer one.

        Yields:
            The batch, to count its commits.

        Raises:
            StoreError: the final commit failed; everything since the last
                flush is rolled back.
        """
        if self._batches.current is not None:
            yield self._batches.current
            return
        batch = WriteBatch(self, self._write_lock)
        self._batches.current = batch
        try:
            yield batch
        except BaseException:
            self._batches.current = None
            batch.close(commit=False)
            raise
        self._batches.current = None
        batch.close(commit=True)

    def after_commit(self, work: Callable[[], object]) -> None:
        """Call `work` once what this thread wrote so far is committed.

        Outside a batch that is now; inside one, after its next commit. Work
        queued in a batch that rolls back is dropped.
        """
        batch = self._batches.current
        if batch is None:
            work()
        else:
            batch.pending.append(work)

    def flush(self) -> None:
        """Commit this thread's batch now, if it has one; a no-op outside a batch.

        The batch stays open and begins its next transaction on first use, so
        the write lock is not held in between.

        Raises:
            StoreError: the commit failed.
        """
        batch = self._batches.current
        if batch is not None:
            batch.commit()

    def dispose(self) -> None:
        """Close every pooled connection; the store reconnects if used again."""
        self._engine.dispose()

    @property
    def write_activity(self) -> tuple[int, int]:
        """This process's write transactions on a SQLite file: how many began, how many are open.

        Read without the lock, as a hint (`services.run_recorder` uses it to
        tell whether the store thread is writing). (0, 0) where no write lock
        is kept: PostgreSQL, in-memory SQLite.
        """
        lock = self._write_lock
        return (0, 0) if lock is None else (lock.taken, lock.held)


class WriteLock:
    """The store's in-process write lock on a SQLite file, counting its use.

    A reentrant lock; `taken` counts every acquisition and `held` the ones not
    yet released, both changed only by the holder.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.taken = 0
        self.held = 0

    def acquire(self) -> None:
        """Wait for the lock and take it."""
        self._lock.acquire()
        self.taken += 1
        self.held += 1

    def release(self) -> None:
        """Give the lock back."""
        self.held -= 1
        self._lock.release()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()


class _ThreadBatch(threading.local):
    """The batch the current thread has open, if any."""

    current: WriteBatch | None = None


class WriteBatch:
    """One thread's shared transaction, opened by `Store.batch`.

    It keeps one pooled connection for the whole batch, begins its transaction
    on first use (again after each commit), and gives every `begin` a savepoint.
    Savepoints are sent straight to the driver: through SQLAlchemy each costs
    about as much as a short statement, and a batch sends two per run. While a
    transaction is open the batch holds the store's write lock, if it has one;
    each commit and the final rollback give it back.

    Attributes:
        outcomes: whether each commit so far (flushes included) succeeded; the
            writes of a block that ended before commit `n` stand or fall with
            `outcomes[n]`.
        pending: work waiting for the next commit.
    """

    def __init__(self, store: Store, write_lock: WriteLock | None = None) -> None:
        self._store = store
        self._write_lock = write_lock
        self._stack = ExitStack()
        self._conn: Connection | None = None
        self._transaction: RootTransaction | None = None
        self._depth = 0
        self.outcomes: list[bool] = []
        self.pending: list[Callable[[], object]] = []

    @contextmanager
    def savepoint(self) -> Iterator[Connection]:
        """A block of the batch that rolls back alone when it raises."""
        try:
            conn = self._open()
        except DBAPIError as exc:
            # Its BEGIN: on SQLite, where another process's lock is met.
            raise _store_error(exc) from exc
        self._depth += 1
        name = f"idflow_batch_{self._depth}"
        try:
            execute_driver_sql(conn, f"SAVEPOINT {name}")
            try:
                yield conn
            except BaseException:
                execute_driver_sql(conn, f"ROLLBACK TO {name}")
                execute_driver_sql(conn, f"RELEASE {name}")
                raise
            execute_driver_sql(conn, f"RELEASE {name}")
        except DBAPIError as exc:
            raise _store_error(exc) from exc
        finally:
            self._depth -= 1

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """The batch's connection for reads, in its transaction."""
        try:
            yield self._open()
        except DBAPIError as exc:
            raise _store_error(exc) from exc

    def next_commit(self) -> int | None:
        """The number of the commit that will end the open transaction.

        What ran in that transaction, reads included, stands or falls with it:
        a read may have seen writes the commit then loses. None when no
        transaction is open: everything so far has been committed.
        """
        return None if self._transaction is None else len(self.outcomes)

    def committed(self, commit_index: int | None) -> bool:
        """Whether writes held by commit number `commit_index` were kept.

        Past the last commit there was nothing left to commit, so they stand.
        """
        if commit_index is None or commit_index >= len(self.outcomes):
            return True
        return self.outcomes[commit_index]

    def commit(self) -> None:
        """Commit what the batch holds, then run the work that waited for it."""
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            try:
                transaction.commit()
            except DBAPIError as exc:
                self.outcomes.append(False)
                self.pending.clear()
                # A failed COMMIT leaves the transaction open on SQLite; end it,
                # so the batch's next use begins afresh.
                with suppress(DBAPIError):
                    transaction.rollback()
                raise _store_error(exc) from exc
            finally:
                self._release_write_lock()
            self.outcomes.append(True)
        pending, self.pending = self.pending, []
        for work in pending:
            try:
                work()
            except Exception:
                # The commit stands; a failing follow-up must not undo the
                # report of it to the batch's other jobs.
                logger.exception(
                    "Work queued for after a commit failed",
                    extra={"event_name": "store_after_commit_failed"},
                )

    def close(self, *, commit: bool) -> None:
        """End the batch: commit or roll back, and hand its connection back."""
        try:
            if commit:
                self.commit()
            elif self._transaction is not None:
                self.pending.clear()
                transaction, self._transaction = self._transaction, None
                try:
                    transaction.rollback()
                finally:
                    self._release_write_lock()
        finally:
            self._transaction = None
            self._conn = None
            self._stack.close()

    def _open(self) -> Connection:
        if self._conn is None:
            self._conn = self._stack.enter_context(self._store.engine.connect())
            if self._store.dialect_name == "sqlite":
                self._conn.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        if self._transaction is None:
            if self._write_lock is not None:
                self._write_lock.acquire()
            try:
                self._transaction = self._conn.begin()
            except BaseException:
                self._release_write_lock()
                raise
        return self._conn

    def _release_write_lock(self) -> None:
        # Called once for each transaction that ended, after its COMMIT or
        # ROLLBACK, on the batch's own thread (the lock's owner).
        if self._write_lock is not None:
            self._write_lock.release()


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError("The database URL is malformed.") from exc

    if parsed.drivername in _POSTGRES_SCHEMES:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in {"sqlite", "sqlite+pysqlite"}:
        return parsed
    raise ConfigurationError(
        f"Database scheme {parsed.drivername!r} is not supported; use sqlite or postgresql."
    )


def _is_in_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _sqlite_engine(
    url: URL, busy_timeout_ms: int, autocheckpoint_pages: int | None
) -> Engine:
    if _is_in_memory(url):
        # One shared connection, so every checkout sees the same database.
        engine = create_engine(
            url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            json_serializer=_dump_json,
            json_deserializer=orjson.loads,
        )
    else:
        assert url.database is not None
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Each SQLite connection keeps its own page cache; handing out the one
        # used last (LIFO) keeps that cache warm when several threads take
        # turns, where the default rotation threw it away at every switch.
        engine = create_engine(
            url,
            json_serializer=_dump_json,
            json_deserializer=orjson.loads,
            pool_use_lifo=True,
        )

    def prepare(dbapi_connection: Any, _record: Any) -> None:
        _prepare_sqlite_connection(
            dbapi_connection, busy_timeout_ms, autocheckpoint_pages
        )

    def begin(conn: Connection) -> None:
        _begin_sqlite_transaction(conn, busy_timeout_ms)

    event.listen(engine, "connect", prepare)
    event.listen(engine, "begin", begin)
    return engine


def _prepare_sqlite_connection(
    dbapi_connection: Any, busy_timeout_ms: int, autocheckpoint_pages: int | None
) -> None:
    # The sqlite3 module would otherwise issue BEGIN itself, late and never for
    # SAVEPOINT or DDL; _begin_sqlite_transaction takes over that job.
    dbapi_connection.isolation_level = None
    pragmas = [*_SQLITE_PRAGMAS, f"PRAGMA busy_timeout={busy_timeout_ms}"]
    if autocheckpoint_pages is not None:
        pragmas.append(f"PRAGMA wal_autocheckpoint={int(autocheckpoint_pages)}")
    cursor = dbapi_connection.cursor()
    try:
        for pragma in pragmas:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _begin_sqlite_transaction(conn: Connection, busy_timeout_ms: int) -> None:
    """Emit the transaction's BEGIN; a write waits for the lock in short steps.

    In WAL mode a writer meets another connection's lock only at its
    `BEGIN IMMEDIATE`: reads never wait, and a transaction holding the lock
    keeps it to its end. So that is the one statement tried in steps of
    `LOCK_RETRY_SECONDS`, with SQLite's busy handler off, for as long as the
    busy timeout would have allowed.

    Raises:
        DBAPIError: the driver's error; the lock was still taken at the end
            of the busy timeout, or the BEGIN failed otherwise.
    """
    # Straight to the driver: through exec_driver_sql, SQLAlchemy's execution
    # set-up would cost more than the BEGIN itself, once per transaction.
    begin = conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN")
    if begin != "BEGIN IMMEDIATE" or busy_timeout_ms == 0:
        execute_driver_sql(conn, begin)
        return
    deadline = time.monotonic() + busy_timeout_ms / 1000
    execute_driver_sql(conn, "PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                execute_driver_sql(conn, begin)
                return
            except DBAPIError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(LOCK_RETRY_SECONDS)
    finally:
        # The statements of the transaction keep SQLite's own wait.
        execute_driver_sql(conn, f"PRAGMA busy_timeout={busy_timeout_ms}")


def _is_busy(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == _SQLITE_BUSY


def _store_error(exc: DBAPIError) -> StoreError:
    first_line = str(exc.orig).splitlines()[0] if str(exc.orig) else ""
    name = type(exc.orig).__name__
    message = f"The database failed a statement: {name}: {first_line}."
    if _is_busy(exc):
        return StoreBusy(message)
    return StoreError(message)
