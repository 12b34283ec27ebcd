"""`idflow init` and `idflow connector` from the command line, key rotation included."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from idflow.cli.app import cli
from idflow.store.database import Store
from idflow.store.tables import connectors as connectors_table
from tests.integration.connectors.servers import RecordingServer


@pytest.fixture
def env(tmp_path: Path, http_server: RecordingServer) -> dict[str, str]:
    return {
        "IDFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'idflow.db'}",
        "IDFLOW_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
        "IDFLOW_OUTBOUND_ALLOW": "127.0.0.1",
    }


def _idflow(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(
        cli, list(args), env=env, input=stdin, catch_exceptions=False
    )


def _ciphertexts(env: dict[str, str]) -> list[str]:
    store = Store.open(env["IDFLOW_DATABASE_URL"])
    try:
        with store.connect() as conn:
            return [row.secrets for row in conn.execute(select(connectors_table))]
    finally:
        store.dispose()


def test_init_makes_a_private_key_file_and_says_where(env: dict[str, str]) -> None:
    first = _idflow(env, "init")
    again = _idflow(env, "init")

    key_file = Path(env["IDFLOW_SECRET_KEY_FILE"])
    assert first.exit_code == 0
    assert f"at {key_file} (mode 0600)" in first.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "exists" in again.output


def test_a_connector_made_on_the_cli_is_listed_and_tested_without_its_secret(
    env: dict[str, str], http_server: RecordingServer
) -> None:
    _idflow(env, "init")
    _idflow(env, "project", "create", "--name", "Acme")
    settings = orjson.dumps(
        {"baseUrl": http_server.url, "auth": {"type": "bearer"}}
    ).decode()

    created = _idflow(
        env,
        "connector",
        "create",
        "crm",
        "--type",
        "http",
        "--settings-json",
        settings,
        "--secrets-json",
        "-",
        stdin='{"token": "cli-s3cret-token"}',
    )
    listed = _idflow(env, "connector", "list", "--json")
    tested = _idflow(env, "connector", "test", "crm", "--json")

    assert created.exit_code == 0, created.output
    assert orjson.loads(listed.output)[0]["secretNames"] == ["token"]
    assert orjson.loads(tested.output)["ok"] is True
    assert http_server.requests[0].headers["authorization"] == "Bearer cli-s3cret-token"
    for result in (created, listed, tested):
        assert "cli-s3cret-token" not in result.output


def test_rotate_key_re_encrypts_every_secret_under_a_new_key(
    env: dict[str, str], http_server: RecordingServer
) -> None:
    _idflow(env, "init")
    _idflow(env, "project", "create", "--name", "Acme")
    settings = orjson.dumps(
        {"baseUrl": http_server.url, "auth": {"type": "bearer"}}
    ).decode()
    _idflow(
        env,
        "connector",
        "create",
        "crm",
        "--type",
        "http",
        "--settings-json",
        settings,
        "--secrets-json",
        '{"token": "rotated-token-1"}',
    )
    old_key = Path(env["IDFLOW_SECRET_KEY_FILE"]).read_text()
    [before] = _ciphertexts(env)

    rotated = _idflow(env, "connector", "rotate-key")
    tested = _idflow(env, "connector", "test", "crm", "--json")

    [after] = _ciphertexts(env)
    new_key = Path(env["IDFLOW_SECRET_KEY_FILE"]).read_text()
    assert rotated.exit_code == 0, rotated.output
    assert "Re-encrypted 1 connector(s)" in rotated.output
    assert new_key != old_key
    assert len(new_key.split()) == 1
    assert before.split(".")[1] != after.split(".")[1]
    assert orjson.loads(tested.output)["ok"] is True
    assert http_server.requests[-1].headers["authorization"] == "Bearer rotated-token-1"


def test_rotation_with_keys_in_the_environment_moves_secrets_to_the_first_key(
    env: dict[str, str], http_server: RecordingServer
) -> None:
    del env["IDFLOW_SECRET_KEY_FILE"]
    env["IDFLOW_SECRET_KEY"] = _idflow(
        env | {"IDFLOW_SECRET_KEY": "x"}, "connector", "rotate-key", "--new-key"
    ).output.strip()
    _idflow(env, "project", "create", "--name", "Acme")
    _idflow(
        env,
        "connector",
        "create",
        "crm",
        "--type",
        "http",
        "--settings-json",
        orjson.dumps({"baseUrl": http_server.url}).decode(),
        "--secrets-json",
        '{"token": "env-token-1"}',
    )
    fresh = _idflow(env, "connector", "rotate-key", "--new-key").output.strip()

    rotated = _idflow(
        env | {"IDFLOW_SECRET_KEY": f"{fresh},{env['IDFLOW_SECRET_KEY']}"},
        "connector",
        "rotate-key",
    )
    tested = _idflow(
        env | {"IDFLOW_SECRET_KEY": fresh}, "connector", "test", "crm", "--json"
    )

    assert "Re-encrypted 1 connector(s)" in rotated.output
    assert orjson.loads(tested.output)["ok"] is True


def test_a_missing_key_names_idflow_init(env: dict[str, str]) -> None:
    _idflow(env, "project", "create", "--name", "Acme")

    result = _idflow(env, "connector", "create", "crm", "--type", "slack")

    assert result.exit_code == 2
    assert "run `idflow init`" in result.output
