"""The one Alembic history builds the declared schema on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from idflow.errors import SchemaOutdated
from idflow.runtime import Runtime
from idflow.settings import Settings
from idflow.store import migrate, tables
from idflow.store.database import Store
from tests.conftest import PostgresServer


def test_migrations_build_exactly_the_tables_the_models_declare(store: Store) -> None:
    with store.connect() as conn:
        context = MigrationContext.configure(conn)
        differences = compare_metadata(context, tables.metadata)

    assert differences == []


def test_migrated_store_is_at_the_head_revision(store: Store) -> None:
    assert migrate.current_revision(store) == migrate.head_revision()
    migrate.check_schema(store)


def test_upgrading_a_current_store_again_changes_nothing(store: Store) -> None:
    with store.connect() as conn:
        before = sorted(inspect(conn).get_table_names())

    migrate.upgrade(store)

    with store.connect() as conn:
        assert sorted(inspect(conn).get_table_names()) == before


@pytest.mark.postgres
def test_postgres_runtime_refuses_an_unmigrated_schema_and_names_the_fix(
    pg_server: PostgresServer,
) -> None:
    name = pg_server.new_database_name()
    pg_server.create_database(name)
    url = pg_server.url_for(name)
    try:
        with pytest.raises(SchemaOutdated, match="run `idflow migrate`"):
            Runtime.open(Settings(database_url=url))

        store = Store.open(url)
        try:
            migrate.upgrade(store)
        finally:
            store.dispose()
        runtime = Runtime.open(Settings(database_url=url))
        runtime.close()
    finally:
        pg_server.drop_database(name)


def test_sqlite_runtime_migrates_a_new_file_by_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"

    runtime = Runtime.open(Settings(database_url=url))
    try:
        assert migrate.current_revision(runtime.store) == migrate.head_revision()
    finally:
        runtime.close()
