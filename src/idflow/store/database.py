"""The database handle: one SQLAlchemy engine per store, opened from a URL.

`Store` is the only object that opens connections. It sets up SQLite for a
single busy process (WAL, immediate write transactions) and PostgreSQL through
psycopg 3, serialises JSON with orjson, and turns driver failures that escape a
transaction into `StoreError`. Queries live in the entity modules beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import StaticPool

from idflow.errors import ConfigurationError, StoreError
from idflow.store.driver import execute_driver_sql

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000

# Statements run on every new SQLite connection. WAL lets readers work while
# one writer commits; NORMAL skips the fsync per commit, which WAL makes safe
# against corruption (a power cut may lose only the last commits).
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
)

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

    @classmethod
    def open(cls, url: str) -> Store:
        """Open a store for a database URL; no connection is made yet.

        Args:
            url: `sqlite:///path/to/file.db`, `sqlite://` for a private in-memory
                database, or a PostgreSQL URL (`postgresql://`, `postgres://` or
                `postgresql+psycopg://`), always driven by psycopg 3.

        Returns:
            The store.

        Raises:
            ConfigurationError: the URL is malformed or names another database.
        """
        parsed = _parse_url(url)
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(parsed)
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
    def url_for_display(self) -> str:
        """The database URL with any password replaced by `***`, safe to log."""
        return self._engine.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """Run a block in one write transaction.

        The transaction commits when the block ends and rolls back when it
        raises. On SQLite it starts with `BEGIN IMMEDIATE`, so a transaction
        that reads before it writes waits for the lock instead of failing.

        Yields:
            The connection, already inside its transaction.

        Raises:
            StoreError: the database failed to run a statement or to commit.
        """
        try:
            with self._engine.connect() as conn:
                if self._is_sqlite:
                    conn.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
                with conn.begin():
                    yield conn
        except DBAPIError as exc:
            raise _store_error(exc) from exc

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Open a connection for reads; anything left uncommitted rolls back.

        Yields:
            The connection; it begins a transaction on first use.

        Raises:
            StoreError: the database failed to run a statement.
        """
        try:
            with self._engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise _store_error(exc) from exc

    def dispose(self) -> None:
        """Close every pooled connection; the store reconnects if used again."""
        self._engine.dispose()


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


def _sqlite_engine(url: URL) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    if in_memory:
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

    event.listen(engine, "connect", _prepare_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _prepare_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module would otherwise issue BEGIN itself, late and never for
    # SAVEPOINT or DDL; _begin_sqlite_transaction takes over that job.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _begin_sqlite_transaction(conn: Connection) -> None:
    # Straight to the driver: through exec_driver_sql, SQLAlchemy's execution
    # set-up would cost more than the BEGIN itself, once per transaction.
    execute_driver_sql(conn, conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


def _store_error(exc: DBAPIError) -> StoreError:
    first_line = str(exc.orig).splitlines()[0] if str(exc.orig) else ""
    name = type(exc.orig).__name__
    return StoreError(f"The database failed a statement: {name}: {first_line}.")
