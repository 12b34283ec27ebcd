"""Alembic environment for idflow: migrates the connection a Store hands over.

`idflow.store.migrate` passes an open connection in `config.attributes`, so an
in-memory SQLite database is migrated in place. Tools that run Alembic directly
may set `sqlalchemy.url` instead. Logging is left as the application set it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from idflow.store.database import Store
from idflow.store.tables import metadata


def _migrate(connection: Connection) -> None:
    # SQLite alters a table by copying it, which Alembic does in batch mode.
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run() -> None:
    if context.is_offline_mode():
        raise RuntimeError("idflow migrations run online only, against a database.")

    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _migrate(connection)
        return

    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("Give Alembic a connection or a sqlalchemy.url to migrate.")
    store = Store.open(url)
    try:
        with store.begin() as conn:
            _migrate(conn)
    finally:
        store.dispose()


_run()
