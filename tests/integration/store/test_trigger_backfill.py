"""Migration 0003 indexes the triggers of flows stored before it, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, insert, select

from idflow.flows.authoring import compile_authoring
from idflow.store import migrate
from idflow.store.database import Store
from idflow.store.tables import flow_triggers, flow_versions, flows
from tests.conftest import PostgresServer


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = Store.open(f"sqlite:///{tmp_path / 'old.db'}")
        yield store
        store.dispose()
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = server.new_database_name()
    server.create_database(name)
    store = Store.open(server.url_for(name))
    yield store
    store.dispose()
    server.drop_database(name)


def _save(
    conn: Connection, flow_id: str, trigger: dict[str, object], disabled: bool
) -> None:
    document = compile_authoring(
        {"id": flow_id, "trigger": trigger, "steps": [{"id": "done", "end": {}}]}
    )
    head = {
        "project_id": "P1",
        "flow_id": flow_id,
        "name": flow_id,
        "description": "",
        "current_version": 1,
        "disabled": disabled,
        "created_ms": 1,
        "modified_ms": 1,
    }
    version = {
        "project_id": "P1",
        "flow_id": flow_id,
        "version": 1,
        "document": document,
        "created_ms": 1,
    }
    conn.execute(insert(flows), head)
    conn.execute(insert(flow_versions), version)


def test_upgrading_indexes_enabled_flows_with_event_triggers(
    empty_store: Store,
) -> None:
    with empty_store.begin() as conn:
        command.upgrade(migrate._alembic_config(conn), "0002")
        _save(conn, "on-create", {"events": ["UserCreated", "UserDeleted"]}, False)
        _save(conn, "switched-off", {"events": ["UserCreated"]}, True)
        _save(conn, "trigger-off", {"events": ["UserCreated"], "enabled": False}, False)
        _save(conn, "api-only", {}, False)

    migrate.upgrade(empty_store)

    with empty_store.connect() as conn:
        rows = conn.execute(
            select(flow_triggers.c.flow_id, flow_triggers.c.event_type).order_by(
                flow_triggers.c.event_type
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("on-create", "UserCreated"),
        ("on-create", "UserDeleted"),
    ]
