"""Tests for condition operators, checked against Descope's semantics (§11.3)."""

from __future__ import annotations

from typing import Any

import pytest

from idflow.engine.context import MISSING
from idflow.engine.operators import (
    OPERATOR_NAMES,
    Check,
    compile_condition,
    evaluate,
    parse_duration_ms,
    to_epoch_ms,
)
from idflow.errors import ConditionError

NOW_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
DAY_MS = 86_400_000


def holds(
    operator: str, target: Any, predicate: Any = None, now_ms: int = NOW_MS
) -> bool:
    return compile_condition(operator, predicate)(target, now_ms)


def test_operator_names_lists_descope_operators_and_idflow_date_operators() -> None:
    assert {
        "equal",
        "not-equal",
        "contains",
        "doesnt-contains",
        "greater-than",
        "greater-than-or-equal",
        "less-than",
        "less-than-or-equal",
        "empty",
        "not-empty",
        "is-true",
        "is-false",
        "in",
        "not-in",
        "matches",
        "is-email",
        "is-phone",
        "in-range",
        "not-in-range",
        "devised-by",
        "before",
        "after",
        "within-last",
    } == OPERATOR_NAMES


def test_compile_condition_returns_a_frozen_check_that_keeps_its_source() -> None:
    check = compile_condition("equal", "x")

    assert isinstance(check, Check)
    assert (check.operator, check.predicate) == ("equal", "x")
    with pytest.raises(AttributeError):
        check.operator = "in"  # type: ignore[misc]


def test_an_unknown_operator_raises_naming_it_and_the_known_ones() -> None:
    with pytest.raises(
        ConditionError, match=r"'equals' is unknown; expected one of .*equal, "
    ) as caught:
        compile_condition("equals", "x")

    assert caught.value.message.endswith(".")


# equal / not-equal


@pytest.mark.parametrize(
    ("target", "predicate"),
    [
        ("LoginExceedMaxAttempts", "LoginExceedMaxAttempts"),
        (5, 5),
        (5, 5.0),
        (5, "5"),
        (5.0, "5"),
        (True, "true"),
        (False, "false"),
        (MISSING, ""),
        (None, ""),
        (MISSING, None),
        ({"a": 1}, {"a": 1}),
        ([1, "x"], [1, "x"]),
    ],
)
def test_equal_holds_for_strictly_equal_values_or_equal_text_forms(
    target: Any, predicate: Any
) -> None:
    assert holds("equal", target, predicate)
    assert not holds("not-equal", target, predicate)


@pytest.mark.parametrize(
    ("target", "predicate"),
    [
        ("a", "b"),
        ("A", "a"),
        (1, True),
        (0, False),
        (MISSING, "x"),
        ("true", "True"),
        ({"a": True}, {"a": 1}),
        (5.5, "5"),
    ],
)
def test_equal_fails_when_neither_values_nor_text_forms_match(
    target: Any, predicate: Any
) -> None:
    assert not holds("equal", target, predicate)
    assert holds("not-equal", target, predicate)


# contains / doesnt-contains


def test_contains_finds_the_predicate_text_in_a_string_target() -> None:
    assert holds("contains", "admin@example.com", "@example.")
    assert holds("contains", "abc123", 123)
    assert not holds("contains", "admin@example.com", "@other.")


def test_contains_finds_a_strictly_equal_item_in_an_array_target() -> None:
    assert holds("contains", ["admin", "user"], "admin")
    assert holds("contains", [1, 2], 2)
    assert not holds("contains", [1, 2], "2")
    assert not holds("contains", [1, 0], True)


def test_contains_fails_for_targets_that_are_neither_strings_nor_arrays() -> None:
    assert not holds("contains", 123, "2")
    assert not holds("contains", MISSING, "")
    assert not holds("contains", {"admin": 1}, "admin")


def test_doesnt_contains_is_the_negation_of_contains() -> None:
    assert holds("doesnt-contains", "abc", "x")
    assert holds("doesnt-contains", ["a"], "b")
    assert holds("doesnt-contains", MISSING, "a")
    assert not holds("doesnt-contains", "abc", "b")
    assert not holds("doesnt-contains", ["a"], "a")


# numeric comparisons


@pytest.mark.parametrize(
    ("operator", "target", "predicate", "expected"),
    [
        ("greater-than", 5, 3, True),
        ("greater-than", 3, 3, False),
        ("greater-than", "10", "9", True),
        ("greater-than", " 10 ", 9.5, True),
        ("greater-than", True, 0, True),
        ("greater-than-or-equal", 3, "3", True),
        ("greater-than-or-equal", 2.9, 3, False),
        ("less-than", 2, 3, True),
        ("less-than", 3, 3, False),
        ("less-than", "-1e2", -99, True),
        ("less-than-or-equal", 3, 3.0, True),
        ("less-than-or-equal", 4, 3, False),
        ("less-than", False, 1, True),
    ],
)
def test_comparisons_compare_numeric_sides(
    operator: str, target: Any, predicate: Any, expected: bool
) -> None:
    assert holds(operator, target, predicate) is expected


