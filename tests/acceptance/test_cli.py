"""The `idflow` command as a person uses it: real processes, a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples" / "flows"
IDFLOW = str(Path(sys.executable).with_name("idflow"))

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("IDFLOW_")
    }
    env["IDFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [IDFLOW, *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"idflow {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
            )
        return result

    return run


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


@pytest.fixture
def project(cli: Cli) -> dict[str, str]:
    created: dict[str, str] = _json(
        cli("project", "create", "--name", "Acme", "--json")
    )
    return created


def test_project_create_prints_the_id_and_a_key_once(
    cli: Cli, project: dict[str, str]
) -> None:
    assert set(project) == {"projectId", "managementKey"}
    listed = cli("key", "list", "--json").stdout

    assert project["managementKey"] not in listed


def test_disable_walkthrough_runs_and_prints_exactly_the_api_body(
    cli: Cli, project: dict[str, str]
) -> None:
    user = _json(
        cli("user", "create", "ada@example.com", "--email", "ada@example.com", "--json")
    )
    cli("flow", "apply", str(EXAMPLES / "disable-inactive-user.yaml"))

    result = cli(
        "flow",
        "run",
        "disable-inactive-user",
        "--input-json",
        '{"userId": "ada@example.com", "daysInactive": 120, "thresholdDays": 90}',
        "--json",
    )

    assert _json(result) == {
        "output": {"userId": user["user"]["userId"], "status": "disabled"}
    }
    assert "disabled" in cli("user", "get", "ada@example.com").stdout


def test_runs_show_explains_which_branch_was_taken_and_why(
    cli: Cli, project: dict[str, str]
) -> None:
    cli("user", "create", "ada@example.com")
    cli("flow", "apply", str(EXAMPLES / "disable-inactive-user.yaml"))
    cli(
        "flow",
        "run",
        "disable-inactive-user",
        "--input",
        "userId=ada@example.com",
        "--input",
        "daysInactive=10",
        "--input",
        "thresholdDays=90",
    )
    runs = _json(cli("runs", "list", "--json"))

    shown = cli("runs", "show", runs[0]["runId"]).stdout
    record = _json(cli("runs", "show", runs[0]["runId"], "--json"))

    assert "client.daysInactive" in shown
    assert "greater-than" in shown
    assert "Else" in shown
    assert record["status"] == "completed"
    assert [step["taskId"] for step in record["trace"]] == ["load", "check", "keep"]


def test_a_failed_run_exits_one_and_prints_the_api_error_body(
    cli: Cli, project: dict[str, str]
) -> None:
    cli("flow", "apply", str(EXAMPLES / "disable-inactive-user.yaml"))

    result = cli(
        "flow",
        "run",
        "disable-inactive-user",
        "--input",
        "userId=nobody@example.com",
        "--json",
        check=False,
    )

    assert result.returncode == 1
    body = _json(result)
    assert body["errorCode"].startswith("E")
    assert "nobody@example.com" in body["errorMessage"]


def test_validate_of_a_broken_flow_exits_two_naming_file_task_and_field(
    cli: Cli, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "id: broken\n"
        "steps:\n"
        "  - id: zap\n"
        "    action: user-explode\n"
        "  - id: done\n"
        "    end: {ok: yes}\n"
    )

    result = cli("flow", "validate", str(broken), check=False)

    assert result.returncode == 2
    assert "broken.yaml" in result.stderr
    assert "zap" in result.stderr
    assert "user-explode" in result.stderr


def test_apply_rejects_an_invalid_flow_and_keeps_the_stored_version(
    cli: Cli, project: dict[str, str], tmp_path: Path
) -> None:
    cli("flow", "apply", str(EXAMPLES / "disable-inactive-user.yaml"))
    broken = tmp_path / "disable-inactive-user.yaml"
    broken.write_text(
        "id: disable-inactive-user\nsteps:\n  - id: a\n    action: nope\n"
    )

    result = cli("flow", "apply", str(broken), check=False)
    flows = _json(cli("flow", "list", "--json"))

    assert result.returncode == 2
    assert [(f["id"], f["version"]) for f in flows] == [("disable-inactive-user", 1)]


def test_export_then_apply_round_trips_without_a_new_version(
    cli: Cli, project: dict[str, str], tmp_path: Path
) -> None:
    cli("flow", "apply", str(EXAMPLES / "reenable-after-verification.yaml"))
    exported = tmp_path / "exported.json"
    exported.write_text(cli("flow", "export", "reenable-after-verification").stdout)

    cli("flow", "apply", str(exported))
    flows = _json(cli("flow", "list", "--json"))

    assert [(f["id"], f["version"]) for f in flows] == [
        ("reenable-after-verification", 1)
    ]


def test_commands_ask_for_a_project_when_there_are_several(cli: Cli) -> None:
    first = _json(cli("project", "create", "--name", "One", "--json"))
    cli("project", "create", "--name", "Two", "--json")

    ambiguous = cli("user", "list", check=False)
    chosen = cli("--project", first["projectId"], "user", "list", "--json")

    assert ambiguous.returncode != 0
    assert "--project" in ambiguous.stderr
    assert _json(chosen) == []


def test_usage_errors_exit_two(cli: Cli) -> None:
    assert cli("flow", "run", check=False).returncode == 2
    assert cli("no-such-command", check=False).returncode == 2
