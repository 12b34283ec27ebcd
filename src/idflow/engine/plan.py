"""The planner: turns a validated flow into a plan whose parts are compiled once.

A plan holds, per task, the action function to call, the argument templates
compiled, the condition operators compiled (regular expressions, durations) and
the edges as a lookup table. Plans are immutable and cached per flow version, so
a run does no parsing at all. Problems only the engine can see, such as an
unknown operator or a malformed template, surface here as FlowDefinitionError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from idflow.engine.context import PathParts, compile_path
from idflow.engine.contract import ActionFn
from idflow.engine.operators import OPERATOR_NAMES, Check, compile_condition
from idflow.engine.templates import CompiledValue, compile_value
from idflow.errors import ConditionError, TemplateError
from idflow.flows.catalogue import ACTIONS
from idflow.flows.model import Flow, Task, TaskKind
from idflow.flows.problems import Problem, raise_problems
from idflow.flows.validation import find_problems
from idflow.redaction import is_secret_key


@dataclass(frozen=True, slots=True)
class PlannedAtomic:
    """One comparison, with its operator compiled unless the predicate is templated.

    Attributes:
        secret_target: the target's last segment looks secret, so the trace
            hides its value.
        secret_predicate: the trace hides the predicate: it is read from the
            context under a secret-looking key, or compared with a secret
            target, which it most likely equals.
    """

    target: str
    target_parts: PathParts
    operator: str
    predicate: Any
    check: Check | None
    predicate_template: CompiledValue | None
    secret_target: bool = False
    secret_predicate: bool = False


@dataclass(frozen=True, slots=True)
class PlannedBranch:
    """A condition branch ready to evaluate."""

    interaction_id: str
    name: str
    atomics: tuple[PlannedAtomic, ...]
    logical_or: bool


@dataclass(frozen=True, slots=True)
class PlannedOutput:
    """One End output: its key, its type and its compiled value."""

    key: str
    type: str
    value: CompiledValue


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A task ready to run; `edges` maps an outcome to the next task id."""

    task: Task
    edges: Mapping[str, str]
    action: ActionFn | None = None
    context_key: str | None = None
    arguments: Mapping[str, CompiledValue] = field(default_factory=dict)
    branches: tuple[PlannedBranch, ...] = ()
    outputs: tuple[PlannedOutput, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """A flow version compiled for running.

    Attributes:
        context_only: the plan holds conditions and End only. A run of it
            reads nothing but its context and changes nothing outside it, and
            ends within as many steps as the plan has tasks (validation
            refuses cycles), so it may be made anywhere, even on the event
            loop (`services.runs.make_context_only_run`).
    """

    flow: Flow
    version: int
    first_task_id: str
    steps: Mapping[str, PlannedStep]
    context_only: bool = False


def compile_plan(
    flow: Flow,
    version: int,
    actions: Mapping[str, ActionFn],
    source: str | None = None,
) -> Plan:
    """Validate a flow and compile it into a plan.

    Args:
        flow: the parsed flow.
        version: the flow version the plan runs, recorded on every run.
        actions: action id to implementation.
        source: the file or document name, for messages.

    Returns:
        The plan.

    Raises:
        FlowDefinitionError: listing every problem, structural or in operators,
            templates and action implementations.
    """
    problems = find_problems(flow, source)
    planner = _Planner(actions, source)
    steps = {}
    for task in flow.tasks.values():
        if task.kind is not TaskKind.START:
            steps[task.id] = planner.plan_step(task)
    raise_problems([*problems, *planner.problems], repr(flow.flow_id or source))

    context_only = all(
        step.task.kind is TaskKind.CONDITION or step.task.is_end
        for step in steps.values()
    )
    return Plan(flow, version, flow.first_task_id or "", steps, context_only)


class _Planner:
    def __init__(self, actions: Mapping[str, ActionFn], source: str | None) -> None:
        self.actions = actions
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, message: str, task_id: str, field: str) -> None:
        self.problems.append(Problem(message, self.source, task_id, field))

    def plan_step(self, task: Task) -> PlannedStep:
        edges: dict[str, str] = {}
        for rule in task.rules:
            # The first rule for an outcome wins, as `Task.edge` and validation read it.
            edges.setdefault(rule.interaction_id, rule.task_id)
        if task.kind is TaskKind.CONDITION:
            branches = tuple(
                self.plan_branch(task, index) for index in range(len(task.branches))
            )
            return PlannedStep(task, edges, branches=branches)
        if task.is_end:
            return PlannedStep(task, edges, outputs=self.plan_outputs(task))

        arguments = {}
        for name, value in task.arguments.items():
            compiled = self.compile(value, task.id, f"arguments.{name}")
            if compiled is not None:
                arguments[name] = compiled
        action = self.actions.get(task.action or "")
        if action is None and task.action in ACTIONS:
            # The catalogue check reports unknown ids; this catches a catalogue
            # entry that no implementation serves.
            self.problem(
                f"Action {task.action!r} has no implementation in this idflow.",
                task.id,
                "action",
            )
        spec = ACTIONS.get(task.action or "")
        context_key = task.context_key or (spec.context_key if spec else None)
        return PlannedStep(
            task, edges, action=action, context_key=context_key, arguments=arguments
        )

    def plan_branch(self, task: Task, index: int) -> PlannedBranch:
        branch = task.branches[index]
        atomics = []
        for a_index, atomic in enumerate(branch.atomics):
            field = f"conditions.{index}.atomicConditions.{a_index}"
            templated = isinstance(atomic.predicate, str) and "{{" in atomic.predicate
            check = None
            template = None
            try:
                if templated:
                    # The predicate is known only at run time; check the operator now.
                    template = compile_value(atomic.predicate)
                    if atomic.operator not in OPERATOR_NAMES:
                        compile_condition(atomic.operator, atomic.predicate)
                else:
                    check = compile_condition(atomic.operator, atomic.predicate)
            except (ConditionError, TemplateError) as exc:
                self.problem(exc.message, task.id, field)
            target_parts = compile_path(atomic.target)
            # Known from the flow alone, so each run's trace need not work it out.
            secret_target = bool(target_parts) and is_secret_key(str(target_parts[-1]))
            secret_predicate = template is not None and (
                secret_target
                or any(
                    is_secret_key(path.rsplit(".", 1)[-1]) for path in template.paths
                )
            )
            atomics.append(
                PlannedAtomic(
                    target=atomic.target,
                    target_parts=target_parts,
                    operator=atomic.operator,
                    predicate=atomic.predicate,
                    check=check,
                    predicate_template=template,
                    secret_target=secret_target,
                    secret_predicate=secret_predicate,
                )
            )
        return PlannedBranch(
            branch.interaction_id, branch.name, tuple(atomics), branch.logical_or
        )

    def plan_outputs(self, task: Task) -> tuple[PlannedOutput, ...]:
        outputs: list[PlannedOutput] = []
        raw = task.arguments.get("outputs") or []
        if not isinstance(raw, list):
            return ()  # validation reports the shape, beside the planner's problems
        for index, output in enumerate(raw):
            if not isinstance(output, Mapping) or not isinstance(
                output.get("key"), str
            ):
                continue  # likewise reported by validation
            compiled = self.compile(
                output.get("value"), task.id, f"arguments.outputs.{index}.value"
            )
            if compiled is not None:
                outputs.append(
                    PlannedOutput(output["key"], output.get("type", "string"), compiled)
                )
        return tuple(outputs)

    def compile(self, value: Any, task_id: str, field: str) -> CompiledValue | None:
        try:
            return compile_value(value)
        except TemplateError as exc:
            self.problem(exc.message, task_id, field)
            return None