@pytest.mark.parametrize(
    "operator",
    ["greater-than", "greater-than-or-equal", "less-than", "less-than-or-equal"],
)
@pytest.mark.parametrize(
    ("target", "predicate"),
    [
        ("abc", 1),
        ("", 1),
        ("   ", 1),
        (MISSING, 1),
        (None, 1),
        (float("nan"), 1),
        (float("inf"), 1),
        ("inf", 1),
        ("1_000", 1),
        ([1], 1),
        (1, "abc"),
        (1, None),
        (1, float("nan")),
    ],
)
def test_comparisons_fail_when_either_side_is_not_numeric(
    operator: str, target: Any, predicate: Any
) -> None:
    assert not holds(operator, target, predicate)


# empty / not-empty


@pytest.mark.parametrize("target", [None, MISSING, "", [], {}])
def test_empty_holds_for_null_missing_and_empty_values(target: Any) -> None:
    assert holds("empty", target)
    assert not holds("not-empty", target)


@pytest.mark.parametrize("target", [0, False, " ", "x", [None], {"a": None}])
def test_not_empty_holds_for_any_other_value(target: Any) -> None:
    assert holds("not-empty", target)
    assert not holds("empty", target)


# is-true / is-false


@pytest.mark.parametrize("target", [True, "true", 1, -2, 0.5])
def test_is_true_holds_for_true_the_string_true_and_non_zero_numbers(
    target: Any,
) -> None:
    assert holds("is-true", target)


@pytest.mark.parametrize(
    "target",
    [False, "false", "True", "1", "yes", 0, 0.0, None, MISSING, [], float("nan")],
)
def test_is_true_fails_for_everything_else(target: Any) -> None:
    assert not holds("is-true", target)


@pytest.mark.parametrize("target", [False, "false", 0, 0.0])
def test_is_false_holds_for_false_the_string_false_and_zero(target: Any) -> None:
    assert holds("is-false", target)


@pytest.mark.parametrize(
    "target", [True, "true", "False", "0", 1, None, MISSING, "", []]
)
def test_is_false_fails_for_missing_and_other_values(target: Any) -> None:
    assert not holds("is-false", target)


# in / not-in


def test_in_finds_the_target_in_an_array_predicate_strictly() -> None:
    assert holds("in", "admin", ["admin", "owner"])
    assert holds("in", 2, [1, 2])
    assert not holds("in", "2", [1, 2])
    assert not holds("in", True, [1])
    assert not holds("in", "guest", ["admin", "owner"])


def test_in_splits_a_string_predicate_on_commas_without_trimming() -> None:
    assert holds("in", "b", "a,b,c")
    assert holds("in", " b", "a, b")
    assert not holds("in", "b", "a, b")


def test_in_never_converts_the_target_to_text() -> None:
    assert not holds("in", 1, "1,2")
    assert not holds("in", MISSING, "a,")


def test_in_fails_for_a_predicate_that_is_neither_array_nor_string() -> None:
    assert not holds("in", 1, 1)
    assert not holds("in", None, None)


def test_not_in_holds_when_the_predicate_list_lacks_the_target() -> None:
    assert holds("not-in", "guest", ["admin", "owner"])
    assert holds("not-in", "b", "a, b")
    assert holds("not-in", "2", [1, 2])
    assert not holds("not-in", "admin", ["admin"])
    assert not holds("not-in", "a", "a,b")


def test_not_in_fails_for_a_predicate_that_is_not_a_list() -> None:
    assert not holds("not-in", "a", None)
    assert not holds("not-in", "a", 5)
    assert not holds("not-in", "a", {"b": 1})


# matches


def test_matches_searches_anywhere_in_a_string_target() -> None:
    assert holds("matches", "user@corp.example.com", r"@corp\.")
    assert holds("matches", "abc", "^a")
    assert not holds("matches", "xabc", "^a")
    assert not holds("matches", "ABC", "^a")
    assert holds("matches", "ABC", "(?i)^a")


def test_matches_fails_for_a_non_string_target() -> None:
    assert not holds("matches", 123, "1")
    assert not holds("matches", MISSING, ".*")
    assert not holds("matches", ["a"], "a")


