"""Shared fixtures: migrated stores on SQLite and PostgreSQL, and record factories.

Store fixtures hand out a fresh, migrated database per test. PostgreSQL tests
clone a template migrated once per session; they are skipped with a reason when
no server answers, and fail instead when CI=true.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from idflow.clock import new_id, now_ms
from idflow.store import audit, migrate, projects, runs, tenants, users
from idflow.store.database import Store
from idflow.store.records import (
    AuditEvent,
    AuditType,
    KeyScope,
    ManagementKey,
    Project,
    Run,
    RunStatus,
    RunTrigger,
    Tenant,
    User,
)

PG_URL = os.environ.get(
    "IDFLOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_PROJECT_ID = "P2TESTPROJECT"


class PostgresServer:
    """The test PostgreSQL server: creates, clones and drops whole databases."""

    def __init__(self, url: str) -> None:
        self._url = make_url(url).update_query_dict({"connect_timeout": "5"})
        self._admin = Store.open(self._url.render_as_string(hide_password=False))
        self._counter = itertools.count()

    def check_reachable(self) -> None:
        with self._admin.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def new_database_name(self) -> str:
        return f"idflow_test_{os.getpid()}_{next(self._counter)}"

    def url_for(self, database: str) -> str:
        return self._url.set(database=database).render_as_string(hide_password=False)

    def create_database(self, name: str, template: str | None = None) -> None:
        statement = f'CREATE DATABASE "{name}"'
        if template is not None:
            statement += f' TEMPLATE "{template}"'
        self._run_outside_transaction(statement)

    def drop_database(self, name: str) -> None:
        self._run_outside_transaction(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def dispose(self) -> None:
        self._admin.dispose()

    def _run_outside_transaction(self, statement: str) -> None:
        with self._admin.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text(statement))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer(PG_URL)
    try:
        server.check_reachable()
    except OperationalError as exc:
        server.dispose()
        reason = f"PostgreSQL is not reachable at {make_url(PG_URL)!s}: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true requires it)")
        pytest.skip(f"{reason}; set IDFLOW_TEST_PG_URL to run these tests")

    yield server
    server.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> Iterator[str]:
    name = f"idflow_tpl_{os.getpid()}"
    pg_server.drop_database(name)
    pg_server.create_database(name)
    store = Store.open(pg_server.url_for(name))
    try:
        migrate.upgrade(store)
    finally:
        # A template cannot be cloned while anyone is connected to it.
        store.dispose()

    yield name
    pg_server.drop_database(name)


@pytest.fixture
def sqlite_store() -> Iterator[Store]:
    store = Store.open("sqlite://")
    migrate.upgrade(store)
    yield store
    store.dispose()


@pytest.fixture
def sqlite_file_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'idflow.db'}")
    migrate.upgrade(store)
    yield store
    store.dispose()


@pytest.fixture
def pg_store(pg_server: PostgresServer, pg_template: str) -> Iterator[Store]:
    name = pg_server.new_database_name()
    pg_server.create_database(name, template=pg_template)
    store = Store.open(pg_server.url_for(name))
    yield store
    store.dispose()
    pg_server.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Store:
    fixture = "sqlite_file_store" if request.param == "sqlite" else "pg_store"
    result: Store = request.getfixturevalue(fixture)
    return result


@pytest.fixture
def make_project(store: Store) -> Callable[..., Project]:
    def make(**fields: Any) -> Project:
        values = {"project_id": new_id("P"), "name": "Acme", "created_ms": now_ms()}
        project = Project(**(values | fields))
        with store.begin() as conn:
            projects.insert_project(conn, project)
        return project

    return make


@pytest.fixture
def make_key(
    store: Store, make_project: Callable[..., Project]
) -> Callable[..., ManagementKey]:
    def make(**fields: Any) -> ManagementKey:
        if "project_id" not in fields:
            fields["project_id"] = make_project().project_id
        key_id = new_id("K")
        values = {
            "key_id": key_id,
            "name": "ci key",
            "scope": KeyScope.FULL,
            "key_hash": f"hash-of-{key_id}",
            "created_ms": now_ms(),
        }
        key = ManagementKey(**(values | fields))
        with store.begin() as conn:
            projects.insert_key(conn, key)
        return key

    return make


@pytest.fixture
def make_user(store: Store) -> Callable[..., User]:
    def make(**fields: Any) -> User:
        user_id = new_id("U")
        values = {
            "project_id": TEST_PROJECT_ID,
            "user_id": user_id,
            "login_ids": (f"{user_id.lower()}@example.com",),
            "created_ms": now_ms(),
            "modified_ms": now_ms(),
        }
        user = User(**(values | fields))
        with store.begin() as conn:
            users.insert_user(conn, user)
        return user

    return make


@pytest.fixture
def make_tenant(store: Store) -> Callable[..., Tenant]:
    def make(**fields: Any) -> Tenant:
        values = {
            "project_id": TEST_PROJECT_ID,
            "tenant_id": new_id("T"),
            "name": "Tenant",
            "created_ms": now_ms(),
            "modified_ms": now_ms(),
        }
        tenant = Tenant(**(values | fields))
        with store.begin() as conn:
            tenants.insert_tenant(conn, tenant)
        return tenant

    return make


@pytest.fixture
def make_event(store: Store) -> Callable[..., AuditEvent]:
    def make(**fields: Any) -> AuditEvent:
        values = {
            "project_id": TEST_PROJECT_ID,
            "event_id": new_id("A"),
            "occurred_ms": now_ms(),
            "action": "UserCreated",
            "type": AuditType.INFO,
            "actor_id": "K-test",
        }
        event = AuditEvent(**(values | fields))
        with store.begin() as conn:
            audit.record_event(conn, event)
        return event

    return make


@pytest.fixture
def make_run(store: Store) -> Callable[..., Run]:
    def make(**fields: Any) -> Run:
        values = {
            "project_id": TEST_PROJECT_ID,
            "run_id": new_id("R"),
            "flow_id": "onboard-user",
            "flow_version": 1,
            "trigger": RunTrigger.API,
            "status": RunStatus.RUNNING,
            "started_ms": now_ms(),
        }
        run = Run(**(values | fields))
        with store.begin() as conn:
            runs.insert_run(conn, run)
        return run

    return make
