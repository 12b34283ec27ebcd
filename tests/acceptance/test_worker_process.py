"""`idflow worker` as a process on SQLite: it runs triggered flows and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.acceptance.conftest import _clean_env, idflow_command

WAIT_SECONDS = 30.0
FLOW = """\
id: tag-new-users
trigger:
  events: [UserCreated]
steps:
  - id: load
    action: user-load-from-triggering-event
  - id: tag
    action: user-update
    with:
      customAttributes:
        welcomedBy: "{{ run.flowId }}"
  - id: done
    end: {ok: true}
"""


def _idflow(env: dict[str, str], cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [idflow_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _wait_until_done(database: Path) -> None:
    # Read straight from the file: a CLI call per poll would take longer than the run.
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(database)) as conn:
            done = conn.execute(
                "SELECT count(*) FROM deliveries WHERE status = 'done'"
            ).fetchone()[0]
        if done == 1:
            return
        time.sleep(0.05)
    pytest.fail("The worker did not finish the delivery in time.")


def test_a_worker_runs_a_triggered_flow_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = _clean_env(f"sqlite:///{tmp_path / 'idflow.db'}") | {
        "IDFLOW_WORKER_GRACE_SECONDS": "5"
    }
    _idflow(env, tmp_path, "project", "create", "--name", "workers")
    (tmp_path / "flow.yaml").write_text(FLOW)
    _idflow(env, tmp_path, "flow", "apply", "flow.yaml")
    created = json.loads(
        _idflow(env, tmp_path, "user", "create", "ada@example.com", "--json")
    )
    stderr = tmp_path / "worker.err"
    with stderr.open("wb") as err:
        worker = subprocess.Popen(
            [idflow_command(), "worker", "--concurrency", "2"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )

    try:
        _wait_until_done(tmp_path / "idflow.db")
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
    listed = json.loads(_idflow(env, tmp_path, "deliveries", "list", "--json"))

    user = json.loads(
        _idflow(env, tmp_path, "user", "get", created["user"]["userId"], "--json")
    )
    log = stderr.read_text()
    assert [d["status"] for d in listed["deliveries"]] == ["done"]
    assert user["user"]["customAttributes"] == {"welcomedBy": "tag-new-users"}
    assert code == 0
    assert "[worker_started" in log
    assert "[worker_stopped" in log


@pytest.mark.parametrize("value", ["0"])
def test_a_worker_refuses_an_unusable_concurrency(tmp_path: Path, value: str) -> None:
    env = _clean_env(f"sqlite:///{tmp_path / 'idflow.db'}")

    result = subprocess.run(
        [idflow_command(), "worker", "--concurrency", value],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "--concurrency" in result.stderr