def test_matches_rejects_patterns_outside_re2_syntax_at_compile_time() -> None:
    with pytest.raises(
        ConditionError,
        match=r"Regular expression '\(\?<=a\)b' is invalid .*expected RE2 syntax\.",
    ):
        compile_condition("matches", "(?<=a)b")
    with pytest.raises(ConditionError, match="invalid"):
        compile_condition("matches", "(unclosed")


def test_matches_rejects_a_predicate_that_is_not_a_string() -> None:
    with pytest.raises(ConditionError, match="expected a regular expression string"):
        compile_condition("matches", 5)


def test_matches_runs_in_linear_time_on_a_pattern_that_backtracks_in_python() -> None:
    # Under Python's re this pattern takes exponential time on such input.
    assert not holds("matches", "a" * 5000 + "!", "^(a+)+$")


# is-email / is-phone


@pytest.mark.parametrize(
    "target", ["ann@example.com", "first.last+tag@sub.example.org"]
)
def test_is_email_holds_for_valid_addresses(target: str) -> None:
    assert holds("is-email", target)


@pytest.mark.parametrize(
    "target",
    ["ann", "ann@", "@example.com", "ann@@example.com", "ann@example", "", 5, MISSING],
)
def test_is_email_fails_for_invalid_addresses_and_non_strings(target: Any) -> None:
    assert not holds("is-email", target)


@pytest.mark.parametrize(
    "target", ["+14155552671", "+1 (415) 555-2671", "+442071838750"]
)
def test_is_phone_holds_for_valid_international_numbers(target: str) -> None:
    assert holds("is-phone", target)


@pytest.mark.parametrize(
    "target", ["4155552671", "+1415", "+999123", "phone", "", 14155552671, MISSING]
)
def test_is_phone_fails_for_national_invalid_and_non_string_values(target: Any) -> None:
    assert not holds("is-phone", target)


# in-range / not-in-range


@pytest.mark.parametrize(
    ("target", "expected"),
    [(30, True), (60, True), (45.5, True), ("50", True), (29, False), (61, False)],
)
def test_in_range_includes_both_ends(target: Any, expected: bool) -> None:
    assert holds("in-range", target, "30,60") is expected
    assert holds("not-in-range", target, "30,60") is not expected


def test_in_range_accepts_a_two_item_array_predicate() -> None:
    assert holds("in-range", 5, [1, 10])
    assert holds("not-in-range", 11, [1, 10])


@pytest.mark.parametrize(
    "predicate", ["", "30", "30,", ",60", "a,b", "1,2,3", None, 5, [1]]
)
def test_a_malformed_range_makes_in_range_false_and_not_in_range_true(
    predicate: Any,
) -> None:
    assert not holds("in-range", 2, predicate)
    assert holds("not-in-range", 2, predicate)


def test_range_operators_fail_for_a_non_numeric_target() -> None:
    assert not holds("in-range", "abc", "1,10")
    assert not holds("not-in-range", MISSING, "1,10")


# devised-by


def test_devised_by_holds_when_the_target_is_a_multiple_of_the_predicate() -> None:
    assert holds("devised-by", 30, "10")
    assert holds("devised-by", "30", 10)
    assert holds("devised-by", 0, 7)
    assert holds("devised-by", 7.5, 2.5)
    assert not holds("devised-by", 31, "10")


@pytest.mark.parametrize("predicate", ["ten", "", None, 0, "0", [10]])
def test_devised_by_fails_for_a_non_numeric_or_zero_predicate(predicate: Any) -> None:
    assert not holds("devised-by", 30, predicate)


def test_devised_by_fails_for_a_non_numeric_target() -> None:
    assert not holds("devised-by", MISSING, 10)
    assert not holds("devised-by", "x", 10)


# dates


def test_to_epoch_ms_reads_small_numbers_as_seconds_and_large_ones_as_milliseconds() -> (
    None
):
    assert to_epoch_ms(1_700_000_000) == NOW_MS
    assert to_epoch_ms(NOW_MS) == NOW_MS
    assert to_epoch_ms("1700000000") == NOW_MS
    assert to_epoch_ms(99_999_999_999) == 99_999_999_999_000
    assert to_epoch_ms(100_000_000_000) == 100_000_000_000


def test_to_epoch_ms_reads_iso_dates_and_datetimes_naive_as_utc() -> None:
    assert to_epoch_ms("2023-11-14T22:13:20Z") == NOW_MS
    assert to_epoch_ms("2023-11-14T22:13:20") == NOW_MS
    assert to_epoch_ms("2023-11-15T00:13:20+02:00") == NOW_MS
    assert to_epoch_ms("2023-11-14") == NOW_MS - (22 * 3600 + 13 * 60 + 20) * 1000


