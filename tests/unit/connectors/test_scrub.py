"""Known secret values are scrubbed from text wherever they occur."""

from __future__ import annotations

from idflow.redaction import REDACTED, scrub_values


def test_secrets_inside_strings_keys_and_lists_are_replaced() -> None:
    value = {"message": "bad token tok-123 here", "tok-123": ["x tok-123", 7]}

    scrubbed = scrub_values(value, ["tok-123"])

    assert scrubbed == {
        "message": f"bad token {REDACTED} here",
        REDACTED: [f"x {REDACTED}", 7],
    }
    assert value["message"] == "bad token tok-123 here"


def test_the_longest_secret_is_replaced_first() -> None:
    assert scrub_values("abcd-efgh", ["abcd", "abcd-efgh"]) == REDACTED


def test_very_short_values_are_left_alone() -> None:
    assert scrub_values("a b c", ["b"]) == "a b c"
