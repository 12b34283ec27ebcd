"""Tests for dotted-path reads and writes on the flow context."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from idflow.engine.context import MISSING, assign, compile_path, lookup, lookup_parts
from idflow.errors import ContextError


def make_context() -> dict[str, Any]:
    return {
        "client": {"items": ["a", {"name": "b"}], "empty": None, "flag": False},
        "user": {"customAttributes": {"plan": "pro"}, "loginIds": ["x@example.com"]},
        "byNumber": {"0": "zero", "01": "zero-one"},
    }


def test_missing_is_falsy_and_prints_as_its_name() -> None:
    assert not MISSING
    assert repr(MISSING) == "MISSING"
    assert MISSING is not None


def test_missing_survives_copies_and_pickles_as_the_same_object() -> None:
    assert copy.copy(MISSING) is MISSING
    assert copy.deepcopy({"a": MISSING})["a"] is MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING


def test_compile_path_turns_canonical_decimal_segments_into_ints() -> None:
    assert compile_path("client.items.0") == ("client", "items", 0)
    assert compile_path("a.01.-1") == ("a", "01", "-1")


def test_lookup_walks_nested_dicts() -> None:
    assert lookup(make_context(), "user.customAttributes.plan") == "pro"


def test_lookup_indexes_lists_with_numeric_segments() -> None:
    context = make_context()

    assert lookup(context, "client.items.0") == "a"
    assert lookup(context, "client.items.1.name") == "b"
    assert lookup(context, "user.loginIds.0") == "x@example.com"


def test_lookup_reads_numeric_segments_as_keys_of_dicts() -> None:
    context = make_context()

    assert lookup(context, "byNumber.0") == "zero"
    assert lookup(context, "byNumber.01") == "zero-one"


def test_lookup_returns_the_whole_subtree_for_a_prefix() -> None:
    assert lookup(make_context(), "user.customAttributes") == {"plan": "pro"}


@pytest.mark.parametrize(
    "path",
    [
        "nope",
        "user.nope",
        "client.items.2",
        "client.items.name",
        "client.items.-1",
        "user.customAttributes.plan.deeper",
        "client.empty.deeper",
        "",
    ],
)
def test_lookup_gives_missing_when_the_path_leads_nowhere(path: str) -> None:
    assert lookup(make_context(), path) is MISSING


def test_lookup_keeps_stored_none_and_false_apart_from_missing() -> None:
    context = make_context()

    assert lookup(context, "client.empty") is None
    assert lookup(context, "client.flag") is False


def test_lookup_parts_accepts_a_precompiled_path() -> None:
    parts = compile_path("client.items.1.name")

    assert lookup_parts(make_context(), parts) == "b"


def test_assign_creates_dicts_on_the_way() -> None:
    context: dict[str, Any] = {}

    assign(context, "http.response.status", 200)

    assert context == {"http": {"response": {"status": 200}}}


def test_assign_keeps_sibling_keys() -> None:
    context = make_context()

    assign(context, "user.customAttributes.seats", 5)

    assert context["user"]["customAttributes"] == {"plan": "pro", "seats": 5}


def test_assign_replaces_a_none_on_the_way_with_a_dict() -> None:
    context = make_context()

    assign(context, "client.empty.value", 1)

    assert context["client"]["empty"] == {"value": 1}


def test_assign_sets_an_existing_list_item() -> None:
    context = make_context()

    assign(context, "client.items.1.name", "c")
    assign(context, "client.items.0", "z")

    assert context["client"]["items"] == ["z", {"name": "c"}]


def test_assign_rejects_a_scalar_in_the_way() -> None:
    with pytest.raises(
        ContextError, match=r"'user\.customAttributes\.plan' holds a str"
    ):
        assign(make_context(), "user.customAttributes.plan.tier", "gold")


def test_assign_rejects_an_index_past_the_end_of_a_list() -> None:
    with pytest.raises(ContextError, match="past the end"):
        assign(make_context(), "client.items.5", "x")


def test_assign_rejects_a_name_segment_on_a_list() -> None:
    with pytest.raises(ContextError, match="expected a list index"):
        assign(make_context(), "client.items.name", "x")


def test_assign_rejects_an_empty_path() -> None:
    with pytest.raises(ContextError, match="empty"):
        assign({}, "", 1)
