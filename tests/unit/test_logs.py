from __future__ import annotations

import logging

from idflow.logs import ContextFilter, bound


def _filtered(message: str) -> logging.LogRecord:
    record = logging.LogRecord(
        "idflow.test", logging.INFO, __file__, 1, message, (), None
    )
    ContextFilter().filter(record)
    return record


def test_lines_inside_bound_carry_its_project_and_run_and_lose_them_after() -> None:
    with bound("P1", "R1"):
        inside = _filtered("inside")
        with bound("P2"):
            nested = _filtered("nested")
    after = _filtered("after")

    assert (inside.project_id, inside.run_id) == ("P1", "R1")
    assert (nested.project_id, nested.run_id) == ("P2", "R1")
    assert (after.project_id, after.run_id) == ("-", "-")
    assert after.event_name == "log"


def test_a_line_keeps_the_event_name_it_was_given() -> None:
    record = logging.LogRecord("idflow.test", logging.INFO, __file__, 1, "x", (), None)
    record.event_name = "run_finished"

    ContextFilter().filter(record)

    assert record.event_name == "run_finished"
