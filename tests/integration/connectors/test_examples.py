"""The connector examples in examples/flows/connectors run against local servers.

They live apart from examples/flows, whose guard test runs every flow there on a
runtime without connectors; here each gets the connectors its comments name.
"""

from __future__ import annotations

import email
import email.policy
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from idflow.flows.files import load_flow_file
from idflow.runtime import Runtime
from idflow.services import flows as flow_service
from idflow.services import users as user_service
from idflow.services.audit import CLI_ACTOR
from idflow.services.runs import start_run
from idflow.store import users as user_store
from idflow.store.database import Store
from idflow.store.records import Connector, RunStatus, RunTrigger, UserStatus
from tests.integration.connectors.conftest import make_runtime
from tests.integration.connectors.servers import MailSink, RecordingServer

EXAMPLES = Path(__file__).parents[3] / "examples" / "flows" / "connectors"
pytestmark = pytest.mark.filterwarnings(
    "ignore:Session.login_data is deprecated:DeprecationWarning"
)


@pytest.fixture
def runtime(sqlite_file_store: Store, tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_file_store, sqlite_dirs=(tmp_path.resolve(),))
    yield runtime
    runtime.connectors.close()


def _save(runtime: Runtime, project_id: str, name: str) -> str:
    document, flow = load_flow_file(EXAMPLES / f"{name}.yaml")
    with runtime.store.begin() as conn:
        flow_service.save_flow(conn, CLI_ACTOR, project_id, document)
    return flow.flow_id


def _smtp(port: int) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "fromAddress": "idflow@example.com",
    }


def test_every_connector_example_is_covered_here() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == [
        "alert-admins-on-scim-event",
        "follow-up-pending-invitation",
        "grant-entitled-features",
    ]


@pytest.mark.parametrize(("severity", "emailed"), [("error", True), ("info", False)])
def test_a_scim_event_alerts_slack_and_emails_on_errors(
    runtime: Runtime,
    project_id: str,
    add_connector: Callable[..., Connector],
    http_server: RecordingServer,
    mail: tuple[MailSink, int],
    severity: str,
    emailed: bool,
) -> None:
    sink, port = mail
    add_connector(
        "admin-slack", "slack", {}, {"webhookUrl": f"{http_server.url}/slack"}
    )
    add_connector("admin-mail", "smtp", _smtp(port))
    flow_id = _save(runtime, project_id, "alert-admins-on-scim-event")
    event = {
        "action": "scim.sync.failed",
        "type": severity,
        "userId": "U2abc",
        "tenantId": "T1",
        "data": {"reason": "directory timeout"},
    }

    run = start_run(
        runtime, project_id, flow_id, {}, RunTrigger.EVENT, triggering_event=event
    )

    assert run.status is RunStatus.COMPLETED, run.error
    assert run.outputs == {"emailed": emailed}
    assert http_server.to("/slack")[0].json() == {
        "text": "SCIM scim.sync.failed for user U2abc in tenant T1"
    }
    assert len(sink.messages) == (1 if emailed else 0)


@pytest.mark.parametrize(
    ("status", "reminded"), [(UserStatus.INVITED, True), (UserStatus.ENABLED, False)]
)
def test_a_pending_invitation_gets_a_reminder(
    runtime: Runtime,
    project_id: str,
    add_connector: Callable[..., Connector],
    mail: tuple[MailSink, int],
    status: UserStatus,
    reminded: bool,
) -> None:
    sink, port = mail
    add_connector("invite-mail", "smtp", _smtp(port))
    flow_id = _save(runtime, project_id, "follow-up-pending-invitation")
    with runtime.store.begin() as conn:
        user = user_service.create_user(
            conn,
            CLI_ACTOR,
            project_id,
            "grace@example.com",
            status=status,
            email="grace@example.com",
            name="Grace",
        )

    run = start_run(
        runtime,
        project_id,
        flow_id,
        {"userId": "grace@example.com", "inviteUrl": "https://app.example.com/i/42"},
        RunTrigger.API,
    )

    assert run.status is RunStatus.COMPLETED, run.error
    assert run.outputs == {"userId": user.user_id, "reminded": reminded}
    assert len(sink.messages) == (1 if reminded else 0)
    if reminded:
        message = email.message_from_bytes(
            sink.messages[0].content, policy=email.policy.default
        )
        assert sink.messages[0].rcpt_tos == ["grace@example.com"]
        assert (
            "https://app.example.com/i/42" in message.get_body(("plain",)).get_content()
        )


@pytest.mark.parametrize(
    ("plan", "active", "granted"),
    [("gold", 1, True), ("gold", 0, False), ("free", 1, False), (None, None, False)],
)
def test_the_entitlement_lookup_decides_the_role(
    runtime: Runtime,
    project_id: str,
    add_connector: Callable[..., Connector],
    tmp_path: Path,
    plan: str | None,
    active: int | None,
    granted: bool,
) -> None:
    with runtime.store.begin() as conn:
        user = user_service.create_user(conn, CLI_ACTOR, project_id, "lin@example.com")
    database = tmp_path / "billing.db"
    with sqlite3.connect(database) as db:
        db.execute(
            "CREATE TABLE entitlements (user_id TEXT, plan TEXT, active INTEGER)"
        )
        if plan is not None:
            db.execute(
                "INSERT INTO entitlements VALUES (?, ?, ?)",
                (user.user_id, plan, active),
            )
    add_connector("entitlements", "sql", {"dialect": "sqlite", "path": str(database)})
    flow_id = _save(runtime, project_id, "grant-entitled-features")

    run = start_run(
        runtime, project_id, flow_id, {"userId": "lin@example.com"}, RunTrigger.API
    )

    assert run.status is RunStatus.COMPLETED, run.error
    assert run.outputs == {
        "userId": user.user_id,
        "plan": plan or "",
        "granted": granted,
    }
    with runtime.store.connect() as conn:
        stored = user_store.get_user(conn, project_id, user.user_id)
    assert stored is not None
    assert ("premium-features" in stored.role_names) is granted
