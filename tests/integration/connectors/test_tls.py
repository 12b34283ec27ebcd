"""TLS end to end: SMTP with STARTTLS and from the start, and HTTPS, on a private CA.

Every server holds a certificate for a name under `.idflow.test`, which the
`local_names` resolver routes to 127.0.0.1; the runtime allowlists loopback and
trusts the test's own authority, as `IDFLOW_CONNECTOR_CA_FILE` would make it.
"""

from __future__ import annotations

import email
import email.policy
import logging
import ssl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from idflow.errors import ConfigurationError
from idflow.runtime import Runtime
from idflow.settings import Settings
from idflow.store.database import Store
from idflow.store.records import Connector, Run, RunStatus
from tests.integration.connectors.certificates import Authority
from tests.integration.connectors.conftest import make_runtime
from tests.integration.connectors.servers import (
    MailSink,
    record_sni,
    recording_server,
    smtp_server,
)

Steps = Callable[..., Run]

# aiosmtpd itself touches its own deprecated attribute while logging in.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Session.login_data is deprecated:DeprecationWarning"
)

MAIL_HOST = "mail.idflow.test"
HOOKS_HOST = "hooks.idflow.test"
# Resolves to the same address as the two names above, but no certificate names it.
OTHER_HOST = "other.idflow.test"
PASSWORD = "smtp-s3cret-pw"
TOKEN = "bearer-s3cret-token"


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority(tmp_path, "idflow-test-ca")


@pytest.fixture
def stranger(tmp_path: Path) -> Authority:
    """An authority the runtime was never told to trust."""
    return Authority(tmp_path, "stranger-ca")


@pytest.fixture
def runtime(sqlite_file_store: Store, authority: Authority) -> Iterator[Runtime]:
    # Replaces conftest's runtime, so add_connector and run_steps use this one.
    runtime = make_runtime(sqlite_file_store, ca_file=authority.ca_file)
    yield runtime
    runtime.connectors.close()


def _mail_server(
    security: str, context: ssl.SSLContext
) -> AbstractContextManager[tuple[MailSink, int]]:
    if security == "starttls":
        return smtp_server(starttls=context)
    return smtp_server(tls=context)


def _send_mail(
    add_connector: Callable[..., Connector],
    run_steps: Steps,
    port: int,
    security: str,
) -> Run:
    add_connector(
        "mailer",
        "smtp",
        {
            "host": MAIL_HOST,
            "port": port,
            "security": security,
            "username": "bot",
            "fromAddress": "idflow@example.com",
        },
        {"password": PASSWORD},
    )
    return run_steps(
        [
            {
                "id": "send",
                "action": "email-connector",
                "with": {
                    "connector": "mailer",
                    "to": "ada@example.com",
                    "subject": "Sent over {{ client.security }}",
                    "text": "Hello Ada.",
                },
            },
            {"id": "done", "end": {"ok": True}},
        ],
        {"security": security},
    )


def _call(*connectors: str) -> list[dict[str, Any]]:
    """One HTTP step per connector, each to the path named after it."""
    steps: list[dict[str, Any]] = [
        {
            "id": f"call-{name}",
            "action": "http-connector",
            "context-key": name,
            "with": {"connector": name, "path": f"/{name}"},
        }
        for name in connectors
    ]
    last = "{{ " + connectors[-1] + ".status }}"
    return [*steps, {"id": "done", "end": {"status": last}}]


def _add_hooks(
    add_connector: Callable[..., Connector], port: int, *, bearer: bool = False
) -> None:
    """The `hooks` HTTP connector, to HOOKS_HOST on the test server's port."""
    settings: dict[str, Any] = {"baseUrl": f"https://{HOOKS_HOST}:{port}"}
    if bearer:
        settings["auth"] = {"type": "bearer"}
    add_connector("hooks", "http", settings, {"token": TOKEN} if bearer else None)


