"""The HTTP connector: a base URL, headers and auth set once; each step sends one request.

A step gives `method`, `path` (appended to the base URL as text, so it can never
change the host), `query`, `headers` and a JSON `body`. The answer's status,
headers and body (JSON when it says so, else text) go into the context; a
status of 400 or above fails the step once retries are spent.

Receivers verify a request by the `signature` header: `sha256=` and the hex
HMAC-SHA256 of the exact body bytes (empty for a request without body) under
the `signingSecret`. The idempotency header carries one value for every retry
of one step of one run, so a receiver can drop the repeats.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from idflow.connectors.auth import AuthSettings, auth_headers
from idflow.connectors.base import (
    CallResult,
    ConnectorKind,
    Outbound,
    ResolvedConnector,
    text_field,
)
from idflow.connectors.transport import HttpAnswer, HttpRequest, RetryPolicy
from idflow.errors import ConnectorError

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
SIGNATURE_SECRET = "signingSecret"


class SignatureSettings(BaseModel):
    """Where the body signature goes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    header: str = "X-Idflow-Signature"


class HttpSettings(BaseModel):
    """The settings of an HTTP connector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baseUrl: str
    headers: dict[str, str] = Field(default_factory=dict)
    auth: AuthSettings | None = None
    signature: SignatureSettings | None = None
    idempotencyHeader: str | None = "Idempotency-Key"
    timeoutSeconds: float = Field(default=10.0, gt=0)
    maxAttempts: int = Field(default=3, ge=1, le=10)

    @field_validator("baseUrl")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_url(value)


def check_url(value: str) -> str:
    """Accept an absolute http or https URL with a host and no credentials."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("expected an absolute http:// or https:// URL")
    if url.userinfo:
        raise ValueError("credentials belong in secrets, not in the URL")
    return value


def call(
    connector: ResolvedConnector, request: Mapping[str, Any], io: Outbound
) -> CallResult:
    """Send the step's request; fail on a status of 400 or above.

    Raises:
        ConnectorError: the request could not be made, or was answered >= 400.
    """
    answer = _send(connector, request, io)
    if answer.status >= 400:
        raise ConnectorError(
            f"Connector {connector.name!r} was answered {answer.status} after {answer.attempts} attempt(s)."
        )
    return _result(connector, answer)


def probe(
    connector: ResolvedConnector, request: Mapping[str, Any], io: Outbound
) -> CallResult:
    """Send a request (a GET of the base URL unless told otherwise) and report it."""
    return _result(connector, _send(connector, request, io))


def _send(
    connector: ResolvedConnector, request: Mapping[str, Any], io: Outbound
) -> HttpAnswer:
    settings = connector.settings
    assert isinstance(settings, HttpSettings)
    body = request.get("body")
    method = (
        text_field(request, "method") or ("POST" if body is not None else "GET")
    ).upper()
    if method not in METHODS:
        raise ConnectorError(
            f"Method {method!r} is not allowed: expected one of {', '.join(sorted(METHODS))}."
        )
    content = None if body is None else orjson.dumps(body)

    headers: dict[str, str] = {"Accept": "application/json", **settings.headers}
    headers.update(_text_map(request.get("headers"), "headers"))
    if content is not None:
        headers["Content-Type"] = "application/json"
    private = set(_credential_headers(settings))
    headers.update(
        auth_headers(
            settings.auth,
            connector.secrets,
            sender=io.sender,
            cache=io.tokens,
            cache_key=connector.cache_key,
            timeout=io.timeout,
        )
    )
    if settings.signature is not None:
        headers[settings.signature.header] = sign(
            connector.secrets.get(SIGNATURE_SECRET, ""), content or b""
        )
    if settings.idempotencyHeader and io.idempotency_key:
        headers[settings.idempotencyHeader] = io.idempotency_key

    answer = io.sender.send(
        HttpRequest(
            method, _url(settings, request), headers, content, frozenset(private)
        ),
        timeout=io.timeout,
        retry=RetryPolicy(max_attempts=settings.maxAttempts),
    )
    if answer.status == 401 and settings.auth and settings.auth.type == "oauth2":
        # The token may have been revoked early; the next call fetches a new one.
        io.tokens.drop(connector.cache_key)

    return answer


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for a body.

    Raises:
        ConnectorError: when the connector has no signing secret.
    """
    if not secret:
        raise ConnectorError(
            f"The connector signs its requests but has no {SIGNATURE_SECRET!r} secret."
        )
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _credential_headers(settings: HttpSettings) -> list[str]:
    names = []
    if settings.auth is not None and settings.auth.type == "apiKey":
        names.append(settings.auth.header.lower())
    if settings.signature is not None:
        names.append(settings.signature.header.lower())
    return names


def _url(settings: HttpSettings, request: Mapping[str, Any]) -> str:
    path = text_field(request, "path")
    if path and not path.startswith(("/", "?")):
        raise ConnectorError(
            f"The step's path {path!r} must start with '/' or '?': it is appended to the base URL."
        )
    url = httpx.URL(settings.baseUrl.rstrip("/") + path if path else settings.baseUrl)
    query = _text_map(request.get("query"), "query")

    return str(url.copy_merge_params(query) if query else url)


def _text_map(value: Any, name: str) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, Mapping):
        raise ConnectorError(f"The step's {name!r} is not an object.")
    return {str(key): _text(item) for key, item in value.items() if item is not None}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return (
        orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value)
    )


def _result(connector: ResolvedConnector, answer: HttpAnswer) -> CallResult:
    value = {
        "status": answer.status,
        "headers": dict(answer.headers),
        "body": decode_body(answer),
    }
    detail = {
        "connector": connector.name,
        "status": answer.status,
        "attempts": answer.attempts,
    }
    return CallResult(value, detail)


def decode_body(answer: HttpAnswer) -> Any:
    """The answer's body: parsed JSON when it is JSON, else text (None when empty)."""
    if not answer.body:
        return None
    if "json" in answer.headers.get("content-type", ""):
        try:
            return orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            pass
    return answer.body.decode("utf-8", errors="replace")


KIND = ConnectorKind(
    name="http",
    settings_model=HttpSettings,
    secret_names=frozenset(
        {"token", "apiKey", "password", "clientSecret", SIGNATURE_SECRET}
    ),
    call=call,
    probe=probe,
)
