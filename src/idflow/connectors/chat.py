"""Chat connectors: Slack and Microsoft Teams incoming webhooks, one message per step.

The webhook URL is the credential (whoever holds it can post), so it is kept as
the secret `webhookUrl` and never shown. Slack takes `{"text": ...}`; Teams takes
a MessageCard with an optional title, which both the classic Office 365
connectors and Workflows webhooks accept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from idflow.connectors.base import (
    CallFn,
    CallResult,
    ConnectorKind,
    Outbound,
    ResolvedConnector,
    text_field,
)
from idflow.connectors.http import check_url
from idflow.connectors.transport import HttpAnswer, HttpRequest, RetryPolicy
from idflow.errors import ConnectorError

WEBHOOK_SECRET = "webhookUrl"
TEST_MESSAGE = "idflow connector test: this webhook works."


class ChatSettings(BaseModel):
    """The settings of a Slack or Teams connector; the URL is a secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeoutSeconds: float = Field(default=10.0, gt=0)
    maxAttempts: int = Field(default=3, ge=1, le=10)
    username: str | None = None


_PayloadFn = Callable[[ChatSettings, Mapping[str, Any]], Any]


def _slack_payload(settings: ChatSettings, request: Mapping[str, Any]) -> Any:
    payload: dict[str, Any] = {"text": text_field(request, "text", required=True)}
    if settings.username:
        payload["username"] = settings.username
    return payload


def _teams_payload(settings: ChatSettings, request: Mapping[str, Any]) -> Any:
    text = text_field(request, "text", required=True)
    title = text_field(request, "title")
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": title or text[:80],
        "text": text,
    }
    if title:
        card["title"] = title
    return card


def _post(
    connector: ResolvedConnector, payload: Any, io: Outbound
) -> tuple[HttpAnswer, CallResult]:
    settings = connector.settings
    assert isinstance(settings, ChatSettings)
    url = connector.secrets.get(WEBHOOK_SECRET, "")
    try:
        check_url(url)
    except ValueError:
        raise ConnectorError(
            f"Connector {connector.name!r} has no usable {WEBHOOK_SECRET!r} secret."
        ) from None
    answer = io.sender.send(
        HttpRequest(
            "POST",
            url,
            {"Content-Type": "application/json"},
            orjson.dumps(payload),
        ),
        timeout=io.timeout,
        retry=RetryPolicy(max_attempts=settings.maxAttempts),
    )
    detail = {
        "connector": connector.name,
        "status": answer.status,
        "attempts": answer.attempts,
    }
    return answer, CallResult({"status": answer.status}, detail)


def _caller(build: _PayloadFn) -> tuple[CallFn, CallFn]:
    def call(
        connector: ResolvedConnector, request: Mapping[str, Any], io: Outbound
    ) -> CallResult:
        settings = connector.settings
        assert isinstance(settings, ChatSettings)
        answer, result = _post(connector, build(settings, request), io)
        if answer.status >= 400:
            raise ConnectorError(
                f"The {connector.type} webhook of {connector.name!r} answered {answer.status}."
            )
        return result

    def probe(
        connector: ResolvedConnector, request: Mapping[str, Any], io: Outbound
    ) -> CallResult:
        settings = connector.settings
        assert isinstance(settings, ChatSettings)
        message = {"text": TEST_MESSAGE, **request}
        return _post(connector, build(settings, message), io)[1]

    return call, probe


_slack_call, _slack_probe = _caller(_slack_payload)
_teams_call, _teams_probe = _caller(_teams_payload)

SLACK = ConnectorKind(
    name="slack",
    settings_model=ChatSettings,
    secret_names=frozenset({WEBHOOK_SECRET}),
    call=_slack_call,
    probe=_slack_probe,
    required_secrets=frozenset({WEBHOOK_SECRET}),
)
TEAMS = ConnectorKind(
    name="teams",
    settings_model=ChatSettings,
    secret_names=frozenset({WEBHOOK_SECRET}),
    call=_teams_call,
    probe=_teams_probe,
    required_secrets=frozenset({WEBHOOK_SECRET}),
)
