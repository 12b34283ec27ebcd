"""Local servers for connector tests: an HTTP server that records and scripts, an SMTP sink.

Either may speak TLS when given a server context (see `certificates.py`); `record_sni`
then shows which server name each client asked for.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    raw: bytes | None = None
    # Close the connection without answering, as a server dropping a
    # kept-alive connection does.
    drop: bool = False


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class RecordingServer:
    """A threaded HTTP server on 127.0.0.1 that records requests and plays scripts.

    `script(path, *replies)` queues answers for a path; once a queue runs dry
    its last reply repeats. Unscripted paths answer 200 `{"ok": true}`.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Recorded] = []
        # Called with each request, on the server's thread, before it is answered.
        self.on_request: Callable[[Recorded], None] | None = None
        self.errors: list[BaseException] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        if tls is not None:
            # The handshake happens on accept; one a client aborts (say, over an
            # untrusted certificate) is dropped by socketserver as an OSError.
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[path] = list(replies)

    def to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] == path]

    def next_reply(self, path: str) -> Reply:
        with self._lock:
            queue = self._scripts.get(path.split("?", maxsplit=1)[0])
            if not queue:
                return Reply(body={"ok": True})
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)
        if self.on_request is not None:
            try:
                self.on_request(request)
            except BaseException as exc:
                self.errors.append(exc)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(owner: RecordingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            owner.record(Recorded(self.command, self.path, headers, body))
            reply = owner.next_reply(self.path)
            if reply.drop:
                self.close_connection = True
                return
            if reply.delay_seconds:
                time.sleep(reply.delay_seconds)
            content = (
                reply.raw
                if reply.raw is not None
                else b""
                if reply.body is None
                else orjson.dumps(reply.body)
            )
            self.send_response(reply.status)
            if reply.raw is None and reply.body is not None:
                self.send_header("Content-Type", "application/json")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            # A client that timed out has gone; its answer has nowhere to go.
            with contextlib.suppress(OSError):
                self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


@contextmanager
def recording_server(tls: ssl.SSLContext | None = None) -> Iterator[RecordingServer]:
    server = RecordingServer(tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class MailSink:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Mail] = []
        self.logins: list[str] = []

    async def handle_DATA(
        self, server: Any, session: Session, envelope: Envelope
    ) -> str:
        assert envelope.mail_from is not None
        self.messages.append(
            Mail(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.content or b""),
            )
        )
        return "250 Message accepted"

    def authenticate(
        self,
        server: Any,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        data: Any,
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == b"smtp-s3cret-pw"
        if ok:
            self.logins.append(data.login.decode())
        # handled=False: aiosmtpd answers the refusal itself.
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def record_sni(context: ssl.SSLContext) -> list[str]:
    """Note the server name each TLS client sends; the list fills as they connect."""
    names: list[str] = []

    def note(
        _socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext
    ) -> None:
        # Probes without a name (aiosmtpd's own start-up check) are left out.
        if name is not None:
            names.append(name)

    context.sni_callback = note
    return names


@contextmanager
def smtp_server(
    *, starttls: ssl.SSLContext | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[tuple[MailSink, int]]:
    """Run an aiosmtpd sink: plain, with required STARTTLS, or TLS from the start."""
    sink = MailSink()
    port = free_port()
    encryption: dict[str, Any] = {"auth_require_tls": False}
    if starttls is not None:
        # No MAIL and no AUTH before the upgrade: a delivery proves it happened.
        encryption = {"tls_context": starttls, "require_starttls": True}
    elif tls is not None:
        # aiosmtpd does not count TLS from the start as TLS for AUTH's sake.
        encryption = {"ssl_context": tls, "auth_require_tls": False}
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        authenticator=sink.authenticate,
        **encryption,
    )
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()
