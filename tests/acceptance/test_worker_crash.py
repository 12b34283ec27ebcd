"""Two `idflow worker` processes on PostgreSQL, one killed mid-stream: nothing lost, nothing doubled.

A stream of custom events goes in through `idflow serve --no-worker`; each one
makes a flow give its user one role named after the event. While the stream
flows, one worker is killed with SIGKILL at a moment it holds claims (killed
again with a fresh process if it happened to hold none); the stream goes on
until such a kill has happened, so a fast machine that finishes each event
before the kill lands cannot run out of chances. The other worker takes
the orphaned claims over once their leases expire. Afterwards every delivery is
done exactly once, every event has exactly one completed run, and every user
holds exactly the roles of its events, each written by exactly one run.

The second test does the same with a flow that writes an audit event, calls an
HTTP endpoint (which takes a while to answer) and then grants the role, and
kills the worker while it waits on such a call: after the commit that came
before the call. The run taken over must resume after that commit, so each
event's audit event is still written exactly once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from idflow.connectors.secrets import generate_key
from idflow.flows.authoring import compile_authoring
from idflow.store.database import Store
from tests.acceptance.conftest import (
    Server,
    _clean_env,
    _free_port,
    _terminate,
    _wait_until_healthy,
    idflow_command,
)
from tests.acceptance.wire import create_http_connector, ok
from tests.conftest import PostgresServer
from tests.integration.connectors.servers import (
    Recorded,
    RecordingServer,
    recording_server,
)

pytestmark = pytest.mark.postgres

USERS = 10
# Rounds of one event per user: at least the first number, and then on until a
# worker has died holding claims, but never more than the second.
MIN_ROUNDS = 20
MAX_ROUNDS = 400
KILL_TRIES = 20
SETTLE_SECONDS = 90.0

GRANT_ROLE = {
    "id": "grant-role",
    "trigger": {"events": ["role.granted"]},
    "steps": [
        {"id": "load", "action": "user-load-from-triggering-event"},
        {
            "id": "grant",
            "action": "user-add-roles",
            "with": {"roleNames": ["{{ triggeringEvent.data.role }}"]},
        },
        {"id": "done", "end": {"ok": True}},
    ],
}
# How long the endpoint takes over each call: long enough that the kill most
# often lands while a run waits on one.
CALL_SECONDS = 0.15
NOTE_CALL_GRANT = {
    "id": "note-call-grant",
    "trigger": {"events": ["role.granted"]},
    "steps": [
        {"id": "load", "action": "user-load-from-triggering-event"},
        {
            "id": "noted",
            "action": "audit-generate-event",
            "with": {
                "action": "role.noted",
                "userId": "{{ user.userId }}",
                "data": {"role": "{{ triggeringEvent.data.role }}"},
            },
        },
        {
            "id": "call",
            "action": "http-connector",
            "with": {
                "connector": "hook",
                "path": "/hook",
                "method": "POST",
                "body": {"role": "{{ triggeringEvent.data.role }}"},
            },
        },
        {
            "id": "grant",
            "action": "user-add-roles",
            "with": {"roleNames": ["{{ triggeringEvent.data.role }}"]},
        },
        {"id": "done", "end": {"ok": True}},
    ],
}


@dataclass
class Cluster:
    """One database, a server taking events and the worker processes on it."""

    url: str
    env: dict[str, str]
    workdir: Path
    server: Server | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def idflow(self, *args: str) -> str:
        result = subprocess.run(
            [idflow_command(), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start_worker(self) -> subprocess.Popen[bytes]:
        number = len(self.workers)
        with (
            (self.workdir / f"worker{number}.out").open("wb") as out,
            (self.workdir / f"worker{number}.err").open("wb") as err,
        ):
            process = subprocess.Popen(
                [idflow_command(), "worker", "--concurrency", "4"],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=err,
            )
        self.workers.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.workdir.glob("*.err"))
        )


@pytest.fixture
def cluster(
    pg_server: PostgresServer, pg_template: str, tmp_path: Path
) -> Iterator[Cluster]:
    name = pg_server.new_database_name()
    pg_server.create_database(name, template=pg_template)
    url = pg_server.url_for(name)
    env = _clean_env(url) | {
        # Short leases, so the killed worker's claims come back within the test.
        "IDFLOW_DELIVERY_LEASE_SECONDS": "2",
        "IDFLOW_WORKER_POLL_SECONDS": "0.2",
        "IDFLOW_WORKER_GRACE_SECONDS": "5",
        "IDFLOW_RATE_LIMITS": "off",
        # The second test's endpoint lives on loopback.
        "IDFLOW_OUTBOUND_ALLOW": "127.0.0.1/32",
        "IDFLOW_SECRET_KEY": generate_key().to_text(),
    }
    running = Cluster(url, env, tmp_path)
    try:
        yield running
    finally:
        for process in running.workers:
            _terminate(process)
        if running.server is not None and running.server.process is not None:
            _terminate(running.server.process)
        pg_server.drop_database(name)


def _serve(cluster: Cluster, project: Server | None = None) -> Server:
    """Start `idflow serve --no-worker`, for a new project or for `project`'s."""
    if project is None:
        created = json.loads(
            cluster.idflow("project", "create", "--name", "crash", "--json")
        )
        project_id, key = created["projectId"], created["managementKey"]
    else:
        project_id, key = project.project_id, project.management_key
    port = _free_port()
    name = "serve" if project is None else "serve-again"
    server = Server(
        base_url=f"http://127.0.0.1:{port}",
        project_id=project_id,
        management_key=key,
        env=cluster.env,
        workdir=cluster.workdir,
        logs=[cluster.workdir / f"{name}.out", cluster.workdir / f"{name}.err"],
    )
    with server.logs[0].open("wb") as out, server.logs[1].open("wb") as err:
        server.process = subprocess.Popen(
            [idflow_command(), "serve", "--no-worker", "--port", str(port)],
            env=cluster.env,
            cwd=cluster.workdir,
            stdout=out,
            stderr=err,
        )
    cluster.server = server
    _wait_until_healthy(server)
    return server


