"""The docs of event-triggered flows tell the truth: every triggeringEvent key, every state."""

from __future__ import annotations

import re

from idflow.services.deliveries import trigger_record
from idflow.store.records import AuditEvent, AuditType, DeliveryStatus, SkipReason
from tests.unit.test_docs import _code_names, _read, _section, _table_rows


def _documented(page: str, heading: str) -> set[str]:
    section = _section(_read(page), heading)
    return {names[0] for row in _table_rows(section) if (names := _code_names(row[0]))}


def test_every_key_a_triggered_run_reads_is_in_the_flow_format_table() -> None:
    event = AuditEvent("P1", "A1", 1, "UserCreated", AuditType.INFO, "K1")
    keys = {f"triggeringEvent.{key}" for key in trigger_record(event)}

    assert keys == _documented("flow-format.md", "## The triggering event")


def test_every_delivery_status_and_skip_reason_is_in_operations_md() -> None:
    section = _section(_read("operations.md"), "### Deliveries")

    assert {s.value for s in DeliveryStatus} <= _documented(
        "operations.md", "### Deliveries"
    )
    assert all(f"`{reason.value}`" in section for reason in SkipReason)
    assert re.search(r"IDFLOW_DELIVERY_MAX_ATTEMPTS", section)
