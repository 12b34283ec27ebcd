"""Tests for reading flow files: every example, both formats, and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from idflow.errors import FlowDefinitionError
from idflow.flows.files import decode_text, document_from_data, load_flow_file
from idflow.flows.problems import Problem
from idflow.services.flows import check_document
from tests.unit.flows.documents import lockout_document

EXAMPLES_DIR = Path(__file__).parents[3] / "examples" / "flows"
# Globbed, so an example added to the folder is checked without a test change.
EXAMPLES = sorted(
    path for path in EXAMPLES_DIR.iterdir() if path.suffix in (".yaml", ".yml", ".json")
)


def problem_of(path: Path) -> Problem:
    with pytest.raises(FlowDefinitionError) as raised:
        load_flow_file(path)
    [problem] = raised.value.problems
    assert isinstance(problem, Problem)
    return problem


def test_the_examples_folder_holds_flows() -> None:
    assert EXAMPLES, "examples/flows should hold at least one flow file"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_example_flow_loads_validates_and_plans(path: Path) -> None:
    document, flow = load_flow_file(path)

    assert flow.flow_id == path.stem
    assert flow.management
    # The engine's own checks (operators, templates, implementations) pass too.
    check_document(document, str(path))


def test_a_yaml_file_in_the_authoring_form_is_compiled(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(
        "id: f\nsteps:\n  - {id: a, action: user-disable}\n  - {id: e, end: {}}\n"
    )

    document, flow = load_flow_file(path)

    assert document["contents"]["startTask"] == "a"
    assert flow.tasks["a"].action == "user-disable"


def test_a_json_file_holding_a_v1_export_is_converted(tmp_path: Path) -> None:
    v2 = lockout_document()
    v1 = {
        "flow": {"id": v2["flowId"], "dsl": v2["contents"], **v2["metadata"]},
        "screens": [],
    }
    path = tmp_path / "lockout.json"
    path.write_text(json.dumps(v1))

    document, flow = load_flow_file(path)

    assert document["contents"] == v2["contents"]
    assert flow.flow_id == "lockout"


def test_a_file_that_does_not_validate_names_itself_in_every_problem(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(
        "id: f\nsteps:\n  - {id: a, action: user-nope, next: e}\n  - {id: e, end: {}}\n"
    )

    problem = problem_of(path)

    assert (problem.source, problem.task_id, problem.field) == (
        str(path),
        "a",
        "action",
    )


def test_a_missing_file_is_reported_as_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    problem = problem_of(path)

    assert problem.source == str(path)
    assert problem.message == "Cannot read the file: No such file or directory."


def test_bad_yaml_is_reported_in_one_sentence_with_its_line_and_column() -> None:
    text = "id: f\nsteps:\n  - id: a\n   action: user-load\n"

    with pytest.raises(FlowDefinitionError) as raised:
        decode_text(text, "flows/f.yaml")

    [problem] = raised.value.problems
    assert problem.source == "flows/f.yaml"
    assert problem.message == (
        "Not valid YAML at line 4, column 4: expected <block end>, but found '<block mapping start>'."
    )
    assert raised.value.message == (
        "Flow 'flows/f.yaml' has 1 problem:\n  - flows/f.yaml: " + problem.message
    )


def test_a_tab_in_yaml_indentation_is_reported_with_its_place() -> None:
    with pytest.raises(FlowDefinitionError) as raised:
        decode_text("id: f\nsteps:\n\t- id: a\n", "f.yml")

    [problem] = raised.value.problems
    assert problem.message.startswith("Not valid YAML at line 3, column 1: ")
    assert "\n" not in problem.message


def test_bad_json_is_reported_with_its_position() -> None:
    with pytest.raises(FlowDefinitionError) as raised:
        decode_text('{"flowId": ', "f.json")

    [problem] = raised.value.problems
    assert problem.source == "f.json"
    assert problem.message.startswith("Not valid JSON: ")
    assert "line 1 column" in problem.message


def test_a_json_file_is_read_strictly_as_json() -> None:
    with pytest.raises(FlowDefinitionError):
        decode_text("flowId: f", "f.json")

    assert decode_text("flowId: f", "f.yaml") == {"flowId": "f"}


def test_decoded_data_that_is_no_flow_is_refused() -> None:
    with pytest.raises(FlowDefinitionError) as raised:
        document_from_data(yaml.safe_load("- a\n- b\n"), "f.yaml")

    [problem] = raised.value.problems
    assert problem.source == "f.yaml"
    assert problem.message.startswith("Not a flow document: ")
