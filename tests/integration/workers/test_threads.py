"""The threaded worker: woken by commits and NOTIFY, many runs at once, a clean stop."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from idflow.runtime import Runtime
from idflow.services import users as user_service
from idflow.store.records import AuditEvent, Delivery, DeliveryStatus, User
from idflow.workers.worker import Worker

PostEvent = Callable[..., AuditEvent]
DeliveriesOf = Callable[..., list[Delivery]]
WAIT_SECONDS = 60.0

ADD_ROLE = {
    "id": "add-role",
    "trigger": {"events": ["role.requested"]},
    "steps": [
        {"id": "load", "action": "user-load-from-triggering-event"},
        {
            "id": "grant",
            "action": "user-add-roles",
            "with": {"roleNames": ["{{ triggeringEvent.data.role }}"]},
        },
        {"id": "done", "end": {"ok": True}},
    ],
}


@pytest.fixture
def started(runtime: Runtime) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(concurrency: int = 4, poll_seconds: float | None = None) -> Worker:
        worker = Worker(runtime, concurrency=concurrency)
        if poll_seconds is not None:
            worker.poll_seconds = poll_seconds
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop(grace_seconds=5)


def _wait_until_settled(deliveries_of: DeliveriesOf, count: int) -> list[Delivery]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = deliveries_of()
        if len(found) == count and all(d.status is DeliveryStatus.DONE for d in found):
            return found
        time.sleep(0.02)
    pytest.fail(f"Deliveries did not all finish: {[d.status for d in deliveries_of()]}")


def test_many_events_for_one_user_at_once_leave_a_consistent_user(
    runtime: Runtime,
    project_id: str,
    save_flow: Callable[[dict[str, Any]], None],
    make_user: Callable[..., User],
    post_event: PostEvent,
    started: Callable[..., Worker],
    deliveries_of: DeliveriesOf,
) -> None:
    save_flow(ADD_ROLE)
    user = make_user()
    roles = [f"role-{n:02d}" for n in range(40)]
    for role in roles:
        post_event("role.requested", user_id=user.user_id, data={"role": role})

    started(concurrency=4)
    _wait_until_settled(deliveries_of, len(roles))

    with runtime.store.connect() as conn:
        final = user_service.require_user_by_id(conn, project_id, user.user_id)
    assert sorted(final.role_names) == roles


def test_a_commit_that_adds_deliveries_wakes_a_worker_that_would_not_poll(
    save_flow: Callable[[dict[str, Any]], None],
    make_user: Callable[..., User],
    post_event: PostEvent,
    started: Callable[..., Worker],
    deliveries_of: DeliveriesOf,
) -> None:
    save_flow(ADD_ROLE)
    user = make_user()
    # Polling every ten minutes: only the wake-up (a commit in this process
    # on SQLite, NOTIFY on PostgreSQL) can finish within the bounded wait.
    started(concurrency=1, poll_seconds=600)
    time.sleep(0.2)

    post_event("role.requested", user_id=user.user_id, data={"role": "woken"})

    _wait_until_settled(deliveries_of, 1)


def test_a_stopped_worker_holds_no_claim(
    runtime: Runtime,
    save_flow: Callable[[dict[str, Any]], None],
    make_user: Callable[..., User],
    post_event: PostEvent,
    deliveries_of: DeliveriesOf,
) -> None:
    save_flow(ADD_ROLE)
    users = [make_user() for _ in range(5)]
    for n in range(60):
        post_event(
            "role.requested", user_id=users[n % 5].user_id, data={"role": f"r{n}"}
        )
    worker = Worker(runtime, concurrency=2)

    worker.start()
    time.sleep(0.05)
    worker.stop(grace_seconds=5)

    statuses = {d.status for d in deliveries_of()}
    assert DeliveryStatus.RUNNING not in statuses
    assert all(
        d.lease_owner is None
        for d in deliveries_of()
        if d.status is DeliveryStatus.PENDING
    )
