"""A retried delivery resumes its run from the last connector call: nothing committed happens twice.

The flow gives the event's user a role and writes an `order.noted` event,
calls an HTTP endpoint, gives a second role and writes `order.confirmed`,
calls a second endpoint and ends. What comes before a call commits at that
call (the run's checkpoint); every later attempt at the delivery must go on
from the last one, so each event is written once and each role granted once.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from idflow.runtime import Runtime
from idflow.services import deliveries as delivery_service
from idflow.services import flows as flow_service
from idflow.services import runs as run_service
from idflow.services import tenants as tenant_service
from idflow.services.audit import CLI_ACTOR
from idflow.store import audit as audit_store
from idflow.store import runs as run_store
from idflow.store import users as user_store
from idflow.store.database import Store
from idflow.store.deliveries import DeliveryQuery
from idflow.store.records import (
    AuditEvent,
    Delivery,
    DeliveryStatus,
    Run,
    RunStatus,
    RunTrigger,
    SkipReason,
    User,
)
from idflow.store.tables import run_checkpoints
from idflow.workers.attempt import AttemptResult, Outcome
from idflow.workers.config import DeliverySettings
from idflow.workers.worker import Worker
from tests.integration.connectors.conftest import make_runtime
from tests.integration.connectors.servers import (
    RecordingServer,
    Reply,
    recording_server,
)
from tests.integration.workers.conftest import ManualClock, add_http_connector

ROLE_THEN_CALLS = {
    "id": "role-then-calls",
    "trigger": {"events": ["order.placed"]},
    "steps": [
        {"id": "load", "action": "user-load-from-triggering-event"},
        {"id": "before", "action": "user-add-roles", "with": {"roleNames": ["before"]}},
        {
            "id": "noted",
            "action": "audit-generate-event",
            "with": {"action": "order.noted", "userId": "{{ user.userId }}"},
        },
        {
            "id": "notify",
            "action": "http-connector",
            "with": {"connector": "crm", "path": "/orders", "method": "POST"},
        },
        {"id": "after", "action": "user-add-roles", "with": {"roleNames": ["after"]}},
        {
            "id": "confirmed",
            "action": "audit-generate-event",
            "with": {"action": "order.confirmed", "userId": "{{ user.userId }}"},
        },
        {
            "id": "confirm",
            "action": "http-connector",
            "with": {"connector": "crm", "path": "/confirm", "method": "POST"},
        },
        {"id": "done", "end": {"ok": True}},
    ],
}
LEASE_SECONDS = 30


@pytest.fixture
def runtime(store: Store) -> Iterator[Runtime]:
    base = make_runtime(store)
    settings = dataclasses.replace(
        base.settings,
        deliveries=DeliverySettings(max_attempts=3, lease_seconds=LEASE_SECONDS),
    )
    runtime = Runtime(store, settings)
    yield runtime
    runtime.connectors.close()
    base.connectors.close()
    if runtime.executor is not None:
        runtime.executor.shutdown()


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


@pytest.fixture
def crm(runtime: Runtime, project_id: str, http_server: RecordingServer) -> None:
    """The HTTP connector the flows call."""
    # One try per step: each failure here is a failed attempt.
    add_http_connector(runtime, project_id, "crm", http_server.url, maxAttempts=1)


@pytest.fixture
def order(
    crm: None,
    save_flow: Callable[[dict[str, Any]], None],
    make_user: Callable[..., User],
    post_event: Callable[..., AuditEvent],
) -> tuple[User, AuditEvent]:
    """The flow saved, and one event for a new user."""
    save_flow(ROLE_THEN_CALLS)
    user = make_user()
    return user, post_event("order.placed", user_id=user.user_id)


def _written(runtime: Runtime, project_id: str) -> dict[str, int]:
    """How many events of each kind the flow's runs wrote."""
    with runtime.store.connect() as conn:
        events, _ = audit_store.search_events(
            conn,
            project_id,
            actions=("UserModified", "order.noted", "order.confirmed"),
            limit=1000,
        )
    counts: dict[str, int] = {}
    for event in events:
        if event.run_id is not None:
            counts[event.action] = counts.get(event.action, 0) + 1
    return counts


ONCE_EACH = {"UserModified": 2, "order.noted": 1, "order.confirmed": 1}


