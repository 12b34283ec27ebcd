"""The SQL connector: parameterised queries against PostgreSQL, MySQL/MariaDB and SQLite.

The SQL text comes from the flow document and may not hold templates (the flow
validator refuses them); values from the context travel only in `parameters`,
bound as `:name` by SQLAlchemy and sent to the driver apart from the text. So a
context value can never change what a query does.

A read-only connector (the default) opens every connection read-only on the
server side: PostgreSQL `default_transaction_read_only`, MariaDB and MySQL
`SET SESSION TRANSACTION READ ONLY`, SQLite `mode=ro`. At most `maxRows` rows
come back, with `truncated` saying whether more were there. Network databases
are reached only at addresses the outbound guard allows; SQLite files only in
the folders the operator lists, since a path could otherwise name idflow's own
store.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import psycopg
import pymysql
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from idflow.connectors.base import (
    CallResult,
    ConnectorKind,
    Outbound,
    ResolvedConnector,
    text_field,
)
from idflow.connectors.config import ConnectorSettings
from idflow.connectors.outbound import resolve
from idflow.errors import ConnectorError, ConnectorTimedOut

PASSWORD_SECRET = "password"
MAX_ROWS_LIMIT = 10_000
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
_URLS = {
    "postgresql": "postgresql+psycopg://",
    "mysql": "mysql+pymysql://",
    "mariadb": "mysql+pymysql://",
    "sqlite": "sqlite://",
}


class SqlSettings(BaseModel):
    """The settings of a SQL connector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dialect: Literal["postgresql", "mysql", "mariadb", "sqlite"]
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    database: str | None = None
    username: str | None = None
    path: str | None = None
    readOnly: bool = True
    maxRows: int = Field(default=100, ge=1, le=MAX_ROWS_LIMIT)
    timeoutSeconds: float = Field(default=10.0, gt=0)


class EngineCache:
    """SQLAlchemy engines by connector version; connections are never pooled."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def engine_for(
        self, connector: ResolvedConnector, settings: ConnectorSettings, timeout: float
    ) -> Engine:
        """Return the engine of a connector, making it on first use."""
        # The timeout is part of the key: it is set on each connection made.
        key = f"{connector.cache_key}:{timeout:g}"
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = _make_engine(connector, settings, timeout)
                self._engines[key] = engine
        return engine

    def close(self) -> None:
        """Dispose of every engine."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def _make_engine(
    connector: ResolvedConnector, settings: ConnectorSettings, timeout: float
) -> Engine:
    config = connector.settings
    assert isinstance(config, SqlSettings)
    password = connector.secrets.get(PASSWORD_SECRET)

    def connect() -> Any:
        # Runs for every connection, so each one is checked against the guard.
        if config.dialect == "sqlite":
            return _connect_sqlite(config, settings)
        if not config.host:
            raise ConnectorError("A network SQL connector needs a 'host'.")
        port = config.port or _DEFAULT_PORTS[config.dialect]
        address = resolve(settings.outbound, config.host, port)[0]
        if config.dialect == "postgresql":
            return _connect_postgres(config, address, port, password, timeout)
        return _connect_mysql(config, address, port, password, timeout)

    return create_engine(_URLS[config.dialect], creator=connect, poolclass=NullPool)


def _connect_postgres(
    config: SqlSettings, address: str, port: int, password: str | None, timeout: float
) -> Any:
    options = f"-c statement_timeout={int(timeout * 1000)}"
    if config.readOnly:
        options += " -c default_transaction_read_only=on"
    # `hostaddr` is where to connect; `host` stays the name TLS verifies.
    return psycopg.connect(
        host=config.host,
        hostaddr=address,
        port=port,
        dbname=config.database,
        user=config.username,
        password=password,
        connect_timeout=max(1, int(timeout)),
        options=options,
    )


def _connect_mysql(
    config: SqlSettings, address: str, port: int, password: str | None, timeout: float
) -> Any:
    # TODO(limitation): MySQL connectors speak plain TCP; TLS can come once pymysql is given the server name apart from the checked address.
    return pymysql.connect(
        host=address,
        port=port,
        user=config.username or "",
        password=password or "",
        database=config.database,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        init_command="SET SESSION TRANSACTION READ ONLY" if config.readOnly else None,
    )


