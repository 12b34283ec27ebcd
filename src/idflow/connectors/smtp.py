"""The email connector: one message per step over SMTP, with STARTTLS or TLS and auth.

smtplib blocks, so this module must only ever run on a worker thread: runs
execute on the store's threads and background calls on the connector threads,
never on the event loop. The connection goes to an address the outbound guard
checked, while the server name stays the one TLS verifies.
"""

from __future__ import annotations

import email.policy
import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from idflow.connectors.base import (
    CallResult,
    ConnectorKind,
    Outbound,
    ResolvedConnector,
    text_field,
    text_list,
)
from idflow.connectors.outbound import OutboundPolicy, connect_checked
from idflow.errors import ConnectorError, ConnectorTimedOut

PASSWORD_SECRET = "password"


class SmtpSettings(BaseModel):
    """The settings of an email connector.

    Attributes:
        security: `starttls` upgrades a plain connection (port 587), `tls` starts
            encrypted (port 465), `none` sends in the clear, for local relays only.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    fromAddress: str = Field(min_length=3)
    fromName: str | None = None
    timeoutSeconds: float = Field(default=10.0, gt=0)


class _GuardedSMTP(smtplib.SMTP):
    """smtplib's client, connecting only to an address the outbound guard allows."""

    def __init__(self, policy: OutboundPolicy, timeout: float) -> None:
        self._policy = policy
        super().__init__(timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # starttls() sends `_host` as the TLS server name, but only the
        # constructor sets it, and ours is given no host: without this line
        # STARTTLS fails before the handshake ("check_hostname requires
        # server_hostname"). The name is kept; only the address is ours.
        self._host = host
        return connect_checked(self._policy, host, port, timeout)


class _GuardedSMTPSSL(smtplib.SMTP_SSL):
    """The TLS-from-the-start flavour of `_GuardedSMTP`."""

    def __init__(
        self, policy: OutboundPolicy, timeout: float, context: ssl.SSLContext
    ) -> None:
        self._policy = policy
        super().__init__(timeout=timeout, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        plain = connect_checked(self._policy, host, port, timeout)
        return self.context.wrap_socket(plain, server_hostname=host)


def build_message(
    settings: SmtpSettings, request: Mapping[str, Any]
) -> tuple[EmailMessage, list[str]]:
    """Build the message a step asks for, and the list of every recipient.

    Raises:
        ConnectorError: no recipient, no subject, no body, or a header holding
            a line break.
    """
    to, cc, bcc = (text_list(request, name) for name in ("to", "cc", "bcc"))
    if not to:
        raise ConnectorError("The email step has no recipient in 'to'.")
    text = text_field(request, "text")
    html = text_field(request, "html")
    if not text and not html:
        raise ConnectorError("The email step needs a 'text' or an 'html' body.")

    message = EmailMessage(policy=email.policy.SMTP)
    try:
        sender = settings.fromAddress
        message["From"] = (
            f"{settings.fromName} <{sender}>" if settings.fromName else sender
        )
        message["To"] = ", ".join(to)
        if cc:
            message["Cc"] = ", ".join(cc)
        reply_to = text_field(request, "replyTo")
        if reply_to:
            message["Reply-To"] = reply_to
        message["Subject"] = text_field(request, "subject", required=True)
    except ValueError as exc:
        raise ConnectorError(f"The email has a malformed header: {exc}.") from None
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    if text:
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")

    return message, [*to, *cc, *bcc]


def _send(
    connector: ResolvedConnector, request: Mapping[str, Any] | None, io: Outbound
) -> CallResult:
    settings = connector.settings
    assert isinstance(settings, SmtpSettings)
    policy = io.settings.outbound
    context = ssl.create_default_context()
    if io.settings.ca_file is not None:
        context.load_verify_locations(cafile=io.settings.ca_file)
    try:
        client: smtplib.SMTP = (
            _GuardedSMTPSSL(policy, io.timeout, context)
            if settings.security == "tls"
            else _GuardedSMTP(policy, io.timeout)
        )
        with client:
            client.connect(settings.host, settings.port)
            client.ehlo()
            if settings.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if settings.username:
                client.login(
                    settings.username, connector.secrets.get(PASSWORD_SECRET, "")
                )
            if request is None:
                client.noop()
                return CallResult({"connected": True}, {"connector": connector.name})
            message, recipients = build_message(settings, request)
            refused = client.send_message(message, to_addrs=recipients)
    except TimeoutError as exc:
        raise ConnectorTimedOut(
            f"The mail server {settings.host} did not answer in time."
        ) from exc
    except ssl.SSLCertVerificationError as exc:
        reason = (exc.verify_message or exc.reason or "unknown").rstrip(".")
        raise ConnectorError(
            f"The mail server {settings.host} presented a certificate that failed verification: {reason}."
        ) from exc
    except smtplib.SMTPException as exc:
        raise ConnectorError(_describe(settings.host, exc)) from exc
    except OSError as exc:
        raise ConnectorError(
            f"Could not talk to the mail server {settings.host}: {exc.strerror or exc}."
        ) from exc

    accepted = [r for r in recipients if r not in refused]
    value = {"accepted": accepted, "messageId": message["Message-ID"]}
    # Addresses are personal data: the trace gets counts only.
    detail = {
        "connector": connector.name,
        "recipients": len(recipients),
        "refused": len(refused),
    }
    return CallResult(value, detail)


def _describe(host: str, exc: smtplib.SMTPException) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"The mail server {host} refused the connector's credentials ({exc.smtp_code})."
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"The mail server {host} refused every recipient."
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"The mail server {host} answered {exc.smtp_code}."
    return f"The mail server {host} failed: {type(exc).__name__}."


def call(
    connector: ResolvedConnector, request: Mapping[str, Any], io: Outbound
) -> CallResult:
    """Send the step's message.

    Raises:
        ConnectorError: the server could not be reached or refused the message.
        ConnectorTimedOut: the server did not answer in time.
    """
    return _send(connector, request, io)


def probe(
    connector: ResolvedConnector, request: Mapping[str, Any], io: Outbound
) -> CallResult:
    """Connect, log in and say NOOP; send a message only when the test names `to`."""
    return _send(connector, request if request.get("to") else None, io)


KIND = ConnectorKind(
    name="smtp",
    settings_model=SmtpSettings,
    secret_names=frozenset({PASSWORD_SECRET}),
    call=call,
    probe=probe,
)
