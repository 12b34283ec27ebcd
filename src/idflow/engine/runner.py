"""The runner: walks a plan from its first task to an End, recording a trace.

The runner is synchronous and does no I/O of its own; actions reach the store
through the connection carried in each call. It never raises for a flow's own
failure: every outcome, good or bad, comes back as a `RunOutcome` with the trace
so far, and the caller decides what to commit. Before a step's external call
(a connector) it checkpoints the session, committing the effects so far.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from idflow.clock import now_ms as _now_ms
from idflow.engine.context import MISSING, lookup_parts
from idflow.engine.contract import (
    ActionCall,
    ActionResult,
    ExternalCall,
    ResumePoint,
    RunInfo,
    RunSession,
)
from idflow.engine.conversions import convert_output
from idflow.engine.operators import evaluate
from idflow.engine.plan import Plan, PlannedAtomic, PlannedBranch, PlannedStep
from idflow.errors import ConditionError, IdflowError
from idflow.flows.model import ELSE, ERROR_EDGE, SUCCESS, ErrorPolicy, TaskKind
from idflow.redaction import REDACTED, redact

logger = logging.getLogger(__name__)

# The code a step failure carries when the error raised has none of its own.
STEP_FAILED_CODE = "E102002"
LIMIT_EXCEEDED_CODE = "E102003"


@dataclass(frozen=True, slots=True)
class RunLimits:
    """Bounds on one run; each is documented in docs/flow-format.md."""

    max_steps: int = 1000
    timeout_seconds: float = 30.0
    max_output_bytes: int = 64 * 1024


@dataclass(slots=True)
class RunOutcome:
    """How a run ended.

    Attributes:
        error: `{"code", "message", "taskId"}` when the run failed.
        trace: one entry per step taken, secrets redacted.
    """

    succeeded: bool
    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)


class _StepError(Exception):
    """A step failed; carries the wire code and message for the run's error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def execute(
    plan: Plan,
    run: RunInfo,
    context: dict[str, Any],
    *,
    conn: Any,
    limits: RunLimits,
    session: RunSession | None = None,
    resume: ResumePoint | None = None,
) -> RunOutcome:
    """Run a plan to its End, or to the first failure its error policy does not absorb.

    Args:
        plan: the compiled flow version.
        run: the run's identity, handed to every action.
        context: the initial context (`client`, `run`, `triggeringEvent`, ...);
            steps add to it in place.
        conn: the store connection actions write through.
        limits: step, time and size bounds.
        session: the run's session; when given, each action gets its current
            connection and external calls commit the run's effects first.
        resume: a checkpoint of an earlier attempt at this run to go on from,
            instead of the first task; `context` must be its context. The
            steps it traced count against the step limit; the time limit
            starts afresh.

    Returns:
        The outcome, with outputs on success and the error on failure.
    """
    outcome = RunOutcome(succeeded=False)
    deadline = time.monotonic() + limits.timeout_seconds
    task_id = plan.first_task_id
    if resume is not None:
        task_id = resume.task_id
        outcome.trace = [dict(entry) for entry in resume.trace]
        if task_id not in plan.steps:
            return _fail(
                outcome,
                STEP_FAILED_CODE,
                f"The run cannot resume at task {task_id!r}: version {plan.version} has no such task.",
                task_id,
            )
    resuming = resume is not None and resume.resumed
    for _ in range(limits.max_steps - len(outcome.trace)):
        if time.monotonic() > deadline:
            return _fail(
                outcome,
                LIMIT_EXCEEDED_CODE,
                f"The run took longer than {limits.timeout_seconds:g} seconds.",
                task_id,
            )

        step = plan.steps[task_id]
        started = time.perf_counter()
        entry: dict[str, Any] = {"taskId": task_id, "name": step.task.name}
        if resuming:
            # The trace shows where an earlier attempt stopped and this one began.
            entry["resumed"] = True
            resuming = False
        outcome.trace.append(entry)
        try:
            if step.task.kind is TaskKind.CONDITION:
                next_id = _run_condition(step, context, entry)
            elif step.task.is_end:
                outcome.outputs = _run_end(step, context, limits, entry)
                outcome.succeeded = True
                return outcome
            else:
                next_id = _run_action(
                    step, context, run, conn, outcome.trace, session=session
                )
        except _StepError as exc:
            entry.setdefault("outcome", "failed")
            entry.setdefault("error", {"code": exc.code, "message": exc.message})
            return _fail(outcome, exc.code, exc.message, task_id)
        finally:
            entry["durationMs"] = round((time.perf_counter() - started) * 1000, 3)
        task_id = next_id

    return _fail(
        outcome,
        LIMIT_EXCEEDED_CODE,
        f"The run took more than {limits.max_steps} steps.",
        task_id,
    )


