"""Tests for the planner: what a plan holds, and the problems only it can find."""

from __future__ import annotations

from typing import Any

import pytest

from idflow.actions import users
from idflow.actions.registry import ACTION_IMPLEMENTATIONS
from idflow.engine.plan import Plan, compile_plan
from idflow.errors import FlowDefinitionError
from idflow.flows.descope import parse_document
from idflow.flows.problems import Problem
from tests.unit.flows.documents import (
    action_task,
    atomic,
    condition_task,
    document,
    end_task,
    lockout_document,
)

SOURCE = "flows/lockout.json"


def plan_of(raw: dict[str, Any], actions: Any = ACTION_IMPLEMENTATIONS) -> Plan:
    return compile_plan(parse_document(raw), 7, actions, SOURCE)


def problems_of(
    raw: dict[str, Any], actions: Any = ACTION_IMPLEMENTATIONS
) -> list[Problem]:
    with pytest.raises(FlowDefinitionError) as raised:
        plan_of(raw, actions)
    return list(raised.value.problems)


def condition_on(operator: str, predicate: Any) -> dict[str, Any]:
    return document(
        condition_task(
            "1", {"c1": ([atomic("client.value", operator, predicate)], "0")}, "0"
        ),
        end_task("0"),
    )


def test_a_plan_starts_at_the_start_tasks_target_and_records_its_version() -> None:
    plan = plan_of(lockout_document())

    assert (plan.first_task_id, plan.version) == ("1", 7)
    assert plan.flow.flow_id == "lockout"


def test_a_plan_holds_a_step_for_every_task_but_the_start() -> None:
    plan = plan_of(lockout_document())

    assert set(plan.steps) == {"1", "2", "0"}


def test_a_step_maps_each_outcome_to_the_next_task() -> None:
    plan = plan_of(lockout_document())

    assert plan.steps["1"].edges == {"c1": "2", "ELSE": "0"}
    assert plan.steps["2"].edges == {"success": "0"}
    assert plan.steps["0"].edges == {}


def test_an_action_step_holds_its_implementation_and_catalogue_context_key() -> None:
    step = plan_of(lockout_document()).steps["2"]

    assert step.action is users.disable_user
    assert step.context_key == "user"


def test_a_tasks_own_context_key_replaces_the_catalogues() -> None:
    raw = document(
        action_task("1", "user-load", arguments={"loginId": "{{ client.admin }}"}),
        end_task(),
    )
    raw["contents"]["tasks"]["1"]["contextKey"] = "admin"

    step = plan_of(raw).steps["1"]

    assert step.context_key == "admin"
    assert step.arguments["loginId"].paths == ("client.admin",)
    assert step.arguments["loginId"].render({"client": {"admin": "a@x"}}) == "a@x"


def test_an_action_without_a_catalogue_context_key_keeps_no_result() -> None:
    raw = document(
        action_task("1", "audit-generate-event", arguments={"action": "x"}), end_task()
    )

    assert plan_of(raw).steps["1"].context_key is None


def test_a_literal_predicate_is_compiled_once_into_a_check() -> None:
    step = plan_of(condition_on("greater-than", 90)).steps["1"]

    [planned] = step.branches[0].atomics
    assert planned.check is not None
    assert planned.predicate_template is None
    assert planned.check(120, 0) is True
    assert planned.target_parts == ("client", "value")


def test_a_templated_predicate_is_kept_as_a_template_for_the_run() -> None:
    step = plan_of(condition_on("greater-than", "{{ client.limit }}")).steps["1"]

    [planned] = step.branches[0].atomics
    assert planned.check is None
    assert planned.predicate_template is not None
    assert planned.predicate_template.render({"client": {"limit": 5}}) == 5


def test_the_branches_keep_their_declared_order_and_or_flag() -> None:
    raw = condition_on("is-true", "")
    raw["contents"]["tasks"]["1"]["conditions"][0]["logicalOr"] = True

    branches = plan_of(raw).steps["1"].branches

    assert [(b.interaction_id, b.logical_or) for b in branches] == [
        ("c1", True),
        ("ELSE", False),
    ]


def test_end_outputs_are_planned_with_their_types_string_by_default() -> None:
    raw = document(
        end_task(
            "0",
            [
                {"key": "id", "value": "{{ user.userId }}"},
                {"key": "n", "type": "number", "value": 3},
            ],
        )
    )

    outputs = plan_of(raw).steps["0"].outputs

    assert [(o.key, o.type, o.value.source) for o in outputs] == [
        ("id", "string", "{{ user.userId }}"),
        ("n", "number", 3),
    ]


