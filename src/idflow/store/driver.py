"""Hot-path statements: built with SQLAlchemy Core, compiled once, run on the driver.

SQLAlchemy's execution layer costs tens of microseconds per statement (an
execution context, parameter and result set-up, event dispatch), several times
what SQLite itself needs for a lookup by primary key. Every flow run executes
the same handful of statements, so that cost bounded runs per second (see
docs/decisions/0007-engine-performance.md). A `DriverStatement` keeps the
statement a Core construct, compiles it once per dialect, and executes it on the
driver connection under the caller's `Connection`, inside its transaction.

What a caller sees does not change: parameters and columns go through the type
processors SQLAlchemy would apply (JSON, booleans), a connection not yet in a
transaction begins one as SQLAlchemy's autobegin would, and a driver error comes
out as the `DBAPIError` subclass SQLAlchemy would raise, a lost connection
invalidated. Only statements every run or every audit event executes belong
here; the rest of the store keeps `Connection.execute`.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, SelectBase

_Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled for one dialect.

    Attributes:
        bind_names: the parameter names in the order the SQL binds them.
        bind_defaults: values bound in the statement itself, such as a LIMIT;
            callers give the rest.
        bind_processors: (position, processor) for the parameters that need
            converting; most are bound as they are.
        column_processors: (position, processor) likewise for result columns.
    """

    sql: str
    positional: bool
    bind_names: tuple[str, ...]
    bind_defaults: Mapping[str, Any]
    bind_processors: tuple[tuple[int, _Processor], ...]
    row_type: Callable[..., Any] | None
    column_processors: tuple[tuple[int, _Processor], ...]

    def arguments(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        if self.bind_defaults:
            params = {**self.bind_defaults, **params}
        values = [params[name] for name in self.bind_names]
        for position, process in self.bind_processors:
            values[position] = process(values[position])

        if self.positional:
            return values
        return dict(zip(self.bind_names, values, strict=True))

    def row(self, values: Sequence[Any]) -> Any:
        assert self.row_type is not None, "only a SELECT returns rows"
        converted = list(values)
        for position, process in self.column_processors:
            converted[position] = process(converted[position])

        return self.row_type(*converted)


class DriverStatement:
    """A Core statement run straight on the driver connection of a `Connection`.

    It takes plain bind parameters only (no expanding `IN` lists), and columns
    whose result processors do not depend on the driver's type codes, as is so
    for the strings, integers, booleans and JSON of idflow's tables. The SQL is
    compiled once per dialect name, driver and set of parameter names: these
    statements render the same for every server version.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[tuple[str, str, frozenset[str]], _Compiled] = {}

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run the statement with these parameters.

        Args:
            conn: the connection, usually inside the caller's transaction.
            params: a value for every bind parameter, by name.

        Returns:
            The number of rows the driver reports as changed.

        Raises:
            DBAPIError: the driver refused the statement, wrapped as SQLAlchemy
                wraps it (`IntegrityError`, `OperationalError`, ...).
        """
        compiled = self._compiled_for(conn.dialect, params)
        cursor = _execute(conn, compiled.sql, compiled.arguments(params))
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row of parameters, in one driver call.

        Every row must name the same parameters.

        Raises:
            DBAPIError: as `execute` does.
        """
        if not rows:
            return
        compiled = self._compiled_for(conn.dialect, rows[0])
        arguments = [compiled.arguments(params) for params in rows]
        _execute(conn, compiled.sql, arguments, many=True).close()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run a SELECT and return its first row, or None when it has none.

        The row is a named tuple whose columns read as attributes, as on
        SQLAlchemy's `Row`, so one conversion function serves both.

        Raises:
            DBAPIError: as `execute` does.
        """
        compiled = self._compiled_for(conn.dialect, params)
        cursor = _execute(conn, compiled.sql, compiled.arguments(params))
        try:
            values = cursor.fetchone()
        finally:
            cursor.close()

        return None if values is None else compiled.row(values)

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Run a SELECT and return all its rows, as `first` returns one.

        Raises:
            DBAPIError: as `execute` does.
        """
        compiled = self._compiled_for(conn.dialect, params)
        cursor = _execute(conn, compiled.sql, compiled.arguments(params))
        try:
            values = cursor.fetchall()
        finally:
            cursor.close()

        return [compiled.row(row) for row in values]

    def _compiled_for(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        # Keyed by the parameter names too: like Connection.execute, an INSERT
        # names only the columns given, and the table's defaults fill the rest.
        key = (dialect.name, dialect.driver, frozenset(params))
        compiled = self._compiled.get(key)
        if compiled is None:
            # Two threads may both compile; setdefault keeps one, and both agree.
            compiled = self._compiled.setdefault(
                key, _compile(self._statement, dialect, sorted(params))
            )
        return compiled


def execute_driver_sql(conn: Connection, sql: str) -> None:
    """Run a fixed SQL text without parameters on the connection's driver.

    For statements such as SQLite's `BEGIN IMMEDIATE`, which SQLAlchemy's own
    `exec_driver_sql` would make cost more than the statement itself. No
    transaction is begun first.

    Raises:
        DBAPIError: the driver refused the statement.
    """
    _execute(conn, sql, (), autobegin=False).close()


def _compile(
    statement: ClauseElement, dialect: Dialect, column_keys: list[str]
) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=column_keys)
    assert isinstance(compiled, SQLCompiler), "DML and SELECT compile to SQL"
    # Bind names as the SQL spells them, anonymous ones (a LIMIT) included.
    binds = {name: bind for bind, name in compiled.bind_names.items()}
    assert not compiled.escaped_bind_names, "bind names must need no escaping"
    assert not any(bind.expanding for bind in binds.values()), "no expanding binds"

    names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(binds)
    defaults = {
        name: bind.effective_value for name, bind in binds.items() if not bind.required
    }
    bind_processors = _processors(
        binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )

    row_type: Callable[..., Any] | None = None
    column_processors: tuple[tuple[int, _Processor], ...] = ()
    if isinstance(statement, SelectBase):
        columns = list(statement.selected_columns)
        row_type = _row_type([str(column.key) for column in columns])
        column_processors = _processors(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in columns
        )

    return _Compiled(
        compiled.string,
        dialect.positional,
        names,
        defaults,
        bind_processors,
        row_type,
        column_processors,
    )


def _processors(
    processors: Iterable[_Processor | None],
) -> tuple[tuple[int, _Processor], ...]:
    return tuple(
        (position, process)
        for position, process in enumerate(processors)
        if process is not None
    )


def _row_type(keys: list[str]) -> Callable[..., Any]:
    return namedtuple("Row", keys)


def _execute(
    conn: Connection,
    sql: str,
    arguments: Any,
    *,
    autobegin: bool = True,
    many: bool = False,
) -> Any:
    if autobegin and not conn.in_transaction():
        # As SQLAlchemy's autobegin would before its first statement: the
        # SQLite BEGIN hook runs, and the caller's block owns the transaction.
        conn.begin()
    dbapi_connection = conn.connection.driver_connection
    assert dbapi_connection is not None, "a live Connection has a driver connection"
    cursor = dbapi_connection.cursor()
    try:
        if many:
            cursor.executemany(sql, arguments)
        else:
            cursor.execute(sql, arguments)
    except conn.dialect.loaded_dbapi.Error as exc:
        lost = conn.dialect.is_disconnect(exc, dbapi_connection, cursor)
        cursor.close()
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql,
            arguments,
            exc,
            conn.dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ) from exc

    return cursor