@pytest.mark.parametrize(
    "value", ["yesterday", "", None, MISSING, True, [1], float("nan"), "2023-13-01"]
)
def test_to_epoch_ms_gives_none_for_values_that_are_not_dates(value: Any) -> None:
    assert to_epoch_ms(value) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", 30_000),
        ("5m", 300_000),
        ("12h", 43_200_000),
        ("90d", 90 * DAY_MS),
        ("2w", 14 * DAY_MS),
        ("0d", 0),
    ],
)
def test_parse_duration_ms_reads_a_number_and_a_unit(text: str, expected: int) -> None:
    assert parse_duration_ms(text) == expected


@pytest.mark.parametrize(
    "text", ["90", "d", "1.5d", "-1d", "90D", "3y", "90 days", "", 90, None]
)
def test_parse_duration_ms_rejects_anything_else(text: Any) -> None:
    with pytest.raises(
        ConditionError, match=r"is malformed; expected a whole number and a unit"
    ):
        parse_duration_ms(text)


def test_before_a_duration_means_longer_ago_than_that() -> None:
    assert holds("before", NOW_MS - 91 * DAY_MS, "90d")
    assert not holds("before", NOW_MS - 89 * DAY_MS, "90d")
    assert not holds("before", NOW_MS - 90 * DAY_MS, "90d")


def test_after_a_duration_means_more_recent_than_that() -> None:
    assert holds("after", NOW_MS - 1 * DAY_MS, "7d")
    assert not holds("after", NOW_MS - 8 * DAY_MS, "7d")


def test_before_and_after_now_compare_with_the_run_time() -> None:
    assert holds("before", NOW_MS - 1, "now")
    assert holds("after", NOW_MS + 1, "now")
    assert not holds("after", NOW_MS, "now")


def test_before_and_after_a_fixed_date_mix_seconds_milliseconds_and_iso() -> None:
    assert holds("before", 1_699_999_999, "2023-11-14T22:13:20Z")
    assert holds("after", "2024-01-01", NOW_MS)
    assert holds("before", "2023-11-14T22:13:19.500Z", 1_700_000_000)
    assert not holds("before", NOW_MS, "1700000000")


def test_the_same_check_follows_the_time_it_is_given() -> None:
    check = compile_condition("before", "1d")

    assert not check(NOW_MS, NOW_MS)
    assert check(NOW_MS, NOW_MS + 2 * DAY_MS)


def test_within_last_holds_between_now_minus_the_duration_and_now() -> None:
    assert holds("within-last", NOW_MS - 11 * 3_600_000, "12h")
    assert holds("within-last", NOW_MS - 12 * 3_600_000, "12h")
    assert holds("within-last", NOW_MS, "12h")
    assert not holds("within-last", NOW_MS - 13 * 3_600_000, "12h")
    assert not holds("within-last", NOW_MS + 1, "12h")


@pytest.mark.parametrize("operator", ["before", "after", "within-last"])
@pytest.mark.parametrize(
    "target", [MISSING, None, "", "not a date", True, {"at": NOW_MS}]
)
def test_date_operators_fail_for_a_missing_or_unreadable_target(
    operator: str, target: Any
) -> None:
    assert not holds(operator, target, "1d")


@pytest.mark.parametrize("predicate", ["90x", "soon", "", None, True, "Now"])
def test_before_and_after_reject_a_predicate_that_is_no_date_now_or_duration(
    predicate: Any,
) -> None:
    with pytest.raises(
        ConditionError, match=r"expected a date, 'now' or a duration such as '90d'\."
    ):
        compile_condition("before", predicate)


def test_within_last_rejects_a_predicate_that_is_not_a_duration() -> None:
    with pytest.raises(ConditionError, match="Duration '2023-01-01' is malformed"):
        compile_condition("within-last", "2023-01-01")


# evaluate


def test_evaluate_compiles_and_runs_a_rendered_predicate() -> None:
    assert evaluate("equal", "pro", "pro", NOW_MS)
    assert evaluate("in", "b", ["a", "b"], NOW_MS)
    assert not evaluate("greater-than", 1, "2", NOW_MS)
    assert evaluate("within-last", NOW_MS - 1000, "1m", NOW_MS)


def test_evaluate_keeps_equal_looking_predicates_of_different_types_apart() -> None:
    assert evaluate("in", 1, [1], NOW_MS)
    assert not evaluate("in", True, [1], NOW_MS)
    assert evaluate("equal", 1, 1, NOW_MS)
    assert not evaluate("equal", 1, True, NOW_MS)
    assert evaluate("equal", True, True, NOW_MS)


def test_evaluate_raises_for_an_invalid_rendered_predicate() -> None:
    with pytest.raises(ConditionError):
        evaluate("matches", "x", "(", NOW_MS)
    with pytest.raises(ConditionError):
        evaluate("nope", "x", "y", NOW_MS)
