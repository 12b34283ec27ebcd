"""Sustained events per second, and latency from event stored to run finished.

The flow under test starts on the custom event `bench.flagged`, loads the user
named by `triggeringEvent.userId` and disables it. Every event names its own
user, so every run writes (a user UPDATE, a `UserModified` event with its
trigger lookup, the run record and the delivery's completion).

Backends:

- `sqlite`: embedded, as `idflow serve` runs it: one process, the worker's
  claims and runs on the store thread, and the events stored through that same
  thread as API requests are, without waiting for each other.
- `postgres-1`, `postgres-2`: one or two `idflow worker` processes
  (`--concurrency`, default 4), events stored by producer threads of this
  process, each event in its own transaction as the API stores it.

Each backend is measured twice: paced at `--rate` events per second for
`--events` events, and flooded with `--events` events as fast as the producers
can store them, which finds where throughput saturates. Latency is the run's
`finished_ms` minus its event's `occurred_ms`, both as idflow stored them;
throughput is events divided by the time from the first event stored to the last
run finished. Afterwards the program checks what the figures claim: every
delivery done once, one completed run per event, every user disabled.

    .venv/bin/python bench/event_delivery.py --backend all --events 5000 --rate 1000
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from scratch_postgres import fresh_postgres
from sqlalchemy import bindparam, text

from idflow.collector import settle_after_start_up
from idflow.flows.authoring import compile_authoring
from idflow.logs import configure_logging
from idflow.runtime import Runtime
from idflow.services import audit as audit_service
from idflow.services import flows as flow_service
from idflow.services import projects as project_service
from idflow.services import users as user_service
from idflow.services.audit import CLI_ACTOR, Actor
from idflow.settings import Settings
from idflow.store import migrate
from idflow.store.database import Store
from idflow.store.records import AuditType
from idflow.workers.worker import Worker

EVENT = "bench.flagged"
FLOW = {
    "id": "bench-disable-flagged",
    "trigger": {"events": [EVENT]},
    "steps": [
        {"id": "load", "action": "user-load-from-triggering-event"},
        {"id": "disable", "action": "user-disable"},
        {"id": "done", "end": {"userId": "{{ user.userId }}"}},
    ],
}
BACKEND_ACTOR = Actor("K-bench")
DEFAULT_PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SETTLE_SECONDS = 300.0
# The embedded worker claims this many beyond its one run, as `idflow serve` does.
SQLITE_PREFETCH = 16
# Events stored and run before the timed windows, once the workers are up.
WARM_UP_EVENTS = 200


@dataclass(frozen=True, slots=True)
class Figures:
    """What one window measured, from the stored times."""

    label: str
    events: int
    offered_per_second: float | None
    stored_seconds: float
    total_seconds: float
    latencies_ms: list[int]

    def line(self) -> str:
        cuts = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
        offered = (
            "flood"
            if self.offered_per_second is None
            else f"{self.offered_per_second:,.0f}/s"
        )
        return (
            f"{self.label:<22} offered {offered:>8}: {self.events} events stored at "
            f"{self.events / self.stored_seconds:,.0f}/s, delivered at "
            f"{self.events / self.total_seconds:,.0f}/s; latency ms p50 {cuts[49]:.0f}, "
            f"p99 {cuts[98]:.0f}, max {max(self.latencies_ms)}"
        )


def main() -> int:
    options = _options()
    options.rate = options.rate or [1000.0]
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="idflow-bench-") as folder:
        if options.backend in ("sqlite", "all"):
            url = f"sqlite:///{Path(folder, 'idflow.db')}"
            _bench_sqlite(url, options)
        for processes in (1, 2):
            if options.backend in (f"postgres-{processes}", "postgres", "all"):
                with fresh_postgres(options.pg_server, "events") as url:
                    if url is not None:
                        _bench_postgres(url, processes, Path(folder), options)
    return 0


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events per window")
    parser.add_argument(
        "--rate",
        type=float,
        action="append",
        help="events per second of a paced window (repeatable; default 1000)",
    )
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres", "postgres-1", "postgres-2", "all"),
        default="all",
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="run threads per worker process"
    )
    parser.add_argument(
        "--producers", type=int, default=4, help="PostgreSQL producer threads"
    )
    parser.add_argument("--pg-server", default=DEFAULT_PG_SERVER)
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run PostgreSQL workers under cProfile, writing DIR/worker-<n>.prof",
    )
    return parser.parse_args()


def _bench_sqlite(url: str, options: argparse.Namespace) -> None:
    runtime = _open_runtime(url)
    project_id = _project(runtime)
    # Users first: a long set-up transaction would hold the lock the worker needs.
    windows = [
        (rate, _users(runtime, project_id, options.events)) for rate in _rates(options)
    ]
    worker = Worker(
        runtime,
        concurrency=1,
        prefetch=SQLITE_PREFETCH,
        run_in=lambda work: runtime.submit_blocking(work).result(),
    )
    warm_up_users = _users(runtime, project_id, WARM_UP_EVENTS)
    # As `idflow serve` does once it has started.
    settle_after_start_up()
    worker.start()
    try:
        _window(runtime, project_id, warm_up_users, None, _sqlite_producer(runtime))
        for rate, user_ids in windows:
            before = _cpu([])
            window = _window(
                runtime, project_id, user_ids, rate, _sqlite_producer(runtime)
            )
            used = _cpu([]) - before
            print(_figures("sqlite embedded", runtime, project_id, window, rate).line())
            print(" " * 4 + used.line(len(user_ids)))
            print(" " * 4 + _check(runtime, project_id, user_ids, window))
    finally:
        worker.stop()
        runtime.close()


def _rates(options: argparse.Namespace) -> list[float | None]:
    return [*options.rate, None]


def _bench_postgres(
    url: str, processes: int, folder: Path, options: argparse.Namespace
) -> None:
    runtime = _open_runtime(url)
    project_id = _project(runtime)
    windows = [
        (rate, _users(runtime, project_id, options.events)) for rate in _rates(options)
    ]
    warm_up_users = _users(runtime, project_id, WARM_UP_EVENTS)
    # This process stands in for the API servers, which settle once started.
    settle_after_start_up()
    workers = [_start_worker(url, n, folder, options) for n in range(processes)]
    plural = "s" if processes > 1 else ""
    label = f"postgres {processes} worker{plural} x{options.concurrency}"
    try:
        # Untimed: until every worker has started, connected and planned the
        # flow, the first events would wait for start-up, not for idflow.
        _window(
            runtime,
            project_id,
            warm_up_users,
            None,
            _postgres_producer(runtime, options.producers),
        )
        for rate, user_ids in windows:
            producer = _postgres_producer(runtime, options.producers)
            before = _cpu([w.pid for w in workers])
            window = _window(runtime, project_id, user_ids, rate, producer)
            used = _cpu([w.pid for w in workers]) - before
            print(_figures(label, runtime, project_id, window, rate).line())
            print(" " * 4 + used.line(len(user_ids)))
            print(" " * 4 + _check(runtime, project_id, user_ids, window))
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            process.wait(60)
        runtime.close()


@dataclass(frozen=True, slots=True)
class Cpu:
    """CPU seconds by who spent them, from /proc: where a saturated machine's time goes."""

    wall: float
    machine_busy: float
    this_process: float
    workers: float
    postgres: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.wall - other.wall,
            self.machine_busy - other.machine_busy,
            self.this_process - other.this_process,
            self.workers - other.workers,
            self.postgres - other.postgres,
        )

    def line(self, events: int) -> str:
        per_event = {
            "this process (events stored; embedded worker)": self.this_process,
            "worker processes": self.workers,
            "postgres": self.postgres,
        }
        spent = ", ".join(
            f"{name} {seconds / events * 1000:.2f}"
            for name, seconds in per_event.items()
            if seconds > 0
        )
        cores = os.cpu_count() or 1
        busy = self.machine_busy / (self.wall * cores) * 100
        return f"CPU ms per event: {spent}; machine {busy:.0f}% busy of {cores} cores"