def _fail(outcome: RunOutcome, code: str, message: str, task_id: str) -> RunOutcome:
    outcome.error = {"code": code, "message": message, "taskId": task_id}
    return outcome


def _run_action(
    step: PlannedStep,
    context: dict[str, Any],
    run: RunInfo,
    conn: Any,
    trace: list[dict[str, Any]],
    *,
    session: RunSession | None = None,
) -> str:
    task = step.task
    entry = trace[-1]
    entry["type"] = "action"
    entry["action"] = task.action
    assert step.action is not None, "the planner guarantees an implementation"
    try:
        arguments = {
            name: value.render(context) for name, value in step.arguments.items()
        }
        if session is not None:
            conn = session.conn
        result = step.action(
            ActionCall(run, task.id, arguments, context, conn, _now_ms(), session)
        )
        external = result.external
        if external is not None and run.preview:
            # A preview tells the outside world nothing: the call is left out,
            # and the step adds nothing to the context.
            entry["preview"] = "not called"
            result, external = ActionResult(detail=result.detail), None
        if external is not None and (external.background or session is None):
            result = _perform_unsupervised(result, external, session, entry)
            external = None
    except IdflowError as exc:
        code = getattr(exc, "error_code", STEP_FAILED_CODE)
        return _handle_step_error(step, context, entry, code, exc.message)

    if external is not None:
        assert session is not None
        # An external effect can never roll back, so the store effects before it
        # commit first: the outside world never hears of a change later undone.
        # Outside the step's error handling: a session that cannot commit (its
        # worker lost the delivery) ends the run, whatever the step's policy.
        session.checkpoint(ResumePoint(task.id, context, trace[:-1]))
        entry["checkpoint"] = True
        try:
            result = external.perform()
        except IdflowError as exc:
            code = getattr(exc, "error_code", STEP_FAILED_CODE)
            return _handle_step_error(step, context, entry, code, exc.message)

    key = step.context_key
    if key is not None and result.value is not None:
        context[key] = result.value
    entry["outcome"] = SUCCESS
    if result.detail:
        entry["detail"] = redact(dict(result.detail))
    logger.debug(
        "Step %s ran %s", task.id, task.action, extra={"event_name": "step_finished"}
    )
    return step.edges[SUCCESS]


def _perform_unsupervised(
    prepared: ActionResult,
    external: ExternalCall,
    session: RunSession | None,
    entry: dict[str, Any],
) -> ActionResult:
    """Start a background call, or make any call of a run without a session."""
    if not external.background:
        return external.perform()
    entry["background"] = True
    if session is not None:
        session.after_commit(external.perform)
    else:
        external.perform()
    return ActionResult(detail=prepared.detail)


