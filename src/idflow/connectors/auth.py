"""Authentication for HTTP connectors: bearer, API key, basic, OAuth 2.0 client credentials.

OAuth tokens are fetched with the client credentials grant (RFC 6749 §4.4),
sending the client id and secret by HTTP Basic as §2.3.1 asks servers to accept,
or in the form body when the connector says so. A token is cached per connector
version until shortly before its `expires_in` runs out, so a burst of runs costs
one token request; a 401 from the API drops the cached token.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict

from idflow.connectors.transport import HttpRequest, HttpSender, RetryPolicy
from idflow.errors import ConnectorError

# A token this close to its expiry is fetched anew, so it cannot expire in flight.
EXPIRY_MARGIN_SECONDS = 30.0
# Used when the token endpoint gives no `expires_in`.
DEFAULT_TOKEN_SECONDS = 300.0


class AuthSettings(BaseModel):
    """The `auth` part of an HTTP connector's settings.

    Secrets by type: bearer `token`; apiKey `apiKey`; basic `password`; oauth2
    `clientSecret`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["bearer", "apiKey", "basic", "oauth2"]
    header: str = "X-API-Key"
    username: str | None = None
    tokenUrl: str | None = None
    clientId: str | None = None
    scope: str | None = None
    audience: str | None = None
    clientAuth: Literal["basic", "body"] = "basic"


SECRET_FOR_TYPE = {
    "bearer": "token",
    "apiKey": "apiKey",
    "basic": "password",
    "oauth2": "clientSecret",
}


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """OAuth access tokens by connector version; shared by every run of a process."""

    def __init__(self) -> None:
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def get(self, key: str) -> str | None:
        """Return a cached token that is still good, or None."""
        with self._lock:
            token = self._tokens.get(key)
        if (
            token is None
            or token.expires_at - EXPIRY_MARGIN_SECONDS <= time.monotonic()
        ):
            return None
        return token.value

    def put(self, key: str, value: str, lifetime_seconds: float) -> None:
        """Keep a token for its lifetime."""
        with self._lock:
            self._tokens[key] = _Token(value, time.monotonic() + lifetime_seconds)
            self.fetches += 1

    def drop(self, key: str) -> None:
        """Forget a token the API refused."""
        with self._lock:
            self._tokens.pop(key, None)


def auth_headers(
    auth: AuthSettings | None,
    secrets: Mapping[str, str],
    *,
    sender: HttpSender,
    cache: TokenCache,
    cache_key: str,
    timeout: float,
) -> dict[str, str]:
    """Return the headers that authenticate a request.

    Raises:
        ConnectorError: a secret is missing or the token endpoint refused.
    """
    if auth is None:
        return {}
    secret = secrets.get(SECRET_FOR_TYPE[auth.type])
    if not secret:
        raise ConnectorError(
            f"The connector's {auth.type} authentication needs the secret {SECRET_FOR_TYPE[auth.type]!r}, which is not set."
        )
    if auth.type == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    if auth.type == "apiKey":
        return {auth.header: secret}
    if auth.type == "basic":
        return {"Authorization": _basic(auth.username or "", secret)}

    token = cache.get(cache_key)
    if token is None:
        token, lifetime = _fetch_token(auth, secret, sender, timeout)
        cache.put(cache_key, token, lifetime)
    return {"Authorization": f"Bearer {token}"}


def _basic(username: str, password: str) -> str:
    pair = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _fetch_token(
    auth: AuthSettings, secret: str, sender: HttpSender, timeout: float
) -> tuple[str, float]:
    if not auth.tokenUrl or not auth.clientId:
        raise ConnectorError(
            "OAuth 2.0 authentication needs 'tokenUrl' and 'clientId' in the connector's auth settings."
        )
    form = {"grant_type": "client_credentials"}
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    if auth.clientAuth == "basic":
        # §2.3.1: both parts are form-encoded before they are joined.
        headers["Authorization"] = _basic(
            urllib.parse.quote_plus(auth.clientId), urllib.parse.quote_plus(secret)
        )
    else:
        form |= {"client_id": auth.clientId, "client_secret": secret}
    if auth.scope:
        form["scope"] = auth.scope
    if auth.audience:
        form["audience"] = auth.audience

    answer = sender.send(
        HttpRequest(
            "POST",
            auth.tokenUrl,
            headers,
            urllib.parse.urlencode(form).encode(),
            frozenset({"authorization"}),
        ),
        timeout=timeout,
        retry=RetryPolicy(),
    )
    try:
        body = orjson.loads(answer.body) if answer.status == 200 else None
    except orjson.JSONDecodeError:
        body = None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ConnectorError(
            f"The OAuth token endpoint answered {answer.status} without an access token."
        )
    lifetime = body.get("expires_in") if isinstance(body, dict) else None
    seconds = (
        float(lifetime) if isinstance(lifetime, int | float) else DEFAULT_TOKEN_SECONDS
    )

    return token, seconds
