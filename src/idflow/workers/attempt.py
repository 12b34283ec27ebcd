"""One attempt at a claimed delivery: run its flow and settle the delivery with the run.

A completed run marks its delivery done in the run's own last transaction,
fenced by the worker's lease: the delivery, the run record and the run's final
effects commit together, or, when the lease was lost to another worker, all
roll back (`LeaseLost`). A crash before that commit leaves nothing behind, so
the next attempt starts clean. A failed run, or an error before the run could
start, counts as a failed attempt: retried with backoff, then dead-lettered.

A run with connector steps commits at each call (decision 0008). Each of those
commits also stores where the run stands and ties the run to the delivery,
fenced by the lease, so the attempt after a crash or a failure resumes the run
from its last checkpoint: what committed before it is not done again
(decision 0012).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import orjson

from idflow.engine.contract import ResumePoint, RunInfo
from idflow.errors import FlowDisabled, FlowNotFound, IdflowError, LeaseLost
from idflow.logs import bound
from idflow.runtime import Runtime
from idflow.services import deliveries as delivery_service
from idflow.services.run_hooks import RunHooks
from idflow.services.runs import start_run
from idflow.store import deliveries as delivery_store
from idflow.store import runs as run_store
from idflow.store.claims import claim_dialect
from idflow.store.records import (
    AuditEvent,
    Delivery,
    Run,
    RunCheckpoint,
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


# Why a run left at a checkpoint cannot go on, for the error it is closed with.
_NOT_RESUMED = {
    SkipReason.FLOW_DELETED: "its flow was deleted",
    SkipReason.FLOW_DISABLED: "its flow was switched off",
    SkipReason.EVENT_MISSING: "its event is gone",
}


@dataclass(frozen=True, slots=True)
class _Resumable:
    """A run an earlier attempt left at a checkpoint: its record and where it stood."""

    run: Run
    checkpoint: RunCheckpoint


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
        resumable = self._resumable(delivery)
        if delivery.attempts > self.policy.max_attempts:
            # Only a lease that expired again and again gets here: each worker
            # that claimed it died or stalled before it could record a result.
            message = f"The delivery was claimed {delivery.attempts - 1} times and every claim expired before the run ended."
            return self._fail(delivery, {"message": message}, None, resumable)
        if delivery.event_id is None and resumable is None:
            # An accepted API run is queued with its checkpoint; without it
            # there is nothing to run from.
            message = (
                f"Run {delivery.run_id} was accepted but its starting point is gone."
            )
            self._end_unstartable(delivery, message)
            return self._fail(delivery, {"message": message}, None, final=True)
        if delivery.event_id is not None and event is None:
            return self._skip(delivery, SkipReason.EVENT_MISSING, resumable)

        try:
            run = self._start(delivery, event, resumable)
        except _Stale as stale:
            return self._skip(delivery, stale.reason, resumable)
        except FlowNotFound as exc:
            return self._skip(
                delivery, SkipReason.FLOW_DELETED, resumable, exc.error_code
            )
        except FlowDisabled as exc:
            return self._skip(
                delivery, SkipReason.FLOW_DISABLED, resumable, exc.error_code
            )
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

    def _resumable(self, delivery: Delivery) -> _Resumable | None:
        # Only a delivery whose run reached a checkpoint has a run id before
        # its run ends, so a first attempt reads nothing here.
        if delivery.run_id is None:
            return None
        with self.runtime.store.connect() as conn:
            checkpoint = run_store.get_checkpoint(
                conn, delivery.project_id, delivery.run_id
            )
            if checkpoint is None:
                return None
            run = run_store.get_run(conn, delivery.project_id, delivery.run_id)
        return None if run is None else _Resumable(run, checkpoint)

    def _start(
        self,
        delivery: Delivery,
        event: AuditEvent | None,
        resumable: _Resumable | None,
    ) -> Run:
        """Make the delivery's run: an event's, or an accepted API run (no event)."""
        checkpointed = resumable is not None

        def on_checkpoint(conn: Any, info: RunInfo, point: ResumePoint) -> None:
            nonlocal checkpointed
            # Fence first: a worker that lost the delivery must commit nothing.
            delivery_store.hold_run(conn, delivery.delivery_id, self.owner, info.run_id)
            run_store.save_checkpoint(
                conn, _checkpoint(info, point, self.clock()), replace=checkpointed
            )
            checkpointed = True

        def before_commit(conn: Any, run: Run) -> None:
            delivery_store.complete_delivery(
                conn, delivery.delivery_id, self.owner, run.run_id, self.clock()
            )
            if checkpointed:
                run_store.delete_checkpoint(conn, run.project_id, run.run_id)

        if event is None:
            # An accepted API run: no subject to lock, no trigger to re-check.
            assert resumable is not None
            return start_run(
                self.runtime,
                delivery.project_id,
                delivery.flow_id,
                None,
                resumable.run.trigger,
                hooks=RunHooks(
                    before_commit=before_commit, on_checkpoint=on_checkpoint
                ),
                accepted=resumable.run,
                resume=resumable.checkpoint,
                resumed=bool(resumable.checkpoint.trace) or delivery.attempts > 1,
                preview=resumable.run.trigger is RunTrigger.PREVIEW,
            )

        hooks = RunHooks(
            on_begin=lambda conn: self._begin(
                conn, delivery, event, resuming=checkpointed
            ),
            before_commit=before_commit,
            on_checkpoint=on_checkpoint,
            on_reopen=lambda conn: _lock_subject(conn, event),
        )
        return start_run(
            self.runtime,
            delivery.project_id,
            delivery.flow_id,
            None,
            RunTrigger.EVENT,
            triggering_event=delivery_service.trigger_record(event),
            hooks=hooks,
            accepted=resumable.run if resumable else None,
            resume=resumable.checkpoint if resumable else None,
        )

    def _begin(
        self, conn: Any, delivery: Delivery, event: AuditEvent, *, resuming: bool
    ) -> None:
        # Lock first, then check: the check then sees the flow as the run will.
        _lock_subject(conn, event)
        if resuming:
            # The run started on a version that took the event and is pinned to
            # it; only a flow deleted or switched off since stops it.
            return
        reason = delivery_service.stale_reason(conn, delivery, event.action)
        if reason is not None:
            raise _Stale(reason)

    def _settled(self, delivery: Delivery, run: Run) -> AttemptResult:
        if delivery.event_id is None and (
            run.status is RunStatus.FAILED or run.trigger is RunTrigger.PREVIEW
        ):
            # An API run's failure is its answer (`async/result`), as for a
            # synchronous run: never retried, and its inputs are dropped. A
            # preview rolled back its last transaction, delivery included.
            with self.runtime.store.begin() as conn:
                delivery_store.complete_delivery(
                    conn, delivery.delivery_id, self.owner, run.run_id, self.clock()
                )
                run_store.delete_checkpoint(conn, run.project_id, run.run_id)
            return AttemptResult(delivery.delivery_id, Outcome.DONE, run.run_id)
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
        self,
        delivery: Delivery,
        error: dict[str, Any],
        run_id: str | None,
        abandoned: _Resumable | None = None,
        *,
        final: bool = False,
    ) -> AttemptResult:
        # `abandoned` is a run left at a checkpoint that this attempt did not
        # go on with: recorded as failed if the delivery dies, so that it does
        # not stay `running`; its checkpoint stays for a redrive. `final`
        # dead-letters at once, whatever attempts are left.
        now = self.clock()
        retry_at = (
            None if final else self.policy.retry_at(delivery.attempts, now, self.random)
        )
        with self.runtime.store.begin() as conn:
            if retry_at is None and abandoned is not None:
                _end_abandoned(conn, abandoned, error, now, keep_checkpoint=True)
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

    def _end_unstartable(self, delivery: Delivery, message: str) -> None:
        assert delivery.run_id is not None
        with self.runtime.store.begin() as conn:
            run = run_store.get_run(conn, delivery.project_id, delivery.run_id)
            if run is not None and run.status is RunStatus.RUNNING:
                run_store.update_run(
                    conn,
                    replace(
                        run,
                        status=RunStatus.FAILED,
                        error={"message": message, "taskId": None},
                        finished_ms=self.clock(),
                    ),
                )

    def _skip(
        self,
        delivery: Delivery,
        reason: SkipReason,
        abandoned: _Resumable | None,
        code: str | None = None,
    ) -> AttemptResult:
        with self.runtime.store.begin() as conn:
            if abandoned is not None:
                why = _NOT_RESUMED.get(reason, str(reason))
                if delivery.event_id is None and not abandoned.checkpoint.trace:
                    # An accepted API run at its first task: where it was queued,
                    # or at a connector call that is its first step, whose
                    # checkpoint has an empty trace too. Only an earlier claim
                    # can have begun it: there was none when this attempt is
                    # the first claim and the run was never failed (a redrive
                    # counts attempts afresh, but its run had been failed).
                    first_claim = delivery.attempts <= 1
                    if first_claim and abandoned.run.status is RunStatus.RUNNING:
                        message = f"The run was accepted but never started: {why}."
                    else:
                        message = (
                            "The run was accepted and an earlier attempt began it, "
                            f"but it was not resumed: {why}."
                        )
                else:
                    message = (
                        f"The run stopped at a checkpoint and was not resumed: {why}."
                    )
                error = (
                    {"message": message}
                    if code is None
                    else {"code": code, "message": message}
                )
                _end_abandoned(conn, abandoned, error, self.clock())
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


def _lock_subject(conn: Any, event: AuditEvent) -> None:
    # Runs about one user (or tenant) take turns, transaction by transaction:
    # each reads the subject only after the one before has committed its change.
    key = delivery_service.subject_key(event)
    if key is not None:
        claim_dialect(conn.dialect.name).lock_subject(conn, key)


def _checkpoint(info: RunInfo, point: ResumePoint, now: int) -> RunCheckpoint:
    # Through JSON and back: a copy of the context as it stands now, which the
    # run goes on changing, holding only what the store can keep.
    context = orjson.loads(orjson.dumps(point.context, default=str))
    return RunCheckpoint(
        project_id=info.project_id,
        run_id=info.run_id,
        flow_id=info.flow_id,
        flow_version=info.flow_version,
        task_id=point.task_id,
        context=context,
        trace=tuple(point.trace),
        saved_ms=now,
    )


def _end_abandoned(
    conn: Any,
    abandoned: _Resumable,
    error: dict[str, Any],
    now: int,
    *,
    keep_checkpoint: bool = False,
) -> None:
    """Record a run left at a checkpoint as failed, so it does not stay `running`.

    With `keep_checkpoint` a redrive of the delivery still resumes the run;
    without it the run can never go on, and its stored context goes.
    """
    checkpoint = abandoned.checkpoint
    failed = replace(
        abandoned.run,
        status=RunStatus.FAILED,
        error={**error, "taskId": checkpoint.task_id},
        trace=checkpoint.trace,
        finished_ms=now,
    )
    run_store.update_run(conn, failed)
    if not keep_checkpoint:
        run_store.delete_checkpoint(conn, checkpoint.project_id, checkpoint.run_id)
