"""Schema migrations: bring a database to this idflow's schema, or say it is behind.

The Alembic history lives in `store/migrations` and is configured here in
code, so no alembic.ini is needed and Alembic never touches logging set-up.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from idflow.errors import SchemaOutdated
from idflow.store.database import Store

logger = logging.getLogger(__name__)

_MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any fixed number serves: it names the one PostgreSQL advisory lock that keeps
# two processes from migrating the same database at once.
_MIGRATION_LOCK_KEY = 0x1DF10A


def upgrade(store: Store) -> None:
    """Apply every pending migration; do nothing when the schema is current.

    Args:
        store: the database to migrate.

    Raises:
        StoreError: a migration failed; its transaction was rolled back.
    """
    before = current_revision(store)
    if before == head_revision():
        return

    with store.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        command.upgrade(_alembic_config(conn), "head")

    logger.info(
        "Database %s migrated from revision %s to %s",
        store.url_for_display,
        before,
        head_revision(),
        extra={"event_name": "schema_migrated"},
    )


def current_revision(store: Store) -> str | None:
    """Return the revision the database is at, or None when it was never migrated."""
    with store.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@functools.cache
def head_revision() -> str:
    """Return the newest revision of the migration history this idflow ships."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "the migration history is empty"
    return head


def check_schema(store: Store) -> None:
    """Make sure the database schema is the one this idflow expects.

    Args:
        store: the database to check.

    Raises:
        SchemaOutdated: the database is not at the newest revision.
    """
    current = current_revision(store)
    head = head_revision()
    if current != head:
        raise SchemaOutdated(
            f"The database schema is at revision {current!r} but this idflow needs {head!r}; run `idflow migrate`."
        )


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection

    return config
