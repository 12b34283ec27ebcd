"""A worker runs each delivery's flow once: effects, filters, retries, dead letters, leases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from idflow.runtime import Runtime
from idflow.services import deliveries as delivery_service
from idflow.services import flows as flow_service
from idflow.services import users as user_service
from idflow.services.audit import CLI_ACTOR
from idflow.services.explain import describe_operand, explain_event
from idflow.store import audit as audit_store
from idflow.store import runs as run_store
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
    UserStatus,
)
from idflow.workers.attempt import Outcome
from idflow.workers.worker import Worker
from tests.integration.workers.conftest import ManualClock

PostEvent = Callable[..., AuditEvent]
SaveFlow = Callable[[dict[str, Any]], None]
DeliveriesOf = Callable[..., list[Delivery]]
MakeWorker = Callable[..., Worker]

DISABLE_ON_SIGNAL = {
    "id": "disable-on-signal",
    "trigger": {"events": ["account.flagged"]},
    "steps": [
        {
            "id": "severe",
            "if": [
                {
                    "id": "high",
                    "when": "triggeringEvent.data.severity equal high",
                    "goto": "load",
                }
            ],
            "else": "ignored",
        },
        {"id": "load", "action": "user-load-from-triggering-event"},
        {"id": "disable", "action": "user-disable", "next": "disabled"},
        {"id": "disabled", "end": {"userId": "{{ user.userId }}"}},
        {"id": "ignored", "end": {"ignored": True}},
    ],
}


@dataclass(frozen=True)
class Flagged:
    """A user, and a high-severity event about them for the disable-on-signal flow."""

    user: User
    event: AuditEvent


@pytest.fixture
def flagged(
    save_flow: SaveFlow,
    make_user: Callable[..., User],
    post_event: PostEvent,
) -> Flagged:
    save_flow(DISABLE_ON_SIGNAL)
    user = make_user()
    event = post_event(
        "account.flagged", user_id=user.user_id, data={"severity": "high"}
    )
    return Flagged(user, event)


def _user(runtime: Runtime, project_id: str, user_id: str) -> User:
    with runtime.store.connect() as conn:
        return user_service.require_user_by_id(conn, project_id, user_id)


def _run(runtime: Runtime, project_id: str, run_id: str | None) -> Run:
    assert run_id is not None
    with runtime.store.connect() as conn:
        run = run_store.get_run(conn, project_id, run_id)
    assert run is not None
    return run


def test_an_event_runs_its_flow_once_and_the_delivery_names_the_run(
    runtime: Runtime,
    project_id: str,
    flagged: Flagged,
    make_worker: MakeWorker,
    deliveries_of: DeliveriesOf,
) -> None:
    user, event = flagged.user, flagged.event

    results = make_worker().run_until_idle()

    [delivery] = deliveries_of(event)
    assert [r.outcome for r in results] == [Outcome.DONE]
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DONE, 1)
    run = _run(runtime, project_id, delivery.run_id)
    assert (run.status, run.trigger) == (RunStatus.COMPLETED, RunTrigger.EVENT)
    assert run.triggering_event_id == event.event_id
    assert _user(runtime, project_id, user.user_id).status is UserStatus.DISABLED


def test_events_a_triggered_run_writes_carry_its_chain(
    runtime: Runtime,
    project_id: str,
    flagged: Flagged,
    make_worker: MakeWorker,
    deliveries_of: DeliveriesOf,
) -> None:
    event = flagged.event

    make_worker().run_until_idle()

    [delivery] = deliveries_of(event)
    with runtime.store.connect() as conn:
        [modified], _ = audit_store.search_events(
            conn, project_id, actions=["UserModified"]
        )
    assert modified.run_id == delivery.run_id
    assert (modified.origin_event_id, modified.depth) == (event.event_id, 1)
    assert modified.actor_id == "flow:disable-on-signal"


def test_a_condition_on_the_triggering_event_filters_and_explains_why(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    make_user: Callable[..., User],
    post_event: PostEvent,
    make_worker: MakeWorker,
) -> None:
    save_flow(DISABLE_ON_SIGNAL)
    user = make_user()
    event = post_event(
        "account.flagged", user_id=user.user_id, data={"severity": "low"}
    )

    make_worker().run_until_idle()

    with runtime.store.connect() as conn:
        report = explain_event(conn, project_id, event.event_id)
    [item] = report.deliveries
    assert item.delivery.status is DeliveryStatus.DONE
    assert item.stopped_at is not None
    assert item.stopped_at.task_id == "severe"
    assert [describe_operand(o) for o in item.stopped_at.operands] == [
        'triggeringEvent.data.severity = "low" equal "high" -> false'
    ]
    assert _user(runtime, project_id, user.user_id).status is UserStatus.ENABLED


def test_a_failing_delivery_backs_off_then_is_dead_lettered_with_its_error(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    post_event: PostEvent,
    make_worker: MakeWorker,
    clock: ManualClock,
    deliveries_of: DeliveriesOf,
) -> None:
    save_flow(DISABLE_ON_SIGNAL)
    event = post_event("account.flagged", user_id="U-gone", data={"severity": "high"})
    worker = make_worker()
    outcomes = []

    # With the jitter at one half, attempt n waits half of 2 ** (n - 1) seconds.
    for wait in (0.5, 1, 2, 4):
        outcomes += [r.outcome for r in worker.run_until_idle()]
        clock.advance(wait - 0.001)
        assert worker.run_until_idle() == []
        clock.advance(0.001)
    outcomes += [r.outcome for r in worker.run_until_idle()]

    [delivery] = deliveries_of(event)
    assert outcomes == [Outcome.RETRIED] * 4 + [Outcome.DEAD]
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, 5)
    assert delivery.last_error is not None
    assert delivery.last_error["code"] == "E112102"
    assert delivery.last_error["runId"] == delivery.run_id
    assert _run(runtime, project_id, delivery.run_id).status is RunStatus.FAILED


def test_redrive_counts_first_then_runs_each_dead_lettered_delivery_once(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    make_user: Callable[..., User],
    post_event: PostEvent,
    make_worker: MakeWorker,
    clock: ManualClock,
    deliveries_of: DeliveriesOf,
) -> None:
    save_flow(DISABLE_ON_SIGNAL)
    save_flow(
        {
            **DISABLE_ON_SIGNAL,
            "steps": [
                {"id": "fail", "action": "user-load", "with": {"loginId": "nobody"}},
                {"id": "done", "end": {}},
            ],
        }
    )
    users = [make_user() for _ in range(3)]
    for user in users:
        post_event("account.flagged", user_id=user.user_id, data={"severity": "high"})
    worker = make_worker()
    for _ in range(5):
        worker.run_until_idle()
        clock.advance(60)
    assert {d.status for d in deliveries_of()} == {DeliveryStatus.DEAD}
    save_flow(DISABLE_ON_SIGNAL)
    everything = DeliveryQuery(flow_ids=("disable-on-signal",))

    with runtime.store.connect() as conn:
        counted = delivery_service.redrive(
            conn, project_id, everything, dry_run=True, now_ms=clock()
        )
    with runtime.store.begin() as conn:
        redriven = delivery_service.redrive(
            conn, project_id, everything, dry_run=False, now_ms=clock()
        )
    results = worker.run_until_idle()

    assert (counted, redriven) == (3, 3)
    assert sorted(r.outcome for r in results) == [Outcome.DONE] * 3
    assert {d.status for d in deliveries_of()} == {DeliveryStatus.DONE}
    assert all(d.attempts == 1 for d in deliveries_of())
    for user in users:
        assert _user(runtime, project_id, user.user_id).status is UserStatus.DISABLED


def test_an_expired_lease_lets_another_worker_finish_the_delivery(
    runtime: Runtime,
    project_id: str,
    flagged: Flagged,
    make_worker: MakeWorker,
    clock: ManualClock,
    deliveries_of: DeliveriesOf,
) -> None:
    event = flagged.event
    crashed, rescuer = make_worker("crashed"), make_worker("rescuer")
    assert len(crashed.claim(10)) == 1

    assert rescuer.run_until_idle() == []
    clock.advance(31)
    results = rescuer.run_until_idle()

    [delivery] = deliveries_of(event)
    assert [r.outcome for r in results] == [Outcome.DONE]
    assert (delivery.status, delivery.attempts, delivery.lease_owner) == (
        DeliveryStatus.DONE,
        2,
        "rescuer",
    )


def test_a_worker_that_lost_its_lease_rolls_its_whole_run_back(
    runtime: Runtime,
    project_id: str,
    flagged: Flagged,
    make_worker: MakeWorker,
    clock: ManualClock,
    deliveries_of: DeliveriesOf,
) -> None:
    user, event = flagged.user, flagged.event
    stalled, rescuer = make_worker("stalled"), make_worker("rescuer")
    [held] = stalled.claim(10)
    clock.advance(31)
    [taken] = rescuer.claim(10)

    late = stalled.attempt(held)
    assert _user(runtime, project_id, user.user_id).status is UserStatus.ENABLED
    on_time = rescuer.attempt(taken)

    assert late.outcome is Outcome.LOST
    assert on_time.outcome is Outcome.DONE
    with runtime.store.connect() as conn:
        runs = run_store.list_runs(conn, project_id, flow_id="disable-on-signal")
        modified, _ = audit_store.search_events(
            conn, project_id, actions=["UserModified"]
        )
    assert [r.run_id for r in runs] == [on_time.run_id]
    assert [e.run_id for e in modified] == [on_time.run_id]
    assert deliveries_of(event)[0].run_id == on_time.run_id


def test_a_delivery_to_a_flow_switched_off_since_its_event_is_skipped(
    runtime: Runtime,
    project_id: str,
    flagged: Flagged,
    make_worker: MakeWorker,
    deliveries_of: DeliveriesOf,
) -> None:
    user, event = flagged.user, flagged.event
    with runtime.store.begin() as conn:
        flow_service.set_flow_disabled(
            conn, CLI_ACTOR, project_id, "disable-on-signal", True
        )

    results = make_worker().run_until_idle()

    [delivery] = deliveries_of(event)
    assert [r.outcome for r in results] == [Outcome.SKIPPED]
    assert delivery.skip_reason is SkipReason.FLOW_DISABLED
    assert _user(runtime, project_id, user.user_id).status is UserStatus.ENABLED
