"""Tests for the YAML authoring form and the exact Descope DSL it compiles to."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from idflow.errors import FlowDefinitionError
from idflow.flows.authoring import compile_authoring, is_authoring_form
from idflow.flows.descope import parse_document
from idflow.flows.validation import find_problems

DISABLE_INACTIVE = """
id: disable-inactive-user
name: Disable an inactive user
description: Disable users idle past a threshold.
trigger:
  events: [UserLoginFailed]
steps:
  - id: check
    if:
      - id: inactive
        name: Inactive
        when: client.daysInactive greater-than 90
        goto: disable
    else: keep
  - id: disable
    action: user-disable
    with: {userId: "{{ client.userId }}"}
    on-error: failed
    next: disabled
  - id: disabled
    end: {userId: "{{ client.userId }}", status: disabled}
  - id: keep
    end:
      userId: "{{ client.userId }}"
      kept: {type: boolean, value: "true"}
  - id: failed
    end: {error: "{{ error.message }}"}
"""


def compile_yaml(text: str, source: str | None = "flow.yaml") -> dict[str, Any]:
    return compile_authoring(yaml.safe_load(text), source)


def problems_of(data: dict[str, Any]) -> list[Any]:
    with pytest.raises(FlowDefinitionError) as raised:
        compile_authoring(data, "flow.yaml")
    return list(raised.value.problems)


def one_condition(when: Any) -> dict[str, Any]:
    document = compile_authoring(
        {
            "id": "f",
            "steps": [
                {"id": "c", "if": {"when": when, "goto": "e"}, "else": "e"},
                {"id": "e", "end": {}},
            ],
        }
    )
    condition: dict[str, Any] = document["contents"]["tasks"]["c"]["conditions"][0]
    return condition


def predicate_of(text: str) -> Any:
    return one_condition(f"client.value equal {text}")["atomicConditions"][0][
        "predicate"
    ]["value"]


def test_the_authoring_form_compiles_to_the_exact_descope_dsl() -> None:
    document = compile_yaml(DISABLE_INACTIVE)

    assert document == {
        "flowId": "disable-inactive-user",
        "metadata": {
            "name": "Disable an inactive user",
            "description": "Disable users idle past a threshold.",
            "disabled": False,
            "management": True,
            "managementConfig": {
                "triggers": {
                    "enabled": True,
                    "triggerType": "event",
                    "eventTriggers": {"triggeringEventTypes": ["UserLoginFailed"]},
                }
            },
        },
        "contents": {
            "startTask": "check",
            "tasks": {
                "start": {
                    "id": "start",
                    "name": "Start",
                    "next": {"rules": [{"interactionId": "", "taskId": "check"}]},
                },
                "check": {
                    "id": "check",
                    "name": "check",
                    "type": "condition",
                    "conditions": [
                        {
                            "interactionId": "inactive",
                            "name": "Inactive",
                            "atomicConditions": [
                                {
                                    "target": {"value": "client.daysInactive"},
                                    "operator": "greater-than",
                                    "predicate": {"value": 90},
                                }
                            ],
                        },
                        {"interactionId": "ELSE", "name": "Else"},
                    ],
                    "next": {
                        "rules": [
                            {"interactionId": "inactive", "taskId": "disable"},
                            {"interactionId": "ELSE", "taskId": "keep"},
                        ]
                    },
                },
                "disable": {
                    "id": "disable",
                    "name": "disable",
                    "type": "automated",
                    "action": "user-disable",
                    "arguments": {
                        "userId": {"type": "inline", "value": "{{ client.userId }}"}
                    },
                    "errorHandlingV2": {"default": {"errorHandlingType": "custom"}},
                    "next": {
                        "rules": [
                            {"interactionId": "success", "taskId": "disabled"},
                            {"interactionId": "error", "taskId": "failed"},
                        ]
                    },
                },
                "disabled": {
                    "id": "disabled",
                    "name": "disabled",
                    "type": "automated",
                    "action": "end",
                    "next": {},
                    "arguments": {
                        "outputs": {
                            "type": "inline",
                            "value": [
                                {
                                    "key": "userId",
                                    "type": "string",
                                    "value": "{{ client.userId }}",
                                },
                                {
                                    "key": "status",
                                    "type": "string",
                                    "value": "disabled",
                                },
                            ],
                        }
                    },
                },
                "keep": {
                    "id": "keep",
                    "name": "keep",
                    "type": "automated",
                    "action": "end",
                    "next": {},
                    "arguments": {
                        "outputs": {
                            "type": "inline",
                            "value": [
                                {
                                    "key": "userId",
                                    "type": "string",
                                    "value": "{{ client.userId }}",
                                },
                                {"key": "kept", "type": "boolean", "value": "true"},
                            ],
                        }
                    },
                },
                "failed": {
                    "id": "failed",
                    "name": "failed",
                    "type": "automated",
                    "action": "end",
                    "next": {},
                    "arguments": {
                        "outputs": {
                            "type": "inline",
                            "value": [
                                {
                                    "key": "error",
                                    "type": "string",
                                    "value": "{{ error.message }}",
                                }
                            ],
                        }
                    },
                },
            },
        },
        "screens": [],
    }


def test_a_compiled_flow_parses_and_validates_without_problems() -> None:
    flow = parse_document(compile_yaml(DISABLE_INACTIVE))

    assert find_problems(flow) == []


def test_an_action_goes_on_to_the_step_after_it_unless_it_names_next() -> None:
    document = compile_yaml(
        """
        id: f
        steps:
          - {id: load, action: user-load, with: {loginId: x}}
          - {id: disable, action: user-disable, next: done}
          - {id: skipped, end: {}}
          - {id: done, end: {}}
        """
    )

    tasks = document["contents"]["tasks"]
    assert tasks["load"]["next"]["rules"] == [
        {"interactionId": "success", "taskId": "disable"}
    ]
    assert tasks["disable"]["next"]["rules"] == [
        {"interactionId": "success", "taskId": "done"}
    ]


def test_an_action_fails_automatically_unless_on_error_says_otherwise() -> None:
    tasks = compile_yaml(
        """
        id: f
        steps:
          - {id: a, action: user-disable}
          - {id: b, action: user-enable, on-error: ignore}
          - {id: e, end: {}}
        """
    )["contents"]["tasks"]

    assert tasks["a"]["errorHandlingV2"] == {
        "default": {"errorHandlingType": "automatic"}
    }
    assert tasks["b"]["errorHandlingV2"] == {"default": {"errorHandlingType": "ignore"}}
    assert tasks["b"]["next"]["rules"] == [{"interactionId": "success", "taskId": "e"}]


def test_context_key_and_view_are_carried_into_the_task() -> None:
    task = compile_yaml(
        """
        id: f
        steps:
          - id: a
            action: user-load
            with: {loginId: x}
            context-key: loaded
            view: {x: 10, y: 20}
          - {id: e, end: {}}
        """
    )["contents"]["tasks"]["a"]

    assert task["contextKey"] == "loaded"
    assert task["view"] == {"x": 10, "y": 20}


def test_inline_arguments_keep_their_values_and_templates_unrendered() -> None:
    task = compile_yaml(
        """
        id: f
        steps:
          - id: a
            action: audit-generate-event
            with:
              action: user.flagged
              data: {days: 90, who: "{{ user.userId }}", tags: [a, b]}
          - {id: e, end: {}}
        """
    )["contents"]["tasks"]["a"]

    assert task["arguments"] == {
        "action": {"type": "inline", "value": "user.flagged"},
        "data": {
            "type": "inline",
            "value": {"days": 90, "who": "{{ user.userId }}", "tags": ["a", "b"]},
        },
    }


def test_a_text_condition_reads_target_operator_and_predicate() -> None:
    condition = one_condition("user.customAttributes.plan not-equal free trial")

    assert condition["atomicConditions"] == [
        {
            "target": {"value": "user.customAttributes.plan"},
            "operator": "not-equal",
            "predicate": {"value": "free trial"},
        }
    ]


def test_an_operator_without_a_predicate_gets_an_empty_one() -> None:
    [atomic] = one_condition("user.email is-email")["atomicConditions"]

    assert atomic["operator"] == "is-email"
    assert atomic["predicate"] == {"value": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", 90),
        ("-3", -3),
        ("2.5", 2.5),
        ("true", True),
        ("False", False),
        ("[a, 2]", ["a", 2]),
        ("'quoted text'", "quoted text"),
        ("a,b", "a,b"),
        ("{{ client.limit }}", "{{ client.limit }}"),
        ("2024-01-31", "2024-01-31"),
        ("null", "null"),
    ],
)
def test_a_text_predicate_is_read_as_a_yaml_scalar(text: str, expected: Any) -> None:
    assert predicate_of(text) == expected
    assert type(predicate_of(text)) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NO", "NO"),
        ("yes", "yes"),
        ("off", "off"),
        ("010", 10),
        ("1:30", "1:30"),
        ("[NO, SE]", ["NO", "SE"]),
    ],
)
def test_a_text_predicate_follows_yaml_1_2_not_yaml_1_1(
    text: str, expected: Any
) -> None:
    # `client.country equal NO` compares with the text NO, not with False.
    assert predicate_of(text) == expected
    assert type(predicate_of(text)) is type(expected)


def test_a_list_of_when_conditions_is_anded_and_any_is_ored() -> None:
    document = compile_authoring(
        {
            "id": "f",
            "steps": [
                {
                    "id": "c",
                    "if": [
                        {
                            "id": "both",
                            "when": [
                                "user.status equal disabled",
                                "client.force is-true",
                            ],
                            "goto": "e",
                        },
                        {
                            "id": "either",
                            "any": ["user.test is-true", "client.force is-true"],
                            "goto": "e",
                        },
                    ],
                    "else": "e",
                },
                {"id": "e", "end": {}},
            ],
        }
    )

    both, either, otherwise = document["contents"]["tasks"]["c"]["conditions"]
    assert len(both["atomicConditions"]) == 2
    assert "logicalOr" not in both
    assert either["logicalOr"] is True
    assert [a["target"]["value"] for a in either["atomicConditions"]] == [
        "user.test",
        "client.force",
    ]
    assert otherwise == {"interactionId": "ELSE", "name": "Else"}


def test_a_condition_may_be_a_key_op_value_mapping() -> None:
    [atomic] = one_condition(
        {"key": "client.roles", "op": "contains", "value": "admin"}
    )["atomicConditions"]

    assert atomic == {
        "target": {"value": "client.roles"},
        "operator": "contains",
        "predicate": {"value": "admin"},
    }


def test_an_unnamed_branch_is_named_after_its_step_and_position() -> None:
    condition = one_condition("client.x is-true")

    assert (condition["interactionId"], condition["name"]) == ("c-1", "c-1")


def test_end_outputs_infer_their_type_from_the_value() -> None:
    document = compile_authoring(
        {
            "id": "f",
            "steps": [
                {
                    "id": "e",
                    "end": {
                        "text": "{{ user.status }}",
                        "count": 3,
                        "ratio": 0.5,
                        "flag": False,
                        "object": {"a": 1},
                        "list": [1],
                        "typed": {"type": "number", "value": "{{ client.n }}"},
                        "untyped": {"value": True},
                    },
                }
            ],
        }
    )

    outputs = document["contents"]["tasks"]["e"]["arguments"]["outputs"]["value"]
    assert [(o["key"], o["type"]) for o in outputs] == [
        ("text", "string"),
        ("count", "number"),
        ("ratio", "number"),
        ("flag", "boolean"),
        ("object", "object"),
        ("list", "array"),
        ("typed", "number"),
        ("untyped", "boolean"),
    ]


def test_a_flow_without_a_trigger_has_no_management_config() -> None:
    document = compile_authoring({"id": "f", "steps": [{"id": "e", "end": None}]})

    assert "managementConfig" not in document["metadata"]
    assert document["metadata"]["name"] == "f"
    assert document["contents"]["tasks"]["e"]["arguments"]["outputs"]["value"] == []


def test_a_trigger_without_events_is_an_api_trigger_and_may_be_switched_off() -> None:
    document = compile_authoring(
        {"id": "f", "trigger": {"enabled": False}, "steps": [{"id": "e", "end": {}}]}
    )

    assert document["metadata"]["managementConfig"] == {
        "triggers": {
            "enabled": False,
            "triggerType": "api",
            "eventTriggers": {"triggeringEventTypes": []},
        }
    }


def test_numeric_step_ids_become_string_task_ids() -> None:
    document = compile_authoring(
        {
            "id": "f",
            "steps": [
                {"id": 1, "action": "user-disable", "next": 2},
                {"id": 2, "end": {}},
            ],
        }
    )

    assert set(document["contents"]["tasks"]) == {"start", "1", "2"}
    assert document["contents"]["tasks"]["1"]["next"]["rules"][0]["taskId"] == "2"


def test_is_authoring_form_recognises_a_list_of_steps_only() -> None:
    assert is_authoring_form({"id": "f", "steps": []})
    assert not is_authoring_form({"id": "f", "steps": "a"})
    assert not is_authoring_form({"flowId": "f", "contents": {}})
    assert not is_authoring_form(["steps"])


def test_an_unknown_top_level_key_is_refused_listing_the_known_ones() -> None:
    [problem] = problems_of({"id": "f", "stpes": [], "steps": [{"id": "e", "end": {}}]})

    assert (problem.source, problem.task_id, problem.field) == (
        "flow.yaml",
        None,
        "stpes",
    )
    assert problem.message == (
        "Unknown key 'stpes': expected description, disabled, id, name, steps, trigger."
    )


def test_a_flow_without_an_id_is_refused() -> None:
    [problem] = problems_of({"steps": [{"id": "e", "end": {}}]})

    assert problem.field == "id"
    assert problem.message == "The flow needs an id: expected a non-empty string."


def test_a_step_that_is_not_a_mapping_is_refused() -> None:
    [problem] = problems_of({"id": "f", "steps": ["end"]})

    assert problem.field == "steps"
    assert problem.message == "Expected a step mapping, got 'end'."


@pytest.mark.parametrize("step_id", [None, "", "start"])
def test_a_step_needs_an_id_other_than_start(step_id: Any) -> None:
    [problem] = problems_of({"id": "f", "steps": [{"id": step_id, "end": {}}]})

    assert problem.field == "steps"
    assert problem.message == "Every step needs an id (a string other than 'start')."


def test_an_unknown_step_key_is_refused_naming_the_step() -> None:
    [problem] = problems_of(
        {"id": "f", "steps": [{"id": "e", "end": {}, "outputs": {}}]}
    )

    assert (problem.task_id, problem.field) == ("e", "outputs")
    assert problem.message.startswith("Unknown step key 'outputs': expected action,")


def test_a_step_must_be_exactly_one_kind() -> None:
    [problem] = problems_of(
        {"id": "f", "steps": [{"id": "e", "action": "user-load", "end": {}}]}
    )

    assert problem.task_id == "e"
    assert "exactly one of: an action ('action'), a condition ('if')" in (
        problem.message
    )


def test_a_last_action_without_next_is_refused_as_never_reaching_an_end() -> None:
    [problem] = problems_of({"id": "f", "steps": [{"id": "a", "action": "user-load"}]})

    assert (problem.task_id, problem.field) == ("a", "next")
    assert "the flow would never reach an End" in problem.message


def test_a_condition_without_else_is_refused() -> None:
    [problem] = problems_of(
        {
            "id": "f",
            "steps": [
                {"id": "c", "if": {"when": "client.x is-true", "goto": "e"}},
                {"id": "e", "end": {}},
            ],
        }
    )

    assert (problem.task_id, problem.field) == ("c", "else")
    assert problem.message == (
        "A condition needs 'else': the step to go to when no branch matches."
    )


def test_a_branch_without_goto_is_refused_naming_its_index() -> None:
    [problem] = problems_of(
        {
            "id": "f",
            "steps": [
                {"id": "c", "if": [{"when": "client.x is-true"}], "else": "e"},
                {"id": "e", "end": {}},
            ],
        }
    )

    assert (problem.task_id, problem.field) == ("c", "if.0")
    assert problem.message == "Expected a branch with 'when' (or 'any') and 'goto'."


def test_an_unreadable_text_condition_is_refused_with_the_form_expected() -> None:
    [problem] = problems_of(
        {
            "id": "f",
            "steps": [
                {"id": "c", "if": {"when": "client.x", "goto": "e"}, "else": "e"},
                {"id": "e", "end": {}},
            ],
        }
    )

    assert (problem.task_id, problem.field) == ("c", "if.0.when")
    assert problem.message == (
        "Cannot read condition 'client.x': expected '<context key> <operator> [value]'."
    )


def test_a_condition_of_another_shape_is_refused() -> None:
    [problem] = problems_of(
        {
            "id": "f",
            "steps": [
                {"id": "c", "if": {"any": [{"key": "a"}], "goto": "e"}, "else": "e"},
                {"id": "e", "end": {}},
            ],
        }
    )

    assert (problem.task_id, problem.field) == ("c", "if.0.any")
    assert "expected a condition as text or {key, op, value}" in problem.message.lower()


@pytest.mark.parametrize(
    ("step", "field", "message"),
    [
        (
            {"id": "a", "action": "user-load", "with": ["x"], "next": "e"},
            "with",
            "Expected 'with' to map argument names to values, got ['x'].",
        ),
        (
            {"id": "a", "if": "client.x is-true", "else": "e"},
            "if",
            "Expected 'if' to be a list of branches.",
        ),
        (
            {"id": "a", "end": ["x"]},
            "end",
            "Expected 'end' to map output keys to values.",
        ),
    ],
)
def test_a_step_part_of_the_wrong_shape_is_refused(
    step: dict[str, Any], field: str, message: str
) -> None:
    problems = problems_of({"id": "f", "steps": [step, {"id": "e", "end": {}}]})

    assert [(p.task_id, p.field, p.message) for p in problems] == [
        ("a", field, message)
    ]


def test_a_trigger_that_is_not_a_mapping_is_refused() -> None:
    [problem] = problems_of(
        {"id": "f", "trigger": "LoginFailed", "steps": [{"id": "e", "end": {}}]}
    )

    assert problem.field == "trigger"
    assert "mapping with 'events'" in problem.message


def test_a_step_id_used_twice_is_refused_instead_of_replacing_the_first() -> None:
    [problem] = problems_of(
        {
            "id": "f",
            "steps": [
                {"id": "a", "action": "user-disable"},
                {"id": "a", "end": {}},
            ],
        }
    )

    assert (problem.task_id, problem.field) == ("a", "id")
    assert problem.message == (
        "Step id 'a' is used twice: expected every step to have its own id."
    )


def test_every_authoring_problem_is_reported_at_once_naming_the_file() -> None:
    with pytest.raises(FlowDefinitionError) as raised:
        compile_authoring(
            {
                "id": "f",
                "colour": "blue",
                "steps": [{"id": "a", "action": "user-load", "wiht": {}}],
            },
            "flows/f.yaml",
        )

    lines = raised.value.message.splitlines()
    assert lines[0] == "Flow 'f' has 3 problems:"
    assert lines[1:] == [
        "  - flows/f.yaml, field 'colour': Unknown key 'colour': expected description, disabled, id, name, steps, trigger.",
        "  - flows/f.yaml, task 'a', field 'wiht': Unknown step key 'wiht': expected action, context-key, else, end, id, if, name, next, on-error, view, with.",
        "  - flows/f.yaml, task 'a', field 'next': The last step is an action with no 'next': the flow would never reach an End.",
    ]
