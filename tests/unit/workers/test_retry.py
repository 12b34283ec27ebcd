from __future__ import annotations

import pytest

from idflow.errors import ConfigurationError
from idflow.workers.config import DeliverySettings
from idflow.workers.retry import RetryPolicy

NOW = 1_800_000_000_000


def test_the_ceiling_of_the_wait_doubles_with_each_attempt_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_ms=1000, max_backoff_ms=5000)

    ceilings = [policy.retry_at(n, NOW, lambda: 0.999999) for n in range(1, 6)]

    assert [c - NOW for c in ceilings if c is not None] == [999, 1999, 3999, 4999, 4999]


def test_full_jitter_spreads_the_wait_from_zero_to_the_ceiling() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_ms=1000)

    assert policy.retry_at(3, NOW, lambda: 0.0) == NOW
    assert policy.retry_at(3, NOW, lambda: 0.5) == NOW + 2000


def test_no_retry_is_left_once_the_attempts_are_used_up() -> None:
    policy = RetryPolicy(max_attempts=3)

    assert policy.retry_at(2, NOW, lambda: 0.5) is not None
    assert policy.retry_at(3, NOW, lambda: 0.5) is None


def test_the_policy_takes_the_operators_settings() -> None:
    settings = DeliverySettings.from_env(
        {
            "IDFLOW_DELIVERY_MAX_ATTEMPTS": "7",
            "IDFLOW_DELIVERY_BACKOFF_SECONDS": "0.25",
            "IDFLOW_DELIVERY_BACKOFF_MAX_SECONDS": "60",
        }
    )

    assert RetryPolicy.from_settings(settings) == RetryPolicy(7, 250, 60_000)


def test_delivery_settings_default_when_unset() -> None:
    assert DeliverySettings.from_env({}) == DeliverySettings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IDFLOW_MAX_EVENT_DEPTH", "0"),
        ("IDFLOW_DELIVERY_MAX_ATTEMPTS", "2.5"),
        ("IDFLOW_WORKER_CONCURRENCY", "many"),
        ("IDFLOW_DELIVERY_LEASE_SECONDS", "-1"),
    ],
)
def test_an_unusable_delivery_setting_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        DeliverySettings.from_env({name: value})
