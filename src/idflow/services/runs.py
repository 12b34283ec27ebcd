"""Starting runs: build the context, run the plan, record the run and its trace.

A run's store effects and its run record commit in one transaction, so a run that
succeeded is recorded with all its effects and a run that failed leaves no effect
behind: its changes roll back and the failed run is recorded on its own, with the
trace up to the failing step. A connector call splits that transaction: what ran
before it commits first (see `services.run_session`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson

from idflow.clock import new_id, now_ms
from idflow.engine.contract import ResumePoint, RunInfo
from idflow.engine.plan import Plan
from idflow.engine.runner import STEP_FAILED_CODE, RunOutcome, execute
from idflow.errors import InvalidArgument, PayloadTooLarge, RunNotFound
from idflow.logs import bound
from idflow.redaction import redact
from idflow.runtime import Runtime
from idflow.services import tenants as tenant_service
from idflow.services.flows import calls_connectors
from idflow.services.run_hooks import RunHooks
from idflow.services.run_session import RunTransaction
from idflow.store import deliveries as delivery_store
from idflow.store import runs as run_store
from idflow.store.claims import claim_dialect
from idflow.store.records import (
    Delivery,
    DeliveryStatus,
    Run,
    RunCheckpoint,
    RunStatus,
    RunTrigger,
)

logger = logging.getLogger(__name__)


class CallsConnectors(Exception):
    """A run asked to be `store_only` meets a plan with connector steps.

    Not an error for any caller to see: whoever asked makes the run again
    where waiting on the network is allowed.
    """

    def __init__(self, flow_id: str) -> None:
        super().__init__(f"Flow {flow_id!r} has connector steps.")


class _RollBack(Exception):
    """Raised inside the run's transaction to undo its effects: it failed, or is a preview."""

    def __init__(self, outcome: RunOutcome) -> None:
        super().__init__("run failed")
        self.outcome = outcome


def start_run(
    runtime: Runtime,
    project_id: str,
    flow_id: str,
    inputs: Mapping[str, Any] | None,
    trigger: RunTrigger,
    *,
    triggering_event: Mapping[str, Any] | None = None,
    accepted: Run | None = None,
    hooks: RunHooks | None = None,
    resume: RunCheckpoint | None = None,
    preview: bool = False,
    tenant_id: str | None = None,
    resumed: bool = True,
    run_id: str | None = None,
    store_only: bool = False,
) -> Run:
    """Run a flow's current version to its end and record the run.

    Args:
        runtime: the process runtime.
        project_id: the project.
        flow_id: the flow to run.
        inputs: the run's inputs, visible as `client.<key>`.
        trigger: how the run was started.
        triggering_event: the audit record that started it, if one did.
        accepted: the `running` record `accept_run` wrote, when the run was
            accepted earlier; the run keeps its id, start time and version.
        hooks: work to do in the run's own transactions (a worker's delivery).
        resume: the checkpoint of an earlier attempt at the `accepted` run to
            go on from: the run keeps its context from there, and `inputs` is
            ignored.
        resumed: whether going on from `resume` is a new attempt, which the
            trace marks; False for an accepted run's first start.
        preview: run the flow without keeping anything: connector calls are
            left out, every store effect rolls back at the end, and the run is
            recorded with the trigger `preview`.
        tenant_id: a tenant of the project to run for, loaded as `tenant.*`
            and named by `run.tenantId` in the context.
        run_id: the id to record the run under, chosen by the caller so it
            can look for the record later (`services.writer_runs`); a new one
            by default. Not for an `accepted` run, which keeps its own.
        store_only: refuse a plan with connector steps, before it starts.

    Returns:
        The recorded run; its status says whether it completed or failed.

    Raises:
        FlowNotFound: the project has no such flow.
        TenantNotFound: `tenant_id` names no tenant of the project.
        FlowDisabled: the flow is switched off.
        InvalidArgument: the inputs are not an object.
        PayloadTooLarge: the inputs are larger than the configured limit.
        CallsConnectors: `store_only` was asked for and the flow's current
            version has connector steps; nothing was written.
    """
    if resume is not None:
        assert accepted is not None, "a resumed run is an accepted one"
        client = dict(resume.context.get("client") or {})
    else:
        client = _check_inputs(runtime, inputs)
    assert accepted is None or run_id is None, "an accepted run keeps its id"
    if accepted is not None:
        run_id = accepted.run_id
    elif run_id is None:
        run_id = new_id("R")
    if preview:
        trigger = RunTrigger.PREVIEW
    # Every log line of the run, the engine's and the actions', names it.
    with bound(project_id, run_id):
        return _run(
            runtime,
            project_id,
            flow_id,
            client=client,
            trigger=trigger,
            run_id=run_id,
            triggering_event=triggering_event,
            accepted=accepted,
            hooks=hooks,
            resume=resume,
            preview=preview,
            tenant_id=tenant_id,
            resumed=resumed,
            store_only=store_only,
        )


