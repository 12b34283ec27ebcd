"""Tests for text and number forms and End output type conversions."""

from __future__ import annotations

import math
from enum import IntEnum, StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idflow.engine.context import MISSING
from idflow.engine.conversions import (
    OUTPUT_TYPES,
    convert_output,
    to_json_text,
    to_number,
    to_text,
)
from idflow.errors import ConversionError

finite_floats = st.floats(allow_nan=False, allow_infinity=False)


def test_output_types_are_descopes_five() -> None:
    assert OUTPUT_TYPES == ("string", "number", "boolean", "object", "array")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "abc"),
        (None, ""),
        (MISSING, ""),
        (True, "true"),
        (False, "false"),
        (120, "120"),
        (120.0, "120"),
        (-0.5, "-0.5"),
        (1e20, "1e+20"),
        ({"a": [1, "é"]}, '{"a":[1,"é"]}'),
        ([], "[]"),
    ],
)
def test_to_text_writes_descopes_text_form(value: Any, expected: str) -> None:
    assert to_text(value) == expected


def test_to_json_text_writes_integers_past_64_bits() -> None:
    assert to_json_text({"n": 2**70}) == '{"n":1180591620717411303424}'


def test_to_json_text_writes_missing_as_null() -> None:
    assert to_json_text({"a": MISSING}) == '{"a":null}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, 1),
        (False, 0),
        (7, 7),
        (2.5, 2.5),
        ("42", 42),
        (" -42 ", -42),
        ("+3", 3),
        ("2.50", 2.5),
        (".5", 0.5),
        ("1e3", 1000.0),
    ],
)
def test_to_number_reads_numbers_bools_and_numeric_strings(
    value: Any, expected: Any
) -> None:
    number = to_number(value)

    assert number == expected
    assert type(number) is type(expected)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "  ",
        "abc",
        "1_000",
        "nan",
        "inf",
        "0x10",
        "١٢",
        "1e999",
        float("nan"),
        float("inf"),
        None,
        MISSING,
        [1],
        {},
    ],
)
def test_to_number_gives_none_for_anything_else(value: Any) -> None:
    assert to_number(value) is None


# string


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ok", "ok"),
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        (None, ""),
        (MISSING, ""),
        ({"a": 1}, '{"a":1}'),
        ([1, 2], "[1,2]"),
    ],
)
def test_string_outputs_take_the_text_form(value: Any, expected: str) -> None:
    assert convert_output("out", value, "string") == expected


@given(st.integers())
def test_string_output_of_an_int_parses_back_to_it(value: int) -> None:
    assert int(convert_output("out", value, "string")) == value


@given(finite_floats)
def test_string_output_of_a_float_reads_back_as_the_same_number(value: float) -> None:
    assert to_number(convert_output("out", value, "string")) == value


# number


@given(st.integers() | finite_floats)
def test_number_output_keeps_any_finite_number(value: float) -> None:
    assert convert_output("out", value, "number") == value


@given(st.integers())
def test_number_output_of_an_integer_string_is_that_int(value: int) -> None:
    converted = convert_output("out", str(value), "number")

    assert converted == value
    assert type(converted) is int


@given(finite_floats)
def test_number_output_of_a_float_text_is_the_same_number(value: float) -> None:
    converted = convert_output("out", repr(value), "number")

    assert converted == value


def test_number_output_gives_an_int_for_a_whole_decimal_string() -> None:
    assert convert_output("out", "3.0", "number") == 3
    assert type(convert_output("out", "3.0", "number")) is int
    assert type(convert_output("out", "3.5", "number")) is float


def test_number_output_reads_bools_as_one_and_zero() -> None:
    assert convert_output("out", True, "number") == 1
    assert convert_output("out", False, "number") == 0


@pytest.mark.parametrize(
    "value", ["abc", "", None, MISSING, float("nan"), float("inf"), [1], {"n": 1}]
)
def test_number_output_rejects_non_numeric_values(value: Any) -> None:
    with pytest.raises(
        ConversionError,
        match=r"^Output 'status' cannot be a number: got .*; expected a number or a numeric string\.$",
    ):
        convert_output("status", value, "number")


