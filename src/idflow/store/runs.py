"""Run queries: record a run as it starts, finish it, read and list runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)

from idflow.store.driver import DriverStatement
from idflow.store.flows import get_flow_head
from idflow.store.records import Run, RunCheckpoint, RunStatus, RunTrigger
from idflow.store.tables import deliveries, run_checkpoints, runs

_KEY = and_(
    runs.c.project_id == bindparam("project_id"),
    runs.c.run_id == bindparam("run_id"),
)
# UPDATE reserves bind names equal to column names for its SET clause.
_UPDATE_KEY = and_(
    runs.c.project_id == bindparam("match_project_id"),
    runs.c.run_id == bindparam("match_run_id"),
)

# Every run is recorded: straight to the driver (see store/driver.py).
_INSERT_RUN = DriverStatement(insert(runs))
_UPDATE_RUN = (
    update(runs)
    .where(_UPDATE_KEY)
    .values(
        status=bindparam("status"),
        outputs=bindparam("outputs"),
        error=bindparam("error"),
        trace=bindparam("trace"),
        finished_ms=bindparam("finished_ms"),
    )
)
_GET_RUN = select(runs).where(_KEY)


def insert_run(conn: Connection, run: Run) -> None:
    """Store a new run, usually as it starts.

    Args:
        conn: the connection, inside the caller's transaction.
        run: the run; its id must be new.
    """
    _INSERT_RUN.execute(conn, _run_row(run))


def run_rows(new_runs: list[Run]) -> list[dict[str, Any]]:
    """The runs as `insert_current_runs` takes them: one JSON-ready dict each."""
    return [_run_row(run) for run in new_runs]


def insert_current_runs(
    conn: Connection, rows: list[dict[str, Any]], *, skip_recorded: bool = False
) -> list[bool]:
    """Store the runs whose flow still has their version current, switched on.

    For runs made from a cached plan (`services.run_recorder`): a run whose
    flow another process has since given a new version, switched off or
    deleted is not stored, and its caller makes it afresh.

    Args:
        conn: the connection, inside the caller's transaction.
        rows: the runs, from `run_rows`.
        skip_recorded: runs whose id is stored already count as stored and
            are not inserted again: a batch sent again after the process
            writing it vanished, perhaps having committed it.

    Returns:
        For each row, whether its run is stored now.
    """
    current: dict[tuple[str, str], int | None] = {}
    for project_id, flow_id in {(row["project_id"], row["flow_id"]) for row in rows}:
        head = get_flow_head(conn, project_id, flow_id)
        current[(project_id, flow_id)] = None if head is None or head[1] else head[0]
    recorded: set[str] = set()
    if skip_recorded and rows:
        found = conn.execute(
            select(runs.c.run_id).where(
                runs.c.run_id.in_([row["run_id"] for row in rows])
            )
        )
        recorded = {run_id for (run_id,) in found}
    kept = [
        row["run_id"] in recorded
        or current[(row["project_id"], row["flow_id"])] == row["flow_version"]
        for row in rows
    ]
    _INSERT_RUN.execute_many(
        conn,
        [
            row
            for row, keep in zip(rows, kept, strict=True)
            if keep and row["run_id"] not in recorded
        ],
    )
    return kept


def _run_row(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "project_id": run.project_id,
        "flow_id": run.flow_id,
        "flow_version": run.flow_version,
        "trigger": run.trigger.value,
        "status": run.status.value,
        "inputs": dict(run.inputs),
        "outputs": _optional_dict(run.outputs),
        "error": _optional_dict(run.error),
        "trace": [dict(step) for step in run.trace],
        "started_ms": run.started_ms,
        "finished_ms": run.finished_ms,
        "triggering_event_id": run.triggering_event_id,
    }


def update_run(conn: Connection, run: Run) -> bool:
    """Write a run's outcome: status, outputs, error, trace and finish time.

    Args:
        conn: the connection, inside the caller's transaction.
        run: the run as it now stands; its other fields are not written.

    Returns:
        True when the run exists and was updated.
    """
    result = conn.execute(
        _UPDATE_RUN,
        {
            "match_project_id": run.project_id,
            "match_run_id": run.run_id,
            "status": run.status.value,
            "outputs": _optional_dict(run.outputs),
            "error": _optional_dict(run.error),
            "trace": [dict(step) for step in run.trace],
            "finished_ms": run.finished_ms,
        },
    )
    return result.rowcount > 0


def fail_abandoned_runs(
    conn: Connection,
    triggers: list[RunTrigger],
    started_before_ms: int,
    error: dict[str, Any],
    finished_ms: int,
) -> list[tuple[str, str]]:
    """Mark failed the runs still `running` that no delivery will ever finish.

    Args:
        conn: the connection, inside the caller's transaction.
        triggers: the triggers of the runs to look at.
        started_before_ms: only runs started before this are failed.
        error: the error to record on each.
        finished_ms: the finish time to record on each.

    Returns:
        (project id, run id) of each run failed.
    """
    found = conn.execute(
        select(runs.c.project_id, runs.c.run_id).where(
            runs.c.status == RunStatus.RUNNING.value,
            runs.c.started_ms < started_before_ms,
            runs.c.trigger.in_([trigger.value for trigger in triggers]),
            ~exists().where(deliveries.c.run_id == runs.c.run_id),
        )
    ).all()
    failed = []
    for project_id, run_id in found:
        changed = conn.execute(
            update(runs)
            .where(
                runs.c.project_id == project_id,
                runs.c.run_id == run_id,
                # Unless it ended meanwhile.
                runs.c.status == RunStatus.RUNNING.value,
            )
            .values(status=RunStatus.FAILED.value, error=error, finished_ms=finished_ms)
        )
        if changed.rowcount:
            failed.append((project_id, run_id))
    return failed


def get_run(conn: Connection, project_id: str, run_id: str) -> Run | None:
    """Return the run with this id, or None when the project has none."""
    row = conn.execute(_GET_RUN, {"project_id": project_id, "run_id": run_id}).first()
    return None if row is None else _run_from_row(row)


def list_runs(
    conn: Connection,
    project_id: str,
    *,
    flow_id: str | None = None,
    status: RunStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Run]:
    """Return one page of the project's runs, newest first.

    Args:
        conn: the connection.
        project_id: the project.
        flow_id: only runs of this flow, when given.
        status: only runs in this status, when given.
        limit: the most runs to return.
        offset: how many matching runs to skip first.

    Returns:
        The runs, by start time then run id, both descending.
    """
    query = select(runs).where(runs.c.project_id == project_id)
    if flow_id is not None:
        query = query.where(runs.c.flow_id == flow_id)
    if status is not None:
        query = query.where(runs.c.status == status.value)
    query = (
        query.order_by(runs.c.started_ms.desc(), runs.c.run_id.desc())
        .limit(limit)
        .offset(offset)
    )

    return [_run_from_row(row) for row in conn.execute(query)]


def count_runs(conn: Connection, project_id: str, *, flow_id: str | None = None) -> int:
    """Return how many runs the project has recorded, of one flow when given."""
    query = (
        select(func.count()).select_from(runs).where(runs.c.project_id == project_id)
    )
    if flow_id is not None:
        query = query.where(runs.c.flow_id == flow_id)

    return int(conn.execute(query).scalar_one())


_CHECKPOINT_KEY = and_(
    run_checkpoints.c.project_id == bindparam("project_id"),
    run_checkpoints.c.run_id == bindparam("run_id"),
)
# Every run with connector steps a worker makes writes one and deletes it.
_INSERT_CHECKPOINT = DriverStatement(insert(run_checkpoints))
_DELETE_CHECKPOINT = DriverStatement(delete(run_checkpoints).where(_CHECKPOINT_KEY))


def save_checkpoint(
    conn: Connection, checkpoint: RunCheckpoint, *, replace: bool
) -> None:
    """Store where a run stands.

    Call it in the checkpoint's own commit, so the point and the effects
    before it are durable together.

    Args:
        conn: the connection, inside the checkpoint's transaction.
        checkpoint: the run's new point.
        replace: the run may have a checkpoint already, which goes first;
            without it, the first checkpoint of a run costs one statement.
    """
    if replace:
        delete_checkpoint(conn, checkpoint.project_id, checkpoint.run_id)
    _INSERT_CHECKPOINT.execute(
        conn,
        {
            "run_id": checkpoint.run_id,
            "project_id": checkpoint.project_id,
            "flow_id": checkpoint.flow_id,
            "flow_version": checkpoint.flow_version,
            "task_id": checkpoint.task_id,
            "context": dict(checkpoint.context),
            "trace": [dict(entry) for entry in checkpoint.trace],
            "saved_ms": checkpoint.saved_ms,
        },
    )


def get_checkpoint(
    conn: Connection, project_id: str, run_id: str
) -> RunCheckpoint | None:
    """Return the run's last checkpoint, or None when it has none."""
    row = conn.execute(
        select(run_checkpoints).where(_CHECKPOINT_KEY),
        {"project_id": project_id, "run_id": run_id},
    ).first()
    if row is None:
        return None
    return RunCheckpoint(
        project_id=row.project_id,
        run_id=row.run_id,
        flow_id=row.flow_id,
        flow_version=row.flow_version,
        task_id=row.task_id,
        context=row.context,
        trace=tuple(row.trace),
        saved_ms=row.saved_ms,
    )


def delete_checkpoint(conn: Connection, project_id: str, run_id: str) -> None:
    """Forget a run's checkpoint: the run ended, or will not be resumed."""
    _DELETE_CHECKPOINT.execute(conn, {"project_id": project_id, "run_id": run_id})


def _optional_dict(value: Any) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def _run_from_row(row: Row[Any]) -> Run:
    return Run(
        project_id=row.project_id,
        run_id=row.run_id,
        flow_id=row.flow_id,
        flow_version=row.flow_version,
        trigger=RunTrigger(row.trigger),
        status=RunStatus(row.status),
        started_ms=row.started_ms,
        inputs=row.inputs,
        outputs=row.outputs,
        error=row.error,
        trace=tuple(row.trace),
        finished_ms=row.finished_ms,
        triggering_event_id=row.triggering_event_id,
    )