def _run(
    runtime: Runtime,
    project_id: str,
    flow_id: str,
    *,
    client: dict[str, Any],
    trigger: RunTrigger,
    run_id: str,
    triggering_event: Mapping[str, Any] | None,
    accepted: Run | None,
    hooks: RunHooks | None,
    resume: RunCheckpoint | None,
    preview: bool,
    tenant_id: str | None,
    resumed: bool,
    store_only: bool,
) -> Run:
    started = accepted.started_ms if accepted else now_ms()
    pinned = resume.flow_version if resume else None
    if accepted is not None and pinned is None:
        pinned = accepted.flow_version
    session = RunTransaction(
        runtime.store,
        runtime.connectors,
        recorded=accepted is not None,
        on_reopen=hooks.on_reopen if hooks is not None else None,
    )
    try:
        with session:
            conn = session.conn
            if hooks is not None and hooks.on_begin is not None:
                hooks.on_begin(conn)
            plan = runtime.plans.plan_for_run(conn, project_id, flow_id, pinned)
            if store_only and calls_connectors(plan):
                raise CallsConnectors(flow_id)
            info = RunInfo(
                project_id, run_id, flow_id, plan.version, started, preview=preview
            )
            info = _continue_chain(
                info, triggering_event, runtime.settings.deliveries.max_event_depth
            )
            point: ResumePoint | None = None
            if resume is not None:
                context = dict(resume.context)
                point = ResumePoint(resume.task_id, context, resume.trace, resumed)
                if accepted is not None and accepted.status is not RunStatus.RUNNING:
                    # Running again after a failed attempt: a checkpoint of this
                    # attempt commits it so.
                    run_store.update_run(conn, _run_record(info, trigger, client, None))
            else:
                context = _first_context(run_id, flow_id, plan.version, started, client)
                if triggering_event is not None:
                    context["triggeringEvent"] = dict(triggering_event)
                if tenant_id is not None:
                    _add_tenant(conn, context, project_id, tenant_id)
            session.announce(
                lambda: _run_record(info, trigger, client, None),
                _checkpoint_hook(hooks, info),
            )
            outcome = execute(
                plan,
                info,
                context,
                conn=conn,
                limits=runtime.settings.run_limits,
                session=session,
                resume=point,
            )
            run = _run_record(info, trigger, client, outcome)
            if not outcome.succeeded or preview:
                raise _RollBack(outcome)
            session.save_run(run)
            if hooks is not None and hooks.before_commit is not None:
                hooks.before_commit(session.conn, run)
    except _RollBack:
        session.save_failed_run(run)
        if not preview:
            log_finished(run)
        return run

    log_finished(run)
    return run


def log_finished(run: Run) -> None:
    """Log the end of a recorded run: at INFO when it failed, else at DEBUG."""
    failed = run.status is RunStatus.FAILED
    if not logger.isEnabledFor(logging.INFO if failed else logging.DEBUG):
        return
    with bound(run.project_id, run.run_id):
        if failed:
            logger.info(
                "Run %s of flow %s failed at task %s",
                run.run_id,
                run.flow_id,
                run.error and run.error.get("taskId"),
                extra={"event_name": "run_failed"},
            )
        else:
            logger.debug(
                "Run %s of flow %s completed",
                run.run_id,
                run.flow_id,
                extra={"event_name": "run_finished"},
            )