def _cpu(worker_pids: list[int]) -> Cpu:
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / ticks
    postgres = sum(
        _process_cpu(int(entry.name), ticks)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _command(entry) == "postgres"
    )
    return Cpu(
        time.monotonic(),
        busy,
        _process_cpu(os.getpid(), ticks),
        sum(_process_cpu(pid, ticks) for pid in worker_pids),
        postgres,
    )


def _command(entry: Path) -> str:
    try:
        return (entry / "comm").read_text().strip()
    except OSError:
        return ""


def _process_cpu(pid: int, ticks: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name, which may hold spaces, in brackets.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass(frozen=True, slots=True)
class Window:
    """The events one window stored: by id, and the time span of their storing."""

    event_ids: list[str]
    first_ms: int
    last_ms: int


Producer = Callable[[Callable[[], str]], "Future[str]"]


def _window(
    runtime: Runtime,
    project_id: str,
    user_ids: list[str],
    rate: float | None,
    produce: Producer,
) -> Window:
    def store_event(user_id: str) -> Callable[[], str]:
        def work() -> str:
            with runtime.store.begin() as conn:
                event = audit_service.emit_custom(
                    conn,
                    BACKEND_ACTOR,
                    project_id,
                    EVENT,
                    AuditType.INFO,
                    user_id=user_id,
                )
            return event.event_id

        return work

    started = time.perf_counter()
    futures = []
    for index, user_id in enumerate(user_ids):
        if rate is not None:
            # Paced: hold each event to its slot, never catching up in a burst.
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        futures.append(produce(store_event(user_id)))
    event_ids = [future.result() for future in futures]
    _wait_settled(runtime, project_id, len(event_ids))

    with runtime.store.connect() as conn:
        span = conn.execute(
            text(
                "SELECT min(occurred_ms), max(occurred_ms) FROM audit_events "
                "WHERE project_id = :p AND action = :a AND event_id >= :first"
            ),
            {"p": project_id, "a": EVENT, "first": min(event_ids)},
        ).one()
    return Window(event_ids, int(span[0]), int(span[1]))


def _sqlite_producer(runtime: Runtime) -> Producer:
    # The API's handlers queue their writes on the store thread and await
    # them; the runs of the embedded worker queue on the same thread.
    return runtime.submit_blocking


def _postgres_producer(runtime: Runtime, threads: int) -> Producer:
    pool = ThreadPoolExecutor(threads, thread_name_prefix="bench-producer")
    return pool.submit


def _wait_settled(runtime: Runtime, project_id: str, count: int) -> None:
    def unsettled() -> int:
        with runtime.store.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM deliveries WHERE project_id = :p "
                        "AND status IN ('pending', 'running')"
                    ),
                    {"p": project_id},
                ).scalar_one()
            )

    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        # Asked on the store thread, as an API request would be: on SQLite a
        # connection of its own would cost the others their page cache.
        if runtime.submit_blocking(unsettled).result() == 0:
            return
        time.sleep(0.05)
    sys.exit(f"deliveries not settled after {SETTLE_SECONDS:.0f} s")


