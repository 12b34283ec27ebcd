"""A delivery that reaches the outside world sends one idempotency key on every attempt."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from idflow.runtime import Runtime
from idflow.store.database import Store
from idflow.store.records import AuditEvent, Delivery, DeliveryStatus
from idflow.workers.config import DeliverySettings
from idflow.workers.worker import Worker
from tests.integration.connectors.conftest import make_runtime
from tests.integration.connectors.servers import RecordingServer, recording_server
from tests.integration.workers.conftest import ManualClock, add_http_connector

# The call is made, then the run fails: every attempt repeats the call.
CALL_THEN_FAIL = {
    "id": "call-then-fail",
    "trigger": {"events": ["order.placed"]},
    "steps": [
        {
            "id": "notify",
            "action": "http-connector",
            "with": {"connector": "crm", "path": "/orders", "method": "POST"},
        },
        {"id": "load", "action": "user-load", "with": {"loginId": "nobody"}},
        {"id": "done", "end": {"ok": True}},
    ],
}


@pytest.fixture
def runtime(sqlite_file_store: Store) -> Iterator[Runtime]:
    base = make_runtime(sqlite_file_store)
    settings = dataclasses.replace(
        base.settings, deliveries=DeliverySettings(max_attempts=3)
    )
    runtime = Runtime(sqlite_file_store, settings)
    yield runtime
    runtime.connectors.close()
    base.connectors.close()


@pytest.fixture
def http_server() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


def test_every_attempt_at_a_delivery_sends_the_same_idempotency_key(
    runtime: Runtime,
    project_id: str,
    http_server: RecordingServer,
    save_flow: Callable[[dict[str, Any]], None],
    post_event: Callable[..., AuditEvent],
    make_worker: Callable[..., Worker],
    clock: ManualClock,
    deliveries_of: Callable[..., list[Delivery]],
) -> None:
    add_http_connector(runtime, project_id, "crm", http_server.url)
    save_flow(CALL_THEN_FAIL)
    post_event("order.placed")
    post_event("order.placed")
    worker = make_worker()

    for _ in range(3):
        worker.run_until_idle()
        clock.advance(60)

    keys = [r.headers["idempotency-key"] for r in http_server.to("/orders")]
    assert [d.status for d in deliveries_of()] == [DeliveryStatus.DEAD] * 2
    assert len(keys) == 6
    assert len(set(keys)) == 2
