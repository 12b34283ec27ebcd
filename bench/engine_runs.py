"""Recorded runs per second of the reference flow, in process, on SQLite and PostgreSQL.

The reference flow tests `client.daysInactive > 90`, disables the user on the
true branch and ends with `{userId, status}` on both. Each backend gets a fresh
store with the default settings, a project, one user per run and the flow,
applied from a YAML file as `idflow flow apply` does. Inputs alternate: even
runs have `daysInactive` 120 and disable their user, odd runs have 10 and keep
theirs, so half the runs write (user UPDATE, audit event, run record) and half
only record the run. `--mix disable` makes every run disable its user.

After the timed window the program checks what the figures claim: every run
completed and has its run row, every disabling run's user is disabled and has
a `UserModified` event from that run, and every other user is still enabled.

    .venv/bin/python bench/engine_runs.py --runs 5000 --backend all
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from scratch_postgres import fresh_postgres
from sqlalchemy import Connection

from idflow.flows.files import load_flow_file
from idflow.logs import configure_logging
from idflow.runtime import Runtime
from idflow.services import flows as flow_service
from idflow.services import projects as project_service
from idflow.services import runs as run_service
from idflow.services import users as user_service
from idflow.services.audit import CLI_ACTOR, AuditAction
from idflow.settings import Settings
from idflow.store import audit as audit_store
from idflow.store import migrate
from idflow.store import runs as run_store
from idflow.store import users as user_store
from idflow.store.database import Store
from idflow.store.records import Run, RunStatus, RunTrigger, UserStatus

FLOW_ID = "bench-disable-inactive"
FLOW_YAML = """\
id: bench-disable-inactive
name: Disable an inactive user (benchmark)
steps:
  - id: check
    if:
      - id: inactive
        name: Inactive for more than 90 days
        when: client.daysInactive greater-than 90
        goto: disable
    else: keep
  - id: disable
    action: user-disable
    with:
      userId: "{{ client.userId }}"
    next: disabled
  - id: disabled
    end:
      userId: "{{ client.userId }}"
      status: "{{ user.status }}"
  - id: keep
    end:
      userId: "{{ client.userId }}"
      status: enabled