def make_context_only_run(
    runtime: Runtime,
    plan: Plan,
    project_id: str,
    flow_id: str,
    inputs: Mapping[str, Any] | None,
) -> Run:
    """Make an API run of a context-only plan, without the store; record it after.

    The run is what `start_run` would make of the same plan: the same context,
    trace and record. It touches no store, so the caller records it (see
    `services.run_recorder`), and only once the transaction recording it has
    found `plan` still the flow's current version, switched on. Until then
    the run has not happened: when the flow changed, the caller makes it
    again with `start_run`.

    Raises:
        InvalidArgument: the inputs are not an object.
        PayloadTooLarge: the inputs are larger than the configured limit.
    """
    assert plan.context_only, "only a context-only plan runs without the store"
    client = _check_inputs(runtime, inputs)
    run_id = new_id("R")
    started = now_ms()
    # It writes no audit events, so the event-chain fields keep their defaults.
    info = RunInfo(project_id, run_id, flow_id, plan.version, started)
    context = _first_context(run_id, flow_id, plan.version, started, client)
    with bound(project_id, run_id):
        outcome = execute(
            plan, info, context, conn=None, limits=runtime.settings.run_limits
        )
    return _run_record(info, RunTrigger.API, client, outcome)


def _first_context(
    run_id: str, flow_id: str, version: int, started: int, client: dict[str, Any]
) -> dict[str, Any]:
    return {
        "client": client,
        "run": {
            "id": run_id,
            "flowId": flow_id,
            "version": version,
            "startedTime": started,
        },
    }


def _add_tenant(
    conn: Any, context: dict[str, Any], project_id: str, tenant_id: str
) -> None:
    tenant = tenant_service.require_tenant(conn, project_id, tenant_id)
    context["tenant"] = tenant_service.tenant_to_wire(tenant)
    context["run"]["tenantId"] = tenant.tenant_id


def _checkpoint_hook(
    hooks: RunHooks | None, info: RunInfo
) -> Callable[[Any, ResumePoint], None] | None:
    if hooks is None or hooks.on_checkpoint is None:
        return None
    on_checkpoint = hooks.on_checkpoint
    return lambda conn, point: on_checkpoint(conn, info, point)


def accept_run(
    runtime: Runtime,
    project_id: str,
    flow_id: str,
    inputs: Mapping[str, Any] | None,
    trigger: RunTrigger,
    *,
    preview: bool = False,
    tenant_id: str | None = None,
) -> Run:
    """Check a run can start, record it as `running`, and queue it for a worker.

    The first half of the asynchronous run pair. In one transaction:
    - the run record, pinned to the version current now;
    - a checkpoint at the flow's first task, holding the context the run
      starts from (its inputs, unredacted, and the tenant, if any);
    - a delivery with no event, naming the run, which wakes the workers.

    A worker then makes the run under a lease, as it makes event runs
    (`workers.attempt`): if its process dies, another worker resumes the run
    from its last checkpoint. `preview` and `tenant_id` are as for
    `start_run`; a preview is recorded with the trigger `preview` from the
    start.

    Returns:
        The `running` record; its run id is the API's `executionId`.

    Raises:
        FlowNotFound: the project has no such flow.
        FlowDisabled: the flow is switched off.
        TenantNotFound: `tenant_id` names no tenant of the project.
        InvalidArgument: the inputs are not an object.
        PayloadTooLarge: the inputs are larger than the configured limit.
    """
    client = _check_inputs(runtime, inputs)
    accepted_ms = now_ms()
    with runtime.store.begin() as conn:
        plan = runtime.plans.plan_for_run(conn, project_id, flow_id)
        info = RunInfo(project_id, new_id("R"), flow_id, plan.version, accepted_ms)
        context = _first_context(
            info.run_id, flow_id, plan.version, accepted_ms, client
        )
        if tenant_id is not None:
            _add_tenant(conn, context, project_id, tenant_id)
        if preview:
            trigger = RunTrigger.PREVIEW
        run = _run_record(info, trigger, client, None)
        run_store.insert_run(conn, run)
        run_store.save_checkpoint(
            conn,
            RunCheckpoint(
                project_id=project_id,
                run_id=info.run_id,
                flow_id=flow_id,
                flow_version=plan.version,
                task_id=plan.first_task_id,
                context=context,
                trace=(),
                saved_ms=accepted_ms,
            ),
            replace=False,
        )
        delivery_store.insert_deliveries(
            conn,
            [
                Delivery(
                    delivery_id=new_id("D"),
                    project_id=project_id,
                    event_id=None,
                    flow_id=flow_id,
                    status=DeliveryStatus.PENDING,
                    created_ms=accepted_ms,
                    available_ms=accepted_ms,
                    run_id=info.run_id,
                )
            ],
        )
        claim_dialect(conn.dialect.name).announce(conn)

    return run


# Past the longest a synchronous run can take, how long it may still be
# finishing: its last commit, a turn on the store thread, a slow disk.
ABANDONED_MARGIN_SECONDS = 60.0


