"""Deliveries per second of a flow that calls an HTTP endpoint between two changes.

This measures what a run's connector checkpoint costs in the worker: the flow
loads the event's user, writes an audit event, calls an HTTP endpoint on
loopback (answering at once, so the store's work is what is timed), and
disables the user. Each run commits twice: at the call (the changes before
it, the `running` run record, and where the run stands, so that a retry
resumes from there) and at its end.

Events are stored first; one in-process worker then attempts them one by
one on the calling thread, so the figure is the per-delivery cost, without
the API or any concurrency. Afterwards the program checks that every delivery
is done, each by one completed run, and no checkpoint is left.

    .venv/bin/python bench/connector_deliveries.py --backend all --events 2000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from scratch_postgres import fresh_postgres
from sqlalchemy import text

from idflow.collector import settle_after_start_up
from idflow.connectors.secrets import generate_key
from idflow.flows.authoring import compile_authoring
from idflow.runtime import Runtime
from idflow.services import audit as audit_service
from idflow.services import connectors as connector_service
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
    "id": "bench-note-call-disable",
    "trigger": {"events": [EVENT]},
    "steps": [
        {"id": "load", "action": "user-load-from-triggering-event"},
        {
            "id": "note",
            "action": "audit-generate-event",
            "with": {"action": "bench.noted", "userId": "{{ user.userId }}"},
        },
        {
            "id": "call",
            "action": "http-connector",
            "with": {"connector": "hook", "path": "/hook", "method": "POST"},
        },
        {"id": "disable", "action": "user-disable"},
        {"id": "done", "end": {"userId": "{{ user.userId }}"}},
    ],
}
DEFAULT_PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
WARM_UP_EVENTS = 100


class _Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffered, so the head and body leave in one segment: written apart, the
    # body waits out the client's delayed ACK (40 ms a call).
    wbufsize = 64 * 1024

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: object) -> None:
        return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "all"), default="sqlite"
    )
    parser.add_argument("--pg-server", default=DEFAULT_PG_SERVER)
    options = parser.parse_args()

    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{hook.server_address[1]}"
    os.environ["IDFLOW_OUTBOUND_ALLOW"] = "127.0.0.1/32"
    os.environ["IDFLOW_SECRET_KEY"] = generate_key().to_text()

    if options.backend in ("sqlite", "all"):
        with _scratch_sqlite() as database:
            _bench("sqlite", database, url, options.events)
    if options.backend in ("postgres", "all"):
        with fresh_postgres(options.pg_server, "connectors") as database:
            if database is not None:
                _bench("postgres", database, url, options.events)
    hook.shutdown()
    return 0


def _bench(name: str, database: str, hook_url: str, events: int) -> None:
    store = Store.open(database)
    migrate.upgrade(store)
    store.dispose()
    # The environment carries the outbound allowance and the secret key.
    env = {**os.environ, "IDFLOW_DATABASE_URL": database, "IDFLOW_LOG_LEVEL": "WARNING"}
    runtime = Runtime.open(Settings.from_env(env))
    try:
        project_id = _project(runtime, hook_url)
        worker = Worker(runtime, owner="bench")
        _post(runtime, project_id, WARM_UP_EVENTS)
        worker.run_until_idle(max_rounds=10**6)
        settle_after_start_up()
        _post(runtime, project_id, events)

        started = time.perf_counter()
        cpu = time.process_time()
        worker.run_until_idle(max_rounds=10**6)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu

        _check(runtime, WARM_UP_EVENTS + events)
        print(
            f"{name}: {events} deliveries in {seconds:.2f} s = {events / seconds:,.0f}/s, "
            f"{seconds / events * 1000:.2f} ms each, CPU {cpu / events * 1000:.2f} ms each"
        )
    finally:
        runtime.close()


def _project(runtime: Runtime, hook_url: str) -> str:
    with runtime.store.begin() as conn:
        project, _ = project_service.create_project(conn, CLI_ACTOR, "bench")
        connector_service.create_connector(
            conn,
            runtime.connectors.keyring,
            CLI_ACTOR,
            project.project_id,
            name="hook",
            connector_type="http",
            settings={"baseUrl": hook_url, "maxAttempts": 1},
        )
        flow_service.save_flow(
            conn, CLI_ACTOR, project.project_id, compile_authoring(FLOW)
        )
    return project.project_id


_counter = iter(range(10**9))


def _post(runtime: Runtime, project_id: str, count: int) -> None:
    with runtime.store.begin() as conn:
        for _ in range(count):
            user = user_service.create_user(
                conn, CLI_ACTOR, project_id, f"user{next(_counter)}@example.com"
            )
            audit_service.emit_custom(
                conn,
                Actor("K-bench"),
                project_id,
                EVENT,
                AuditType.INFO,
                user_id=user.user_id,
            )


def _check(runtime: Runtime, events: int) -> None:
    with runtime.store.connect() as conn:
        done = conn.execute(
            text("SELECT count(*) FROM deliveries WHERE status = 'done'")
        ).scalar_one()
        runs = conn.execute(
            text("SELECT count(*) FROM runs WHERE status = 'completed'")
        ).scalar_one()
        left = conn.execute(text("SELECT count(*) FROM run_checkpoints")).scalar_one()
    if (done, runs, left) != (events, events, 0):
        sys.exit(
            f"check failed: {events} events, {done} done, {runs} completed runs, "
            f"{left} checkpoints left"
        )


@contextlib.contextmanager
def _scratch_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/bench.db"


if __name__ == "__main__":
    sys.exit(main())