def _roles(runtime: Runtime, project_id: str, user: User) -> list[str]:
    with runtime.store.connect() as conn:
        stored = user_store.get_user(conn, project_id, user.user_id)
    assert stored is not None
    return sorted(stored.role_names)


def _run(runtime: Runtime, project_id: str, run_id: str | None) -> Run:
    assert run_id is not None
    with runtime.store.connect() as conn:
        run = run_store.get_run(conn, project_id, run_id)
    assert run is not None
    return run


def _checkpoints(runtime: Runtime) -> int:
    with runtime.store.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(run_checkpoints)).scalar_one()
        )


def _keys(http_server: RecordingServer, path: str) -> list[str]:
    return [r.headers["idempotency-key"] for r in http_server.to(path)]


def test_a_retry_after_a_failed_call_goes_on_from_that_call(
    runtime: Runtime,
    project_id: str,
    http_server: RecordingServer,
    order: tuple[User, AuditEvent],
    make_worker: Callable[..., Worker],
    clock: ManualClock,
    deliveries_of: Callable[..., list[Delivery]],
) -> None:
    user, _ = order
    http_server.script("/orders", Reply(status=503), Reply())
    worker = make_worker()

    [first] = worker.run_until_idle()
    failed = _run(runtime, project_id, first.run_id)
    clock.advance(60)
    [second] = worker.run_until_idle()

    assert (first.outcome, second.outcome) == (Outcome.RETRIED, Outcome.DONE)
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None and failed.error["taskId"] == "notify"
    # The same run went on: the role granted before the call was not granted again.
    assert second.run_id == first.run_id
    assert _written(runtime, project_id) == ONCE_EACH
    assert _roles(runtime, project_id, user) == ["after", "before"]
    run = _run(runtime, project_id, second.run_id)
    assert run.status is RunStatus.COMPLETED
    assert [step["taskId"] for step in run.trace] == [
        "load",
        "before",
        "noted",
        "notify",
        "after",
        "confirmed",
        "confirm",
        "done",
    ]
    resumed = [step["taskId"] for step in run.trace if step.get("resumed")]
    assert resumed == ["notify"]
    notify_keys = _keys(http_server, "/orders")
    assert len(notify_keys) == 2 and len(set(notify_keys)) == 1
    assert len(_keys(http_server, "/confirm")) == 1
    [delivery] = deliveries_of()
    assert delivery.status is DeliveryStatus.DONE
    assert delivery.run_id == run.run_id
    # The stored context (inputs, the user) goes once the run has completed.
    assert _checkpoints(runtime) == 0


def test_a_worker_that_lost_its_lease_during_a_call_commits_nothing_after_it(
    runtime: Runtime,
    project_id: str,
    http_server: RecordingServer,
    order: tuple[User, AuditEvent],
    make_worker: Callable[..., Worker],
    clock: ManualClock,
    deliveries_of: Callable[..., list[Delivery]],
) -> None:
    user, _ = order

    [lost], [resumed] = _taken_over_during_the_first_call(
        http_server, make_worker, clock
    )

    assert resumed.outcome is Outcome.DONE
    assert lost.outcome is Outcome.LOST
    # The stalled worker went on to grant "after" and write its event, then met
    # the fence at its second call's checkpoint: both rolled back, and that
    # call was never made.
    assert _written(runtime, project_id) == ONCE_EACH
    assert _roles(runtime, project_id, user) == ["after", "before"]
    assert len(_keys(http_server, "/confirm")) == 1
    notify_keys = _keys(http_server, "/orders")
    assert len(notify_keys) == 2 and len(set(notify_keys)) == 1
    [delivery] = deliveries_of()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DONE, 2)
    assert delivery.lease_owner == "w2"
    assert _run(runtime, project_id, resumed.run_id).status is RunStatus.COMPLETED
    assert _checkpoints(runtime) == 0


