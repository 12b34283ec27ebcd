"""Context-only runs: made without the store, recorded in batches, only while their flow is current.

On a SQLite file and on PostgreSQL. A flow saved, switched off or deleted
straight through the store stands for another process doing it: the runtime's
plan cache does not hear of it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from idflow.errors import StoreError
from idflow.runtime import Runtime
from idflow.services import flows as flow_service
from idflow.services import runs
from idflow.services.audit import CLI_ACTOR
from idflow.services.run_recorder import RunRecorder
from idflow.store import runs as run_store
from idflow.store.records import Run, RunStatus, RunTrigger
from tests.integration.engine.conftest import SaveFlow

FLOW_ID = "decide"


def decide(status: str = "disabled") -> dict[str, Any]:
    return {
        "id": FLOW_ID,
        "steps": [
            {
                "id": "check",
                "if": [
                    {
                        "id": "inactive",
                        "when": "client.daysInactive greater-than 90",
                        "goto": "off",
                    }
                ],
                "else": "on",
            },
            {"id": "off", "end": {"userId": "{{ client.userId }}", "status": status}},
            {"id": "on", "end": {"userId": "{{ client.userId }}", "status": "enabled"}},
        ],
    }


INPUTS = {"userId": "U1", "daysInactive": 120}


@pytest.fixture
def recorder(runtime: Runtime) -> RunRecorder:
    return RunRecorder(runtime)


def _cached_plan(runtime: Runtime, project_id: str) -> Any:
    """Run once the standard way, which caches the plan; return it."""
    runs.start_run(runtime, project_id, FLOW_ID, INPUTS, RunTrigger.API)
    plan = runtime.plans.context_only_plan(project_id, FLOW_ID)
    assert plan is not None
    return plan


def current_and_moved_on_plans(
    runtime: Runtime, project_id: str, save_flow: SaveFlow
) -> tuple[Any, Any]:
    """Cached plans of two flows: `decide`, still current, and `other`, replaced since."""
    save_flow(decide())
    plan = _cached_plan(runtime, project_id)
    save_flow({**decide(), "id": "other"})
    runs.start_run(runtime, project_id, "other", INPUTS, RunTrigger.API)
    other_plan = runtime.plans.context_only_plan(project_id, "other")
    assert other_plan is not None
    save_flow({**decide(status="suspended"), "id": "other"})  # "other" moves on
    return plan, other_plan


def _stored(runtime: Runtime, run: Run) -> Run | None:
    with runtime.store.connect() as conn:
        return run_store.get_run(conn, run.project_id, run.run_id)


def _comparable(run: Run) -> dict[str, Any]:
    """A run without what differs between any two runs: ids, times, durations."""
    trace = [
        {key: value for key, value in step.items() if key != "durationMs"}
        for step in run.trace
    ]
    return {
        "flow": (run.flow_id, run.flow_version, run.trigger, run.status),
        "inputs": run.inputs,
        "outputs": run.outputs,
        "error": run.error,
        "trace": trace,
    }


def test_a_flow_of_conditions_and_end_is_cached_as_context_only(
    runtime: Runtime, project_id: str, save_flow: SaveFlow
) -> None:
    save_flow(decide())
    assert runtime.plans.context_only_plan(project_id, FLOW_ID) is None

    plan = _cached_plan(runtime, project_id)

    assert plan.version == 1 and plan.context_only


def test_a_context_only_run_is_recorded_as_the_store_thread_would_record_it(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    recorder: RunRecorder,
) -> None:
    save_flow(decide())
    standard = runs.start_run(runtime, project_id, FLOW_ID, INPUTS, RunTrigger.API)
    plan = runtime.plans.context_only_plan(project_id, FLOW_ID)
    assert plan is not None

    run = runs.make_context_only_run(runtime, plan, project_id, FLOW_ID, INPUTS)
    recorded = asyncio.run(recorder.record(run))

    assert recorded is True
    assert _stored(runtime, run) == run
    assert run.outputs == {"userId": "U1", "status": "disabled"}
    assert _comparable(run) == _comparable(standard)


def test_a_run_of_a_version_replaced_since_is_not_recorded(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    recorder: RunRecorder,
) -> None:
    save_flow(decide())
    plan = _cached_plan(runtime, project_id)
    save_flow(decide(status="suspended"))  # version 2, by "another process"

    stale = runs.make_context_only_run(runtime, plan, project_id, FLOW_ID, INPUTS)

    assert asyncio.run(recorder.record(stale)) is False
    assert _stored(runtime, stale) is None
    # The next run takes the standard path, which finds version 2.
    assert runtime.plans.context_only_plan(project_id, FLOW_ID) is None
    fresh = runs.start_run(runtime, project_id, FLOW_ID, INPUTS, RunTrigger.API)
    assert (fresh.flow_version, fresh.outputs) == (
        2,
        {"userId": "U1", "status": "suspended"},
    )


@pytest.mark.parametrize("change", ["switched off", "deleted"])
def test_a_run_of_a_flow_switched_off_or_deleted_since_is_not_recorded(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    recorder: RunRecorder,
    change: str,
) -> None:
    save_flow(decide())
    plan = _cached_plan(runtime, project_id)
    with runtime.store.begin() as conn:
        if change == "deleted":
            flow_service.delete_flow(conn, CLI_ACTOR, project_id, FLOW_ID)
        else:
            flow_service.set_flow_disabled(conn, CLI_ACTOR, project_id, FLOW_ID, True)

    run = runs.make_context_only_run(runtime, plan, project_id, FLOW_ID, INPUTS)

    assert asyncio.run(recorder.record(run)) is False
    assert _stored(runtime, run) is None
    assert runtime.plans.context_only_plan(project_id, FLOW_ID) is None


def test_runs_finished_together_share_a_transaction_and_each_gets_its_own_answer(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    recorder: RunRecorder,
) -> None:
    plan, other_plan = current_and_moved_on_plans(runtime, project_id, save_flow)
    made = [
        runs.make_context_only_run(
            runtime, plan, project_id, FLOW_ID, {"userId": f"U{n}", "daysInactive": n}
        )
        for n in range(80, 120)
    ]
    stale = runs.make_context_only_run(runtime, other_plan, project_id, "other", INPUTS)

    async def record_all() -> list[bool]:
        return list(
            await asyncio.gather(*(recorder.record(run) for run in [*made, stale]))
        )

    assert asyncio.run(record_all()) == [True] * len(made) + [False]
    for run in made:
        stored = _stored(runtime, run)
        assert stored is not None and stored.status is RunStatus.COMPLETED
        assert stored.outputs == run.outputs
    assert {run.outputs["status"] for run in made if run.outputs} == {
        "enabled",
        "disabled",
    }
    assert _stored(runtime, stale) is None


def test_a_batch_whose_transaction_fails_records_none_of_its_runs(
    runtime: Runtime,
    project_id: str,
    save_flow: SaveFlow,
    recorder: RunRecorder,
) -> None:
    save_flow(decide())
    plan = _cached_plan(runtime, project_id)
    good = runs.make_context_only_run(runtime, plan, project_id, FLOW_ID, INPUTS)
    # A run id already recorded makes the batch's insert fail.
    taken = runs.start_run(runtime, project_id, FLOW_ID, INPUTS, RunTrigger.API)
    clash = replace(
        runs.make_context_only_run(runtime, plan, project_id, FLOW_ID, INPUTS),
        run_id=taken.run_id,
    )

    async def record_both() -> list[Any]:
        return list(
            await asyncio.gather(
                recorder.record(good), recorder.record(clash), return_exceptions=True
            )
        )

    answers = asyncio.run(record_both())

    assert all(isinstance(answer, StoreError) for answer in answers), answers
    assert all("unique constraint" in str(answer).lower() for answer in answers)
    assert _stored(runtime, good) is None
    # The recorder goes on: the next batch is written.
    again = runs.make_context_only_run(runtime, plan, project_id, FLOW_ID, INPUTS)
    assert asyncio.run(recorder.record(again)) is True
    assert _stored(runtime, again) == again