@dataclass
class Stream:
    """The events posted: rounds of one per user, until told to stop."""

    server: Server
    user_ids: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    rounds: int = 0

    def post(self) -> None:
        with self.server.client() as http:
            while self.rounds < MIN_ROUNDS or (
                not self.stop.is_set() and self.rounds < MAX_ROUNDS
            ):
                _post_round(http, self.user_ids, self.rounds)
                self.rounds += 1

    @property
    def events(self) -> int:
        return self.rounds * len(self.user_ids)


def _post_round(http: httpx.Client, user_ids: list[str], n: int) -> None:
    for user_id in user_ids:
        ok(
            http.post(
                "/v1/mgmt/audit/event",
                json={
                    "action": "role.granted",
                    "type": "info",
                    "actorId": "crash-test",
                    "tenantId": "T-none",
                    "userId": user_id,
                    "data": {"role": f"{user_id}-{n:03d}"},
                },
            )
        )


def _scalar(store: Store, sql: str, **params: object) -> int:
    with store.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def _held_by(
    store: Store, process: subprocess.Popen[bytes], *, checkpointed: bool
) -> int:
    # Worker ids are host:pid:tag, so a process's claims are found by its pid.
    # A claim has a run id before its run ends only once the run committed at
    # a connector call.
    sql = "SELECT count(*) FROM deliveries WHERE status = 'running' AND lease_owner LIKE :owner"
    if checkpointed:
        sql += " AND run_id IS NOT NULL"
    return _scalar(store, sql, owner=f"%:{process.pid}:%")


def _kill_while_holding_claims(
    cluster: Cluster,
    store: Store,
    victim: subprocess.Popen[bytes],
    *,
    checkpointed: bool = False,
) -> int:
    """SIGKILL workers until one dies holding claims; return how many it left.

    With `checkpointed`, only claims whose run has committed at a connector
    call count.
    """
    for _ in range(KILL_TRIES):
        deadline = time.monotonic() + 20
        while (
            _held_by(store, victim, checkpointed=checkpointed) == 0
            and time.monotonic() < deadline
        ):
            time.sleep(0.002)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        orphaned = _held_by(store, victim, checkpointed=checkpointed)
        if orphaned:
            return orphaned
        victim = cluster.start_worker()
    pytest.fail(
        f"No killed worker held a claim in {KILL_TRIES} tries.\n{cluster.logs()}"
    )


