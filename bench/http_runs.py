"""Runs per second over HTTP: `POST /v1/mgmt/flow/run` on a real `idflow serve`.

Two workloads, each at concurrency 1 and 32, with wrk as the load generator:

- *decide*: a condition on `client.daysInactive > 90` and an End answering
  `{userId, status}`: the work the peers in ../shared/bench-peers do;
- *disable*: the same, plus loading the user and disabling it in the store.

Every run idflow answers is recorded with its trace, as in production. In the
same run of the machine, the decision alone (`bench/bare_decide.py`) is measured
the same way, as raw ASGI (the ceiling for Python here) and as a Starlette route
(the framework idflow's API uses, and the peers' "bare Starlette").
After the timed windows the program counts the recorded runs and checks that
the server recorded one run per answered request, and that every answer was 200.

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
from idflow.services.audit import CLI_ACTOR
from idflow.services.projects import resolve_project
from idflow.settings import Settings
from idflow.store import runs as run_store
from idflow.store import users as user_store
from idflow.store.database import Store
from idflow.store.records import User

BENCH = Path(__file__).resolve().parent
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
        unrecorded: list[str] = []
        with _serve([str(BIN / "idflow"), "serve"], env, scratch) as base:
            for flow, users in (("bench-decide", 0), ("bench-disable", options.users)):
                for concurrency in (1, 32):
                    measure = _wrk(
                        base,
                        flow,
                        auth,
                        users,
                        concurrency,
                        options,
                        count=lambda f=flow: _count_runs(store, project_id, f),
                    )
                    results.append(measure)
                    before = measure.runs_before
                    after = _count_runs(store, project_id, flow)
                    # Runs in flight when the count is taken or when wrk stops
                    # are recorded but not counted by wrk: at most one per
                    # connection at each end.
                    if not 0 <= after - before - measure.requests <= 2 * concurrency:
                        unrecorded.append(
                            f"{flow} c={concurrency}: {measure.requests} answered, {after - before} recorded"
                        )
        store.dispose()
        # The ceilings: the decision alone, as raw ASGI and as a Starlette route.
        for target, app in (("bare", "app"), ("bare-starlette", "starlette_app")):
            command = [
                str(BIN / "uvicorn"),
                "--app-dir",
                str(BENCH),
                f"bare_decide:{app}",
                "--no-access-log",
                "--log-level",
                "warning",
            ]
            with _serve(command, env, scratch, health="/") as base:
                for concurrency in (1, 32):
                    results.append(
                        _wrk(base, target, "", 0, concurrency, options, count=lambda: 0)
                    )

    _report(results, unrecorded, options)


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per window")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up")
    parser.add_argument(
        "--users",
        type=int,
        default=60_000,
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
    *,
    count: Callable[[], int],
) -> Measure:
    env = {
        **os.environ,
        "IDFLOW_BENCH_FLOW": flow,
        "IDFLOW_BENCH_AUTH": auth,
        "IDFLOW_BENCH_USERS": str(users),
    }
    threads = "1" if concurrency == 1 else "2"
    script = str(BENCH / "wrk" / "run.lua")
    url = base + "/v1/mgmt/flow/run"
    common = ["wrk", "-t", threads, "-c", str(concurrency), "-s", script]
    subprocess.run(
        [*common, "-d", f"{options.warmup}s", url],
        env=env,
        capture_output=True,
        check=True,
    )
    runs_before = count()
    done = subprocess.run(
        [*common, "-d", f"{options.duration}s", "--latency", "--timeout", "10s", url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return _parse(flow.removeprefix("bench-"), concurrency, done.stdout, runs_before)


def _parse(target: str, concurrency: int, output: str, runs_before: int) -> Measure:
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
    )


def _count_runs(store: Store, project_id: str, flow: str) -> int:
    with store.connect() as conn:
        return run_store.count_runs(conn, project_id, flow_id=flow)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _report(
    results: list[Measure], unrecorded: list[str], options: argparse.Namespace
) -> None:
    def ceiling(target: str) -> dict[int, float]:
        return {m.concurrency: m.per_second for m in results if m.target == target}

    bare, starlette = ceiling("bare"), ceiling("bare-starlette")
    print(
        "| workload | c | runs/s | p50 ms | p99 ms | of bare ASGI "
        "| of bare Starlette | requests | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for m in results:
        shares = [
            f"{m.per_second / top[m.concurrency]:.0%}"
            if top.get(m.concurrency)
            else "-"
            for top in (bare, starlette)
        ]
        print(
            f"| {m.target} | {m.concurrency} | {m.per_second:,.0f} | {m.p50_ms:.2f} "
            f"| {m.p99_ms:.2f} | {shares[0]} | {shares[1]} | {m.requests:,} "
            f"| {m.errors} |"
        )
    print(f"\nwindows of {options.duration} s after {options.warmup} s of warm-up")
    if unrecorded:
        sys.exit("Answered requests without a recorded run: " + "; ".join(unrecorded))
    print("every answered request has its recorded run")


if __name__ == "__main__":
    main()
