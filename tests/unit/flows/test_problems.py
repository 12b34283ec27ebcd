"""Tests for validation problems: how they read and how they are raised."""

from __future__ import annotations

import pytest

from idflow.errors import FlowDefinitionError
from idflow.flows.problems import Problem, raise_problems


def test_a_problem_reads_file_then_task_then_field_then_message() -> None:
    problem = Problem("Unknown action 'x'.", "f.yaml", "2", "action")

    assert str(problem) == "f.yaml, task '2', field 'action': Unknown action 'x'."


def test_a_problem_without_a_place_is_just_its_message() -> None:
    assert str(Problem("The flow has no End task.")) == "The flow has no End task."


def test_task_zero_is_still_named() -> None:
    assert str(Problem("Bad.", task_id="0")) == "task '0': Bad."


def test_to_dict_renders_the_problem_with_wire_names() -> None:
    problem = Problem("Bad.", "f.yaml", "2", "next.rules")

    assert problem.to_dict() == {
        "source": "f.yaml",
        "taskId": "2",
        "field": "next.rules",
        "message": "Bad.",
    }


def test_raise_problems_does_nothing_without_problems() -> None:
    raise_problems([], "'f'")


def test_raise_problems_summarises_one_problem_in_the_singular() -> None:
    with pytest.raises(FlowDefinitionError) as raised:
        raise_problems([Problem("Bad.", "f.yaml")], "'f'")

    assert raised.value.message == "Flow 'f' has 1 problem:\n  - f.yaml: Bad."


def test_raise_problems_carries_every_problem_in_order() -> None:
    problems = (Problem("First."), Problem("Second.", task_id="1"))

    with pytest.raises(FlowDefinitionError) as raised:
        raise_problems(iter(problems), "'f'")

    assert raised.value.problems == problems
    assert raised.value.message == (
        "Flow 'f' has 2 problems:\n  - First.\n  - task '1': Second."
    )
