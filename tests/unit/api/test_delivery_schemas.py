from __future__ import annotations

from idflow.api.openapi_answers import ENTITIES
from idflow.services.deliveries import delivery_to_wire, trigger_record
from idflow.services.explain import event_to_wire
from idflow.store.records import AuditEvent, AuditType, Delivery, DeliveryStatus

EVENT = AuditEvent(
    project_id="P1",
    event_id="A1",
    occurred_ms=1,
    action="UserCreated",
    type=AuditType.INFO,
    actor_id="K1",
)


def test_the_delivery_schema_lists_exactly_the_keys_a_delivery_renders() -> None:
    rendered = delivery_to_wire(
        Delivery("D1", "P1", "A1", "f", DeliveryStatus.PENDING, 1, 1)
    )

    assert list(ENTITIES["Delivery"]["properties"]) == list(rendered)


def test_the_chained_event_schema_lists_exactly_the_keys_an_event_renders() -> None:
    assert list(ENTITIES["ChainedEvent"]["properties"]) == list(event_to_wire(EVENT))


def test_a_run_reads_every_key_of_the_event_with_absent_values_null() -> None:
    assert trigger_record(EVENT) == {
        "id": "A1",
        "action": "UserCreated",
        "type": "info",
        "custom": False,
        "userId": None,
        "actorId": "K1",
        "tenantId": None,
        "externalIds": [],
        "occurred": 1,
        "data": {},
        "originEventId": None,
        "depth": 0,
        "runId": None,
    }
