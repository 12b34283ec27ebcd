"""Guarded HTTP sending for every connector that speaks HTTP: HTTP, Slack, Teams.

Each hop of a request (the first and every redirect) is resolved and checked by
`connectors.outbound`, then sent to the checked address with the original host
kept in `Host` and in TLS (SNI and certificate check). Bodies are read in chunks
up to a size cap and against one deadline for the whole call, retries included.
Connection failures, 429 and 5xx are retried with exponential backoff (429 and
503 wait for `Retry-After` when it fits before the deadline); other statuses,
and timeouts once a request is sent, are answered as they are.
"""

from __future__ import annotations

import email.utils
import logging
import random
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from idflow.connectors.outbound import OutboundPolicy, resolve
from idflow.errors import ConnectorError, ConnectorTimedOut

logger = logging.getLogger(__name__)
# httpx logs each request's full URL at INFO, and a webhook URL is a secret (its
# path is the credential); idflow logs its own calls without URLs instead.
logging.getLogger("httpx").setLevel(logging.WARNING)

MAX_REDIRECTS = 5
# Host names with a pool of kept-alive connections; the least recently used
# beyond these closes, since URL templates can name hosts without end.
MAX_HOST_CLIENTS = 64
_REDIRECTS = {301, 302, 303, 307, 308}
# Headers that carry credentials; they never follow a redirect to another origin.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a call is retried.

    Attributes:
        max_attempts: attempts in all, the first included.
        initial_backoff_seconds: the wait before the second attempt; each later
            wait doubles, up to `max_backoff_seconds`.
    """

    max_attempts: int = 3
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 5.0

    def backoff(self, attempt: int) -> float:
        """The wait after a failed attempt (1-based), with jitter."""
        base = self.initial_backoff_seconds * 2.0 ** (attempt - 1)
        return min(base, self.max_backoff_seconds) * random.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request to send; `private_headers` are dropped on a cross-origin redirect."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    private_headers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What came back, after redirects and retries."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int
    url: str


class _Retryable(ConnectorError):
    """A connection failure worth another attempt."""


class HttpSender:
    """One HTTP client behind the outbound guard; safe to share across threads.

    Args:
        policy: the outbound guard's allowlist.
        max_response_bytes: the largest answer body read.
        ca_file: CA certificates trusted besides httpx's default roots
            (certifi's), for servers behind an internal CA.
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        max_response_bytes: int,
        ca_file: Path | None = None,
    ) -> None:
        self._policy = policy
        self._max_bytes = max_response_bytes
        self._tls = httpx.create_ssl_context(trust_env=False)
        if ca_file is not None:
            self._tls.load_verify_locations(cafile=ca_file)
        # A pool keys its connections by address and port, not by the TLS
        # server name they were verified for: one shared pool would carry a
        # request for another name on the same address over a connection
        # verified for the first. So each host name has a client, and a pool,
        # of its own, and its connections are kept alive for that name only.
        self._clients: OrderedDict[str, httpx.Client] = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close every host's pooled connections."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            client.close()

    def _client_for(self, host: str) -> httpx.Client:
        with self._lock:
            client = self._clients.get(host)
            if client is not None:
                self._clients.move_to_end(host)
                return client
            client = httpx.Client(
                follow_redirects=False, trust_env=False, verify=self._tls
            )
            self._clients[host] = client
            evicted = (
                self._clients.popitem(last=False)[1]
                if len(self._clients) > MAX_HOST_CLIENTS
                else None
            )
        if evicted is not None:
            # TODO(limitation): a call still using the evicted client when it
            # closes fails as a transport error, unretried; only a 65th host
            # name in quick succession gets here.
            evicted.close()
        return client

    def send(
        self, request: HttpRequest, *, timeout: float, retry: RetryPolicy
    ) -> HttpAnswer:
        """Send a request, retrying what may be retried, within one deadline.

        Args:
            request: the request; its body is sent as given on every attempt.
            timeout: seconds the whole call may take, retries and waits included.
            retry: the retry policy.

        Returns:
            The last answer, whatever its status.

        Raises:
            OutboundRefused: a hop's address is not permitted.
            ConnectorTimedOut: the deadline passed.
            ConnectorError: the host could not be reached on the last attempt.
        """
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                status, headers, body, url = self._follow(request, deadline)
            except _Retryable as exc:
                wait = retry.backoff(attempt)
                if not self._may_retry(attempt, retry, deadline, wait):
                    raise ConnectorError(exc.message) from exc
                self._wait(request, attempt, wait, exc.message)
                continue

            if status == 429 or status >= 500:
                wait = _retry_after(headers) or retry.backoff(attempt)
                if self._may_retry(attempt, retry, deadline, wait):
                    self._wait(request, attempt, wait, f"status {status}")
                    continue
            return HttpAnswer(status, headers, body, attempt, url)

    @staticmethod
    def _may_retry(
        attempt: int, retry: RetryPolicy, deadline: float, wait: float
    ) -> bool:
        return attempt < retry.max_attempts and time.monotonic() + wait < deadline

    @staticmethod
    def _wait(request: HttpRequest, attempt: int, wait: float, cause: str) -> None:
        logger.info(
            "%s to %s failed on attempt %d (%s); retrying in %.2fs",
            request.method,
            httpx.URL(request.url).host,
            attempt,
            cause,
            wait,
            extra={"event_name": "connector_call_retried"},
        )
        time.sleep(wait)

    def _follow(
        self, request: HttpRequest, deadline: float
    ) -> tuple[int, dict[str, str], bytes, str]:
        url = httpx.URL(request.url)
        method, body = request.method, request.body
        headers = dict(request.headers)
        for _ in range(MAX_REDIRECTS + 1):
            status, answer_headers, answer_body = self._hop(
                method, url, headers, body, deadline
            )
            location = answer_headers.get("location")
            if status not in _REDIRECTS or not location:
                return status, answer_headers, answer_body, str(url)

            target = url.join(location)
            if target.scheme not in ("http", "https"):
                raise ConnectorError(
                    f"A redirect leads to a {target.scheme!r} URL: only http and https are followed."
                )
            if (target.scheme, target.host, target.port) != (
                url.scheme,
                url.host,
                url.port,
            ):
                dropped = CREDENTIAL_HEADERS | request.private_headers
                headers = {k: v for k, v in headers.items() if k.lower() not in dropped}
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body = "GET", None
                headers = {
                    k: v for k, v in headers.items() if k.lower() != "content-type"
                }
            url = target
        raise ConnectorError(f"More than {MAX_REDIRECTS} redirects: gave up.")

    def _hop(
        self,
        method: str,
        url: httpx.URL,
        headers: Mapping[str, str],
        body: bytes | None,
        deadline: float,
    ) -> tuple[int, dict[str, str], bytes]:
        if url.scheme not in ("http", "https") or not url.host:
            raise ConnectorError(
                f"URL scheme {url.scheme!r} is not allowed: expected http or https."
            )
        port = url.port or (443 if url.scheme == "https" else 80)
        address = resolve(self._policy, url.host, port)[0]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConnectorTimedOut(f"The call to {url.host} ran out of time.")

        host_header = url.netloc.decode("ascii")
        request = httpx.Request(
            method,
            url.copy_with(host=address),
            headers={**headers, "Host": host_header},
            content=body,
            extensions={
                "timeout": httpx.Timeout(remaining).as_dict(),
                # Certificates are checked against the name, not the address.
                "sni_hostname": url.host,
            },
        )
        try:
            response = self._client_for(url.host).send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            problem = _certificate_problem(exc)
            if problem is not None:
                # The same certificate comes back on every attempt: not retried.
                raise ConnectorError(
                    f"{url.host} presented a certificate that failed verification: {problem}."
                ) from exc
            raise _Retryable(f"Could not connect to {url.host}: {exc}.") from exc
        except httpx.TimeoutException as exc:
            raise ConnectorTimedOut(
                f"{url.host} did not answer in time ({exc})."
            ) from exc
        except httpx.RemoteProtocolError as exc:
            # Most often a kept-alive connection the server had just closed:
            # a connection error like any other, and the idempotency key lets
            # the receiver tell the retry from a new call.
            raise _Retryable(f"{url.host} dropped the connection: {exc}.") from exc
        except httpx.TransportError as exc:
            raise ConnectorError(f"The call to {url.host} failed: {exc}.") from exc

        try:
            content = self._read(response, url, deadline)
        finally:
            response.close()
        answer_headers = {k.lower(): v for k, v in response.headers.items()}

        return response.status_code, answer_headers, content

    def _read(self, response: httpx.Response, url: httpx.URL, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self._max_bytes:
                    raise ConnectorError(
                        f"The answer from {url.host} is larger than {self._max_bytes} bytes."
                    )
                if time.monotonic() > deadline:
                    raise ConnectorTimedOut(
                        f"{url.host} did not finish its answer in time."
                    )
                chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise ConnectorTimedOut(
                f"{url.host} did not finish its answer in time."
            ) from exc
        except httpx.TransportError as exc:
            raise ConnectorError(
                f"The answer from {url.host} broke off: {exc}."
            ) from exc
        return b"".join(chunks)


def _certificate_problem(exc: BaseException) -> str | None:
    """Why verification failed, when httpx's error wraps a certificate error."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (cause.verify_message or cause.reason or "unknown").rstrip(".")
        cause = cause.__cause__ or cause.__context__
    return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `Retry-After`: whole seconds or an HTTP date."""
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
