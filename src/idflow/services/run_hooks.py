"""Hooks into a run's own transactions, for callers whose work must commit with the run.

A worker that runs a flow for a delivery must mark the delivery done in the
same transaction as the run's last effects and its run record, and must lock
the event's subject before the run reads it. `start_run` takes these hooks and
calls them on the run's connection; it knows nothing of deliveries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from idflow.engine.contract import ResumePoint, RunInfo
from idflow.store.records import Run


@dataclass(frozen=True, slots=True)
class RunHooks:
    """Work added to a run's transactions; each hook may raise to roll them back.

    Attributes:
        on_begin: called with the connection first thing in the run's first
            transaction, before the flow is read.
        before_commit: called with the connection and the completed run, after
            the run record is written and before the last commit; never for a
            failed run, whose effects roll back.
        on_reopen: called with the connection first thing in each transaction
            the run opens after a checkpoint: what `on_begin` locked, the
            checkpoint's commit released.
        on_checkpoint: called with the connection, the run and where it
            stands, at each connector call, before the effects so far commit;
            a worker stores the point there, so that a later attempt resumes
            from it instead of repeating what committed.
    """

    on_begin: Callable[[Any], None] | None = None
    before_commit: Callable[[Any, Run], None] | None = None
    on_reopen: Callable[[Any], None] | None = None
    on_checkpoint: Callable[[Any, RunInfo, ResumePoint], None] | None = None
