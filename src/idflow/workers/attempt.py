"""One attempt at a claimed delivery: run its flow and settle the delivery with the run.

A completed run marks its delivery done in the run's own last transaction,
fenced by the worker's lease: the delivery, the run record and the run's final
effects commit together, or, when the lease was lost to another worker, all
roll back (`LeaseLost`). A crash before that commit leaves nothing behind, so
the next attempt starts clean. A failed run, or an error before the run could
start, counts as a failed attempt: retried with backoff, then dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from idflow.errors import FlowDisabled, FlowNotFound, IdflowError, LeaseLost
from idflow.logs import bound
from idflow.runtime import Runtime
from idflow.services import deliveries as delivery_service
from idflow.services.run_hooks import RunHooks
from idflow.services.runs import start_run
from idflow.store import deliveries as delivery_store
from idflow.store.claims import claim_dialect
from idflow.store.records import (
    AuditEvent,
    Delivery,
    Run,
    RunStatus,
    RunTrigger,
    SkipReason,
)
from idflow.workers.retry import RetryPolicy

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    """How one attempt at a delivery ended."""

    DONE = "done"
    RETRIED = "retried"
    DEAD = "dead"
    SKIPPED = "skipped"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a worker holds, with its event, loaded in the claim's transaction.

    Attributes:
        event: None when the event is gone (its project was deleted).
    """

    delivery: Delivery
    event: AuditEvent | None


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt did: its outcome and the run it made, if any."""

    delivery_id: str
    outcome: Outcome
    run_id: str | None = None


class _Stale(Exception):
    """Raised in the run's first transaction when the flow no longer takes the event."""

    def __init__(self, reason: SkipReason) -> None:
        super().__init__(str(reason))
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Attempts:
    """What every attempt of one worker shares.

    Attributes:
        owner: the worker's id, which its leases carry.
        clock: the current time in epoch milliseconds (injected in tests).
        random: floats in [0, 1) for the backoff's jitter.
    """

    runtime: Runtime
    owner: str
    policy: RetryPolicy
    clock: Callable[[], int]
    random: Callable[[], float]

    def attempt(self, claimed: Claimed) -> AttemptResult:
        """Run the delivery's flow once and settle the delivery; never raises."""
        delivery = claimed.delivery
        with bound(delivery.project_id):
            try:
                return self._attempt(delivery, claimed.event)
            except LeaseLost:
                logger.warning(
                    "Delivery %s was taken over by another worker; this attempt left nothing",
                    delivery.delivery_id,
                    extra={"event_name": "delivery_lease_lost"},
                )
                return AttemptResult(delivery.delivery_id, Outcome.LOST)

    def _attempt(self, delivery: Delivery, event: AuditEvent | None) -> AttemptResult:
        if delivery.attempts > self.policy.max_attempts:
            # Only a lease that expired again and again gets here: each worker
            # that claimed it died or stalled before it could record a result.
            message = f"The delivery was claimed {delivery.attempts - 1} times and every claim expired before the run ended."
            return self._fail(delivery, {"message": message}, None)
        if event is None:
            return self._skip(delivery, SkipReason.EVENT_MISSING)

        try:
            run = self._start(delivery, event)
        except _Stale as stale:
            return self._skip(delivery, stale.reason)
        except FlowNotFound:
            return self._skip(delivery, SkipReason.FLOW_DELETED)
        except FlowDisabled:
            return self._skip(delivery, SkipReason.FLOW_DISABLED)
        except LeaseLost:
            raise
        except IdflowError as exc:
            code = getattr(exc, "error_code", None)
            return self._fail(delivery, {"code": code, "message": exc.message}, None)
        except Exception as exc:
            logger.exception(
                "Delivery %s crashed its run",
                delivery.delivery_id,
                extra={"event_name": "delivery_crashed"},
            )
            message = f"The run stopped on an internal error ({type(exc).__name__}); the worker log has the details."
            return self._fail(delivery, {"message": message}, None)

        return self._settled(delivery, run)

    def _start(self, delivery: Delivery, event: AuditEvent) -> Run:
        hooks = RunHooks(
            on_begin=lambda conn: self._begin(conn, delivery, event),
            before_commit=lambda conn, run: delivery_store.complete_delivery(
                conn, delivery.delivery_id, self.owner, run.run_id, self.clock()
            ),
        )
        return start_run(
            self.runtime,
            delivery.project_id,
            delivery.flow_id,
            None,
            RunTrigger.EVENT,
            triggering_event=delivery_service.trigger_record(event),
            hooks=hooks,
        )

    def _begin(self, conn: Any, delivery: Delivery, event: AuditEvent) -> None:
        # Lock first, then check: the check then sees the flow as the run will.
        key = delivery_service.subject_key(event)
        if key is not None:
            claim_dialect(conn.dialect.name).lock_subject(conn, key)
        reason = delivery_service.stale_reason(conn, delivery, event.action)
        if reason is not None:
            raise _Stale(reason)

    def _settled(self, delivery: Delivery, run: Run) -> AttemptResult:
        if run.status is RunStatus.FAILED:
            error = {**(run.error or {}), "runId": run.run_id}
            return self._fail(delivery, error, run.run_id)
        logger.debug(
            "Delivery %s done by run %s",
            delivery.delivery_id,
            run.run_id,
            extra={"event_name": "delivery_completed"},
        )
        return AttemptResult(delivery.delivery_id, Outcome.DONE, run.run_id)

    def _fail(
        self, delivery: Delivery, error: dict[str, Any], run_id: str | None
    ) -> AttemptResult:
        now = self.clock()
        retry_at = self.policy.retry_at(delivery.attempts, now, self.random)
        with self.runtime.store.begin() as conn:
            delivery_store.fail_delivery(
                conn,
                delivery.delivery_id,
                self.owner,
                error=error,
                run_id=run_id,
                retry_at_ms=retry_at,
                now_ms=now,
            )
        if retry_at is None:
            logger.error(
                "Delivery %s of event %s to flow %s is dead after %d attempts",
                delivery.delivery_id,
                delivery.event_id,
                delivery.flow_id,
                delivery.attempts,
                extra={"event_name": "delivery_dead_lettered"},
            )
            return AttemptResult(delivery.delivery_id, Outcome.DEAD, run_id)
        logger.info(
            "Delivery %s failed attempt %d; retrying in %d ms",
            delivery.delivery_id,
            delivery.attempts,
            retry_at - now,
            extra={"event_name": "delivery_retried"},
        )
        return AttemptResult(delivery.delivery_id, Outcome.RETRIED, run_id)

    def _skip(self, delivery: Delivery, reason: SkipReason) -> AttemptResult:
        with self.runtime.store.begin() as conn:
            delivery_store.skip_delivery(
                conn, delivery.delivery_id, self.owner, reason, self.clock()
            )
        logger.info(
            "Delivery %s to flow %s skipped: %s",
            delivery.delivery_id,
            delivery.flow_id,
            reason,
            extra={"event_name": "delivery_skipped"},
        )
        return AttemptResult(delivery.delivery_id, Outcome.SKIPPED)
