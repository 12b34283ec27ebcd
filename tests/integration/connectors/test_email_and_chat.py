"""Email over SMTP to an aiosmtpd sink, and Slack and Teams webhooks to a local server."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable

import pytest

from idflow.store.records import Connector, Run, RunStatus
from tests.integration.connectors.servers import MailSink, RecordingServer, Reply

Steps = Callable[..., Run]

# aiosmtpd itself touches its own deprecated attribute while logging in.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Session.login_data is deprecated:DeprecationWarning"
)


def _smtp_settings(port: int, **extra: object) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "fromAddress": "idflow@example.com",
        "fromName": "idflow alerts",
        **extra,
    }


def test_an_email_step_delivers_a_text_and_html_message(
    mail: tuple[MailSink, int],
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    sink, port = mail
    add_connector(
        "mailer",
        "smtp",
        _smtp_settings(port, username="bot"),
        {"password": "smtp-s3cret-pw"},
    )

    run = run_steps(
        [
            {
                "id": "send",
                "action": "email-connector",
                "context-key": "sent",
                "with": {
                    "connector": "mailer",
                    "to": "{{ client.email }}",
                    "bcc": ["audit@example.com"],
                    "subject": "Your invitation to {{ client.tenant }}",
                    "text": "Hello {{ client.name }}, your invitation is waiting.",
                    "html": "<p>Hello {{ client.name }}</p>",
                },
            },
            {
                "id": "done",
                "end": {"accepted": {"type": "array", "value": "{{ sent.accepted }}"}},
            },
        ],
        {"email": "ada@example.com", "name": "Ada", "tenant": "Acme"},
    )

    assert run.status is RunStatus.COMPLETED, run.error
    assert run.outputs == {"accepted": ["ada@example.com", "audit@example.com"]}
    assert sink.logins == ["bot"]
    [delivered] = sink.messages
    assert delivered.rcpt_tos == ["ada@example.com", "audit@example.com"]
    message = email.message_from_bytes(delivered.content, policy=email.policy.default)
    assert message["Subject"] == "Your invitation to Acme"
    assert message["From"] == "idflow alerts <idflow@example.com>"
    assert "Bcc" not in message
    assert (
        message.get_body(("plain",)).get_content().strip()
        == "Hello Ada, your invitation is waiting."
    )
    assert message.get_body(("html",)).get_content().strip() == "<p>Hello Ada</p>"
    # The trace counts recipients; it never names them.
    assert run.trace[0]["detail"] == {
        "connector": "mailer",
        "recipients": 2,
        "refused": 0,
    }


def test_wrong_smtp_credentials_fail_the_step_without_naming_them(
    mail: tuple[MailSink, int],
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    sink, port = mail
    add_connector(
        "mailer",
        "smtp",
        _smtp_settings(port, username="bot"),
        {"password": "wrong-pw-123"},
    )

    run = run_steps(
        [
            {
                "id": "send",
                "action": "email-connector",
                "with": {
                    "connector": "mailer",
                    "to": "a@example.com",
                    "subject": "s",
                    "text": "t",
                },
            },
            {"id": "done", "end": {"ok": True}},
        ]
    )

    assert run.error is not None
    assert run.error["code"] == "E123001"
    assert "refused the connector's credentials" in run.error["message"]
    assert "wrong-pw-123" not in str(run.error)
    assert sink.messages == []


def test_a_header_with_a_line_break_is_refused(
    mail: tuple[MailSink, int],
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    sink, port = mail
    add_connector("mailer", "smtp", _smtp_settings(port))

    run = run_steps(
        [
            {
                "id": "send",
                "action": "email-connector",
                "with": {
                    "connector": "mailer",
                    "to": "a@example.com",
                    "subject": "{{ client.subject }}",
                    "text": "t",
                },
            },
            {"id": "done", "end": {"ok": True}},
        ],
        {"subject": "Hi\r\nBcc: victim@example.com"},
    )

    assert run.error is not None
    assert run.error["code"] == "E123001"
    assert sink.messages == []


def test_slack_and_teams_steps_post_their_messages(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    http_server.script("/slack/T1/B2/XyZ", Reply(200, raw=b"ok"))
    http_server.script("/teams/hook", Reply(202))
    add_connector(
        "alerts",
        "slack",
        {"username": "idflow"},
        {"webhookUrl": f"{http_server.url}/slack/T1/B2/XyZ"},
    )
    add_connector("ops", "teams", {}, {"webhookUrl": f"{http_server.url}/teams/hook"})

    run = run_steps(
        [
            {
                "id": "slack",
                "action": "slack-connector",
                "with": {
                    "connector": "alerts",
                    "text": "User {{ client.userId }} was disabled",
                },
            },
            {
                "id": "teams",
                "action": "teams-connector",
                "with": {
                    "connector": "ops",
                    "title": "SCIM",
                    "text": "User {{ client.userId }} was disabled",
                },
            },
            {"id": "done", "end": {"ok": True}},
        ],
        {"userId": "U1"},
    )

    assert run.status is RunStatus.COMPLETED, run.error
    assert http_server.to("/slack/T1/B2/XyZ")[0].json() == {
        "text": "User U1 was disabled",
        "username": "idflow",
    }
    card = http_server.to("/teams/hook")[0].json()
    assert card["@type"] == "MessageCard"
    assert (card["title"], card["text"]) == ("SCIM", "User U1 was disabled")


def test_a_chat_connector_without_its_webhook_secret_fails_the_step(
    add_connector: Callable[..., Connector], run_steps: Steps
) -> None:
    add_connector("alerts", "slack", {})

    run = run_steps(
        [
            {
                "id": "slack",
                "action": "slack-connector",
                "with": {"connector": "alerts", "text": "hi"},
            },
            {"id": "done", "end": {"ok": True}},
        ]
    )

    assert run.error is not None
    assert "lacks the secret(s) webhookUrl" in run.error["message"]