def test_a_conversion_error_names_the_value_and_its_type() -> None:
    with pytest.raises(ConversionError) as caught:
        convert_output("status", "abc", "number")

    assert (
        caught.value.message
        == "Output 'status' cannot be a number: got 'abc' (str); expected a number or a numeric string."
    )


def test_a_conversion_error_says_when_the_path_is_missing() -> None:
    with pytest.raises(ConversionError, match="got nothing"):
        convert_output("status", MISSING, "number")


def test_a_conversion_error_cuts_a_long_value() -> None:
    with pytest.raises(ConversionError) as caught:
        convert_output("status", "x" * 500, "number")

    assert "..." in caught.value.message
    assert len(caught.value.message) < 200


# boolean


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("FALSE", False),
        ("True", True),
        (1, True),
        (0, False),
        (1.0, True),
    ],
)
def test_boolean_output_reads_bools_their_words_and_one_or_zero(
    value: Any, expected: bool
) -> None:
    assert convert_output("out", value, "boolean") is expected


@pytest.mark.parametrize("value", ["yes", "1", "", 2, None, MISSING, [], {}])
def test_boolean_output_rejects_other_values(value: Any) -> None:
    with pytest.raises(ConversionError, match="cannot be a boolean"):
        convert_output("out", value, "boolean")


@given(st.booleans())
def test_boolean_output_reads_back_its_own_string_output(value: bool) -> None:
    assert (
        convert_output("out", convert_output("out", value, "string"), "boolean")
        is value
    )


# object and array


def test_object_output_takes_a_dict_or_json_object_text() -> None:
    assert convert_output("out", {"a": 1}, "object") == {"a": 1}
    assert convert_output("out", '{"a": [1]}', "object") == {"a": [1]}


@pytest.mark.parametrize("value", ["[1]", "{bad", "", 1, None, MISSING, [{"a": 1}]])
def test_object_output_rejects_other_values(value: Any) -> None:
    with pytest.raises(ConversionError, match="cannot be an object"):
        convert_output("out", value, "object")


def test_array_output_takes_a_list_or_json_array_text() -> None:
    assert convert_output("out", [1, "a"], "array") == [1, "a"]
    assert convert_output("out", (1, 2), "array") == [1, 2]
    assert convert_output("out", '[1, {"a": 2}]', "array") == [1, {"a": 2}]


@pytest.mark.parametrize("value", ['{"a": 1}', "nope", "", 1, None, MISSING, {"a": 1}])
def test_array_output_rejects_other_values(value: Any) -> None:
    with pytest.raises(ConversionError, match="cannot be an array"):
        convert_output("out", value, "array")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | finite_floats
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values))
def test_object_output_reads_back_its_own_string_output(value: dict[str, Any]) -> None:
    assert (
        convert_output("out", convert_output("out", value, "string"), "object") == value
    )


@given(st.lists(json_values))
def test_array_output_reads_back_its_own_string_output(value: list[Any]) -> None:
    assert (
        convert_output("out", convert_output("out", value, "string"), "array") == value
    )


def test_an_unknown_output_type_is_rejected_naming_the_known_ones() -> None:
    with pytest.raises(
        ConversionError,
        match=r"Output 'out' has unknown type 'int'; expected one of string, number, boolean, object, array\.",
    ):
        convert_output("out", 1, "int")


def test_number_output_of_a_huge_whole_float_text_stays_a_float() -> None:
    converted = convert_output("out", "1e300", "number")

    assert isinstance(converted, float)
    assert math.isclose(converted, 1e300)


def test_to_text_writes_enum_members_as_their_plain_value() -> None:
    class Plan(StrEnum):
        PRO = "pro"

    class Level(IntEnum):
        HIGH = 3

    assert to_text(Plan.PRO) == "pro"
    assert to_text(Level.HIGH) == "3"