def _figures(
    label: str, runtime: Runtime, project_id: str, window: Window, rate: float | None
) -> Figures:
    with runtime.store.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.occurred_ms, r.finished_ms FROM deliveries d "
                "JOIN audit_events e ON e.event_id = d.event_id "
                "JOIN runs r ON r.run_id = d.run_id "
                "WHERE d.project_id = :p AND d.event_id >= :first"
            ),
            {"p": project_id, "first": min(window.event_ids)},
        ).all()
    latencies = [int(finished - occurred) for occurred, finished in rows]
    last_finished = max(int(finished) for _, finished in rows)
    stored = max(window.last_ms - window.first_ms, 1) / 1000
    total = max(last_finished - window.first_ms, 1) / 1000

    return Figures(label, len(rows), rate, stored, total, latencies)


def _check(
    runtime: Runtime, project_id: str, user_ids: list[str], window: Window
) -> str:
    first = min(window.event_ids)
    with runtime.store.connect() as conn:
        done = conn.execute(
            text(
                "SELECT count(*) FROM deliveries WHERE project_id = :p "
                "AND event_id >= :first AND status = 'done'"
            ),
            {"p": project_id, "first": first},
        ).scalar_one()
        runs = conn.execute(
            text(
                "SELECT count(DISTINCT triggering_event_id), count(*) FROM runs "
                "WHERE project_id = :p AND status = 'completed' "
                "AND triggering_event_id >= :first"
            ),
            {"p": project_id, "first": first},
        ).one()
        disabled = conn.execute(
            text(
                "SELECT count(*) FROM users WHERE project_id = :p "
                "AND status = 'disabled' AND user_id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"p": project_id, "ids": user_ids},
        ).scalar_one()

    events = len(window.event_ids)
    if (done, runs[0], runs[1], disabled) != (events, events, events, events):
        sys.exit(
            f"check failed: {events} events, {done} deliveries done, "
            f"{runs[1]} completed runs for {runs[0]} events, {disabled} users disabled"
        )
    return f"checked: {done} deliveries done, one completed run each, {disabled} users disabled"


def _open_runtime(url: str) -> Runtime:
    store = Store.open(url)
    migrate.upgrade(store)
    store.dispose()
    return Runtime.open(Settings(database_url=url))


def _project(runtime: Runtime) -> str:
    with runtime.store.begin() as conn:
        project, _ = project_service.create_project(conn, CLI_ACTOR, "bench")
        flow_service.save_flow(
            conn, CLI_ACTOR, project.project_id, compile_authoring(FLOW)
        )
    return project.project_id


_user_counter = iter(range(10**9))


def _users(runtime: Runtime, project_id: str, count: int) -> list[str]:
    with runtime.store.begin() as conn:
        return [
            user_service.create_user(
                conn, CLI_ACTOR, project_id, f"user{next(_user_counter)}@example.com"
            ).user_id
            for _ in range(count)
        ]


def _start_worker(
    url: str, number: int, folder: Path, options: argparse.Namespace
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDFLOW_")}
    env |= {"IDFLOW_DATABASE_URL": url, "IDFLOW_LOG_LEVEL": "WARNING"}
    command = [str(Path(sys.executable).with_name("idflow"))]
    if options.profile:
        profile = Path(options.profile, f"worker-{number}.prof").resolve()
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), *command]
    command += ["worker", "--concurrency", str(options.concurrency)]
    log = (folder / f"worker-{number}.log").open("wb")
    return subprocess.Popen(command, env=env, stdout=log, stderr=log)


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