def _wait_until_done(cluster: Cluster, store: Store, events: int) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        if (
            _scalar(store, "SELECT count(*) FROM deliveries WHERE status = 'done'")
            == events
        ):
            return
        time.sleep(0.1)
    pytest.fail(f"Deliveries did not all finish in time.\n{cluster.logs()}")


def _users(server: Server) -> list[str]:
    with server.client() as http:
        return [
            ok(
                http.post("/v1/mgmt/user/create", json={"loginId": f"u{n}@example.com"})
            )["user"]["userId"]
            for n in range(USERS)
        ]


def _apply(cluster: Cluster, server: Server, flow: dict[str, object]) -> None:
    flow_file = cluster.workdir / f"{flow['id']}.json"
    flow_file.write_text(json.dumps(compile_authoring(flow)))
    cluster.idflow("--project", server.project_id, "flow", "apply", str(flow_file))


def _stream_and_kill(
    cluster: Cluster, store: Store, stream: Stream, *, checkpointed: bool = False
) -> int:
    """Post the stream while killing a worker; return the claims it left behind."""
    victim = cluster.start_worker()
    cluster.start_worker()
    posting = threading.Thread(target=stream.post)
    posting.start()
    try:
        orphaned = _kill_while_holding_claims(
            cluster, store, victim, checkpointed=checkpointed
        )
    finally:
        stream.stop.set()
        posting.join()
    _wait_until_done(cluster, store, stream.events)
    return orphaned


def test_a_worker_killed_mid_stream_loses_and_doubles_nothing(
    cluster: Cluster,
) -> None:
    server = _serve(cluster)
    _apply(cluster, server, GRANT_ROLE)
    user_ids = _users(server)
    store = Store.open(cluster.url)
    stream = Stream(server, user_ids)

    try:
        orphaned = _stream_and_kill(cluster, store, stream)

        assert orphaned >= 1
        _assert_nothing_lost_or_doubled(
            store, server, user_ids, stream.rounds, "grant-role"
        )
    finally:
        store.dispose()


@pytest.fixture
def slow_hook() -> Iterator[RecordingServer]:
    with recording_server() as server:

        def take_a_while(_request: Recorded) -> None:
            time.sleep(CALL_SECONDS)

        server.on_request = take_a_while
        yield server


def test_a_worker_killed_during_a_connector_call_repeats_nothing_committed(
    cluster: Cluster, slow_hook: RecordingServer
) -> None:
    server = _serve(cluster)
    _add_hook(server, slow_hook)
    _apply(cluster, server, NOTE_CALL_GRANT)
    user_ids = _users(server)
    store = Store.open(cluster.url)
    stream = Stream(server, user_ids)

    try:
        orphaned = _stream_and_kill(cluster, store, stream, checkpointed=True)

        assert orphaned >= 1
        _assert_nothing_lost_or_doubled(
            store, server, user_ids, stream.rounds, "note-call-grant"
        )
        events = stream.events
        notes_per_event = _per_origin_event(store, "role.noted")
        assert len(notes_per_event) == events
        assert set(notes_per_event.values()) == {1}
        # Each taken-over run went on after its checkpoint, and every attempt
        # at one event's call sent that event's one idempotency key.
        resumed = _scalar(
            store,
            "SELECT count(*) FROM runs WHERE flow_id = 'note-call-grant' "
            "AND trace::text LIKE '%resumed%'",
        )
        assert resumed >= 1
        keys: dict[str, set[str]] = {}
        for request in slow_hook.to("/hook"):
            role = request.json()["role"]
            keys.setdefault(role, set()).add(request.headers["idempotency-key"])
        assert len(keys) == events
        assert {len(found) for found in keys.values()} == {1}
    finally:
        store.dispose()


