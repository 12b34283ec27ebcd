"""Runs end to end through the real store, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import time

import orjson
import pytest

from idflow.errors import FlowDisabled
from idflow.flows.authoring import compile_authoring
from idflow.runtime import Runtime
from idflow.services import flows as flow_service
from idflow.services import projects as project_service
from idflow.services import users as user_service
from idflow.services.audit import CLI_ACTOR
from idflow.services.runs import accept_run, get_run, start_run
from idflow.store import audit as audit_store
from idflow.store import flows as flow_store
from idflow.store import runs as run_store
from idflow.store import users as user_store
from idflow.store.records import RunStatus, RunTrigger, User, UserStatus
from idflow.workers.worker import Worker
from tests.integration.engine.conftest import SaveFlow

DISABLE_THEN_CHECK = {
    "id": "disable-then-report",
    "steps": [
        {
            "id": "load",
            "action": "user-load",
            "with": {"loginId": "{{ client.userId }}"},
        },
        {"id": "disable", "action": "user-disable"},
        {
            "id": "done",
            "end": {
                "userId": "{{ user.userId }}",
                "score": {"type": "number", "value": "{{ client.score }}"},
            },
        },
    ],
}


@pytest.fixture
def ada(runtime: Runtime, project_id: str) -> User:
    with runtime.store.begin() as conn:
        return user_service.create_user(
            conn, CLI_ACTOR, project_id, "ada@example.com", email="ada@example.com"
        )


def _stored_user(runtime: Runtime, user: User) -> User:
    with runtime.store.connect() as conn:
        stored = user_store.get_user(conn, user.project_id, user.user_id)
    assert stored is not None
    return stored


def test_completed_run_commits_its_effects_with_its_record_and_audit_event(
    runtime: Runtime, project_id: str, ada: User, save_flow: SaveFlow
) -> None:
    save_flow(DISABLE_THEN_CHECK)

    run = start_run(
        runtime,
        project_id,
        "disable-then-report",
        {"userId": "ada@example.com", "score": "7"},
        RunTrigger.API,
    )

    assert run.status is RunStatus.COMPLETED
    assert run.outputs == {"userId": ada.user_id, "score": 7}
    assert _stored_user(runtime, ada).status is UserStatus.DISABLED
    assert get_run(runtime, project_id, run.run_id) == run
    with runtime.store.connect() as conn:
        events, _ = audit_store.search_events(
            conn, project_id, user_ids=[ada.user_id], actions=["UserModified"]
        )
    assert len(events) == 1
    assert events[0].actor_id == "flow:disable-then-report"


def test_failed_run_rolls_back_its_effects_but_is_recorded_with_its_trace(
    runtime: Runtime, project_id: str, ada: User, save_flow: SaveFlow
) -> None:
    save_flow(DISABLE_THEN_CHECK)

    run = start_run(
        runtime,
        project_id,
        "disable-then-report",
        {"userId": "ada@example.com", "score": "not a number"},
        RunTrigger.API,
    )

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["taskId"] == "done"
    assert "score" in run.error["message"]
    assert [step["taskId"] for step in run.trace] == ["load", "disable", "done"]
    assert _stored_user(runtime, ada).status is UserStatus.ENABLED
    assert get_run(runtime, project_id, run.run_id).status is RunStatus.FAILED
    with runtime.store.connect() as conn:
        events, _ = audit_store.search_events(
            conn, project_id, user_ids=[ada.user_id], actions=["UserModified"]
        )
    assert events == []


def test_each_run_is_pinned_to_the_version_current_when_it_started(
    runtime: Runtime, project_id: str, ada: User, save_flow: SaveFlow
) -> None:
    answer = {"id": "answer", "steps": [{"id": "end", "end": {"v": "one"}}]}
    assert save_flow(answer) == 1
    first = start_run(runtime, project_id, "answer", {}, RunTrigger.CLI)

    assert save_flow({**answer, "steps": [{"id": "end", "end": {"v": "two"}}]}) == 2
    second = start_run(runtime, project_id, "answer", {}, RunTrigger.CLI)

    assert (first.flow_version, first.outputs) == (1, {"v": "one"})
    assert (second.flow_version, second.outputs) == (2, {"v": "two"})
    assert get_run(runtime, project_id, first.run_id).flow_version == 1


def test_run_of_a_missing_user_fails_with_the_user_not_found_code(
    runtime: Runtime, project_id: str, save_flow: SaveFlow
) -> None:
    save_flow(DISABLE_THEN_CHECK)

    run = start_run(
        runtime,
        project_id,
        "disable-then-report",
        {"userId": "nobody@example.com", "score": 1},
        RunTrigger.API,
    )

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["code"] == "E112102"
    assert run.error["taskId"] == "load"


def test_runs_of_one_project_never_touch_another_projects_users(
    runtime: Runtime, project_id: str, ada: User, save_flow: SaveFlow
) -> None:
    with runtime.store.begin() as conn:
        other, _ = project_service.create_project(conn, CLI_ACTOR, "Other")
        flow_service.save_flow(
            conn, CLI_ACTOR, other.project_id, compile_authoring(DISABLE_THEN_CHECK)
        )

    run = start_run(
        runtime,
        other.project_id,
        "disable-then-report",
        {"userId": ada.user_id, "score": 1},
        RunTrigger.API,
    )

    assert run.status is RunStatus.FAILED
    assert _stored_user(runtime, ada).status is UserStatus.ENABLED


def test_secret_inputs_are_redacted_in_the_recorded_run(
    runtime: Runtime, project_id: str, ada: User, save_flow: SaveFlow
) -> None:
    save_flow({"id": "echo", "steps": [{"id": "end", "end": {"ok": "yes"}}]})

    run = start_run(
        runtime,
        project_id,
        "echo",
        {"userId": ada.user_id, "apiToken": "s3cr3t-value"},
        RunTrigger.API,
    )

    with runtime.store.connect() as conn:
        stored = run_store.get_run(conn, project_id, run.run_id)
    assert stored is not None
    assert stored.inputs["userId"] == ada.user_id
    assert "s3cr3t-value" not in repr(stored)


def test_recorded_runs_list_newest_first_and_filter_by_status(
    runtime: Runtime, project_id: str, ada: User, save_flow: SaveFlow
) -> None:
    save_flow(DISABLE_THEN_CHECK)
    bad = start_run(
        runtime, project_id, "disable-then-report", {"userId": "x"}, RunTrigger.API
    )
    # Start times are whole milliseconds; keep the two runs in distinct ones.
    time.sleep(0.005)
    good = start_run(
        runtime,
        project_id,
        "disable-then-report",
        {"userId": ada.user_id, "score": 2},
        RunTrigger.API,
    )

    with runtime.store.connect() as conn:
        listed = run_store.list_runs(conn, project_id)
        failed = run_store.list_runs(conn, project_id, status=RunStatus.FAILED)

    assert [r.run_id for r in listed] == [good.run_id, bad.run_id]
    assert [r.run_id for r in failed] == [bad.run_id]


def test_a_runs_view_of_the_flow_head_follows_new_versions_and_the_switch(
    runtime: Runtime, project_id: str, save_flow: SaveFlow
) -> None:
    save_flow({"id": "answer", "steps": [{"id": "end", "end": {"v": "one"}}]})
    save_flow({"id": "answer", "steps": [{"id": "end", "end": {"v": "two"}}]})

    with runtime.store.begin() as conn:
        before = flow_store.get_flow_head(conn, project_id, "answer")
        flow_service.set_flow_disabled(conn, CLI_ACTOR, project_id, "answer", True)
        after = flow_store.get_flow_head(conn, project_id, "answer")
        missing = flow_store.get_flow_head(conn, project_id, "no-such-flow")

    assert (before, after, missing) == ((2, False), (2, True), None)


def test_switching_a_flow_off_stops_its_runs_without_a_new_version(
    runtime: Runtime, project_id: str, save_flow: SaveFlow
) -> None:
    save_flow({"id": "answer", "steps": [{"id": "end", "end": {"v": "one"}}]})

    with runtime.store.begin() as conn:
        assert flow_service.set_flow_disabled(
            conn, CLI_ACTOR, project_id, "answer", True
        )
        assert not flow_service.set_flow_disabled(
            conn, CLI_ACTOR, project_id, "answer", True
        )
    with pytest.raises(FlowDisabled):
        start_run(runtime, project_id, "answer", {}, RunTrigger.API)
    with runtime.store.begin() as conn:
        flow_service.set_flow_disabled(conn, CLI_ACTOR, project_id, "answer", False)
    run = start_run(runtime, project_id, "answer", {}, RunTrigger.API)

    assert (run.flow_version, run.outputs) == (1, {"v": "one"})
    with runtime.store.connect() as conn:
        events, _ = audit_store.search_events(
            conn, project_id, actions=["FlowModified"]
        )
    # Two events of one millisecond have no set order, so compare them as a set.
    assert sorted(
        orjson.dumps(e.data, option=orjson.OPT_SORT_KEYS) for e in events
    ) == [
        b'{"disabled":false,"flowId":"answer"}',
        b'{"disabled":true,"flowId":"answer"}',
    ]


def test_an_accepted_run_is_running_at_once_and_keeps_the_version_of_acceptance(
    runtime: Runtime, project_id: str, save_flow: SaveFlow
) -> None:
    answer = {"id": "answer", "steps": [{"id": "end", "end": {"v": "one"}}]}
    save_flow(answer)

    accepted = accept_run(runtime, project_id, "answer", {}, RunTrigger.API)
    assert get_run(runtime, project_id, accepted.run_id).status is RunStatus.RUNNING
    save_flow({**answer, "steps": [{"id": "end", "end": {"v": "two"}}]})
    [attempt] = Worker(runtime, owner="w1").run_until_idle()
    finished = get_run(runtime, project_id, accepted.run_id)

    assert attempt.run_id == accepted.run_id
    assert (finished.status, finished.flow_version) == (RunStatus.COMPLETED, 1)
    assert finished.outputs == {"v": "one"}
    assert [step.get("resumed", False) for step in finished.trace] == [False]


def test_an_accepted_run_whose_flow_went_away_ends_failed_with_the_reason(
    runtime: Runtime, project_id: str, save_flow: SaveFlow
) -> None:
    save_flow({"id": "answer", "steps": [{"id": "end", "end": {"v": "one"}}]})
    accepted = accept_run(runtime, project_id, "answer", {}, RunTrigger.API)
    with runtime.store.begin() as conn:
        flow_service.delete_flow(conn, CLI_ACTOR, project_id, "answer")

    Worker(runtime, owner="w1").run_until_idle()
    finished = get_run(runtime, project_id, accepted.run_id)

    assert finished.status is RunStatus.FAILED
    assert finished.error is not None
    assert finished.error["code"] == "E102101"
    assert "never started: its flow was deleted" in finished.error["message"]
