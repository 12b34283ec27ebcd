"""Deliveries are written with their event, to every enabled flow it triggers, loops kept out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from idflow.runtime import Runtime
from idflow.services import audit as audit_service
from idflow.services import flows as flow_service
from idflow.services import users as user_service
from idflow.services.audit import CLI_ACTOR, AuditAction
from idflow.store import audit as audit_store
from idflow.store.records import (
    AuditEvent,
    AuditType,
    Delivery,
    DeliveryStatus,
    SkipReason,
    User,
)
from idflow.workers.config import DeliverySettings
from idflow.workers.worker import Worker

PostEvent = Callable[..., AuditEvent]
SaveFlow = Callable[[dict[str, Any]], None]
DeliveriesOf = Callable[..., list[Delivery]]


def _on(events: list[str], flow_id: str = "on-event", **trigger: Any) -> dict[str, Any]:
    return {
        "id": flow_id,
        "trigger": {"events": events, **trigger},
        "steps": [{"id": "done", "end": {"ok": True}}],
    }


def test_an_event_is_stored_with_a_pending_delivery_to_each_flow_it_triggers(
    save_flow: SaveFlow, post_event: PostEvent, deliveries_of: DeliveriesOf
) -> None:
    save_flow(_on(["order.placed"], "a"))
    save_flow(_on(["order.placed", "order.paid"], "b"))
    save_flow(_on(["order.paid"], "c"))

    event = post_event("order.placed")

    found = deliveries_of(event)
    assert [(d.flow_id, d.status) for d in found] == [
        ("a", DeliveryStatus.PENDING),
        ("b", DeliveryStatus.PENDING),
    ]
    assert all(d.available_ms == event.occurred_ms for d in found)


def test_a_rolled_back_event_leaves_no_delivery(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    deliveries_of: DeliveriesOf,
) -> None:
    save_flow(_on(["order.placed"]))

    with pytest.raises(RuntimeError), runtime.store.begin() as conn:
        audit_service.emit_custom(
            conn, CLI_ACTOR, project_id, "order.placed", AuditType.INFO
        )
        raise RuntimeError("the change fails after its event")

    assert deliveries_of() == []


def test_a_disabled_flow_gets_no_delivery_until_it_is_enabled_again(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    post_event: PostEvent,
    deliveries_of: DeliveriesOf,
) -> None:
    save_flow(_on(["order.placed"]))
    with runtime.store.begin() as conn:
        flow_service.set_flow_disabled(conn, CLI_ACTOR, project_id, "on-event", True)

    while_off = post_event("order.placed")
    with runtime.store.begin() as conn:
        flow_service.set_flow_disabled(conn, CLI_ACTOR, project_id, "on-event", False)
    when_on = post_event("order.placed")

    assert deliveries_of(while_off) == []
    assert [d.flow_id for d in deliveries_of(when_on)] == ["on-event"]


def test_the_trigger_follows_the_current_version_and_a_disabled_trigger(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    post_event: PostEvent,
    deliveries_of: DeliveriesOf,
) -> None:
    save_flow(_on(["order.placed"]))
    save_flow(_on(["order.paid"]))
    moved = (post_event("order.placed"), post_event("order.paid"))
    save_flow(_on(["order.paid"], enabled=False))
    switched_off = post_event("order.paid")
    with runtime.store.begin() as conn:
        flow_service.delete_flow(conn, CLI_ACTOR, project_id, "on-event")
    deleted = post_event("order.paid")

    assert [len(deliveries_of(e)) for e in moved] == [0, 1]
    assert deliveries_of(switched_off) == []
    assert deliveries_of(deleted) == []


def test_a_custom_event_named_like_idflows_own_starts_no_flow(
    save_flow: SaveFlow,
    post_event: PostEvent,
    make_user: Callable[..., User],
    deliveries_of: DeliveriesOf,
) -> None:
    save_flow(_on(["UserCreated"]))

    forged = post_event("UserCreated")
    make_user()

    assert deliveries_of(forged) == []
    assert len(deliveries_of()) == 1


def test_an_event_caused_by_a_flows_own_run_is_skipped_as_a_loop(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    make_user: Callable[..., User],
    make_worker: Callable[..., Worker],
    deliveries_of: DeliveriesOf,
) -> None:
    save_flow(TAG_ON_CHANGE)
    save_flow(_on(["UserModified"], "watch-changes"))
    user = make_user()
    with runtime.store.begin() as conn:
        user_service.change_user(conn, CLI_ACTOR, user, name="Ada")

    make_worker().run_until_idle()

    [tag_run_event] = [
        e for e in _events(runtime, project_id, "UserModified") if e.run_id
    ]
    caused = {d.flow_id: d for d in deliveries_of(tag_run_event)}
    assert caused["tag-on-change"].status is DeliveryStatus.SKIPPED
    assert caused["tag-on-change"].skip_reason is SkipReason.LOOP
    assert caused["watch-changes"].status is DeliveryStatus.DONE
    assert {d.status for d in deliveries_of()} == {
        DeliveryStatus.DONE,
        DeliveryStatus.SKIPPED,
    }


def test_a_chain_stops_at_its_depth_limit_with_an_event_saying_so(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    post_event: PostEvent,
    make_worker: Callable[..., Worker],
    deliveries_of: DeliveriesOf,
) -> None:
    save_flow(_relay("ping", "pong"))
    save_flow(_relay("pong", "ping"))

    origin = post_event("ping")
    make_worker().run_until_idle()

    chain = sorted(
        (e for e in _events(runtime, project_id) if e.action in ("ping", "pong")),
        key=lambda e: e.depth,
    )
    assert [(e.action, e.depth) for e in chain] == [
        ("ping", 0),
        ("pong", 1),
        ("ping", 2),
        ("pong", 3),
    ]
    assert all(e.origin_event_id == origin.event_id for e in chain[1:])
    assert deliveries_of(chain[-1]) == []
    [stopped] = _events(runtime, project_id, str(AuditAction.EVENT_CHAIN_STOPPED))
    assert stopped.data == {
        "eventId": chain[-1].event_id,
        "action": "pong",
        "depth": 3,
        "maxDepth": 3,
        "flowIds": ["relay-pong"],
    }
    assert stopped.run_id == chain[-1].run_id


@pytest.fixture
def delivery_settings() -> DeliverySettings:
    return DeliverySettings(max_event_depth=3)


TAG_ON_CHANGE = {
    "id": "tag-on-change",
    "trigger": {"events": ["UserModified"]},
    "steps": [
        {"id": "load", "action": "user-load-from-triggering-event"},
        {
            "id": "tag",
            "action": "user-update",
            "with": {"customAttributes": {"seen": "{{ triggeringEvent.id }}"}},
        },
        {"id": "done", "end": {"ok": True}},
    ],
}


def _relay(heard: str, said: str) -> dict[str, Any]:
    return {
        "id": f"relay-{heard}",
        "trigger": {"events": [heard]},
        "steps": [
            {"id": "say", "action": "audit-generate-event", "with": {"action": said}},
            {"id": "done", "end": {"ok": True}},
        ],
    }


def _events(
    runtime: Runtime, project_id: str, action: str | None = None
) -> list[AuditEvent]:
    with runtime.store.connect() as conn:
        found, _ = audit_store.search_events(
            conn, project_id, actions=[action] if action else [], limit=1000
        )
    return found