def _add_hook(server: Server, hook: RecordingServer) -> None:
    with server.client() as http:
        create_http_connector(http, "hook", hook.url, timeoutSeconds=10)


def _per_origin_event(store: Store, action: str) -> dict[str, int]:
    with store.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT origin_event_id, count(*) FROM audit_events "
                "WHERE action = :action AND run_id IS NOT NULL "
                "GROUP BY origin_event_id"
            ),
            {"action": action},
        ).all()
    return dict(rows)


def _assert_nothing_lost_or_doubled(
    store: Store, server: Server, user_ids: list[str], rounds: int, flow_id: str
) -> None:
    events = rounds * len(user_ids)
    with store.connect() as conn:
        statuses = dict(
            conn.execute(
                text("SELECT status, count(*) FROM deliveries GROUP BY status")
            ).all()
        )
        runs_per_event = conn.execute(
            text(
                "SELECT triggering_event_id, count(*) FROM runs "
                "WHERE flow_id = :flow_id AND status = 'completed' "
                "GROUP BY triggering_event_id"
            ),
            {"flow_id": flow_id},
        ).all()
        taken_over = conn.execute(
            text("SELECT count(*) FROM deliveries WHERE attempts > 1")
        ).scalar_one()
    changes_per_event = _per_origin_event(store, "UserModified")

    assert statuses == {"done": events}
    assert len(runs_per_event) == events
    assert {count for _, count in runs_per_event} == {1}
    assert len(changes_per_event) == events
    assert set(changes_per_event.values()) == {1}
    assert taken_over >= 1
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": server.bearer}
    ) as http:
        for user_id in user_ids:
            user = ok(http.get("/v1/mgmt/user", params={"userId": user_id}))["user"]
            expected = [f"{user_id}-{n:03d}" for n in range(rounds)]
            assert sorted(user["roleNames"]) == expected


ANSWER_LATER = {
    "id": "answer-later",
    "steps": [
        {"id": "load", "action": "user-load", "with": {"loginId": "{{ client.who }}"}},
        {"id": "grant", "action": "user-add-roles", "with": {"roleNames": ["later"]}},
        {
            "id": "call",
            "action": "http-connector",
            "with": {"connector": "hook", "path": "/hook", "method": "POST"},
        },
        {"id": "done", "end": {"userId": "{{ user.userId }}"}},
    ],
}


def test_an_accepted_run_outlives_the_server_that_accepted_it(
    cluster: Cluster, slow_hook: RecordingServer
) -> None:
    # Were the run made by the server that took it, the kill would land during
    # its call to the slow endpoint, and nothing would ever finish it.
    server = _serve(cluster)
    _add_hook(server, slow_hook)
    _apply(cluster, server, ANSWER_LATER)
    with server.client() as http:
        user_id = ok(
            http.post("/v1/mgmt/user/create", json={"loginId": "later@example.com"})
        )["user"]["userId"]
        accepted = ok(
            http.post(
                "/v1/mgmt/flow/async/run",
                json={"flowId": "answer-later", "input": {"who": "later@example.com"}},
            )
        )
    # No worker runs yet; the server that took the run dies.
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()

    cluster.start_worker()
    store = Store.open(cluster.url)
    try:
        deadline = time.monotonic() + SETTLE_SECONDS
        while (
            _scalar(
                store,
                "SELECT count(*) FROM runs WHERE run_id = :run_id AND status = 'completed'",
                run_id=accepted["executionId"],
            )
            == 0
        ):
            assert time.monotonic() < deadline, cluster.logs()
            time.sleep(0.1)
    finally:
        store.dispose()

    restarted = _serve(cluster, server)
    with restarted.client() as http:
        result = ok(
            http.post(
                "/v1/mgmt/flow/async/result",
                json={"executionId": accepted["executionId"]},
            )
        )
        user = ok(http.get("/v1/mgmt/user", params={"userId": user_id}))["user"]
    assert result["status"] == "completed"
    assert result["output"] == {"userId": user_id}
    assert user["roleNames"] == ["later"]
    assert len(slow_hook.to("/hook")) == 1