def fail_abandoned_runs(runtime: Runtime, now: int | None = None) -> list[str]:
    """Record as failed the synchronous runs whose process stopped while making them.

    A run an API request or a CLI command makes is recorded `running` at its
    first connector call, and finished by the process making it. If that
    process dies first (killed, its machine lost), nothing else would ever
    finish the record. Such a run cannot still be going once the run time
    limit, the longest connector timeout and a margin have passed since it
    started, so it is failed then, saying so. Runs that a delivery makes
    (event runs and asynchronous API runs) are left alone: their worker's
    lease, and the delivery's retries, see to them.

    Args:
        runtime: the process runtime.
        now: the current time in epoch milliseconds; the clock's by default.

    Returns:
        The ids of the runs failed.
    """
    settings = runtime.settings
    longest = (
        settings.run_timeout_seconds
        + settings.connectors.max_timeout_seconds
        + ABANDONED_MARGIN_SECONDS
    )
    now = now_ms() if now is None else now
    error = {
        "code": STEP_FAILED_CODE,
        "message": (
            "The process making this run stopped before the run ended, and its "
            f"caller got no answer; the run was still running more than {longest:g} "
            "seconds after it started, longer than any run can take."
        ),
    }
    with runtime.store.begin() as conn:
        failed = run_store.fail_abandoned_runs(
            conn,
            [RunTrigger.API, RunTrigger.CLI, RunTrigger.PREVIEW],
            now - int(longest * 1000),
            error,
            now,
        )
    for project_id, run_id in failed:
        with bound(project_id, run_id):
            logger.warning(
                "Run %s was left running by a process that stopped; recorded as failed",
                run_id,
                extra={"event_name": "run_abandoned"},
            )
    return [run_id for _, run_id in failed]


def get_run(runtime: Runtime, project_id: str, run_id: str) -> Run:
    """Return a recorded run, or raise RunNotFound."""
    with runtime.store.connect() as conn:
        run = run_store.get_run(conn, project_id, run_id)
    if run is None:
        raise RunNotFound(f"No run has the id {run_id!r} in this project.")
    return run


def _check_inputs(runtime: Runtime, inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    if inputs is None:
        return {}
    if not isinstance(inputs, Mapping):
        raise InvalidArgument(
            f"The run input is {type(inputs).__name__}: expected an object of key/value pairs."
        )
    size = len(orjson.dumps(inputs, default=str))
    limit = runtime.settings.max_input_bytes
    if size > limit:
        raise PayloadTooLarge(
            f"The run input takes {size} bytes as JSON: at most {limit} are allowed."
        )
    return dict(inputs)


def _run_record(
    info: RunInfo,
    trigger: RunTrigger,
    client: dict[str, Any],
    outcome: RunOutcome | None,
) -> Run:
    if outcome is None:
        # Written at the run's first connector call, finished in place later.
        return Run(
            project_id=info.project_id,
            run_id=info.run_id,
            flow_id=info.flow_id,
            flow_version=info.flow_version,
            trigger=trigger,
            status=RunStatus.RUNNING,
            started_ms=info.started_ms,
            inputs=redact(client),
            triggering_event_id=info.triggering_event_id,
        )
    return Run(
        project_id=info.project_id,
        run_id=info.run_id,
        flow_id=info.flow_id,
        flow_version=info.flow_version,
        trigger=trigger,
        status=RunStatus.COMPLETED if outcome.succeeded else RunStatus.FAILED,
        started_ms=info.started_ms,
        inputs=redact(client),
        outputs=redact(outcome.outputs) if outcome.outputs is not None else None,
        error=outcome.error,
        trace=tuple(outcome.trace),
        finished_ms=now_ms(),
        triggering_event_id=info.triggering_event_id,
    )


def _continue_chain(
    info: RunInfo, event: Mapping[str, Any] | None, max_depth: int
) -> RunInfo:
    # The events this run writes continue the chain of the event that started
    # it (docs/events.md): same origin, one level deeper. Loop protection in
    # services/outbox.py reads both.
    if event is None:
        return replace(info, max_event_depth=max_depth)
    event_id = event.get("id")
    origin = event.get("originEventId") or event_id
    depth = event.get("depth")
    return replace(
        info,
        origin_event_id=str(origin) if origin else None,
        depth=depth if isinstance(depth, int) else 0,
        triggering_event_id=str(event_id) if event_id else None,
        max_event_depth=max_depth,
    )
