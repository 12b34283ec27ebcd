"""A real `idflow serve` process on loopback, with a project made by the real CLI.

The server is started once per test module on a SQLite file of its own, so the
tests of one module share its data (they use distinct login ids) and modules
never see each other's. Its output goes to files, read back into the failure
message when the process dies or never answers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

EXAMPLES = Path(__file__).parents[2] / "examples" / "flows"
FIXTURE_FLOWS = Path(__file__).parent / "flows"
# Keys the server computes on export; everything else must come back as sent.
SERVER_KEYS = ("version", "modifiedTime", "etag")
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


def idflow_command() -> str:
    """The `idflow` console script of the interpreter running the tests."""
    beside = Path(sys.executable).with_name("idflow")
    if beside.exists():
        return str(beside)
    found = shutil.which("idflow")
    if found is None:
        pytest.fail("The idflow console script is not installed next to Python.")
    return found


def descope_export(flow_id: str) -> dict[str, Any]:
    """A Descope v1 export (`{"flow", "screens"}`) of a dormant-user flow."""
    exported: dict[str, Any] = json.loads(
        (FIXTURE_FLOWS / "disable-dormant.v1.json").read_text(encoding="utf-8")
    )
    exported["flow"]["id"] = flow_id
    return exported


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _clean_env(database_url: str) -> dict[str, str]:
    # Settings of the developer's shell must not leak into the server or SDKs.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IDFLOW_", "DESCOPE_"))
    }
    env["IDFLOW_DATABASE_URL"] = database_url
    return env


@dataclass
class Server:
    """A running `idflow serve` and the project the tests drive."""

    base_url: str
    project_id: str
    management_key: str
    env: dict[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def bearer(self) -> str:
        """The Authorization header value for the project's full key."""
        return f"Bearer {self.project_id}:{self.management_key}"

    def client(self, key: str | None = None) -> httpx.Client:
        """An HTTP client on the base URL, authenticated with `key` or the full key."""
        secret = self.management_key if key is None else key
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.project_id}:{secret}"},
            timeout=30.0,
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `idflow` against the server's store and project."""
        result = subprocess.run(
            [idflow_command(), "--project", self.project_id, *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"idflow {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def cli_json(self, *args: str) -> Any:
        """Run `idflow ... --json` and decode what it prints."""
        return json.loads(self.cli(*args, "--json").stdout)

    def output(self) -> str:
        """Everything the server printed so far."""
        return "\n".join(path.read_text(errors="replace") for path in self.logs)

    def check_alive(self) -> None:
        """Fail the test, with the server's output, when the process has died."""
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            pytest.fail(f"idflow serve exited with {code}:\n{self.output()}")


def _create_project(env: dict[str, str], workdir: Path) -> dict[str, str]:
    result = subprocess.run(
        [idflow_command(), "project", "create", "--name", "acceptance", "--json"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"idflow project create failed:\n{result.stderr}")
    created: dict[str, str] = json.loads(result.stdout)
    return created


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(
        f"idflow serve did not answer /health within {START_TIMEOUT_SECONDS:.0f} s:\n"
        f"{server.output()}"
    )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    """Extra `IDFLOW_*` variables for the module's server; a module overrides it."""
    return {}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, server_settings: dict[str, str]
) -> Iterator[Server]:
    """Start `idflow serve` on a free port with a project created beforehand."""
    workdir = tmp_path_factory.mktemp("serve")
    env = _clean_env(f"sqlite:///{workdir / 'idflow.db'}") | server_settings
    created = _create_project(env, workdir)
    port = _free_port()
    running = Server(
        base_url=f"http://127.0.0.1:{port}",
        project_id=created["projectId"],
        management_key=created["managementKey"],
        env=env,
        workdir=workdir,
        logs=[workdir / "serve.out", workdir / "serve.err"],
    )
    with running.logs[0].open("wb") as out, running.logs[1].open("wb") as err:
        running.process = subprocess.Popen(
            [idflow_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=err,
        )
    try:
        _wait_until_healthy(running)
        yield running
        # A crash after the last test still fails the module, with the output.
        running.check_alive()
    finally:
        _terminate(running.process)


@pytest.fixture
def api(server: Server) -> Iterator[Server]:
    """The module's server, checked to be alive before and after each test."""
    server.check_alive()
    yield server
    server.check_alive()


@pytest.fixture
def http(api: Server) -> Iterator[httpx.Client]:
    """An HTTP client authenticated with the project's full management key."""
    with api.client() as client:
        yield client
