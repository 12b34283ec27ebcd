"""Tests for the flow model: edges, the End task and the first task of a flow."""

from __future__ import annotations

import dataclasses

import pytest

from idflow.flows.model import (
    ErrorPolicy,
    Flow,
    Rule,
    Task,
    TaskKind,
    Triggers,
)


def make_flow(tasks: dict[str, Task]) -> Flow:
    return Flow(
        flow_id="f",
        name="f",
        description="",
        management=True,
        start_task="1",
        tasks=tasks,
        triggers=Triggers(),
        document={},
    )


def test_edge_gives_the_target_of_the_first_rule_for_an_outcome() -> None:
    task = Task(
        id="2",
        name="Disable",
        kind=TaskKind.ACTION,
        action="user-disable",
        rules=(Rule("success", "0"), Rule("error", "9"), Rule("success", "7")),
    )

    assert task.edge("success") == "0"
    assert task.edge("error") == "9"


def test_edge_is_none_for_an_outcome_without_a_rule() -> None:
    task = Task(id="2", name="Disable", kind=TaskKind.ACTION, action="user-disable")

    assert task.edge("success") is None


def test_only_an_automated_task_with_the_end_action_is_the_end() -> None:
    end = Task(id="0", name="End", kind=TaskKind.ACTION, action="end")
    other_action = Task(id="1", name="end", kind=TaskKind.ACTION, action="user-load")
    condition_named_end = Task(id="end", name="end", kind=TaskKind.CONDITION)

    assert end.is_end
    assert not other_action.is_end
    assert not condition_named_end.is_end


def test_a_task_fails_automatically_unless_it_says_otherwise() -> None:
    task = Task(id="2", name="Disable", kind=TaskKind.ACTION, action="user-disable")

    assert task.error_policy is ErrorPolicy.AUTOMATIC


def test_first_task_id_follows_the_start_task_edge() -> None:
    start = Task(id="start", name="start", kind=TaskKind.START, rules=(Rule("", "1"),))

    assert make_flow({"start": start}).first_task_id == "1"


def test_first_task_id_is_none_without_a_start_task_or_its_edge() -> None:
    lone = Task(id="start", name="start", kind=TaskKind.START)

    assert make_flow({}).first_task_id is None
    assert make_flow({"start": lone}).first_task_id is None


def test_tasks_are_frozen_values() -> None:
    task = Task(id="2", name="Disable", kind=TaskKind.ACTION, action="user-disable")

    with pytest.raises(dataclasses.FrozenInstanceError):
        task.action = "user-enable"  # type: ignore[misc]


def test_kinds_and_policies_carry_the_dsl_spelling() -> None:
    assert [kind.value for kind in TaskKind] == ["start", "automated", "condition"]
    assert [policy.value for policy in ErrorPolicy] == ["automatic", "ignore", "custom"]