"""
INACTIVE_DAYS = 120
ACTIVE_DAYS = 10
DEFAULT_PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True, slots=True)
class Figures:
    """What one timed window measured."""

    backend: str
    runs: int
    seconds: float
    cpu_seconds: float
    latencies_ms: list[float]

    def line(self) -> str:
        cuts = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
        return (
            f"{self.backend:<10} {self.runs} runs in {self.seconds:.2f} s: "
            f"{self.runs / self.seconds:,.0f} runs/s; latency ms "
            f"mean {statistics.fmean(self.latencies_ms):.3f}, "
            f"p50 {cuts[49]:.3f}, p99 {cuts[98]:.3f}; "
            f"CPU {self.cpu_seconds / self.runs * 1000:.3f} ms/run"
        )


def main() -> int:
    options = _parse_options()
    # The level `idflow serve` uses by default, so log calls cost what they do there.
    configure_logging(Settings().log_level)
    # Alembic reports each migration step at INFO; here that is noise.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="idflow-bench-") as folder:
        flow_file = Path(folder, f"{FLOW_ID}.yaml")
        flow_file.write_text(FLOW_YAML, encoding="utf-8")
        if options.backend in ("sqlite", "all"):
            url = f"sqlite:///{Path(folder, 'idflow.db')}"
            _bench("sqlite", url, flow_file, options)
        if options.backend in ("postgres", "all"):
            with fresh_postgres(options.pg_server, "engine") as url:
                if url is not None:
                    _bench("postgresql", url, flow_file, options)

    return 0


def _parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure recorded runs per second of the reference flow."
    )
    parser.add_argument(
        "--runs", type=int, default=5000, help="runs in the timed window"
    )
    parser.add_argument(
        "--warmup", type=int, default=500, help="runs before the timed window"
    )
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "all"), default="all"
    )
    parser.add_argument(
        "--mix",
        choices=("half", "disable"),
        default="half",
        help="half the runs disable their user (default), or all of them",
    )
    parser.add_argument(
        "--pg-server",
        default=DEFAULT_PG_SERVER,
        help="a PostgreSQL URL to create the scratch database from",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="write a cProfile of each timed window to DIR/<backend>.prof",
    )
    return parser.parse_args()


def _bench(
    backend: str, url: str, flow_file: Path, options: argparse.Namespace
) -> None:
    runtime = _open_runtime(url)
    try:
        project_id, user_ids = _prepare(runtime, flow_file, options)
        inputs = [
            {"userId": user_id, "daysInactive": _days(index, options.mix)}
            for index, user_id in enumerate(user_ids)
        ]
        warmup, timed = inputs[: options.warmup], inputs[options.warmup :]

        started = [_run(runtime, project_id, values)[0] for values in warmup]
        profiler = cProfile.Profile() if options.profile else None
        figures, timed_runs = _timed_window(
            backend, runtime, project_id, timed, profiler
        )
        if profiler is not None:
            Path(options.profile).mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(Path(options.profile, f"{backend}.prof"))
        started.extend(timed_runs)

        print(figures.line())
        print(" " * 11 + _check(runtime, project_id, inputs, started))
    finally:
        runtime.close()


def _open_runtime(url: str) -> Runtime:
    # A PostgreSQL store is migrated by `idflow migrate` before anything opens it.
    store = Store.open(url)
    migrate.upgrade(store)
    store.dispose()

    return Runtime.open(Settings(database_url=url))


def _prepare(
    runtime: Runtime, flow_file: Path, options: argparse.Namespace
) -> tuple[str, list[str]]:
    document, _ = load_flow_file(flow_file)
    with runtime.store.begin() as conn:
        project, _ = project_service.create_project(conn, CLI_ACTOR, "bench")
        flow_service.save_flow(
            conn, CLI_ACTOR, project.project_id, document, source=str(flow_file)
        )
        user_ids = [
            user_service.create_user(
                conn, CLI_ACTOR, project.project_id, f"user{index}@example.com"
            ).user_id
            for index in range(options.warmup + options.runs)
        ]

    return project.project_id, user_ids


def _days(index: int, mix: str) -> int:
    return INACTIVE_DAYS if mix == "disable" or index % 2 == 0 else ACTIVE_DAYS


def _timed_window(
    backend: str,
    runtime: Runtime,
    project_id: str,
    inputs: list[dict[str, object]],
    profiler: cProfile.Profile | None,
) -> tuple[Figures, list[Run]]:
    # Collections would land at random points in the window; one before it is fairer.
    gc.collect()
    latencies: list[float] = []
    timed_runs: list[Run] = []
    if profiler is not None:
        profiler.enable()
    # CPU time is reported beside wall time: on a shared machine it varies less.
    window_started, cpu_started = time.perf_counter(), time.process_time()
    for values in inputs:
        run, seconds = _run(runtime, project_id, values)
        timed_runs.append(run)
        latencies.append(seconds * 1000)
    seconds = time.perf_counter() - window_started
    cpu_seconds = time.process_time() - cpu_started
    if profiler is not None:
        profiler.disable()

    return Figures(backend, len(inputs), seconds, cpu_seconds, latencies), timed_runs


def _run(
    runtime: Runtime, project_id: str, values: dict[str, object]
) -> tuple[Run, float]:
    started = time.perf_counter()
    run = run_service.start_run(runtime, project_id, FLOW_ID, values, RunTrigger.API)
    return run, time.perf_counter() - started


def _check(
    runtime: Runtime,
    project_id: str,
    inputs: list[dict[str, object]],
    started: list[Run],
) -> str:
    disabling = {
        str(values["userId"])
        for values in inputs
        if values["daysInactive"] == INACTIVE_DAYS
    }
    with runtime.store.connect() as conn:
        row_count = run_store.count_runs(conn, project_id, flow_id=FLOW_ID)
        recorded = {
            run.run_id: run
            for run in run_store.list_runs(
                conn, project_id, flow_id=FLOW_ID, limit=len(inputs) + 1
            )
        }
        events, event_count = audit_store.search_events(
            conn,
            project_id,
            actions=[AuditAction.USER_MODIFIED],
            limit=len(inputs) + 1,
        )
        statuses = {
            str(values["userId"]): _status(conn, project_id, str(values["userId"]))
            for values in inputs
        }

    problems = []
    if row_count != len(started) or set(recorded) != {run.run_id for run in started}:
        problems.append(f"{row_count} run rows for {len(started)} runs started")
    for run, values in zip(started, inputs, strict=True):
        stored = recorded.get(run.run_id)
        expected = {
            "userId": values["userId"],
            "status": "disabled" if values["userId"] in disabling else "enabled",
        }
        if stored is None or stored.status is not RunStatus.COMPLETED:
            problems.append(f"run {run.run_id} is not recorded as completed")
        elif dict(stored.outputs or {}) != expected:
            problems.append(f"run {run.run_id} answered {stored.outputs!r}")
    for user_id, status in statuses.items():
        wanted = UserStatus.DISABLED if user_id in disabling else UserStatus.ENABLED
        if status is not wanted:
            problems.append(f"user {user_id} is {status}, expected {wanted}")
    run_ids = set(recorded)
    audited = {event.user_id for event in events if event.run_id in run_ids}
    if event_count != len(disabling) or audited != disabling:
        problems.append(
            f"{event_count} UserModified events for {len(disabling)} disables"
        )

    if problems:
        sys.exit("check failed:\n  " + "\n  ".join(problems[:20]))
    return (
        f"checked: {row_count} run rows, all completed; {len(disabling)} users "
        f"disabled with {event_count} UserModified events, "
        f"{len(inputs) - len(disabling)} untouched"
    )


def _status(conn: Connection, project_id: str, user_id: str) -> UserStatus | None:
    user = user_store.get_user(conn, project_id, user_id)
    return None if user is None else user.status


if __name__ == "__main__":
    sys.exit(main())
