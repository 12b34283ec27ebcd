"""Event delivery end to end on the real store: flows, events, a worker on a test clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from idflow.clock import now_ms
from idflow.flows.authoring import compile_authoring
from idflow.runtime import Runtime
from idflow.services import audit as audit_service
from idflow.services import connectors as connector_service
from idflow.services import flows as flow_service
from idflow.services import projects as project_service
from idflow.services import users as user_service
from idflow.services.audit import CLI_ACTOR, Actor
from idflow.settings import Settings
from idflow.store import deliveries as delivery_store
from idflow.store.database import Store
from idflow.store.deliveries import DeliveryQuery
from idflow.store.records import AuditEvent, AuditType, Delivery, User
from idflow.workers.config import DeliverySettings
from idflow.workers.worker import Worker

BACKEND = Actor("K-backend")


class ManualClock:
    """Epoch milliseconds that move only when a test says so.

    It starts a minute ahead of the wall clock, so the events a test records
    (stamped with the real time) are due at once.
    """

    def __init__(self) -> None:
        self.now = now_ms() + 60_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1000)


@pytest.fixture
def delivery_settings() -> DeliverySettings:
    """The delivery settings of the test's runtime; a test module may override it."""
    return DeliverySettings(lease_seconds=30, poll_seconds=0.05, grace_seconds=5)


@pytest.fixture
def runtime(store: Store, delivery_settings: DeliverySettings) -> Iterator[Runtime]:
    settings = dataclasses.replace(
        Settings(database_url="unused-the-store-is-given"),
        deliveries=delivery_settings,
    )
    runtime = Runtime(store, settings)
    yield runtime
    runtime.connectors.close()
    if runtime.executor is not None:
        runtime.executor.shutdown()


@pytest.fixture
def project_id(runtime: Runtime) -> str:
    with runtime.store.begin() as conn:
        project, _ = project_service.create_project(conn, CLI_ACTOR, "Acme")
    return project.project_id


@pytest.fixture
def save_flow(runtime: Runtime, project_id: str) -> Callable[[dict[str, Any]], None]:
    def save(authoring: dict[str, Any]) -> None:
        with runtime.store.begin() as conn:
            flow_service.save_flow(
                conn, CLI_ACTOR, project_id, compile_authoring(authoring)
            )

    return save


@pytest.fixture
def make_user(runtime: Runtime, project_id: str) -> Callable[..., User]:
    counter = iter(range(1_000_000))

    def make(**fields: Any) -> User:
        with runtime.store.begin() as conn:
            return user_service.create_user(
                conn,
                CLI_ACTOR,
                project_id,
                f"user{next(counter)}@example.com",
                **fields,
            )

    return make


@pytest.fixture
def post_event(runtime: Runtime, project_id: str) -> Callable[..., AuditEvent]:
    """Record a custom event as `POST /v1/mgmt/audit/event` does."""

    def post(action: str, **fields: Any) -> AuditEvent:
        with runtime.store.begin() as conn:
            return audit_service.emit_custom(
                conn, BACKEND, project_id, action, AuditType.INFO, **fields
            )

    return post


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_worker(runtime: Runtime, clock: ManualClock) -> Callable[..., Worker]:
    def make(owner: str = "w1", **options: Any) -> Worker:
        return Worker(runtime, owner=owner, clock=clock, random=lambda: 0.5, **options)

    return make


@pytest.fixture
def deliveries_of(runtime: Runtime, project_id: str) -> Callable[..., list[Delivery]]:
    def find(event: AuditEvent | None = None) -> list[Delivery]:
        with runtime.store.connect() as conn:
            if event is not None:
                return delivery_store.deliveries_for_event(
                    conn, project_id, event.event_id
                )
            return delivery_store.list_deliveries(
                conn, project_id, DeliveryQuery(limit=10_000)
            )

    return find


def add_http_connector(
    runtime: Runtime, project_id: str, name: str, base_url: str, **settings: Any
) -> None:
    """Save an HTTP connector for the project's flows to call (needs a secret key)."""
    with runtime.store.begin() as conn:
        connector_service.create_connector(
            conn,
            runtime.connectors.keyring,
            CLI_ACTOR,
            project_id,
            name=name,
            connector_type="http",
            settings={"baseUrl": base_url, **settings},
        )
