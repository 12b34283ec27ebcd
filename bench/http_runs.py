"""Runs per second over HTTP: `POST /v1/mgmt/flow/run` on a real `idflow serve`.

Two workloads, each at concurrency 1 and 32, with wrk as the load generator:

- *decide*: a condition on `client.daysInactive > 90` and an End answering
  `{userId, status}`: the work the peers in ../shared/bench-peers do;
- *disable*: the same, plus loading the user and disabling it in the store.

Every run idflow answers is recorded with its trace, as in production. In the
same run of the machine, the decision alone (`bench/bare_decide.py`) is measured
the same way, as raw ASGI (the ceiling for Python here) and as a Starlette route
(the framework idflow's API uses, and the peers' "bare Starlette"). The three
servers run side by side and their windows alternate, `--rounds` times, so each
share is taken against ceilings measured a minute apart at most; *disable*,
whose target is absolute, is measured once at the end. Its windows walk the
users in order, each user once, so every run disables a user still enabled.
Last comes a mixed window: *decide* and *disable* at once, 16 connections each,
the load under which the server both records context-only runs and writes.
After the timed windows the program counts the recorded runs and checks that
the server recorded one run per answered request, that every answer was 200,
and that each *disable* run disabled a user (one `UserModified` event each).

    .venv/bin/python bench/http_runs.py --duration 10

wrk comes from Debian's packages: `scripts/install-bench-tools.sh`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from idflow.clock import new_id, now_ms
from idflow.flows.authoring import compile_authoring
from idflow.runtime import Runtime
from idflow.services import flows as flow_service
from idflow.services.audit import CLI_ACTOR, AuditAction
from idflow.services.projects import resolve_project
from idflow.settings import Settings
from idflow.store import audit as audit_store
from idflow.store import runs as run_store
from idflow.store import users as user_store
from idflow.store.database import Store
from idflow.store.records import User

BENCH = Path(__file__).resolve().parent
# Each workload's connections in the mixed window, both at once.
MIXED_CONCURRENCY = 16
BIN = Path(sys.executable).parent

DECIDE = {
    "id": "bench-decide",
    "steps": [
        {
            "id": "check",
            "if": [
                {
                    "id": "inactive",
                    "when": "client.daysInactive greater-than 90",
                    "goto": "disabled",
                }
            ],
            "else": "enabled",
        },
        {
            "id": "disabled",
            "end": {"userId": "{{ client.userId }}", "status": "disabled"},
        },
        {
            "id": "enabled",
            "end": {"userId": "{{ client.userId }}", "status": "enabled"},
        },
    ],
}

DISABLE = {
    "id": "bench-disable",
    "steps": [
        {
            "id": "load",
            "action": "user-load",
            "with": {"loginId": "{{ client.userId }}"},
        },
        {
            "id": "check",
            "if": [
                {
                    "id": "inactive",
                    "when": "client.daysInactive greater-than 90",
                    "goto": "disable",
                }
            ],
            "else": "enabled",
        },
        {"id": "disable", "action": "user-disable", "next": "disabled"},
        {
            "id": "disabled",
            "end": {"userId": "{{ user.userId }}", "status": "disabled"},
        },
        {
            "id": "enabled",
            "end": {"userId": "{{ user.userId }}", "status": "{{ user.status }}"},
        },
    ],
}


@dataclass(frozen=True, slots=True)
class Measure:
    """One wrk window."""

    target: str
    concurrency: int
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    runs_before: int
    round: int


def main() -> None:
    """Prepare a store, start the servers, measure, check and print the table."""
    options = _options()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run scripts/install-bench-tools.sh first.")

    with tempfile.TemporaryDirectory(prefix="idflow-http-bench-") as scratch:
        env = _server_env(Path(scratch), options.database_url)
        project_id, auth = _prepare_store(env, options.users)
        results: list[Measure] = []
        # Read beside the server (WAL lets a second process read), to check
        # that every answered request was recorded as a run.
        store = Store.open(env["IDFLOW_DATABASE_URL"])
        problems: list[str] = []

        # The disable windows walk the users in order, each user once: one
        # disabled already would make a cheaper run (no write, no event).
        next_user = 0

        def check_users_left() -> None:
            # Past the last user the script starts again at the first, whose
            # runs then write nothing: those windows would flatter *disable*.
            if next_user > options.users:
                problems.append(
                    f"the disable windows needed {next_user:,} users and the store "
                    f"has {options.users:,}, so some runs re-disabled a user: "
                    "raise --users"
                )

        def measure(
            base: str, target: str, users: int, concurrency: int, round_: int
        ) -> None:
            nonlocal next_user
            flow = f"bench-{target}" if target in ("decide", "disable") else target
            idflow = flow != target
            if users:
                before = _count_disables(store, project_id, flow)
            result, next_user = _wrk(
                base,
                flow,
                auth if idflow else "",
                users,
                concurrency,
                options,
                round_,
                count=lambda: _count_runs(store, project_id, flow) if idflow else 0,
                first_user=next_user,
            )
            results.append(result)
            if not idflow:
                return
            recorded = _count_runs(store, project_id, flow) - result.runs_before
            # Runs in flight when the count is taken or when wrk stops are
            # recorded but not counted by wrk: at most one per connection at
            # each end.
            if not 0 <= recorded - result.requests <= 2 * concurrency:
                problems.append(
                    f"{target} c={concurrency} round {round_}: "
                    f"{result.requests} answered, {recorded} recorded"
                )
            if users:
                check_users_left()
                time.sleep(1)  # the runs in flight when wrk stopped
                after = _count_disables(store, project_id, flow)
                runs, events = (a - b for a, b in zip(after, before, strict=True))
                if runs != events:
                    problems.append(
                        f"{target} c={concurrency}: {runs} runs recorded but "
                        f"{events} users disabled (UserModified events)"
                    )

        def measure_mixed(base: str) -> None:
            # Both workloads at once: records of context-only runs while the
            # server itself writes, which decision 0015 routes to the store
            # thread rather than have the writer process wait for the lock.
            nonlocal next_user
            loads = [
                _Load(base, "bench-decide", auth, 0, MIXED_CONCURRENCY, 1),
                _Load(base, "bench-disable", auth, options.users, MIXED_CONCURRENCY, 1),
            ]
            warm = _wrk_at_once(
                [load.command(options.warmup, next_user) for load in loads]
            )
            decided = _count_runs(store, project_id, "bench-decide")
            disables = _count_disables(store, project_id, "bench-disable")
            done = _wrk_at_once(
                [
                    load.command(options.duration, _next_user(warm[1]), latency=True)
                    for load in loads
                ]
            )
            next_user = _next_user(done[1])
            check_users_left()
            mixed = [
                _parse("mixed: decide", MIXED_CONCURRENCY, done[0], decided, 1),
                _parse("mixed: disable", MIXED_CONCURRENCY, done[1], disables[0], 1),
            ]
            results.extend(mixed)
            time.sleep(1)  # the runs in flight when wrk stopped
            now_decided = _count_runs(store, project_id, "bench-decide")
            now_disables = _count_disables(store, project_id, "bench-disable")
            slack = 2 * MIXED_CONCURRENCY
            for result, recorded in zip(
                mixed,
                (now_decided - decided, now_disables[0] - disables[0]),
                strict=True,
            ):
                if not 0 <= recorded - result.requests <= slack:
                    problems.append(
                        f"{result.target}: {result.requests} answered, "
                        f"{recorded} recorded"
                    )
            runs, events = (a - b for a, b in zip(now_disables, disables, strict=True))
            if runs != events:
                problems.append(
                    f"mixed: disable: {runs} runs recorded but {events} users disabled"
                )

        # All three servers run at once and the windows alternate, so a
        # machine whose speed drifts (these do, by a third within minutes)
        # drifts alike for idflow and for its ceilings.
        with (
            _serve([str(BIN / "idflow"), "serve"], env, scratch) as base,
            _serve(_bare_command("app"), env, scratch, health="/") as bare,
            _serve(
                _bare_command("starlette_app"), env, scratch, health="/"
            ) as bare_starlette,
        ):
            for round_ in range(1, options.rounds + 1):
                for concurrency in (1, 32):
                    measure(base, "decide", 0, concurrency, round_)
                    measure(bare, "bare", 0, concurrency, round_)
                    measure(bare_starlette, "bare-starlette", 0, concurrency, round_)
            # Once: its target is absolute, and each run disables a user.
            for concurrency in (1, 32):
                measure(base, "disable", options.users, concurrency, 1)
            measure_mixed(base)
        store.dispose()

    _report(results, problems, options)


def _bare_command(app: str) -> list[str]:
    # The ceilings: the decision alone, as raw ASGI and as a Starlette route.
    return [
        str(BIN / "uvicorn"),
        "--app-dir",
        str(BENCH),
        f"bare_decide:{app}",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per window")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternations of decide with the bare endpoints",
    )
    parser.add_argument(
        "--users",
        type=int,
        default=150_000,
        help="users the disable workload spreads over",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="store to serve from (default: a fresh SQLite file)",
    )
    return parser.parse_args()


def _server_env(scratch: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDFLOW_")}
    env.update(
        IDFLOW_DATABASE_URL=database_url or f"sqlite:///{scratch / 'bench.db'}",
        IDFLOW_RATE_LIMITS="off",
        IDFLOW_LOG_LEVEL="WARNING",
        IDFLOW_PORT=str(_free_port()),
        IDFLOW_SECRET_KEY_FILE=str(scratch / "secret.key"),
    )
    return env


def _prepare_store(env: dict[str, str], user_count: int) -> tuple[str, str]:
    created = subprocess.run(
        [str(BIN / "idflow"), "project", "create", "--name", "bench", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    keys = json.loads(created.stdout)
    runtime = Runtime.open(Settings(database_url=env["IDFLOW_DATABASE_URL"]))
    try:
        with runtime.store.begin() as conn:
            project = resolve_project(conn, keys["projectId"])
            for flow in (DECIDE, DISABLE):
                flow_service.save_flow(
                    conn, CLI_ACTOR, project.project_id, compile_authoring(flow)
                )
            # Straight to the store: a bulk load, not a workload being measured.
            stamp = now_ms()
            for number in range(user_count):
                user_store.insert_user(
                    conn,
                    User(
                        project_id=project.project_id,
                        user_id=new_id("U"),
                        login_ids=(f"bench-{number}@example.com",),
                        created_ms=stamp,
                        modified_ms=stamp,
                    ),
                )
    finally:
        runtime.close()
    return keys["projectId"], f"Bearer {keys['projectId']}:{keys['managementKey']}"


@contextmanager
def _serve(
    command: list[str], env: dict[str, str], cwd: str, health: str = "/health"
) -> Iterator[str]:
    port = env["IDFLOW_PORT"] if "idflow" in command[0] else str(_free_port())
    if "idflow" not in command[0]:
        command = [*command, "--port", port]
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + health, process)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            assert process.stderr is not None
            sys.exit(f"The server exited early:\n{process.stderr.read().decode()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    sys.exit(f"No answer from {url} within 60 s.")


def _wrk(
    base: str,
    flow: str,
    auth: str,
    users: int,
    concurrency: int,
    options: argparse.Namespace,
    round_: int,
    *,
    count: Callable[[], int],
    first_user: int,
) -> tuple[Measure, int]:
    """Warm up, then measure one window; also answer the first user left untouched."""
    threads = 1 if concurrency == 1 else 2
    load = _Load(base, flow, auth, users, concurrency, threads)
    warm = _run_wrk(load.command(options.warmup, first_user))
    runs_before = count()
    done = _run_wrk(load.command(options.duration, _next_user(warm), latency=True))
    measure = _parse(
        flow.removeprefix("bench-"), concurrency, done, runs_before, round_
    )
    return measure, _next_user(done)


@dataclass(frozen=True, slots=True)
class _Load:
    """What one wrk process sends: which flow, how hard, over which users."""

    base: str
    flow: str
    auth: str
    users: int
    concurrency: int
    threads: int

    def command(
        self, seconds: int, first_user: int, *, latency: bool = False
    ) -> tuple[list[str], dict[str, str]]:
        env = {
            **os.environ,
            "IDFLOW_BENCH_FLOW": self.flow,
            "IDFLOW_BENCH_AUTH": self.auth,
            "IDFLOW_BENCH_USERS": str(self.users),
            "IDFLOW_BENCH_THREADS": str(self.threads),
            "IDFLOW_BENCH_FIRST": str(first_user),
        }
        command = [
            "wrk",
            *("-t", str(self.threads), "-c", str(self.concurrency)),
            *("-s", str(BENCH / "wrk" / "run.lua"), "-d", f"{seconds}s"),
            *(["--latency", "--timeout", "10s"] if latency else []),
            self.base + "/v1/mgmt/flow/run",
        ]
        return command, env


def _run_wrk(command: tuple[list[str], dict[str, str]]) -> str:
    args, env = command
    return subprocess.run(
        args, env=env, capture_output=True, text=True, check=True
    ).stdout


def _wrk_at_once(commands: list[tuple[list[str], dict[str, str]]]) -> list[str]:
    # Started together, so that their windows cover the same seconds.
    started = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
        for args, env in commands
    ]
    outputs = [process.communicate()[0] for process in started]
    for process, (args, _) in zip(started, commands, strict=True):
        if process.returncode:
            sys.exit(f"wrk exited with {process.returncode}: {' '.join(args)}")
    return outputs


def _next_user(output: str) -> int:
    # Printed by run.lua's done(): where the next invocation should start.
    found = re.search(r"^idflow-bench-next-user: (\d+)$", output, re.M)
    assert found is not None, output
    return int(found.group(1))


def _parse(
    target: str, concurrency: int, output: str, runs_before: int, round_: int
) -> Measure:
    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        assert found is not None, output
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
        return float(found.group(1)) * scale

    requests = re.search(r"(\d+) requests in", output)
    per_second = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    assert requests is not None and per_second is not None, output
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Measure(
        target,
        concurrency,
        int(requests.group(1)),
        float(per_second.group(1)),
        latency("50"),
        latency("99"),
        errors,
        runs_before,
        round_,
    )


def _count_runs(store: Store, project_id: str, flow: str) -> int:
    with store.connect() as conn:
        return run_store.count_runs(conn, project_id, flow_id=flow)


def _count_disables(store: Store, project_id: str, flow: str) -> tuple[int, int]:
    # The flow's recorded runs, and the users disabled (one event each).
    with store.connect() as conn:
        runs = run_store.count_runs(conn, project_id, flow_id=flow)
        _, events = audit_store.search_events(
            conn, project_id, actions=[AuditAction.USER_MODIFIED], limit=1
        )
    return runs, events


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _report(
    results: list[Measure], problems: list[str], options: argparse.Namespace
) -> None:
    # Each share is against the ceiling measured in the same round, minutes apart at most.
    ceilings = {
        (m.target, m.concurrency, m.round): m.per_second
        for m in results
        if m.target.startswith("bare")
    }

    def share(m: Measure, target: str) -> float | None:
        top = ceilings.get((target, m.concurrency, m.round))
        return m.per_second / top if top else None

    print(
        "| workload | c | round | runs/s | p50 ms | p99 ms | of bare ASGI "
        "| of bare Starlette | requests | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m in sorted(results, key=lambda m: (m.target, m.concurrency, m.round)):
        shares = [share(m, target) for target in ("bare", "bare-starlette")]
        shown = [f"{value:.0%}" if value is not None else "-" for value in shares]
        print(
            f"| {m.target} | {m.concurrency} | {m.round} | {m.per_second:,.0f} "
            f"| {m.p50_ms:.2f} | {m.p99_ms:.2f} | {shown[0]} | {shown[1]} "
            f"| {m.requests:,} | {m.errors} |"
        )
    print()
    for concurrency in (1, 32):
        decide = [
            m for m in results if m.target == "decide" and m.concurrency == concurrency
        ]
        for target in ("bare", "bare-starlette"):
            values = [v for m in decide if (v := share(m, target)) is not None]
            if values:
                print(
                    f"decide c={concurrency} against {target}: median "
                    f"{statistics.median(values):.0%} over {len(values)} rounds "
                    f"({', '.join(f'{v:.0%}' for v in values)})"
                )
    print(
        f"\nwindows of {options.duration} s after {options.warmup} s of warm-up, "
        f"{options.rounds} rounds"
    )
    if problems:
        sys.exit("The checks failed: " + "; ".join(problems))
    print(
        "every answered request has its recorded run, and each disable run "
        "disabled a user still enabled"
    )


if __name__ == "__main__":
    main()
