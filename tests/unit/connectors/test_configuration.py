"""Connector configuration: settings checked by type, secrets write-only, SQL without templates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idflow.connectors.secrets import Keyring, generate_key
from idflow.errors import (
    ConnectorError,
    ConnectorExists,
    FlowDefinitionError,
    InvalidArgument,
)
from idflow.flows.authoring import compile_authoring
from idflow.services import connectors as connector_service
from idflow.services import flows as flow_service
from idflow.services.audit import CLI_ACTOR
from idflow.store import projects
from idflow.store.database import Store
from idflow.store.records import Project

PROJECT = "P2CONNECTORS"


@pytest.fixture
def conn(sqlite_store: Store) -> Iterator[object]:
    with sqlite_store.begin() as conn:
        projects.insert_project(conn, Project(PROJECT, "Acme", 0))
        yield conn


@pytest.fixture
def keyring() -> Keyring:
    return Keyring((generate_key(),), "test")


def _create(conn: object, keyring: Keyring, **fields: object) -> object:
    values: dict[str, object] = {
        "name": "crm",
        "connector_type": "http",
        "settings": {"baseUrl": "https://crm.example.com"},
        "secrets": {"token": "t0ken-value"},
    }
    return connector_service.create_connector(
        conn,
        keyring,
        CLI_ACTOR,
        PROJECT,
        **(values | fields),  # type: ignore[arg-type]
    )


def test_settings_are_checked_for_the_type(conn: object, keyring: Keyring) -> None:
    with pytest.raises(
        InvalidArgument, match="baseUrl: Value error, expected an absolute"
    ):
        _create(conn, keyring, settings={"baseUrl": "ftp://x"})
    with pytest.raises(InvalidArgument, match="Extra inputs are not permitted"):
        _create(conn, keyring, settings={"baseUrl": "https://x", "colour": "red"})


def test_credentials_in_a_url_are_refused(conn: object, keyring: Keyring) -> None:
    with pytest.raises(InvalidArgument, match="credentials belong in secrets"):
        _create(conn, keyring, settings={"baseUrl": "https://user:pw@x.example"})


def test_an_unknown_secret_name_or_type_is_refused(
    conn: object, keyring: Keyring
) -> None:
    with pytest.raises(InvalidArgument, match="has no secret 'pasword'"):
        _create(conn, keyring, secrets={"pasword": "x"})
    with pytest.raises(InvalidArgument, match="Connector type 'ftp' is unknown"):
        _create(conn, keyring, connector_type="ftp")


def test_names_are_unique_in_a_project(conn: object, keyring: Keyring) -> None:
    _create(conn, keyring)

    with pytest.raises(ConnectorExists):
        _create(conn, keyring)


def test_an_update_merges_secrets_and_null_removes_one(
    conn: object, keyring: Keyring
) -> None:
    _create(conn, keyring, settings={"baseUrl": "https://x.example", "signature": {}})

    changed = connector_service.update_connector(
        conn,
        keyring,
        CLI_ACTOR,
        PROJECT,
        "crm",
        secrets={"signingSecret": "s1gning", "token": None},
    )
    resolved = connector_service.resolve_connector(conn, keyring, PROJECT, "crm")

    assert changed.secret_names == ("signingSecret",)
    assert dict(resolved.secrets) == {"signingSecret": "s1gning"}
    assert connector_service.connector_view(changed)["secretNames"] == ["signingSecret"]


def test_rekeying_moves_every_secret_to_the_current_key(
    conn: object, keyring: Keyring
) -> None:
    _create(conn, keyring)
    rotated = Keyring((generate_key(), *keyring.keys), "test")

    assert connector_service.rekey_all(conn, rotated, CLI_ACTOR) == 1
    assert connector_service.rekey_all(conn, rotated, CLI_ACTOR) == 0
    only_new = Keyring((rotated.current,), "test")
    resolved = connector_service.resolve_connector(conn, only_new, PROJECT, "crm")
    assert dict(resolved.secrets) == {"token": "t0ken-value"}


def test_a_step_of_the_wrong_type_is_refused(conn: object, keyring: Keyring) -> None:
    _create(conn, keyring)

    with pytest.raises(
        ConnectorError, match="is a http connector: this step needs a sql"
    ):
        connector_service.resolve_connector(conn, keyring, PROJECT, "crm", "sql")


def test_sql_text_holding_a_template_is_refused_when_the_flow_is_saved(
    conn: object,
) -> None:
    document = compile_authoring(
        {
            "id": "lookup",
            "steps": [
                {
                    "id": "q",
                    "action": "sql-connector",
                    "with": {
                        "connector": "db",
                        "query": "SELECT * FROM t WHERE id = '{{ client.id }}'",
                    },
                },
                {"id": "done", "end": {"ok": True}},
            ],
        }
    )

    with pytest.raises(FlowDefinitionError) as raised:
        flow_service.save_flow(conn, CLI_ACTOR, PROJECT, document)

    assert "may not hold templates" in str([p.message for p in raised.value.problems])