def _handle_step_error(
    step: PlannedStep,
    context: dict[str, Any],
    entry: dict[str, Any],
    code: str,
    message: str,
) -> str:
    policy = step.task.error_policy
    entry["error"] = {"code": code, "message": message}
    if policy is ErrorPolicy.IGNORE:
        entry["outcome"] = SUCCESS
        entry["errorIgnored"] = True
        return step.edges[SUCCESS]
    if policy is ErrorPolicy.CUSTOM:
        entry["outcome"] = ERROR_EDGE
        # The error edge's tasks read what went wrong from the context.
        context["error"] = {"code": code, "message": message, "taskId": step.task.id}
        return step.edges[ERROR_EDGE]
    entry["outcome"] = "failed"
    raise _StepError(code, message)


def _run_condition(
    step: PlannedStep, context: dict[str, Any], entry: dict[str, Any]
) -> str:
    entry["type"] = "condition"
    now_ms = _now_ms()
    evaluated: list[dict[str, Any]] = []
    entry["branches"] = evaluated
    for branch in step.branches:
        if branch.interaction_id == ELSE:
            continue
        if _branch_matches(branch, context, now_ms, evaluated):
            entry["outcome"] = branch.interaction_id
            entry["branch"] = branch.name
            return step.edges[branch.interaction_id]

    entry["outcome"] = ELSE
    entry["branch"] = "Else"
    return step.edges[ELSE]


def _branch_matches(
    branch: PlannedBranch,
    context: dict[str, Any],
    now_ms: int,
    evaluated: list[dict[str, Any]],
) -> bool:
    operands: list[dict[str, Any]] = []
    evaluated.append({"branch": branch.name, "operands": operands})
    results: list[bool] = []
    for atomic in branch.atomics:
        target = lookup_parts(context, atomic.target_parts)
        predicate, result = _compare(atomic, target, context, now_ms)
        operands.append(_operand_record(atomic, target, predicate, result))
        results.append(result)
        # Stop where the answer is settled, as Descope's evaluator does.
        if result == branch.logical_or:
            break
    matched = any(results) if branch.logical_or else bool(results) and all(results)
    evaluated[-1]["matched"] = matched
    return matched


def _compare(
    atomic: PlannedAtomic, target: Any, context: Mapping[str, Any], now_ms: int
) -> tuple[Any, bool]:
    if atomic.check is not None:
        return atomic.predicate, atomic.check(target, now_ms)
    assert atomic.predicate_template is not None
    predicate = atomic.predicate_template.render(context)
    try:
        return predicate, evaluate(atomic.operator, target, predicate, now_ms)
    except ConditionError as exc:
        # Only a templated predicate can be unusable at run time (a bad regex
        # or duration from the context); the run fails at this task for it.
        raise _StepError(STEP_FAILED_CODE, exc.message) from exc


def _operand_record(
    atomic: PlannedAtomic, target: Any, predicate: Any, result: bool
) -> dict[str, Any]:
    return {
        "target": atomic.target,
        "value": None
        if target is MISSING
        else REDACTED
        if atomic.secret_target
        else redact(target),
        "missing": target is MISSING,
        "operator": atomic.operator,
        "predicate": REDACTED if atomic.secret_predicate else redact(predicate),
        "result": result,
    }


def _run_end(
    step: PlannedStep, context: dict[str, Any], limits: RunLimits, entry: dict[str, Any]
) -> dict[str, Any]:
    entry["type"] = "end"
    outputs = {}
    try:
        for output in step.outputs:
            outputs[output.key] = convert_output(
                output.key, output.value.render(context), output.type
            )
    except IdflowError as exc:
        entry["outcome"] = "failed"
        raise _StepError(
            getattr(exc, "error_code", STEP_FAILED_CODE), exc.message
        ) from exc

    size = _json_size(outputs)
    if size > limits.max_output_bytes:
        entry["outcome"] = "failed"
        raise _StepError(
            LIMIT_EXCEEDED_CODE,
            f"The outputs take {size} bytes: at most {limits.max_output_bytes} are allowed.",
        )
    entry["outcome"] = "end"
    return outputs


def _json_size(value: Any) -> int:
    return len(orjson.dumps(value, default=str))
