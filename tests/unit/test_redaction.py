"""Tests for the redaction helper shared by logs and run traces."""

from __future__ import annotations

from typing import Any

import pytest

from idflow.redaction import REDACTED, is_secret_key, redact


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "newPassword",
        "passwd",
        "clientSecret",
        "accessToken",
        "refresh_token",
        "apiKey",
        "APIKEY",
        "x-api-key",
        "api_key",
        "Authorization",
        "credentials",
        "privateKey",
        "Cookie",
        "set-cookie",
        "sessionId",
        "key",
        "KEY",
        "managementKey",
        "signing_key",
        "SIGNING_KEY",
    ],
)
def test_is_secret_key_recognises_secret_names(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "loginId",
        "userId",
        "tenantId",
        "keyId",
        "keys",
        "email",
        "name",
        "monkey",
        "turkey",
        "status",
        "abTestingKeyword",
    ],
)
def test_is_secret_key_leaves_ids_and_ordinary_names(name: str) -> None:
    assert not is_secret_key(name)


def test_redact_replaces_values_under_secret_keys_at_any_depth() -> None:
    value = {
        "userId": "U1",
        "headers": {"Authorization": "Bearer abc", "Accept": "json"},
        "items": [{"password": "p"}, {"name": "n"}],
        "connector": {"credentials": {"user": "u", "pass": "x"}},
    }

    assert redact(value) == {
        "userId": "U1",
        "headers": {"Authorization": REDACTED, "Accept": "json"},
        "items": [{"password": REDACTED}, {"name": "n"}],
        "connector": {"credentials": REDACTED},
    }


def test_redact_uses_the_documented_marker() -> None:
    assert REDACTED == "[redacted]"


def test_redact_leaves_the_input_unchanged() -> None:
    value = {"token": "t", "nested": {"secret": "s"}}

    redact(value)

    assert value == {"token": "t", "nested": {"secret": "s"}}


def test_redact_returns_containers_shared_with_nothing() -> None:
    value: dict[str, Any] = {"a": {"b": [1, 2]}}

    copy = redact(value)
    copy["a"]["b"].append(3)

    assert value == {"a": {"b": [1, 2]}}


def test_redact_turns_tuples_into_lists() -> None:
    assert redact(({"token": 1}, 2)) == [{"token": REDACTED}, 2]


@pytest.mark.parametrize("value", ["token", 5, None, True, 1.5])
def test_redact_returns_scalars_as_they_are(value: Any) -> None:
    assert redact(value) == value


def test_redact_ignores_keys_that_are_not_strings() -> None:
    assert redact({1: "one", "key": "k"}) == {1: "one", "key": REDACTED}
