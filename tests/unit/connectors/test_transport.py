"""Retry timing rules: backoff bounds and `Retry-After` in both of its forms."""

from __future__ import annotations

import email.utils
import time

from idflow.connectors.transport import RetryPolicy, _retry_after


def test_backoff_doubles_up_to_its_cap_with_jitter_below_it() -> None:
    policy = RetryPolicy(initial_backoff_seconds=0.2, max_backoff_seconds=1.0)

    waits = [policy.backoff(attempt) for attempt in (1, 2, 3, 4, 5)]

    assert 0.1 <= waits[0] <= 0.2
    assert 0.2 <= waits[1] <= 0.4
    assert all(0.5 <= wait <= 1.0 for wait in waits[3:])


def test_retry_after_reads_seconds_and_http_dates() -> None:
    later = email.utils.formatdate(time.time() + 120, usegmt=True)

    from_date = _retry_after({"retry-after": later})

    assert _retry_after({"retry-after": "7"}) == 7.0
    assert from_date is not None
    assert 100 < from_date <= 121
    assert _retry_after({"retry-after": "soon"}) is None
    assert _retry_after({}) is None
