"""Validation of a parsed flow's meaning: actions, edges, reachability, ends.

Shape problems are found by `flows.descope` while parsing; this module finds what
makes a well-formed flow wrong: an unknown action or argument, an edge to nowhere,
a task no path reaches, a cycle, a path that never reaches an End, or more tasks
than Descope allows. Operators and templates are checked when the engine plans the
flow, since their rules live there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from idflow.flows.catalogue import ACTIONS, ActionSpec, ArgumentKind
from idflow.flows.model import (
    ELSE,
    END_ACTION,
    ERROR_EDGE,
    START_TASK_ID,
    SUCCESS,
    ErrorPolicy,
    Flow,
    Task,
    TaskKind,
)
from idflow.flows.problems import Problem, raise_problems

# Descope's hard limit on tasks in one flow.
MAX_TASKS = 200
OUTPUT_TYPES = ("string", "number", "boolean", "object", "array")


def find_problems(flow: Flow, source: str | None = None) -> list[Problem]:
    """Return every problem with the flow's meaning, in a stable order."""
    checker = _Checker(flow, source)
    checker.check()
    return checker.problems


def validate_flow(flow: Flow, source: str | None = None) -> None:
    """Raise FlowDefinitionError listing every problem, if the flow has any."""
    raise_problems(find_problems(flow, source), repr(flow.flow_id or source))


