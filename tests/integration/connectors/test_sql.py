"""The SQL connector on SQLite, PostgreSQL and MariaDB: bound values, read-only, row cap.

MariaDB tests need a server at 127.0.0.1:3306 (IDFLOW_TEST_MYSQL_URL to change
it); they skip with the reason when none answers, and fail under CI=true.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from idflow.runtime import Runtime
from idflow.store.database import Store
from idflow.store.records import Connector, Run, RunStatus
from tests.conftest import PostgresServer
from tests.integration.connectors.conftest import make_runtime

Steps = Callable[..., Run]
MYSQL_URL = os.environ.get("IDFLOW_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")
ROWS = [("u1", "gold", 5), ("u2", "free", 1), ("u3", "team", 3)]
CREATE = (
    "CREATE TABLE entitlements (user_id VARCHAR(40), plan VARCHAR(20), seats INTEGER)"
)


@pytest.fixture
def runtime(sqlite_file_store: Store, tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_file_store, sqlite_dirs=(tmp_path.resolve(),))
    yield runtime
    runtime.connectors.close()


def _sqlite(tmp_path: Path) -> Iterator[dict[str, Any]]:
    path = tmp_path / "entitlements.db"
    with sqlite3.connect(path) as conn:
        conn.execute(CREATE)
        conn.executemany("INSERT INTO entitlements VALUES (?, ?, ?)", ROWS)
    yield {"dialect": "sqlite", "path": str(path)}


def _postgres(server: PostgresServer) -> Iterator[dict[str, Any]]:
    name = server.new_database_name()
    server.create_database(name)
    engine = create_engine(
        server.url_for(name).replace("postgresql://", "postgresql+psycopg://")
    )
    try:
        with engine.begin() as conn:
            conn.execute(text(CREATE))
            for row in ROWS:
                conn.execute(
                    text("INSERT INTO entitlements VALUES (:u, :p, :s)"),
                    dict(zip("ups", row, strict=True)),
                )
        url = make_url(server.url_for(name))
        yield {
            "dialect": "postgresql",
            "host": url.host,
            "port": url.port or 5432,
            "database": name,
            "username": url.username,
        }
    finally:
        engine.dispose()
        server.drop_database(name)


def _mariadb() -> Iterator[dict[str, Any]]:
    url = make_url(MYSQL_URL)
    try:
        admin = pymysql.connect(
            host=url.host,
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            connect_timeout=5,
            autocommit=True,
        )
    except pymysql.err.OperationalError as exc:
        reason = f"MariaDB is not reachable at {url.host}:{url.port or 3306}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true requires it)")
        pytest.skip(f"{reason}; set IDFLOW_TEST_MYSQL_URL to run these tests")
    name = f"idflow_conn_{os.getpid()}"
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
            cursor.execute(f"CREATE DATABASE {name}")
            cursor.execute(f"USE {name}")
            cursor.execute(CREATE)
            cursor.executemany("INSERT INTO entitlements VALUES (%s, %s, %s)", ROWS)
        yield {
            "dialect": "mariadb",
            "host": url.host,
            "port": url.port or 3306,
            "database": name,
            "username": url.username or "root",
        }
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "mariadb"]
)
def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield from _sqlite(tmp_path)
    elif request.param == "postgresql":
        yield from _postgres(request.getfixturevalue("pg_server"))
    else:
        yield from _mariadb()


def _query(query: str, **parameters: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": "lookup",
            "action": "sql-connector",
            "with": {"connector": "db", "query": query, "parameters": parameters},
        },
        {
            "id": "done",
            "end": {
                "rows": {"type": "array", "value": "{{ sql.rows }}"},
                "truncated": {"type": "boolean", "value": "{{ sql.truncated }}"},
            },
        },
    ]


def test_rows_come_back_for_a_bound_parameter(
    database: dict[str, Any], add_connector: Callable[..., Connector], run_steps: Steps
) -> None:
    add_connector("db", "sql", database)

    run = run_steps(
        _query(
            "SELECT plan, seats FROM entitlements WHERE user_id = :userId",
            userId="{{ client.userId }}",
        ),
        {"userId": "u1"},
    )

    assert run.status is RunStatus.COMPLETED, run.error
    assert run.outputs == {"rows": [{"plan": "gold", "seats": 5}], "truncated": False}


def test_a_value_from_the_context_cannot_change_the_query(
    database: dict[str, Any], add_connector: Callable[..., Connector], run_steps: Steps
) -> None:
    add_connector("db", "sql", database)

    run = run_steps(
        _query(
            "SELECT plan FROM entitlements WHERE user_id = :userId",
            userId="{{ client.userId }}",
        ),
        {"userId": "u1' OR '1'='1"},
    )

    assert run.status is RunStatus.COMPLETED, run.error
    assert run.outputs == {"rows": [], "truncated": False}


def test_a_read_only_connector_refuses_to_write(
    database: dict[str, Any], add_connector: Callable[..., Connector], run_steps: Steps
) -> None:
    add_connector("db", "sql", database)

    refused = run_steps(_query("DELETE FROM entitlements"))
    counted = run_steps(_query("SELECT COUNT(*) AS n FROM entitlements"))

    assert refused.status is RunStatus.FAILED
    assert refused.error is not None
    assert refused.error["code"] == "E123001"
    assert counted.outputs == {"rows": [{"n": 3}], "truncated": False}


def test_the_row_cap_truncates_and_says_so(
    database: dict[str, Any], add_connector: Callable[..., Connector], run_steps: Steps
) -> None:
    add_connector("db", "sql", database | {"maxRows": 2})

    run = run_steps(_query("SELECT user_id FROM entitlements ORDER BY user_id"))

    assert run.outputs == {
        "rows": [{"user_id": "u1"}, {"user_id": "u2"}],
        "truncated": True,
    }


def test_a_writable_connector_commits_its_statement(
    database: dict[str, Any], add_connector: Callable[..., Connector], run_steps: Steps
) -> None:
    add_connector("db", "sql", database | {"readOnly": False})

    run_steps(
        _query("UPDATE entitlements SET seats = :seats WHERE user_id = 'u2'", seats=9)
    )
    after = run_steps(_query("SELECT seats FROM entitlements WHERE user_id = 'u2'"))

    assert after.outputs == {"rows": [{"seats": 9}], "truncated": False}


def test_a_sqlite_file_outside_the_allowed_folders_is_refused(
    add_connector: Callable[..., Connector], run_steps: Steps
) -> None:
    add_connector("db", "sql", {"dialect": "sqlite", "path": "/etc/idflow.db"})

    run = run_steps(_query("SELECT 1 AS one"))

    assert run.error is not None
    assert "outside the folders in IDFLOW_CONNECTOR_SQLITE_DIRS" in run.error["message"]
