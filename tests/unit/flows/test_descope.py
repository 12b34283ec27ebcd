"""Tests for Descope flow documents: v1 and v2 envelopes, parsing, round trips."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idflow.errors import FlowDefinitionError
from idflow.flows.descope import (
    normalize_document,
    parse_document,
    parse_triggers,
    v1_to_v2,
    v2_to_v1,
)
from idflow.flows.model import (
    AtomicCondition,
    Branch,
    ErrorPolicy,
    Rule,
    TaskKind,
    Triggers,
)
from idflow.services import flows as flow_service
from idflow.services.audit import CLI_ACTOR
from idflow.store.database import Store
from tests.conftest import TEST_PROJECT_ID
from tests.unit.flows.documents import action_task, document, end_task

# Fields Descope writes that idflow does not read; they must come back on export.
UNKNOWN_METADATA = {
    "componentsVersion": "1.2.3",
    "fingerprint": False,
    "widget": False,
    "sharedInteractions": [{"id": "si1"}],
}
UNKNOWN_TASK_FIELDS = {
    "view": {"x": 500, "y": 0},
    "inputsMetadata": {"userId": {"type": "string"}},
    "allInputKeys": ["client.userId"],
}


def descope_v2_export() -> dict[str, Any]:
    """The §11.2 lockout graph as a v2 export, with fields idflow does not know."""
    return {
        "flowId": "disable-on-lockout",
        "metadata": {
            "name": "Disable on lockout",
            "description": "Disable users who exceed their login attempts.",
            "disabled": False,
            "management": True,
            "managementConfig": {
                "triggers": {
                    "enabled": True,
                    "eventTriggers": {
                        "triggeringEventTypes": ["LoginExceedMaxAttempts"]
                    },
                }
            },
            **UNKNOWN_METADATA,
        },
        "contents": {
            "startTask": "1",
            "tasks": {
                "start": {
                    "id": "start",
                    "name": "start",
                    "next": {"rules": [{"interactionId": "", "taskId": "1"}]},
                },
                "1": {
                    "id": "1",
                    "name": "Is lockout?",
                    "type": "condition",
                    "view": {"x": 250, "y": 0},
                    "conditions": [
                        {
                            "interactionId": "c1",
                            "name": "lockout",
                            "atomicConditions": [
                                {
                                    "target": {"value": "triggeringEvent.action"},
                                    "operator": "equal",
                                    "predicate": {"value": "LoginExceedMaxAttempts"},
                                }
                            ],
                        },
                        {"interactionId": "ELSE", "name": "Else"},
                    ],
                    "next": {
                        "rules": [
                            {"interactionId": "c1", "taskId": "2"},
                            {"interactionId": "ELSE", "taskId": "0"},
                        ]
                    },
                },
                "2": {
                    "id": "2",
                    "name": "User / Disable",
                    "type": "automated",
                    "action": "user-disable",
                    "arguments": {
                        "userId": {
                            "type": "inline",
                            "value": "{{triggeringEvent.userId}}",
                        }
                    },
                    "errorHandlingV2": {
                        "UserNotFound": {"errorHandlingType": "ignore"}
                    },
                    "next": {"rules": [{"interactionId": "success", "taskId": "0"}]},
                    **UNKNOWN_TASK_FIELDS,
                },
                "0": {
                    "id": "0",
                    "name": "End",
                    "type": "automated",
                    "action": "end",
                    "next": {},
                },
            },
        },
        "screens": [],
        "references": {"connectors": {"My HTTP Connector": "CI2abc"}},
    }


def descope_v1_export() -> dict[str, Any]:
    """The v1 export answer of the same flow, as the Python and Node SDKs get it."""
    v2 = descope_v2_export()
    return {
        "flow": {
            "id": "disable-on-lockout",
            "version": 3,
            "name": "Disable on lockout",
            "description": "Disable users who exceed their login attempts.",
            "dsl": v2["contents"],
            "modifiedTime": "1700000000",
            "etag": "disable-on-lockout-3",
            "disabled": False,
            "translate": True,
            "translateConnectorId": "CItranslate",
            "translateSourceLanguage": "en",
            "translateTargetLanguages": ["fr", "de"],
            "management": True,
            "managementConfig": v2["metadata"]["managementConfig"],
            **UNKNOWN_METADATA,
        },
        "screens": [{"id": "SC1", "htmlTemplate": "<p>hi</p>", "inputs": ["a"]}],
    }


def problems_of(raw: Any) -> list[Any]:
    with pytest.raises(FlowDefinitionError) as raised:
        parse_document(raw, "lockout.json")
    return list(raised.value.problems)


def test_parse_document_reads_a_descope_v2_export_into_the_model() -> None:
    flow = parse_document(descope_v2_export(), "lockout.json")

    assert (flow.flow_id, flow.name, flow.management) == (
        "disable-on-lockout",
        "Disable on lockout",
        True,
    )
    assert flow.description == "Disable users who exceed their login attempts."
    assert (flow.start_task, flow.first_task_id) == ("1", "1")
    assert {task_id: task.kind for task_id, task in flow.tasks.items()} == {
        "start": TaskKind.START,
        "1": TaskKind.CONDITION,
        "2": TaskKind.ACTION,
        "0": TaskKind.ACTION,
    }
    assert flow.triggers == Triggers(
        api=False, event_types=("LoginExceedMaxAttempts",), enabled=True
    )


def test_parse_document_reads_branches_atomics_and_their_edges() -> None:
    condition = parse_document(descope_v2_export()).tasks["1"]

    assert condition.branches == (
        Branch(
            "c1",
            "lockout",
            (
                AtomicCondition(
                    "triggeringEvent.action", "equal", "LoginExceedMaxAttempts"
                ),
            ),
        ),
        Branch("ELSE", "Else", ()),
    )
    assert condition.rules == (Rule("c1", "2"), Rule("ELSE", "0"))


def test_parse_document_unwraps_inline_arguments_and_reads_the_error_policy() -> None:
    flow = parse_document(descope_v2_export())
    disable, end = flow.tasks["2"], flow.tasks["0"]

    assert disable.action == "user-disable"
    assert disable.arguments == {"userId": "{{triggeringEvent.userId}}"}
    assert disable.error_policy is ErrorPolicy.IGNORE
    assert disable.rules == (Rule("success", "0"),)
    assert end.is_end
    assert end.rules == ()


def test_parse_document_keeps_the_document_it_read_unchanged() -> None:
    raw = descope_v2_export()

    flow = parse_document(raw)

    assert flow.document == descope_v2_export()
    assert flow.document["contents"]["tasks"]["2"]["view"] == {"x": 500, "y": 0}


def test_parse_document_takes_the_start_task_from_the_start_edge_when_missing() -> None:
    raw = descope_v2_export()
    del raw["contents"]["startTask"]

    assert parse_document(raw).start_task == "1"


def test_parse_document_reads_a_missing_interaction_id_as_unconditional() -> None:
    raw = descope_v2_export()
    raw["contents"]["tasks"]["start"]["next"]["rules"] = [{"taskId": "1"}]

    assert parse_document(raw).tasks["start"].rules == (Rule("", "1"),)


def test_parse_document_reads_logical_or_and_a_bare_predicate() -> None:
    raw = descope_v2_export()
    branch = raw["contents"]["tasks"]["1"]["conditions"][0]
    branch["logicalOr"] = True
    branch["atomicConditions"].append(
        {"target": {"value": "user.status"}, "operator": "equal", "predicate": "x"}
    )

    parsed = parse_document(raw).tasks["1"].branches[0]

    assert parsed.logical_or is True
    assert parsed.atomics[1] == AtomicCondition("user.status", "equal", "x")


def test_parse_document_names_the_flow_after_its_id_when_it_has_no_name() -> None:
    raw = descope_v2_export()
    del raw["metadata"]["name"]

    assert parse_document(raw).name == "disable-on-lockout"


def test_a_flow_without_management_true_is_parsed_as_interactive() -> None:
    raw = descope_v2_export()
    raw["metadata"]["management"] = "yes"

    assert parse_document(raw).management is False


def test_a_screen_task_is_refused_naming_the_task_and_its_type_field() -> None:
    raw = document(end_task("0"))
    raw["contents"]["tasks"]["0"] = {"id": "0", "type": "screen", "next": {}}

    [problem] = problems_of(raw)

    assert (problem.source, problem.task_id, problem.field) == (
        "lockout.json",
        "0",
        "type",
    )
    assert "Screens cannot appear in a management flow" in problem.message


def test_an_unknown_task_type_is_refused_with_the_types_expected() -> None:
    raw = document(end_task("0"))
    raw["contents"]["tasks"]["0"]["type"] = "flow"

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == ("0", "type")
    assert problem.message == (
        "Unknown task type 'flow': expected 'automated' or 'condition'."
    )


def test_an_automated_task_without_an_action_is_refused() -> None:
    raw = document(end_task("0"))
    del raw["contents"]["tasks"]["0"]["action"]

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == ("0", "action")
    assert "expected a string such as 'user-disable'" in problem.message


def test_rules_that_are_not_a_list_are_refused() -> None:
    raw = document(end_task("0"))
    raw["contents"]["tasks"]["start"]["next"] = {"rules": "1"}

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == ("start", "next.rules")
    assert problem.message == "Expected a list of rules, got str '1'."


def test_a_rule_without_a_task_id_is_refused_naming_its_index() -> None:
    raw = document(
        action_task("1", "user-load", arguments={"loginId": "x"}), end_task()
    )
    raw["contents"]["tasks"]["1"]["next"]["rules"].append({"interactionId": "error"})

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == ("1", "next.rules.1")
    assert "'taskId': <task id>" in problem.message


def test_an_argument_of_another_type_than_inline_is_refused() -> None:
    raw = document(action_task("1", "user-load"), end_task())
    raw["contents"]["tasks"]["1"]["arguments"] = {
        "loginId": {"type": "context", "value": "client.userId"}
    }

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == ("1", "arguments.loginId")
    assert problem.message == (
        "Argument type 'context' is not supported: expected 'inline'."
    )


def test_an_argument_without_a_value_is_refused() -> None:
    raw = document(action_task("1", "user-load"), end_task())
    raw["contents"]["tasks"]["1"]["arguments"] = {"loginId": "ada@example.com"}

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == ("1", "arguments.loginId")
    assert "{'type': 'inline', 'value': ...}" in problem.message


def test_a_condition_without_a_list_of_branches_is_refused() -> None:
    raw = descope_v2_export()
    del raw["contents"]["tasks"]["1"]["conditions"]

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == ("1", "conditions")
    assert problem.message == "A condition needs a list of branches, got nothing."


def test_a_branch_without_an_interaction_id_is_refused() -> None:
    raw = descope_v2_export()
    del raw["contents"]["tasks"]["1"]["conditions"][0]["interactionId"]

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == ("1", "conditions.0")
    assert "string 'interactionId'" in problem.message


def test_an_atomic_without_a_target_is_refused_naming_its_place() -> None:
    raw = descope_v2_export()
    del raw["contents"]["tasks"]["1"]["conditions"][0]["atomicConditions"][0]["target"]

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == (
        "1",
        "conditions.0.atomicConditions.0",
    )
    assert "'target': {'value': <context key>}" in problem.message


def test_an_unknown_error_handling_type_is_refused_with_the_three_expected() -> None:
    raw = descope_v2_export()
    raw["contents"]["tasks"]["2"]["errorHandlingV2"] = {
        "UserNotFound": {"errorHandlingType": "retry"}
    }

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == ("2", "errorHandlingV2.UserNotFound")
    assert problem.message == (
        "Unknown error handling 'retry': expected 'automatic', 'ignore' or 'custom'."
    )


def test_different_policies_for_different_errors_of_one_task_are_refused() -> None:
    raw = descope_v2_export()
    raw["contents"]["tasks"]["2"]["errorHandlingV2"] = {
        "UserNotFound": {"errorHandlingType": "ignore"},
        "Other": {"errorHandlingType": "automatic"},
    }

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == ("2", "errorHandlingV2")
    assert "one error policy per task" in problem.message


def test_a_document_without_a_flow_id_is_refused() -> None:
    raw = descope_v2_export()
    raw["flowId"] = "  "

    [problem] = problems_of(raw)

    assert (problem.task_id, problem.field) == (None, "flowId")
    assert problem.message == "The flow has no id: expected a non-empty string."


def test_contents_that_are_not_an_object_are_refused() -> None:
    raw = descope_v2_export()
    raw["contents"] = ["start"]

    problems = problems_of(raw)

    assert [(p.field, p.message) for p in problems] == [
        ("contents", "Expected an object, got list ['start']."),
        ("contents.tasks", "Expected an object, got nothing."),
    ]


def test_every_shape_problem_is_reported_at_once_in_one_error() -> None:
    raw = descope_v2_export()
    raw["contents"]["tasks"]["0"]["type"] = "screen"
    raw["contents"]["tasks"]["2"]["arguments"] = {"userId": "x"}

    with pytest.raises(FlowDefinitionError) as raised:
        parse_document(raw, "lockout.json")

    assert [(p.task_id, p.field) for p in raised.value.problems] == [
        ("2", "arguments.userId"),
        ("0", "type"),
    ]
    assert raised.value.message.startswith(
        "Flow 'disable-on-lockout' has 2 problems:\n  - lockout.json, task '2'"
    )


def test_normalize_document_returns_a_v2_document_as_it_is() -> None:
    assert normalize_document(descope_v2_export()) == descope_v2_export()
    assert normalize_document({"flow": descope_v2_export()}) == descope_v2_export()


def test_normalize_document_converts_the_v1_export_answer_into_v2() -> None:
    converted = normalize_document(descope_v1_export())

    assert converted["flowId"] == "disable-on-lockout"
    assert converted["contents"] == descope_v2_export()["contents"]
    assert converted["metadata"] == {
        "name": "Disable on lockout",
        "description": "Disable users who exceed their login attempts.",
        "disabled": False,
        "translation": {
            "enabled": True,
            "connectorId": "CItranslate",
            "sourceLanguage": "en",
            "targetLanguages": ["fr", "de"],
        },
        "management": True,
        "managementConfig": descope_v2_export()["metadata"]["managementConfig"],
        **UNKNOWN_METADATA,
    }
    assert converted["screens"] == [
        {"screenId": "SC1", "contents": "<p>hi</p>", "inputs": ["a"]}
    ]


def test_normalize_document_drops_the_server_owned_v1_fields() -> None:
    converted = normalize_document(descope_v1_export())

    for server_key in ("id", "dsl", "version", "modifiedTime", "etag"):
        assert server_key not in converted["metadata"]


def test_normalize_document_accepts_a_bare_v1_flow_object() -> None:
    flow = descope_v1_export()["flow"]

    converted = normalize_document(flow)

    assert converted["flowId"] == "disable-on-lockout"
    assert converted["screens"] == []
    assert parse_document(converted).tasks.keys() == {"start", "1", "2", "0"}


def test_normalize_document_refuses_other_shapes_naming_the_source() -> None:
    with pytest.raises(FlowDefinitionError) as raised:
        normalize_document({"tasks": {}}, "lockout.json")

    [problem] = raised.value.problems
    assert problem.source == "lockout.json"
    assert "expected a Descope export (with 'flow', 'dsl' or 'contents')" in (
        problem.message
    )
    assert "an idflow YAML flow (with 'steps')" in problem.message


def test_v2_to_v1_renders_the_v1_export_answer() -> None:
    answer = v2_to_v1(
        normalize_document(descope_v1_export()),
        version=4,
        modified_ms=1_700_000_123_456,
    )

    flow = answer["flow"]
    assert (flow["id"], flow["version"], flow["etag"]) == (
        "disable-on-lockout",
        4,
        "disable-on-lockout-4",
    )
    # Descope sends modifiedTime as a string of epoch seconds.
    assert flow["modifiedTime"] == "1700000123"
    assert flow["translateTargetLanguages"] == ["fr", "de"]
    assert "translation" not in flow
    assert answer["screens"] == descope_v1_export()["screens"]


def without_server_fields(flow: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in flow.items() if k not in ("version", "modifiedTime", "etag")
    }


def test_a_v1_export_comes_back_unchanged_but_for_server_fields() -> None:
    original = descope_v1_export()

    answer = v2_to_v1(normalize_document(original), version=3, modified_ms=0)

    assert without_server_fields(answer["flow"]) == without_server_fields(
        original["flow"]
    )
    assert answer["screens"] == original["screens"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
# Keys idflow gives a meaning to are left out: only unknown fields are generated.
unknown_keys = st.text(
    alphabet=st.characters(whitelist_categories=("Ll", "Lu")), min_size=1, max_size=8
).map(lambda key: f"x{key}")


@given(
    metadata=st.dictionaries(unknown_keys, json_values, max_size=4),
    task_fields=st.dictionaries(unknown_keys, json_values, max_size=4),
)
def test_unknown_metadata_and_task_fields_survive_v1_import_and_export(
    metadata: dict[str, Any], task_fields: dict[str, Any]
) -> None:
    v1 = descope_v1_export()
    v1["flow"].update(copy.deepcopy(metadata))
    v1["flow"]["dsl"]["tasks"]["2"].update(copy.deepcopy(task_fields))

    imported = normalize_document(v1)
    parse_document(imported)
    exported = v2_to_v1(imported, version=3, modified_ms=1_700_000_000_000)

    for key, value in metadata.items():
        assert imported["metadata"][key] == value
        assert exported["flow"][key] == value
    for key, value in task_fields.items():
        assert exported["flow"]["dsl"]["tasks"]["2"][key] == value


def test_unknown_fields_survive_saving_a_v2_export_and_exporting_it(
    sqlite_store: Store,
) -> None:
    imported = descope_v2_export()

    with sqlite_store.begin() as conn:
        flow_service.save_flow(conn, CLI_ACTOR, TEST_PROJECT_ID, imported)
    with sqlite_store.connect() as conn:
        as_v2 = flow_service.export_v2(conn, TEST_PROJECT_ID, "disable-on-lockout")
        as_v1 = flow_service.export_v1(conn, TEST_PROJECT_ID, "disable-on-lockout")

    assert as_v2 == descope_v2_export()
    assert as_v1["flow"]["dsl"] == descope_v2_export()["contents"]
    for key, value in UNKNOWN_METADATA.items():
        assert as_v1["flow"][key] == value


def test_v1_to_v2_leaves_a_non_object_screen_as_it_is() -> None:
    converted = v1_to_v2({"id": "f", "dsl": {}}, ["odd"])

    assert converted["screens"] == ["odd"]


def test_triggers_without_a_trigger_type_are_event_triggers_when_types_are_listed() -> (
    None
):
    triggers = parse_triggers(
        {"triggers": {"eventTriggers": {"triggeringEventTypes": ["UserCreated"]}}}
    )

    assert triggers == Triggers(api=False, event_types=("UserCreated",), enabled=True)


def test_no_triggers_means_a_flow_started_by_the_api() -> None:
    assert parse_triggers(None) == Triggers(api=True, event_types=(), enabled=True)
    assert parse_triggers({"triggers": "odd"}) == Triggers()
    assert parse_triggers({"triggers": {}}) == Triggers()


def test_an_api_trigger_ignores_listed_event_types() -> None:
    triggers = parse_triggers(
        {
            "triggers": {
                "triggerType": "api",
                "eventTriggers": {"triggeringEventTypes": ["UserCreated"]},
            }
        }
    )

    assert triggers == Triggers(api=True, event_types=())


def test_only_enabled_false_switches_the_triggers_off() -> None:
    assert parse_triggers({"triggers": {"enabled": False}}).enabled is False
    assert parse_triggers({"triggers": {"enabled": None}}).enabled is True