def test_a_delivery_that_dies_at_a_checkpoint_is_redriven_from_it(
    runtime: Runtime,
    project_id: str,
    http_server: RecordingServer,
    order: tuple[User, AuditEvent],
    make_worker: Callable[..., Worker],
    clock: ManualClock,
    deliveries_of: Callable[..., list[Delivery]],
) -> None:
    user, _ = order
    http_server.script("/confirm", Reply(status=500))
    worker = make_worker()
    for _ in range(3):
        worker.run_until_idle()
        clock.advance(600)
    [dead] = deliveries_of()
    assert dead.status is DeliveryStatus.DEAD

    http_server.script("/confirm", Reply())
    with runtime.store.begin() as conn:
        delivery_service.redrive(
            conn, project_id, DeliveryQuery(), dry_run=False, now_ms=clock()
        )
    [done] = worker.run_until_idle()

    assert done.outcome is Outcome.DONE
    # Every attempt went on from the last checkpoint, the one before /confirm.
    assert _written(runtime, project_id) == ONCE_EACH
    assert _roles(runtime, project_id, user) == ["after", "before"]
    assert len(_keys(http_server, "/orders")) == 1
    assert len(_keys(http_server, "/confirm")) == 4
    assert _run(runtime, project_id, done.run_id).status is RunStatus.COMPLETED


