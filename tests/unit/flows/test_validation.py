"""Tests for flow validation: one test per problem, each located and explained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from idflow.errors import FlowDefinitionError
from idflow.flows.descope import parse_document
from idflow.flows.files import load_flow_file
from idflow.flows.problems import Problem
from idflow.flows.validation import MAX_TASKS, find_problems, validate_flow
from tests.unit.flows.documents import (
    action_task,
    atomic,
    condition_task,
    document,
    end_task,
    lockout_document,
)

SOURCE = "flows/lockout.json"


def problems_of(raw: dict[str, Any]) -> list[Problem]:
    return find_problems(parse_document(raw, SOURCE), SOURCE)


def only_problem(raw: dict[str, Any]) -> Problem:
    problems = problems_of(raw)
    assert len(problems) == 1, problems
    return problems[0]


def tasks_of(raw: dict[str, Any]) -> dict[str, Any]:
    tasks: dict[str, Any] = raw["contents"]["tasks"]
    return tasks


def test_the_lockout_flow_has_no_problems() -> None:
    assert problems_of(lockout_document()) == []


def test_validate_flow_raises_one_error_listing_every_problem() -> None:
    raw = lockout_document()
    tasks_of(raw)["2"]["action"] = "user-frobnicate"
    raw["metadata"]["management"] = False

    with pytest.raises(FlowDefinitionError) as raised:
        validate_flow(parse_document(raw), SOURCE)

    assert len(raised.value.problems) == 2
    assert raised.value.message.startswith("Flow 'lockout' has 2 problems:\n  - ")


def test_an_unknown_action_names_the_file_task_field_and_the_known_actions() -> None:
    raw = lockout_document()
    tasks_of(raw)["2"]["action"] = "user-frobnicate"

    problem = only_problem(raw)

    assert (problem.source, problem.task_id, problem.field) == (
        SOURCE,
        "2",
        "action",
    )
    assert problem.message.startswith(
        "Unknown action 'user-frobnicate': expected one of audit-generate-event, "
    )
    assert "user-disable, user-enable" in problem.message
    assert str(problem).startswith(
        "flows/lockout.json, task '2', field 'action': Unknown action"
    )


def test_an_unknown_argument_names_the_arguments_the_action_takes() -> None:
    raw = lockout_document()
    tasks_of(raw)["2"]["arguments"] = {"user": {"type": "inline", "value": "x"}}

    problem = only_problem(raw)

    assert (problem.source, problem.task_id, problem.field) == (
        SOURCE,
        "2",
        "arguments.user",
    )
    assert problem.message == (
        "Action 'user-disable' takes no argument 'user': expected userId."
    )


def test_a_missing_required_argument_names_it_and_says_what_it_is() -> None:
    raw = document(action_task("1", "user-load"), end_task())

    problem = only_problem(raw)

    assert (problem.source, problem.task_id, problem.field) == (
        SOURCE,
        "1",
        "arguments.loginId",
    )
    assert problem.message == (
        "Action 'user-load' needs argument 'loginId': A login id or a user id."
    )


@pytest.mark.parametrize("blank", ["", [], None])
def test_a_blank_required_argument_counts_as_missing(blank: Any) -> None:
    raw = document(
        action_task("1", "user-load", arguments={"loginId": blank}), end_task()
    )

    assert only_problem(raw).field == "arguments.loginId"


def test_an_action_needing_one_of_several_arguments_lists_them() -> None:
    raw = document(
        action_task("1", "tenant-update", arguments={"tenantId": "T1"}), end_task()
    )

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("1", "arguments")
    assert problem.message == (
        "Action 'tenant-update' needs at least one of: name, selfProvisioningDomains, customAttributes."
    )


def test_an_edge_to_a_missing_task_names_the_edge_and_the_task() -> None:
    raw = lockout_document()
    tasks_of(raw)["2"]["next"]["rules"][0]["taskId"] = "9"

    problem = only_problem(raw)

    assert (problem.source, problem.task_id, problem.field) == (
        SOURCE,
        "2",
        "next.rules.0.taskId",
    )
    assert problem.message == (
        "Edge 'success' leads to task '9', which does not exist."
    )


def test_an_edge_back_to_the_start_task_is_refused() -> None:
    raw = lockout_document()
    tasks_of(raw)["2"]["next"]["rules"][0]["taskId"] = "start"

    problems = problems_of(raw)

    assert [(p.task_id, p.field, p.message) for p in problems] == [
        ("2", "next.rules.0.taskId", "No edge may lead back to the start task.")
    ]


def test_an_unreachable_task_is_named() -> None:
    raw = lockout_document()
    tasks_of(raw)["7"] = end_task("7")

    problem = only_problem(raw)

    assert (problem.source, problem.task_id, problem.field) == (SOURCE, "7", None)
    assert problem.message == "No path from the start reaches this task."


def test_an_action_without_a_success_edge_never_reaches_an_end() -> None:
    raw = lockout_document()
    tasks_of(raw)["2"]["next"] = {}

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("2", "next.rules")
    assert problem.message == (
        "The action has no 'success' edge, so its path never reaches an End."
    )


def test_an_action_leaving_by_another_outcome_is_refused() -> None:
    raw = lockout_document()
    tasks_of(raw)["2"]["next"]["rules"].append({"interactionId": "done", "taskId": "0"})

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("2", "next.rules.1.interactionId")
    assert problem.message == ("An action leaves by 'success' or 'error', not 'done'.")


def test_a_cycle_is_named_with_its_path() -> None:
    raw = document(
        action_task("1", "user-enable", success="2"),
        action_task("2", "user-disable", success="1"),
        end_task("0"),
    )
    tasks_of(raw)["1"]["next"]["rules"].append(
        {"interactionId": "error", "taskId": "0"}
    )
    tasks_of(raw)["1"]["errorHandlingV2"] = {"e": {"errorHandlingType": "custom"}}

    problem = only_problem(raw)

    assert (problem.source, problem.task_id) == (SOURCE, "1")
    assert problem.message == (
        "The flow has a cycle ('1' -> '2' -> '1'): management flows must not loop."
    )


def test_a_flow_whose_only_paths_loop_has_no_end() -> None:
    raw = document(
        action_task("1", "user-enable", success="2"),
        action_task("2", "user-disable", success="1"),
    )

    messages = [p.message for p in problems_of(raw)]

    assert messages == [
        "The flow has a cycle ('1' -> '2' -> '1'): management flows must not loop.",
        "The flow has no End task: expected an action 'end'.",
    ]


def test_a_flow_of_more_than_200_tasks_is_refused() -> None:
    chain = [
        action_task(str(n), "user-enable", success=str(n + 1)) for n in range(1, 200)
    ]
    raw = document(*chain, end_task("200"))

    problems = problems_of(raw)

    assert len(tasks_of(raw)) == MAX_TASKS + 1
    assert [(p.task_id, p.field, p.message) for p in problems] == [
        (None, None, "The flow has 201 tasks: at most 200 are allowed.")
    ]


def test_a_flow_of_200_tasks_is_allowed() -> None:
    chain = [
        action_task(str(n), "user-enable", success=str(n + 1)) for n in range(1, 199)
    ]
    raw = document(*chain, end_task("199"))

    assert len(tasks_of(raw)) == MAX_TASKS
    assert problems_of(raw) == []


def test_a_screen_task_in_a_management_flow_is_refused(tmp_path: Path) -> None:
    raw = lockout_document()
    tasks_of(raw)["2"] = {"id": "2", "name": "Ask", "type": "screen", "next": {}}
    path = tmp_path / "lockout.json"
    path.write_text(json.dumps(raw))

    with pytest.raises(FlowDefinitionError) as raised:
        load_flow_file(path)

    [problem] = raised.value.problems
    assert (problem.source, problem.task_id, problem.field) == (str(path), "2", "type")
    assert problem.message == (
        "Screens cannot appear in a management flow: it runs with no user in front of it."
    )


def test_an_interactive_flow_is_refused() -> None:
    raw = lockout_document()
    raw["metadata"]["management"] = False

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == (None, "metadata.management")
    assert problem.message == (
        "Only management flows run in idflow: expected metadata.management to be true."
    )


def test_a_flow_without_a_start_task_is_refused() -> None:
    raw = lockout_document()
    del tasks_of(raw)["start"]

    messages = [p.message for p in problems_of(raw)]

    assert messages == ["The flow has no start task: expected a task with id 'start'."]


def test_a_start_task_with_two_edges_is_refused() -> None:
    raw = lockout_document()
    tasks_of(raw)["start"]["next"]["rules"].append({"interactionId": "", "taskId": "2"})

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("start", "next.rules")
    assert problem.message == (
        "The start task has 2 edges: expected exactly one, to the first task."
    )


def test_a_start_task_naming_a_missing_task_is_refused() -> None:
    raw = lockout_document()
    raw["contents"]["startTask"] = "9"

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == (None, "contents.startTask")
    assert problem.message == "startTask names '9', which is not a task of this flow."


def test_a_start_task_disagreeing_with_the_start_edge_is_refused() -> None:
    raw = lockout_document()
    first = raw["contents"]["startTask"]
    other = next(t for t in tasks_of(raw) if t not in ("start", first))
    raw["contents"]["startTask"] = other

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == (None, "contents.startTask")
    assert problem.message == (
        f"startTask names {other!r} but the start task leads to {first!r}: "
        "expected both to name the first task."
    )


def test_an_end_task_with_an_edge_is_refused() -> None:
    raw = lockout_document()
    tasks_of(raw)["0"]["next"] = {
        "rules": [{"interactionId": "success", "taskId": "2"}]
    }

    problems = problems_of(raw)

    assert (
        "0",
        "next.rules",
        "The End task cannot lead anywhere: expected no edges.",
    ) in [(p.task_id, p.field, p.message) for p in problems]


def test_an_output_of_an_unknown_type_names_the_types_allowed() -> None:
    raw = lockout_document()
    tasks_of(raw)["0"] = end_task("0", [{"key": "n", "type": "integer", "value": 1}])

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("0", "arguments.outputs.0.type")
    assert problem.message == (
        "Output 'n' has type 'integer': expected one of string, number, boolean, object, array."
    )


def test_an_output_key_given_twice_is_refused() -> None:
    raw = lockout_document()
    tasks_of(raw)["0"] = end_task(
        "0", [{"key": "n", "value": 1}, {"key": "n", "value": 2}]
    )

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("0", "arguments.outputs.1.key")
    assert problem.message == "Output 'n' is given twice: keys must be unique."


@pytest.mark.parametrize("output", [{"type": "string", "value": 1}, {"key": ""}, "n"])
def test_an_output_without_a_key_is_refused(output: Any) -> None:
    raw = lockout_document()
    tasks_of(raw)["0"] = end_task("0", [output])

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("0", "arguments.outputs.0")
    assert problem.message == (
        "Expected an output {key, type, value} with a non-empty string key."
    )


def test_outputs_that_are_not_a_list_are_refused() -> None:
    raw = lockout_document()
    tasks_of(raw)["0"]["arguments"] = {"outputs": {"type": "inline", "value": {"n": 1}}}

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("0", "arguments.outputs")
    assert problem.message == "Expected a list of {key, type, value}."


def test_custom_error_handling_without_an_error_edge_is_refused() -> None:
    raw = lockout_document()
    tasks_of(raw)["2"]["errorHandlingV2"] = {"e": {"errorHandlingType": "custom"}}

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("2", "next.rules")
    assert problem.message == (
        "Custom error handling needs an 'error' edge to follow when the step fails."
    )


def test_an_error_edge_without_custom_error_handling_is_refused() -> None:
    raw = lockout_document()
    tasks_of(raw)["2"]["next"]["rules"].append(
        {"interactionId": "error", "taskId": "0"}
    )

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("2", "errorHandlingV2")
    assert "its error handling is not 'custom', so the edge is never taken" in (
        problem.message
    )


def test_a_condition_without_an_else_branch_is_refused() -> None:
    raw = lockout_document()
    condition = tasks_of(raw)["1"]
    condition["conditions"].pop()
    condition["next"]["rules"].pop()

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("1", "conditions")
    assert problem.message == (
        "A condition needs an 'ELSE' branch, so every run has a way on."
    )


def test_a_branch_id_used_twice_is_refused() -> None:
    raw = lockout_document()
    condition = tasks_of(raw)["1"]
    condition["conditions"].insert(1, dict(condition["conditions"][0]))

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("1", "conditions.0")
    assert problem.message == "Branch id 'c1' is used twice."


def test_a_branch_without_atomic_conditions_would_never_match() -> None:
    raw = lockout_document()
    tasks_of(raw)["1"]["conditions"][0]["atomicConditions"] = []

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("1", "conditions.0.atomicConditions")
    assert problem.message == "Branch 'c1' has no conditions, so it would never match."


def test_a_branch_without_an_edge_names_the_rule_expected() -> None:
    raw = document(
        condition_task(
            "1", {"c1": ([atomic("client.x", "is-true")], "0")}, otherwise="0"
        ),
        end_task("0"),
    )
    tasks_of(raw)["1"]["next"]["rules"].pop(0)

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("1", "next.rules")
    assert problem.message == (
        "Branch 'c1' has no edge: expected a rule with interactionId 'c1'."
    )


def test_an_edge_matching_no_branch_is_refused() -> None:
    raw = lockout_document()
    tasks_of(raw)["1"]["next"]["rules"].append({"interactionId": "c9", "taskId": "0"})

    problem = only_problem(raw)

    assert (problem.task_id, problem.field) == ("1", "next.rules.2.interactionId")
    assert problem.message == "Edge 'c9' matches no branch of this condition."


def test_graph_problems_wait_until_every_task_is_well_formed() -> None:
    raw = lockout_document()
    tasks_of(raw)["7"] = end_task("7")
    tasks_of(raw)["2"]["action"] = "user-frobnicate"

    # The unreachable task '7' is reported only once the tasks themselves are fine.
    assert [p.task_id for p in problems_of(raw)] == ["2"]
