"""The flow-run body: the hand check and `RunBody` read every body alike."""

from __future__ import annotations

from typing import Any

import pytest

from idflow.api.bodies import parse_body
from idflow.api.flows import RunBody, RunRequest, _parse_plain
from idflow.errors import InvalidArgument

BODIES: list[dict[str, Any]] = [
    {"flowId": "f"},
    {"flowId": "f", "options": {"input": {"a": 1}}},  # Node, Go
    {"flowId": "f", "input": {"a": 1}, "preview": True, "tenant": "T1"},  # Python
    {"flowId": "f", "options": {"input": {}}, "input": {"a": 1}},
    {"flowId": "f", "options": {"preview": False}, "preview": True},
    {"flowId": "f", "options": {"tenant": "T2"}, "tenant": "T1"},
    {"flowId": "f", "options": None, "input": None, "preview": None},
    {"flowId": "f", "options": {"input": None, "tenant": None}, "input": {"b": [1]}},
    {"flowId": "f", "unknown": 1, "options": {"unknown": 2}},
    {"flowId": ""},
    {"flowId": None},
    {"flowId": 7},
    {},
    {"flowId": "f", "options": []},
    {"flowId": "f", "options": {"input": "text"}},
    {"flowId": "f", "input": [1, 2]},
    {"flowId": "f", "preview": "true"},
    {"flowId": "f", "options": {"preview": 1}},
    {"flowId": "f", "tenant": 5},
]


def _through_pydantic(data: dict[str, Any]) -> tuple[Any, ...]:
    body = parse_body(RunBody, data)
    return (body.flowId, body.run_input(), body.run_preview(), body.run_tenant())


@pytest.mark.parametrize("data", BODIES)
def test_the_hand_check_agrees_with_run_body(data: dict[str, Any]) -> None:
    try:
        expected: Any = _through_pydantic(data)
    except InvalidArgument as exc:
        expected = exc

    if isinstance(expected, InvalidArgument):
        # The hand check passes it on, and RunBody's message is the answer.
        assert _parse_plain(data) is None
        with pytest.raises(InvalidArgument) as raised:
            RunRequest.parse(data)
        assert raised.value.message == expected.message
    else:
        request = RunRequest.parse(data)
        assert (
            request.flow_id,
            request.inputs,
            request.preview,
            request.tenant,
        ) == expected


def test_the_sdks_bodies_take_the_hand_check() -> None:
    node = _parse_plain({"flowId": "f", "options": {"input": {"a": 1}}})
    python = _parse_plain({"flowId": "f", "input": {"a": 1}, "preview": False})

    assert node is not None and node.inputs == {"a": 1}
    assert python is not None and python.inputs == {"a": 1} and python.preview is False


def test_a_wrong_type_names_the_field_and_what_was_expected() -> None:
    with pytest.raises(
        InvalidArgument, match=r"options\.input: Input should be a valid dictionary"
    ):
        RunRequest.parse({"flowId": "f", "options": {"input": "text"}})