def test_an_unknown_operator_names_the_file_task_field_and_known_operators() -> None:
    [problem] = problems_of(condition_on("bigger-than", 90))

    assert (problem.source, problem.task_id, problem.field) == (
        SOURCE,
        "1",
        "conditions.0.atomicConditions.0",
    )
    assert problem.message.startswith(
        "Condition operator 'bigger-than' is unknown; expected one of after, before, contains,"
    )


def test_an_unknown_operator_is_found_even_with_a_templated_predicate() -> None:
    [problem] = problems_of(condition_on("bigger-than", "{{ client.limit }}"))

    assert problem.field == "conditions.0.atomicConditions.0"
    assert "'bigger-than' is unknown" in problem.message


def test_a_bad_regular_expression_is_found_when_planning() -> None:
    [problem] = problems_of(condition_on("matches", "(unclosed"))

    assert (problem.task_id, problem.field) == ("1", "conditions.0.atomicConditions.0")
    assert problem.message.startswith("Regular expression '(unclosed' is invalid (")
    assert problem.message.endswith("); expected RE2 syntax.")


def test_a_bad_duration_is_found_when_planning() -> None:
    [problem] = problems_of(condition_on("within-last", "soon"))

    assert problem.field == "conditions.0.atomicConditions.0"
    assert problem.message.startswith("Duration 'soon' is malformed;")


def test_a_malformed_argument_template_names_the_argument() -> None:
    raw = document(
        action_task("1", "user-load", arguments={"loginId": "{{ client.id"}),
        end_task(),
    )

    [problem] = problems_of(raw)

    assert (problem.source, problem.task_id, problem.field) == (
        SOURCE,
        "1",
        "arguments.loginId",
    )
    assert "has an unclosed '{{' at position 0" in problem.message


def test_a_malformed_output_template_names_the_output() -> None:
    raw = document(end_task("0", [{"key": "id", "value": "{{ user..id }}"}]))

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == ("0", "arguments.outputs.0.value")
    assert "expected names joined by single dots" in problem.message


def test_a_catalogue_action_without_an_implementation_is_refused() -> None:
    without_disable = {
        k: v for k, v in ACTION_IMPLEMENTATIONS.items() if k != "user-disable"
    }

    [problem] = problems_of(lockout_document(), without_disable)

    assert (problem.task_id, problem.field) == ("2", "action")
    assert problem.message == (
        "Action 'user-disable' has no implementation in this idflow."
    )


def test_validation_and_planning_problems_are_reported_together() -> None:
    raw = condition_on("bigger-than", 1)
    raw["contents"]["tasks"]["7"] = end_task("7")

    problems = problems_of(raw)

    assert [(p.task_id, p.message[:30]) for p in problems] == [
        ("7", "No path from the start reaches"),
        ("1", "Condition operator 'bigger-tha"),
    ]


@pytest.mark.parametrize(
    "outputs",
    [{"n": 1}, ["not an object"], [{"type": "string", "value": "x"}]],
    ids=["object", "item-not-an-object", "item-without-key"],
)
def test_malformed_end_outputs_are_reported_as_problems_not_crashes(
    outputs: Any,
) -> None:
    raw = document(end_task("0", outputs=outputs))

    problems = problems_of(raw)

    assert problems
    assert all(p.task_id == "0" for p in problems)


def test_an_unknown_action_is_reported_once() -> None:
    raw = document(action_task("1", "user-explode"), end_task("0"))

    problems = problems_of(raw)

    assert [p.field for p in problems] == ["action"]
    assert "user-explode" in problems[0].message


def test_the_first_rule_for_an_outcome_is_the_edge_the_run_follows() -> None:
    raw = document(action_task("1", "user-disable"), end_task("0"), end_task("9"))
    raw["contents"]["tasks"]["1"]["next"]["rules"].append(
        {"interactionId": "success", "taskId": "9"}
    )

    plan = plan_of(raw)

    assert plan.steps["1"].edges["success"] == "0"


def test_conditions_and_end_alone_make_a_context_only_plan() -> None:
    plan = plan_of(condition_on("is-true", ""))

    assert plan.context_only


def test_a_plan_with_an_action_is_not_context_only() -> None:
    assert not plan_of(lockout_document()).context_only
