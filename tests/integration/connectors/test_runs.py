"""How connector steps split a run's transaction, on SQLite and PostgreSQL.

The rule under test: every store effect before a connector call commits before
the call is made, the store is free while the call waits, and a later failure
rolls back only what came after the last call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text

from idflow.runtime import Runtime
from idflow.services import users as user_service
from idflow.services.audit import CLI_ACTOR
from idflow.store import runs as run_store
from idflow.store import users as user_store
from idflow.store.database import Store
from idflow.store.records import Connector, Run, RunStatus, RunTrigger, User, UserStatus
from tests.integration.connectors.conftest import make_runtime
from tests.integration.connectors.servers import Recorded, RecordingServer

Steps = Callable[..., Run]


@pytest.fixture
def runtime(store: Store) -> Iterator[Runtime]:
    runtime = make_runtime(store)
    yield runtime
    runtime.connectors.close()


@pytest.fixture
def user(runtime: Runtime, project_id: str) -> User:
    with runtime.store.begin() as conn:
        return user_service.create_user(conn, CLI_ACTOR, project_id, "ada@example.com")


def _status(runtime: Runtime, user: User) -> tuple[UserStatus, str | None]:
    with runtime.store.connect() as conn:
        stored = user_store.get_user(conn, user.project_id, user.user_id)
    assert stored is not None
    return stored.status, stored.name


def _steps(*middle: dict[str, object]) -> list[dict[str, object]]:
    return [
        {
            "id": "disable",
            "action": "user-disable",
            "with": {"userId": "{{ client.userId }}"},
        },
        {
            "id": "notify",
            "action": "http-connector",
            "with": {"connector": "hook", "path": "/notify/{{ run.id }}"},
        },
        *middle,
        {"id": "done", "end": {"ok": True}},
    ]


def test_effects_before_a_connector_call_commit_and_later_ones_roll_back(
    runtime: Runtime,
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
    user: User,
) -> None:
    add_connector("hook", "http", {"baseUrl": http_server.url})

    run = run_steps(
        _steps(
            {
                "id": "rename",
                "action": "user-update",
                "with": {"userId": "{{ client.userId }}", "name": "Renamed"},
            },
            {
                "id": "fail",
                "action": "user-load",
                "with": {"loginId": "nobody@example.com"},
            },
        ),
        {"userId": user.user_id},
    )

    assert run.status is RunStatus.FAILED
    # The disable was committed before the first call; the rename after it was not.
    assert _status(runtime, user) == (UserStatus.DISABLED, None)
    assert [step.get("checkpoint", False) for step in run.trace] == [
        False,
        True,
        False,
        False,
    ]
    with runtime.store.connect() as conn:
        stored = run_store.get_run(conn, run.project_id, run.run_id)
    assert stored is not None
    assert stored.status is RunStatus.FAILED
    assert len(stored.trace) == 4


def test_the_store_is_committed_and_free_while_a_connector_call_waits(
    runtime: Runtime,
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
    user: User,
) -> None:
    seen: list[tuple[UserStatus, RunStatus | None]] = []

    def look_and_write(request: Recorded) -> None:
        run_id = request.path.rsplit("/", 1)[-1]
        # A write transaction: on SQLite it would wait out the busy timeout and
        # fail if the run still held the write lock.
        with runtime.store.begin() as conn:
            conn.execute(text("SELECT 1"))
            stored_user = user_store.get_user(conn, user.project_id, user.user_id)
            stored_run = run_store.get_run(conn, user.project_id, run_id)
        assert stored_user is not None
        seen.append((stored_user.status, stored_run.status if stored_run else None))

    http_server.on_request = look_and_write
    add_connector("hook", "http", {"baseUrl": http_server.url})

    run = run_steps(_steps(), {"userId": user.user_id})

    assert http_server.errors == []
    assert seen == [(UserStatus.DISABLED, RunStatus.RUNNING)]
    assert run.status is RunStatus.COMPLETED, run.error
    with runtime.store.connect() as conn:
        stored = run_store.get_run(conn, run.project_id, run.run_id)
    assert stored is not None
    assert stored.status is RunStatus.COMPLETED


def test_an_async_call_is_sent_after_the_run_commits(
    runtime: Runtime,
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
    user: User,
) -> None:
    add_connector("hook", "http", {"baseUrl": http_server.url})

    run = run_steps(
        [
            {
                "id": "disable",
                "action": "user-disable",
                "with": {"userId": "{{ client.userId }}"},
            },
            {
                "id": "tell",
                "action": "http-connector",
                "with": {"connector": "hook", "path": "/later", "async": True},
            },
            {"id": "done", "end": {"sent": "{{ http.status }}"}},
        ],
        {"userId": user.user_id},
    )
    runtime.connectors.drain(timeout=10)

    assert run.status is RunStatus.COMPLETED, run.error
    assert run.outputs == {"sent": ""}
    assert run.trace[1]["background"] is True
    assert len(http_server.to("/later")) == 1


def test_an_async_call_is_never_sent_when_its_effects_roll_back(
    runtime: Runtime,
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
    user: User,
) -> None:
    add_connector("hook", "http", {"baseUrl": http_server.url})

    run = run_steps(
        [
            {
                "id": "disable",
                "action": "user-disable",
                "with": {"userId": "{{ client.userId }}"},
            },
            {
                "id": "tell",
                "action": "http-connector",
                "with": {"connector": "hook", "path": "/later", "async": True},
            },
            {
                "id": "fail",
                "action": "user-load",
                "with": {"loginId": "nobody@example.com"},
            },
            {"id": "done", "end": {"ok": True}},
        ],
        {"userId": user.user_id},
    )
    runtime.connectors.drain(timeout=10)

    assert run.status is RunStatus.FAILED
    assert _status(runtime, user) == (UserStatus.ENABLED, None)
    assert http_server.to("/later") == []


def test_a_preview_calls_no_connector_and_keeps_no_change(
    runtime: Runtime,
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
    user: User,
) -> None:
    add_connector("hook", "http", {"baseUrl": http_server.url})
    background = {
        "id": "later",
        "action": "http-connector",
        "with": {"connector": "hook", "path": "/later", "async": True},
    }

    run = run_steps(_steps(background), {"userId": user.user_id}, preview=True)

    assert run.status is RunStatus.COMPLETED
    assert run.trigger is RunTrigger.PREVIEW
    assert http_server.requests == []
    assert [step.get("preview") for step in run.trace] == [
        None,
        "not called",
        "not called",
        None,
    ]
    # No checkpoint either: the disable before the call rolled back with the rest.
    assert not any(step.get("checkpoint") for step in run.trace)
    assert _status(runtime, user) == (UserStatus.ENABLED, None)
    with runtime.store.connect() as conn:
        stored = run_store.get_run(conn, run.project_id, run.run_id)
    assert stored is not None
    assert (stored.trigger, stored.status) == (RunTrigger.PREVIEW, RunStatus.COMPLETED)
