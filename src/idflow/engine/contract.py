"""The contract between the engine and the actions it runs.

The engine knows actions only through this interface: a function that takes an
`ActionCall` and returns an `ActionResult`, or raises an `IdflowError` whose
`error_code` (when it has one) becomes the step's error code. The store
connection travels inside the call as an opaque handle, so one run's effects all
commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What every step of a run knows about the run itself."""

    project_id: str
    run_id: str
    flow_id: str
    flow_version: int
    started_ms: int
    # Where audit events written by this run sit in their causal chain.
    origin_event_id: str | None = None
    depth: int = 0


@dataclass(frozen=True, slots=True)
class ActionCall:
    """One invocation of an action by a step.

    Attributes:
        arguments: the step's arguments with templates rendered.
        context: the run's context as it stands; actions must not change it,
            they return what to add.
        conn: the store connection of the run's transaction.
    """

    run: RunInfo
    task_id: str
    arguments: Mapping[str, Any]
    context: Mapping[str, Any]
    conn: Any
    now_ms: int


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action hands back.

    Attributes:
        value: stored in the context under the step's context key, if any.
        detail: a short, non-secret summary for the run trace.
    """

    value: Any = None
    detail: Mapping[str, Any] = field(default_factory=dict)


ActionFn = Callable[[ActionCall], ActionResult]