def _connect_sqlite(config: SqlSettings, settings: ConnectorSettings) -> Any:
    if not config.path:
        raise ConnectorError("A SQLite connector needs a 'path'.")
    path = Path(config.path).resolve()
    if not any(path.is_relative_to(folder) for folder in settings.sqlite_dirs):
        raise ConnectorError(
            f"SQLite file {config.path!r} is outside the folders in IDFLOW_CONNECTOR_SQLITE_DIRS."
        )
    if not path.exists():
        raise ConnectorError(f"SQLite file {config.path!r} does not exist.")
    mode = "ro" if config.readOnly else "rw"
    return sqlite3.connect(
        f"file:{path}?mode={mode}", uri=True, check_same_thread=False
    )


def run_query(
    connector: ResolvedConnector,
    query: str,
    parameters: Mapping[str, Any],
    io: Outbound,
) -> CallResult:
    """Run one statement with bound parameters and return its rows, capped.

    Raises:
        ConnectorError: the database could not be reached or refused the query.
        ConnectorTimedOut: the query ran past the timeout.
    """
    config = connector.settings
    assert isinstance(config, SqlSettings)
    assert io.engines is not None, "the connector runtime always passes its engines"
    engine = io.engines.engine_for(connector, io.settings, io.timeout)
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            if config.dialect == "sqlite":
                _limit_sqlite(conn.connection.dbapi_connection, started + io.timeout)
            result = conn.execute(text(query), dict(parameters))
            if result.returns_rows:
                columns = list(result.keys())
                fetched = result.fetchmany(config.maxRows + 1)
                rows = [_json_row(columns, row) for row in fetched[: config.maxRows]]
                truncated = len(fetched) > config.maxRows
                count = len(rows)
            else:
                columns, rows, truncated, count = [], [], False, result.rowcount
            if not config.readOnly:
                conn.commit()
    except ConnectorError:
        raise
    except DBAPIError as exc:
        if time.monotonic() - started >= io.timeout:
            raise ConnectorTimedOut(
                f"The query of {connector.name!r} ran past {io.timeout:g} seconds."
            ) from exc
        raise ConnectorError(_describe(connector, exc.orig)) from exc
    except SQLAlchemyError as exc:
        raise ConnectorError(
            f"The query of {connector.name!r} is unusable: {type(exc).__name__}."
        ) from exc

    value = {
        "rows": rows,
        "columns": columns,
        "rowCount": count,
        "truncated": truncated,
    }
    detail = {"connector": connector.name, "rowCount": count, "truncated": truncated}
    return CallResult(value, detail)


def _limit_sqlite(dbapi_connection: Any, deadline: float) -> None:
    # SQLite has no statement timeout; a progress handler that answers non-zero
    # interrupts the statement, checked every thousand virtual machine steps.
    dbapi_connection.set_progress_handler(
        lambda: int(time.monotonic() > deadline), 1000
    )


def _describe(connector: ResolvedConnector, orig: BaseException | None) -> str:
    # The driver's first line names the problem; later lines may quote values.
    first = str(orig).strip().splitlines()[0] if orig is not None and str(orig) else ""
    name = type(orig).__name__ if orig is not None else "Error"
    return f"The query of {connector.name!r} failed: {name}: {first}"


def _json_row(columns: list[str], row: Any) -> dict[str, Any]:
    return {name: _json_value(value) for name, value in zip(columns, row, strict=True)}


def _json_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def call(
    connector: ResolvedConnector, request: Mapping[str, Any], io: Outbound
) -> CallResult:
    """Run the step's query with its parameters."""
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise ConnectorError("The step's 'parameters' is not an object.")
    return run_query(
        connector, text_field(request, "query", required=True), parameters, io
    )


def probe(
    connector: ResolvedConnector, request: Mapping[str, Any], io: Outbound
) -> CallResult:
    """Run the given query, or `SELECT 1`, and report the rows."""
    query = text_field(request, "query") or "SELECT 1 AS ok"
    return run_query(connector, query, request.get("parameters") or {}, io)


KIND = ConnectorKind(
    name="sql",
    settings_model=SqlSettings,
    secret_names=frozenset({PASSWORD_SECRET}),
    call=call,
    probe=probe,
)