def test_a_run_left_at_a_checkpoint_ends_when_its_flow_is_switched_off(
    runtime: Runtime,
    project_id: str,
    http_server: RecordingServer,
    order: tuple[User, AuditEvent],
    make_worker: Callable[..., Worker],
    clock: ManualClock,
    deliveries_of: Callable[..., list[Delivery]],
) -> None:
    http_server.script("/orders", Reply(status=503))
    worker = make_worker()
    [first] = worker.run_until_idle()
    with runtime.store.begin() as conn:
        flow_service.set_flow_disabled(
            conn, CLI_ACTOR, project_id, "role-then-calls", True
        )
    clock.advance(60)

    [second] = worker.run_until_idle()

    assert second.outcome is Outcome.SKIPPED
    [delivery] = deliveries_of()
    assert delivery.skip_reason is SkipReason.FLOW_DISABLED
    run = _run(runtime, project_id, first.run_id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["message"] == (
        "The run stopped at a checkpoint and was not resumed: its flow was switched off."
    )
    assert _checkpoints(runtime) == 0


CALL_FIRST = {
    "id": "call-first",
    "trigger": {"events": ["order.placed"]},
    "steps": [
        {
            "id": "notify",
            "action": "http-connector",
            "with": {"connector": "crm", "path": "/orders", "method": "POST"},
        },
        {"id": "done", "end": {"ok": True}},
    ],
}


def test_an_event_run_checkpointed_at_its_first_step_is_said_to_have_stopped_there(
    runtime: Runtime,
    project_id: str,
    crm: None,
    http_server: RecordingServer,
    save_flow: Callable[[dict[str, Any]], None],
    post_event: Callable[..., AuditEvent],
    make_worker: Callable[..., Worker],
    clock: ManualClock,
) -> None:
    # Its checkpoint has an empty trace, as an accepted API run's has; it did
    # start, and its call was made.
    save_flow(CALL_FIRST)
    post_event("order.placed")
    http_server.script("/orders", Reply(status=503))
    worker = make_worker()
    [first] = worker.run_until_idle()
    with runtime.store.begin() as conn:
        flow_service.set_flow_disabled(conn, CLI_ACTOR, project_id, "call-first", True)
    clock.advance(60)

    [second] = worker.run_until_idle()

    assert second.outcome is Outcome.SKIPPED
    run = _run(runtime, project_id, first.run_id)
    assert run.error is not None
    assert run.error["message"].startswith("The run stopped at a checkpoint")


def test_an_accepted_run_whose_first_call_was_made_is_not_said_never_to_have_started(
    runtime: Runtime,
    project_id: str,
    crm: None,
    http_server: RecordingServer,
    save_flow: Callable[[dict[str, Any]], None],
    make_worker: Callable[..., Worker],
    clock: ManualClock,
) -> None:
    # Its checkpoint at the call has an empty trace, as at acceptance. Worker
    # w1 stalls in the call past its lease; the flow is switched off; w2 takes
    # the delivery over and skips it.
    save_flow({**CALL_FIRST, "trigger": None})
    accepted = run_service.accept_run(
        runtime, project_id, "call-first", {}, RunTrigger.API
    )

    def switch_off() -> None:
        with runtime.store.begin() as conn:
            flow_service.set_flow_disabled(
                conn, CLI_ACTOR, project_id, "call-first", True
            )

    _, [second] = _taken_over_during_the_first_call(
        http_server, make_worker, clock, before_takeover=switch_off
    )

    assert second.outcome is Outcome.SKIPPED
    run = _run(runtime, project_id, accepted.run_id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["message"] == (
        "The run was accepted and an earlier attempt began it, but it was not "
        "resumed: its flow was switched off."
    )


def _taken_over_during_the_first_call(
    http_server: RecordingServer,
    make_worker: Callable[..., Worker],
    clock: ManualClock,
    *,
    before_takeover: Callable[[], None] | None = None,
) -> tuple[list[AttemptResult], list[AttemptResult]]:
    """Stall worker w1 in its first call to /orders until w2 has taken its claim over.

    The call hangs as a worker's would that stalled past its lease; w2 claims
    the expired lease and goes on, after `before_takeover` when given.
    Returns what each worker's attempts did.
    """
    released = threading.Event()

    def hold_the_first_call(request: Any) -> None:
        if request.path == "/orders" and len(http_server.to("/orders")) == 1:
            released.wait(30)

    http_server.on_request = hold_the_first_call
    stalled = make_worker("w1")
    first_results: list[AttemptResult] = []
    first = threading.Thread(target=lambda: first_results.extend(stalled.run_once()))
    first.start()
    try:
        _wait_for(lambda: len(http_server.to("/orders")) == 1)
        if before_takeover is not None:
            before_takeover()
        clock.advance(LEASE_SECONDS + 1)
        second_results = make_worker("w2").run_until_idle()
    finally:
        released.set()
        first.join(30)
    return first_results, second_results


def _accept(runtime: Runtime, project_id: str, user: User) -> Run:
    """Accept an asynchronous run of API_ROLE_THEN_CALL for the user."""
    return run_service.accept_run(
        runtime,
        project_id,
        "api-role-then-call",
        {"who": user.login_ids[0]},
        RunTrigger.API,
    )


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


CALL_THEN_GRANT = {
    "id": "call-then-grant",
    "trigger": {"events": ["role.requested"]},
    "steps": [
        {"id": "load", "action": "user-load-from-triggering-event"},
        {
            "id": "ask",
            "action": "http-connector",
            "with": {"connector": "crm", "path": "/ask", "method": "POST"},
        },
        {
            "id": "grant",
            "action": "user-add-roles",
            "with": {"roleNames": ["{{ triggeringEvent.data.role }}"]},
        },
        {"id": "done", "end": {"ok": True}},
    ],
}


def test_runs_about_one_user_take_turns_after_their_connector_calls_too(
    runtime: Runtime,
    project_id: str,
    crm: None,
    save_flow: Callable[[dict[str, Any]], None],
    make_user: Callable[..., User],
    post_event: Callable[..., AuditEvent],
    deliveries_of: Callable[..., list[Delivery]],
) -> None:
    # The subject lock each run takes is released by its checkpoint's commit;
    # the grant after the call must take it again, or concurrent grants read
    # the same roles and overwrite each other's.
    save_flow(CALL_THEN_GRANT)
    user = make_user()
    roles = [f"role-{n:02d}" for n in range(40)]
    for role in roles:
        post_event("role.requested", user_id=user.user_id, data={"role": role})

    worker = Worker(runtime, concurrency=4)
    worker.start()
    try:
        _wait_for(
            lambda: all(d.status is DeliveryStatus.DONE for d in deliveries_of()), 60
        )
    finally:
        worker.stop(grace_seconds=5)

    assert sorted(_roles(runtime, project_id, user)) == roles


API_ROLE_THEN_CALL = {
    "id": "api-role-then-call",
    "steps": [
        {"id": "load", "action": "user-load", "with": {"loginId": "{{ client.who }}"}},
        {"id": "before", "action": "user-add-roles", "with": {"roleNames": ["before"]}},
        {
            "id": "noted",
            "action": "audit-generate-event",
            "with": {"action": "order.noted", "userId": "{{ user.userId }}"},
        },
        {
            "id": "notify",
            "action": "http-connector",
            "with": {"connector": "crm", "path": "/orders", "method": "POST"},
        },
        {"id": "after", "action": "user-add-roles", "with": {"roleNames": ["after"]}},
        {"id": "done", "end": {"roles": "{{ user.roleNames }}"}},
    ],
}


def test_an_accepted_run_outlives_the_worker_that_claimed_it(
    runtime: Runtime,
    project_id: str,
    crm: None,
    make_user: Callable[..., User],
    save_flow: Callable[[dict[str, Any]], None],
    make_worker: Callable[..., Worker],
    clock: ManualClock,
) -> None:
    user = make_user()
    save_flow(API_ROLE_THEN_CALL)
    accepted = _accept(runtime, project_id, user)
    # The first worker claims the run and dies before making it.
    assert len(make_worker("w1").claim(10)) == 1
    clock.advance(LEASE_SECONDS + 1)

    [attempt] = make_worker("w2").run_until_idle()

    run = _run(runtime, project_id, accepted.run_id)
    assert (attempt.outcome, attempt.run_id) == (Outcome.DONE, accepted.run_id)
    assert run.status is RunStatus.COMPLETED
    assert run.outputs == {"roles": '["before","after"]'}
    assert _checkpoints(runtime) == 0


def test_an_accepted_run_resumes_after_its_connector_call_on_another_worker(
    runtime: Runtime,
    project_id: str,
    http_server: RecordingServer,
    crm: None,
    make_user: Callable[..., User],
    save_flow: Callable[[dict[str, Any]], None],
    make_worker: Callable[..., Worker],
    clock: ManualClock,
) -> None:
    user = make_user()
    save_flow(API_ROLE_THEN_CALL)
    accepted = _accept(runtime, project_id, user)

    _, [resumed] = _taken_over_during_the_first_call(http_server, make_worker, clock)

    run = _run(runtime, project_id, accepted.run_id)
    assert resumed.outcome is Outcome.DONE
    assert run.status is RunStatus.COMPLETED
    assert [step["taskId"] for step in run.trace if step.get("resumed")] == ["notify"]
    written = _written(runtime, project_id)
    assert (written["UserModified"], written["order.noted"]) == (2, 1)
    assert _roles(runtime, project_id, user) == ["after", "before"]


def test_a_failed_accepted_run_is_answered_and_not_retried(
    runtime: Runtime,
    project_id: str,
    http_server: RecordingServer,
    crm: None,
    make_user: Callable[..., User],
    save_flow: Callable[[dict[str, Any]], None],
    make_worker: Callable[..., Worker],
    clock: ManualClock,
    deliveries_of: Callable[..., list[Delivery]],
) -> None:
    user = make_user()
    save_flow(API_ROLE_THEN_CALL)
    http_server.script("/orders", Reply(status=500))
    accepted = _accept(runtime, project_id, user)
    worker = make_worker()

    [attempt] = worker.run_until_idle()
    clock.advance(600)

    assert worker.run_until_idle() == []
    assert attempt.outcome is Outcome.DONE
    run = _run(runtime, project_id, accepted.run_id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error["taskId"] == "notify"
    api_runs = [d for d in deliveries_of() if d.event_id is None]
    assert [(d.status, d.run_id) for d in api_runs] == [
        (DeliveryStatus.DONE, accepted.run_id)
    ]
    assert len(http_server.to("/orders")) == 1
    assert _checkpoints(runtime) == 0


TENANT_ANSWER = {
    "id": "tenant-answer",
    "steps": [
        {"id": "done", "end": {"name": "{{ tenant.name }}", "who": "{{ client.who }}"}}
    ],
}


def test_an_accepted_run_keeps_its_inputs_and_tenant_for_the_worker(
    runtime: Runtime,
    project_id: str,
    save_flow: Callable[[dict[str, Any]], None],
    make_worker: Callable[..., Worker],
) -> None:
    save_flow(TENANT_ANSWER)
    with runtime.store.begin() as conn:
        tenant_service.create_tenant(conn, CLI_ACTOR, project_id, "T-acme", "Acme")
    accepted = run_service.accept_run(
        runtime,
        project_id,
        "tenant-answer",
        {"who": "ops", "password": "hunter2"},
        RunTrigger.API,
        tenant_id="T-acme",
    )

    [attempt] = make_worker().run_until_idle()

    run = _run(runtime, project_id, accepted.run_id)
    assert attempt.outcome is Outcome.DONE
    assert run.outputs == {"name": "Acme", "who": "ops"}
    # The record keeps the inputs redacted; only the checkpoint held them whole.
    assert run.inputs == {"who": "ops", "password": "[redacted]"}
    assert _checkpoints(runtime) == 0