class _Checker:
    def __init__(self, flow: Flow, source: str | None) -> None:
        self.flow = flow
        self.source = source
        self.problems: list[Problem] = []

    def problem(
        self, message: str, task_id: str | None = None, field: str | None = None
    ) -> None:
        self.problems.append(Problem(message, self.source, task_id, field))

    def check(self) -> None:
        if not self.flow.management:
            self.problem(
                "Only management flows run in idflow: expected metadata.management to be true.",
                field="metadata.management",
            )
        if len(self.flow.tasks) > MAX_TASKS:
            self.problem(
                f"The flow has {len(self.flow.tasks)} tasks: at most {MAX_TASKS} are allowed."
            )

        self.check_start()
        for task in self.flow.tasks.values():
            self.check_edges_exist(task)
            if task.kind is TaskKind.ACTION:
                self.check_action(task)
            elif task.kind is TaskKind.CONDITION:
                self.check_condition(task)
        if not self.problems:
            self.check_graph()

    def check_start(self) -> None:
        start = self.flow.tasks.get(START_TASK_ID)
        if start is None:
            self.problem("The flow has no start task: expected a task with id 'start'.")
            return
        if len(start.rules) != 1:
            self.problem(
                f"The start task has {len(start.rules)} edges: expected exactly one, to the first task.",
                START_TASK_ID,
                "next.rules",
            )
        declared = self.flow.document.get("contents", {}).get("startTask")
        if declared is not None and declared not in self.flow.tasks:
            self.problem(
                f"startTask names {declared!r}, which is not a task of this flow.",
                field="contents.startTask",
            )
        elif (
            declared is not None
            and self.flow.first_task_id is not None
            and declared != self.flow.first_task_id
        ):
            # Descope keeps the two in step; a mismatch means a hand edit went
            # wrong, and the run would follow the start task's edge regardless.
            self.problem(
                f"startTask names {declared!r} but the start task leads to {self.flow.first_task_id!r}: expected both to name the first task.",
                field="contents.startTask",
            )

    def check_edges_exist(self, task: Task) -> None:
        for index, rule in enumerate(task.rules):
            if rule.task_id not in self.flow.tasks:
                self.problem(
                    f"Edge {rule.interaction_id!r} leads to task {rule.task_id!r}, which does not exist.",
                    task.id,
                    f"next.rules.{index}.taskId",
                )
            if rule.task_id == START_TASK_ID:
                self.problem(
                    "No edge may lead back to the start task.",
                    task.id,
                    f"next.rules.{index}.taskId",
                )

    def check_action(self, task: Task) -> None:
        spec = ACTIONS.get(task.action or "")
        if spec is None:
            known = ", ".join(sorted(ACTIONS))
            self.problem(
                f"Unknown action {task.action!r}: expected one of {known}.",
                task.id,
                "action",
            )
            return

        self.check_arguments(task, spec)
        if task.is_end:
            self.check_outputs(task)
            if task.rules:
                self.problem(
                    "The End task cannot lead anywhere: expected no edges.",
                    task.id,
                    "next.rules",
                )
            return
        self.check_action_edges(task)

    def check_arguments(self, task: Task, spec: ActionSpec) -> None:
        for name in task.arguments:
            if spec.argument(name) is None:
                takes = ", ".join(a.name for a in spec.arguments) or "no arguments"
                self.problem(
                    f"Action {spec.action_id!r} takes no argument {name!r}: expected {takes}.",
                    task.id,
                    f"arguments.{name}",
                )
        for argument in spec.arguments:
            value = task.arguments.get(argument.name)
            if argument.kind is ArgumentKind.SQL and "{{" in str(value or ""):
                self.problem(
                    f"Argument {argument.name!r} is SQL and may not hold templates: put values in 'parameters' and name them as :name.",
                    task.id,
                    f"arguments.{argument.name}",
                )
            if argument.required and _is_blank(value):
                self.problem(
                    f"Action {spec.action_id!r} needs argument {argument.name!r}: {argument.description}",
                    task.id,
                    f"arguments.{argument.name}",
                )
        if spec.requires_one_of and not any(
            not _is_blank(task.arguments.get(name)) for name in spec.requires_one_of
        ):
            names = ", ".join(spec.requires_one_of)
            self.problem(
                f"Action {spec.action_id!r} needs at least one of: {names}.",
                task.id,
                "arguments",
            )

    def check_outputs(self, task: Task) -> None:
        outputs = task.arguments.get("outputs", [])
        if not isinstance(outputs, list):
            self.problem(
                "Expected a list of {key, type, value}.", task.id, "arguments.outputs"
            )
            return

        seen: set[str] = set()
        for index, output in enumerate(outputs):
            field = f"arguments.outputs.{index}"
            if (
                not isinstance(output, Mapping)
                or not isinstance(output.get("key"), str)
                or not output["key"]
            ):
                self.problem(
                    "Expected an output {key, type, value} with a non-empty string key.",
                    task.id,
                    field,
                )
                continue
            if output.get("type", "string") not in OUTPUT_TYPES:
                self.problem(
                    f"Output {output['key']!r} has type {output.get('type')!r}: expected one of {', '.join(OUTPUT_TYPES)}.",
                    task.id,
                    f"{field}.type",
                )
            if output["key"] in seen:
                self.problem(
                    f"Output {output['key']!r} is given twice: keys must be unique.",
                    task.id,
                    f"{field}.key",
                )
            seen.add(output["key"])

    def check_action_edges(self, task: Task) -> None:
        allowed = {SUCCESS, ERROR_EDGE}
        for index, rule in enumerate(task.rules):
            if rule.interaction_id not in allowed:
                self.problem(
                    f"An action leaves by 'success' or 'error', not {rule.interaction_id!r}.",
                    task.id,
                    f"next.rules.{index}.interactionId",
                )
        if task.edge(SUCCESS) is None:
            self.problem(
                "The action has no 'success' edge, so its path never reaches an End.",
                task.id,
                "next.rules",
            )
        has_error_edge = task.edge(ERROR_EDGE) is not None
        if task.error_policy is ErrorPolicy.CUSTOM and not has_error_edge:
            self.problem(
                "Custom error handling needs an 'error' edge to follow when the step fails.",
                task.id,
                "next.rules",
            )
        if has_error_edge and task.error_policy is not ErrorPolicy.CUSTOM:
            self.problem(
                "The task has an 'error' edge but its error handling is not 'custom', so the edge is never taken.",
                task.id,
                "errorHandlingV2",
            )

    def check_condition(self, task: Task) -> None:
        ids = [branch.interaction_id for branch in task.branches]
        if ELSE not in ids:
            self.problem(
                "A condition needs an 'ELSE' branch, so every run has a way on.",
                task.id,
                "conditions",
            )
        for index, branch in enumerate(task.branches):
            if (
                ids.count(branch.interaction_id) > 1
                and ids.index(branch.interaction_id) == index
            ):
                self.problem(
                    f"Branch id {branch.interaction_id!r} is used twice.",
                    task.id,
                    f"conditions.{index}",
                )
            if branch.interaction_id != ELSE and not branch.atomics:
                self.problem(
                    f"Branch {branch.name!r} has no conditions, so it would never match.",
                    task.id,
                    f"conditions.{index}.atomicConditions",
                )
            if task.edge(branch.interaction_id) is None:
                self.problem(
                    f"Branch {branch.name!r} has no edge: expected a rule with interactionId {branch.interaction_id!r}.",
                    task.id,
                    "next.rules",
                )
        for index, rule in enumerate(task.rules):
            if rule.interaction_id not in ids:
                self.problem(
                    f"Edge {rule.interaction_id!r} matches no branch of this condition.",
                    task.id,
                    f"next.rules.{index}.interactionId",
                )

    def check_graph(self) -> None:
        reached = set(_walk(self.flow.tasks, START_TASK_ID))
        for task_id in self.flow.tasks:
            if task_id not in reached:
                self.problem("No path from the start reaches this task.", task_id)

        cycle = _find_cycle(self.flow.tasks)
        if cycle:
            path = " -> ".join(repr(t) for t in cycle)
            self.problem(
                f"The flow has a cycle ({path}): management flows must not loop.",
                cycle[0],
            )
        if not any(task.is_end for task in self.flow.tasks.values()):
            self.problem(
                f"The flow has no End task: expected an action {END_ACTION!r}."
            )


def _walk(tasks: Mapping[str, Task], first: str) -> Iterator[str]:
    seen: set[str] = set()
    stack = [first]
    while stack:
        task_id = stack.pop()
        if task_id in seen or task_id not in tasks:
            continue
        seen.add(task_id)
        yield task_id
        stack.extend(rule.task_id for rule in tasks[task_id].rules)


def _find_cycle(tasks: Mapping[str, Task]) -> list[str] | None:
    """Return one cycle as a list of task ids (first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: fully explored
    for root in tasks:
        if state.get(root):
            continue
        path: list[str] = [root]
        iterators = [iter(tasks[root].rules)]
        state[root] = 1
        while iterators:
            rule = next(iterators[-1], None)
            if rule is None:
                state[path.pop()] = 2
                iterators.pop()
                continue
            target = rule.task_id
            if target not in tasks or state.get(target) == 2:
                continue
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            state[target] = 1
            path.append(target)
            iterators.append(iter(tasks[target].rules))
    return None


def _is_blank(value: Any) -> bool:
    return value is None or value in ("", [])
