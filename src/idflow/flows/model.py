"""The flow model: Descope's flow DSL as frozen values, parsed one task at a time.

A flow is stored as the Descope v2 document it was saved as (`flowId`, `metadata`,
`contents`), so import and export round-trip byte for byte in content. This module
reads such a document into `Flow`, whose tasks, edges and conditions map one to
one onto the DSL's `tasks`, `next.rules` and `conditions`. It checks shapes only;
`flows.validation` checks meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

START_TASK_ID = "start"
ELSE = "ELSE"
SUCCESS = "success"
ERROR_EDGE = "error"
END_ACTION = "end"


class TaskKind(StrEnum):
    """The kinds of task a management flow may hold, by their DSL `type`."""

    START = "start"
    ACTION = "automated"
    CONDITION = "condition"


class ErrorPolicy(StrEnum):
    """What a failing step does to its run (the DSL's `errorHandlingType`)."""

    AUTOMATIC = "automatic"
    IGNORE = "ignore"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class Rule:
    """An edge: leave by `interaction_id` (an outcome) and go to `task_id`."""

    interaction_id: str
    task_id: str


@dataclass(frozen=True, slots=True)
class AtomicCondition:
    """One comparison: the context value at `target`, an operator, a predicate."""

    target: str
    operator: str
    predicate: Any


@dataclass(frozen=True, slots=True)
class Branch:
    """A condition branch; its atomics are ANDed, or ORed when `logical_or`."""

    interaction_id: str
    name: str
    atomics: tuple[AtomicCondition, ...]
    logical_or: bool = False


@dataclass(frozen=True, slots=True)
class Task:
    """One task of the graph.

    Attributes:
        arguments: argument name to its inline value (the `{"type": "inline"}`
            wrapper removed); values may hold `{{ path }}` templates.
        context_key: where the step's result goes in the context, if anywhere.
    """

    id: str
    name: str
    kind: TaskKind
    action: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    branches: tuple[Branch, ...] = ()
    rules: tuple[Rule, ...] = ()
    error_policy: ErrorPolicy = ErrorPolicy.AUTOMATIC
    context_key: str | None = None

    def edge(self, interaction_id: str) -> str | None:
        """Return the task id this task leads to for an outcome, if it has one."""
        for rule in self.rules:
            if rule.interaction_id == interaction_id:
                return rule.task_id
        return None

    @property
    def is_end(self) -> bool:
        """True for the End task, whose outputs become the run's answer."""
        return self.kind is TaskKind.ACTION and self.action == END_ACTION


@dataclass(frozen=True, slots=True)
class Triggers:
    """How a flow starts: by the API and/or by audit events of listed types."""

    api: bool = True
    event_types: tuple[str, ...] = ()
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Flow:
    """A parsed management flow, with the document it came from."""

    flow_id: str
    name: str
    description: str
    management: bool
    start_task: str
    tasks: Mapping[str, Task]
    triggers: Triggers
    document: Mapping[str, Any]

    @property
    def first_task_id(self) -> str | None:
        """The task the start task leads to."""
        start = self.tasks.get(START_TASK_ID)
        if start is None or not start.rules:
            return None
        return start.rules[0].task_id
