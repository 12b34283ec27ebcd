"""Validation problems: where in a flow something is wrong and what was expected."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from idflow.errors import FlowDefinitionError


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a flow, located as precisely as it can be.

    Attributes:
        message: one sentence saying what is wrong and what was expected.
        source: the file or document the flow came from, when known.
        task_id: the task at fault, when the problem sits in one.
        field: the dotted field inside the task (or document) at fault.
    """

    message: str
    source: str | None = None
    task_id: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.task_id is not None:
            where.append(f"task {self.task_id!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def to_dict(self) -> dict[str, str | None]:
        """Render the problem for `--json` output and API error details."""
        return {
            "source": self.source,
            "taskId": self.task_id,
            "field": self.field,
            "message": self.message,
        }


def raise_problems(problems: Iterable[Problem], flow_label: str) -> None:
    """Raise one FlowDefinitionError carrying every problem, if there are any.

    Args:
        problems: the problems found.
        flow_label: how to name the flow in the summary line (id or file).

    Raises:
        FlowDefinitionError: when `problems` is not empty.
    """
    found = tuple(problems)
    if not found:
        return

    lines = "\n".join(f"  - {problem}" for problem in found)
    noun = "problem" if len(found) == 1 else "problems"
    raise FlowDefinitionError(
        f"Flow {flow_label} has {len(found)} {noun}:\n{lines}", problems=found
    )
