"""A scratch PostgreSQL database for one benchmark run, dropped afterwards.

Shared by the benchmark programs of this folder, which run as scripts, so it
is imported by its bare name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from idflow.store.database import Store


@contextmanager
def fresh_postgres(server_url: str, purpose: str) -> Iterator[str | None]:
    """Create a database on the server, yield its URL, and drop it afterwards.

    Args:
        server_url: any database of the server, to connect to as an admin.
        purpose: a word for the database's name, so runs of different programs
            never share one.

    Yields:
        The new database's URL, or None (with a line saying so) when no server
        answers at `server_url`.
    """
    server = make_url(server_url).update_query_dict({"connect_timeout": "3"})
    admin = Store.open(server.render_as_string(hide_password=False))
    name = f"idflow_bench_{purpose}_{os.getpid()}"
    try:
        _admin_statement(admin, f'CREATE DATABASE "{name}"')
    except OperationalError as exc:
        admin.dispose()
        first_line = str(exc.orig).strip().splitlines()[0]
        print(f"postgresql skipped: {server!s} is not reachable ({first_line})")
        yield None
        return

    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        _admin_statement(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _admin_statement(admin: Store, statement: str) -> None:
    # CREATE and DROP DATABASE refuse to run inside a transaction.
    with admin.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(statement))
