"""The retry policy of deliveries: exponential backoff with full jitter, then the dead letter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from idflow.workers.config import DeliverySettings


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how soon a failed delivery is tried again.

    After attempt n fails, the next waits a uniformly random time between zero
    and `min(max_backoff_ms, backoff_ms * 2 ** (n - 1))`: full jitter, so
    deliveries that failed together (a database restart) do not all come back
    in the same instant.

    Attributes:
        max_attempts: attempts before the delivery is dead-lettered (5).
        backoff_ms: the ceiling of the first wait (1 s).
        max_backoff_ms: the ceiling no wait exceeds (5 min).
    """

    max_attempts: int = 5
    backoff_ms: int = 1000
    max_backoff_ms: int = 300_000

    @classmethod
    def from_settings(cls, settings: DeliverySettings) -> RetryPolicy:
        """The policy the operator configured."""
        return cls(
            max_attempts=settings.max_attempts,
            backoff_ms=round(settings.backoff_seconds * 1000),
            max_backoff_ms=round(settings.backoff_max_seconds * 1000),
        )

    def retry_at(
        self, attempts: int, now_ms: int, random: Callable[[], float]
    ) -> int | None:
        """When to try again after `attempts` attempts failed.

        Args:
            attempts: the attempts made so far, the failed one included.
            now_ms: the current time.
            random: a source of floats in [0, 1), for the jitter.

        Returns:
            The time of the next attempt, or None when the attempts are used
            up and the delivery goes to the dead letter.
        """
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.max_backoff_ms, self.backoff_ms * 2 ** max(attempts - 1, 0))

        return now_ms + int(random() * ceiling)