def _failure(run: Run) -> str:
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["code"] == "E123001"
    message: str = run.error["message"]
    return message


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_email_step_delivers_over_tls_to_a_server_the_operators_ca_vouches_for(
    security: str,
    authority: Authority,
    local_names: list[str],
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    context = authority.issue(MAIL_HOST).server_context()
    server_names = record_sni(context)

    with _mail_server(security, context) as (sink, port):
        run = _send_mail(add_connector, run_steps, port, security)

    assert run.status is RunStatus.COMPLETED, run.error
    assert sink.logins == ["bot"]
    [delivered] = sink.messages
    assert delivered.rcpt_tos == ["ada@example.com"]
    message = email.message_from_bytes(delivered.content, policy=email.policy.default)
    assert message["Subject"] == f"Sent over {security}"
    # The certificate was asked for by name, and the name looked up once, by the guard.
    assert server_names == [MAIL_HOST]
    assert local_names == [MAIL_HOST]


@pytest.mark.parametrize("security", ["starttls", "tls"])
@pytest.mark.parametrize(
    ("issuer", "name", "reason"),
    [
        ("stranger", MAIL_HOST, "unable to get local issuer certificate"),
        ("authority", OTHER_HOST, f"not valid for '{MAIL_HOST}'"),
    ],
    ids=["untrusted-ca", "another-name"],
)
def test_a_mail_server_certificate_that_fails_verification_fails_the_step(
    security: str,
    issuer: str,
    name: str,
    reason: str,
    request: pytest.FixtureRequest,
    local_names: list[str],
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    authority: Authority = request.getfixturevalue(issuer)
    context = authority.issue(name).server_context()

    with _mail_server(security, context) as (sink, port):
        run = _send_mail(add_connector, run_steps, port, security)

    message = _failure(run)
    assert message.startswith(
        f"The mail server {MAIL_HOST} presented a certificate that failed verification:"
    )
    assert reason in message
    assert PASSWORD not in str(run.error) + str(run.trace)
    assert sink.logins == []
    assert sink.messages == []


def test_an_https_step_checks_the_name_while_connecting_to_the_checked_address(
    authority: Authority,
    local_names: list[str],
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    context = authority.issue(HOOKS_HOST).server_context()
    server_names = record_sni(context)

    with recording_server(tls=context) as server:
        _add_hooks(add_connector, server.port, bearer=True)
        run = run_steps(_call("hooks"))

    assert run.status is RunStatus.COMPLETED, run.error
    assert run.outputs == {"status": "200"}
    [request] = server.to("/hooks")
    assert request.headers["host"] == f"{HOOKS_HOST}:{server.port}"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert server_names == [HOOKS_HOST]
    # Had the client resolved the name itself, it would show here a second time.
    assert local_names == [HOOKS_HOST]


def test_an_https_certificate_from_an_untrusted_ca_fails_the_step_at_once(
    stranger: Authority,
    local_names: list[str],
    add_connector: Callable[..., Connector],
    run_steps: Steps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="idflow.connectors.transport")
    context = stranger.issue(HOOKS_HOST).server_context()

    with recording_server(tls=context) as server:
        _add_hooks(add_connector, server.port, bearer=True)
        run = run_steps(_call("hooks"))

    message = _failure(run)
    assert message.startswith(
        f"{HOOKS_HOST} presented a certificate that failed verification:"
    )
    assert "unable to get local issuer certificate" in message
    assert TOKEN not in str(run.error) + str(run.trace)
    assert server.requests == []
    # A certificate does not change between attempts, so none is retried.
    assert not [
        r
        for r in caplog.records
        if getattr(r, "event_name", "") == "connector_call_retried"
    ]


def test_an_https_certificate_for_another_name_fails_the_step(
    authority: Authority,
    local_names: list[str],
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    context = authority.issue(OTHER_HOST).server_context()

    with recording_server(tls=context) as server:
        _add_hooks(add_connector, server.port)
        run = run_steps(_call("hooks"))

    message = _failure(run)
    assert f"not valid for '{HOOKS_HOST}'" in message
    assert server.requests == []


def test_a_kept_alive_https_connection_never_serves_another_name_on_its_address(
    authority: Authority,
    local_names: list[str],
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    context = authority.issue(HOOKS_HOST).server_context()

    with recording_server(tls=context) as server:
        _add_hooks(add_connector, server.port)
        add_connector(
            "other", "http", {"baseUrl": f"https://{OTHER_HOST}:{server.port}"}
        )
        run = run_steps(_call("hooks", "other"))

    # Both names lead to one address and port; only the first has a certificate.
    message = _failure(run)
    assert f"not valid for '{OTHER_HOST}'" in message
    assert [r.path for r in server.requests] == ["/hooks"]


def test_calls_to_one_host_share_a_kept_alive_connection(
    authority: Authority,
    local_names: list[str],
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    context = authority.issue(HOOKS_HOST).server_context()
    server_names = record_sni(context)

    with recording_server(tls=context) as server:
        _add_hooks(add_connector, server.port)
        first = run_steps(_call("hooks"))
        second = run_steps(_call("hooks"))

    assert first.status is RunStatus.COMPLETED, first.error
    assert second.status is RunStatus.COMPLETED, second.error
    assert [r.path for r in server.requests] == ["/hooks", "/hooks"]
    # One TLS handshake: the second call went over the first call's connection.
    assert server_names == [HOOKS_HOST]


def test_the_ca_file_setting_is_read_with_the_other_settings(
    authority: Authority,
) -> None:
    settings = Settings.from_env({"IDFLOW_CONNECTOR_CA_FILE": str(authority.ca_file)})

    assert settings.connectors.ca_file == authority.ca_file


@pytest.mark.parametrize("content", [None, b"", b"not a certificate\n"])
def test_an_unusable_ca_file_is_refused_at_start(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(ConfigurationError, match="IDFLOW_CONNECTOR_CA_FILE is '"):
        Settings.from_env({"IDFLOW_CONNECTOR_CA_FILE": str(path)})
