"""Operator settings for event delivery and workers, read once from the environment.

| Variable | Default | Meaning |
|---|---|---|
| IDFLOW_MAX_EVENT_DEPTH | 5 | events this deep in a chain of runs start no flows |
| IDFLOW_DELIVERY_MAX_ATTEMPTS | 5 | attempts before a delivery is dead-lettered |
| IDFLOW_DELIVERY_BACKOFF_SECONDS | 1 | the base of the exponential backoff between attempts |
| IDFLOW_DELIVERY_BACKOFF_MAX_SECONDS | 300 | the longest wait between attempts |
| IDFLOW_DELIVERY_LEASE_SECONDS | 30 | how long a claim holds without renewal |
| IDFLOW_WORKER_CONCURRENCY | 4 | runs a worker process makes at once (`--concurrency`) |
| IDFLOW_WORKER_POLL_SECONDS | 1 | longest wait between claims when no wake-up comes |
| IDFLOW_WORKER_GRACE_SECONDS | 30 | how long a stopping worker lets its runs finish |

`idflow.settings` reads these into `Settings.deliveries`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from idflow.engine.contract import MAX_EVENT_DEPTH
from idflow.errors import ConfigurationError

MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
LEASE_SECONDS = 30.0
CONCURRENCY = 4
POLL_SECONDS = 1.0
GRACE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """What the operator decides about event delivery and the workers."""

    max_event_depth: int = MAX_EVENT_DEPTH
    max_attempts: int = MAX_ATTEMPTS
    backoff_seconds: float = BACKOFF_SECONDS
    backoff_max_seconds: float = BACKOFF_MAX_SECONDS
    lease_seconds: float = LEASE_SECONDS
    concurrency: int = CONCURRENCY
    poll_seconds: float = POLL_SECONDS
    grace_seconds: float = GRACE_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeliverySettings:
        """Read the delivery settings, checking each.

        Raises:
            ConfigurationError: naming the variable whose value is unusable.
        """
        source = os.environ if env is None else env
        return cls(
            max_event_depth=int(
                _positive(source, "IDFLOW_MAX_EVENT_DEPTH", MAX_EVENT_DEPTH, whole=True)
            ),
            max_attempts=int(
                _positive(
                    source, "IDFLOW_DELIVERY_MAX_ATTEMPTS", MAX_ATTEMPTS, whole=True
                )
            ),
            backoff_seconds=_positive(
                source, "IDFLOW_DELIVERY_BACKOFF_SECONDS", BACKOFF_SECONDS
            ),
            backoff_max_seconds=_positive(
                source, "IDFLOW_DELIVERY_BACKOFF_MAX_SECONDS", BACKOFF_MAX_SECONDS
            ),
            lease_seconds=_positive(
                source, "IDFLOW_DELIVERY_LEASE_SECONDS", LEASE_SECONDS
            ),
            concurrency=int(
                _positive(source, "IDFLOW_WORKER_CONCURRENCY", CONCURRENCY, whole=True)
            ),
            poll_seconds=_positive(source, "IDFLOW_WORKER_POLL_SECONDS", POLL_SECONDS),
            grace_seconds=_positive(
                source, "IDFLOW_WORKER_GRACE_SECONDS", GRACE_SECONDS
            ),
        )


def _positive(
    env: Mapping[str, str], name: str, default: float, *, whole: bool = False
) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = 0
    if value <= 0:
        kind = "a positive whole number" if whole else "a positive number"
        raise ConfigurationError(f"{name} is {raw!r}: expected {kind}.")
    return value
