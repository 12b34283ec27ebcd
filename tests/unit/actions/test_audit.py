"""Tests for the audit action: custom events written by a flow step."""

from __future__ import annotations

import pytest

from idflow.store.database import Store
from idflow.store.records import AuditType, RunStatus
from tests.unit.actions.conftest import RunFlow, events, one_step_flow


def test_audit_generate_event_writes_a_custom_event_with_context_data(
    run_flow: RunFlow, store: Store
) -> None:
    run = run_flow(
        one_step_flow(
            "audit-generate-event",
            {
                "action": "inactive.user.disabled",
                "data": {"days": "{{ client.days }}", "by": "nightly sweep"},
                "userId": "{{ client.userId }}",
                "tenantId": "T-acme",
            },
            outputs={"eventId": "{{ eventId }}"},
        ),
        {"days": 120, "userId": "U-ada"},
    )

    assert run.status is RunStatus.COMPLETED
    [event] = events(store)
    assert (event.action, event.type, event.custom) == (
        "inactive.user.disabled",
        AuditType.INFO,
        True,
    )
    assert event.data == {"days": 120, "by": "nightly sweep"}
    assert (event.user_id, event.tenant_id, event.tenants) == (
        "U-ada",
        "T-acme",
        ("T-acme",),
    )
    assert (event.actor_id, event.run_id) == (
        "flow:test-audit-generate-event",
        run.run_id,
    )
    assert run.trace[0]["detail"] == {
        "eventId": event.event_id,
        "action": "inactive.user.disabled",
    }


def test_audit_generate_event_has_no_context_key_of_its_own(
    run_flow: RunFlow,
) -> None:
    run = run_flow(
        one_step_flow(
            "audit-generate-event",
            {"action": "x"},
            outputs={"eventId": "{{ eventId }}"},
        )
    )

    assert run.outputs == {"eventId": ""}


def test_audit_generate_event_result_lands_under_a_context_key_when_given(
    run_flow: RunFlow, store: Store
) -> None:
    run = run_flow(
        {
            "id": "audit-key",
            "steps": [
                {
                    "id": "act",
                    "action": "audit-generate-event",
                    "with": {"action": "x"},
                    "context-key": "audited",
                },
                {"id": "done", "end": {"eventId": "{{ audited.eventId }}"}},
            ],
        }
    )

    [event] = events(store)
    assert run.outputs == {"eventId": event.event_id}


@pytest.mark.parametrize(
    ("given", "expected"),
    [("warn", AuditType.WARN), ("ERROR", AuditType.ERROR), ("Info", AuditType.INFO)],
)
def test_audit_generate_event_takes_the_type_in_any_case(
    run_flow: RunFlow, store: Store, given: str, expected: AuditType
) -> None:
    run_flow(one_step_flow("audit-generate-event", {"action": "x", "type": given}))

    [event] = events(store)
    assert event.type is expected


def test_audit_generate_event_of_an_unknown_type_fails_naming_the_types(
    run_flow: RunFlow, store: Store
) -> None:
    run = run_flow(
        one_step_flow("audit-generate-event", {"action": "x", "type": "Warning"})
    )

    assert run.status is RunStatus.FAILED
    assert run.error == {
        "code": "E011003",
        "message": "Audit type 'warning' is not known: expected 'info', 'warn' or 'error'.",
        "taskId": "act",
    }
    assert events(store) == []


def test_audit_generate_event_with_data_that_is_not_an_object_fails(
    run_flow: RunFlow, store: Store
) -> None:
    run = run_flow(
        one_step_flow(
            "audit-generate-event", {"action": "x", "data": "{{ client.n }}"}
        ),
        {"n": 3},
    )

    assert run.error is not None
    assert (run.error["code"], run.error["message"]) == (
        "E011003",
        "Argument 'data' is 3: expected an object.",
    )
    assert events(store) == []


def test_audit_generate_event_with_an_action_that_renders_empty_fails(
    run_flow: RunFlow,
) -> None:
    run = run_flow(
        one_step_flow("audit-generate-event", {"action": "{{ client.name }}"})
    )

    assert run.error is not None
    assert run.error["message"] == (
        "Argument 'action' rendered empty: expected a non-blank value."
    )
