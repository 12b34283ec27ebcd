"""The contract between the engine and the actions it runs.

The engine knows actions only through this interface: a function that takes an
`ActionCall` and returns an `ActionResult`, or raises an `IdflowError` whose
`error_code` (when it has one) becomes the step's error code. The store
connection travels inside the call as an opaque handle, so one run's effects all
commit or roll back together.

An action that must reach the outside world (a connector) does its store work
in the call and hands back an `ExternalCall`; the runner commits the run's
effects so far through the `RunSession` before performing it, so no network
wait ever holds the store's write lock (docs/decisions/0008).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# How deep a chain of event-started runs may go before its events start no flow.
MAX_EVENT_DEPTH = 5


# Not frozen, as `store.records.Run` is not: one is made for every run, and
# a frozen dataclass's `__init__` costs about 1.5 microseconds more for its ten
# fields. Steps read it and never change it.
@dataclass(slots=True)
class RunInfo:
    """What every step of a run knows about the run itself."""

    project_id: str
    run_id: str
    flow_id: str
    flow_version: int
    started_ms: int
    # Where audit events written by this run sit in their causal chain: the
    # chain's first event and the depth of the event that started the run.
    origin_event_id: str | None = None
    depth: int = 0
    triggering_event_id: str | None = None
    # Events this deep start no flows (IDFLOW_MAX_EVENT_DEPTH).
    max_event_depth: int = MAX_EVENT_DEPTH
    # A preview makes no outside call, and its store effects all roll back.
    preview: bool = False


@dataclass(frozen=True, slots=True)
class ActionCall:
    """One invocation of an action by a step.

    Attributes:
        arguments: the step's arguments with templates rendered.
        context: the run's context as it stands; actions must not change it,
            they return what to add.
        conn: the store connection of the run's transaction.
        session: the run's session, for actions that need more than the
            store; None when a run is executed without one (tests, tools).
    """

    run: RunInfo
    task_id: str
    arguments: Mapping[str, Any]
    context: Mapping[str, Any]
    conn: Any
    now_ms: int
    session: RunSession | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action hands back.

    Attributes:
        value: stored in the context under the step's context key, if any.
        detail: a short, non-secret summary for the run trace.
    """

    value: Any = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    external: ExternalCall | None = None


@dataclass(frozen=True, slots=True)
class ExternalCall:
    """Work an action leaves for outside the store transaction: a network call.

    Attributes:
        perform: makes the call and returns the step's result; raises an
            `IdflowError` on failure, like an action.
        background: fire and forget; the run goes on at once, nothing is added
            to the context, and the call starts once the run's effects so far
            have committed (never, if they roll back).
    """

    perform: Callable[[], ActionResult]
    background: bool = False


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a run stands at a checkpoint: enough to go on from there later.

    A checkpoint comes just before a connector step's call. Going on from it
    means running that step again (the call is what may not have happened),
    with the context as it stood, after the steps already traced.

    Attributes:
        task_id: the step to run next: the connector step being checkpointed.
        context: the run's context before that step; the runner goes on
            changing it, so a session that keeps it copies it at once.
        trace: the trace entries of the steps before it.
        resumed: whether going on from here is a new attempt at the run, which
            the trace then marks; not for an accepted run's first start.
    """

    task_id: str
    context: Mapping[str, Any]
    trace: Sequence[Mapping[str, Any]]
    resumed: bool = True


class RunSession(Protocol):
    """The run's hold on the store, as the runner and connector actions see it."""

    @property
    def conn(self) -> Any:
        """The connection of the open transaction, opening one when none is."""

    @property
    def connectors(self) -> Any:
        """The process's connector runtime, opaque to the engine."""

    def checkpoint(self, point: ResumePoint) -> None:
        """Commit the run's effects so far and release the store.

        `point` says where the run would go on from if it stopped during the
        call that follows; a session may store it in the same commit.
        """

    def after_commit(self, work: Callable[[], object]) -> None:
        """Start `work` once the effects so far commit; drop it if they roll back."""


ActionFn = Callable[[ActionCall], ActionResult]
