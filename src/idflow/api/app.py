"""The management API application: routes, error rendering and the request log.

One INFO line per request carries method, path, status, duration, project and
request id; it never carries the bearer, bodies or personal data.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from idflow.api import flows
from idflow.api.context import ApiContext
from idflow.api.responses import JsonResponse, error_response, internal_error_response
from idflow.clock import new_id
from idflow.errors import ApiError, NotFound
from idflow.runtime import Runtime

logger = logging.getLogger(__name__)

_SLASHES = re.compile(r"//+")


async def license_info(request: Request) -> JsonResponse:
    """`GET /v1/mgmt/license`: the SDKs ask at start-up; answer at once, fixed tier."""
    await ApiContext.of(request).principal(request)
    return JsonResponse({"rateLimitTier": "tier4"})


async def health(request: Request) -> JsonResponse:
    """`GET /health`: the process is up (no store access, for load balancers)."""
    return JsonResponse({"status": "ok"})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(NotFound(f"No endpoint {request.method} {request.url.path}."))


async def _unexpected(request: Request, exc: Exception) -> Response:
    request_id = request.scope.get("idflow.request_id", "-")
    logger.error(
        "Request %s failed unexpectedly",
        request_id,
        exc_info=exc,
        extra={"event_name": "request_crashed"},
    )
    return internal_error_response(request_id)


def create_app(runtime: Runtime) -> Starlette:
    """Build the ASGI application serving the management API on a runtime."""
    routes = [
        Route("/v1/mgmt/flow/run", flows.run_flow, methods=["POST"]),
        Route("/v1/mgmt/license", license_info, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiError: _api_error,
            404: _not_found,
            405: _not_found,
            Exception: _unexpected,
        },
    )
    app.state.idflow = ApiContext(runtime)
    wrapped: Any = RequestLog(app)
    return wrapped  # type: ignore[no-any-return]


class RequestLog:
    """ASGI middleware: request id, duplicate-slash folding, one log line per request.

    The Python SDK builds URLs by concatenation, so a base URL ending in '/' asks
    for '//v1/mgmt/...'; that path is served as '/v1/mgmt/...', never redirected,
    because the SDKs do not follow redirects on POST.
    """

    def __init__(self, app: Starlette) -> None:
        self.app = app

    @property
    def state(self) -> Any:
        """The wrapped application's state, for tests and the CLI."""
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection through the wrapped application."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        if "//" in scope["path"]:
            scope["path"] = _SLASHES.sub("/", scope["path"])
        request_id = new_id("Q")
        scope["idflow.request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append(
                    (b"x-request-id", request_id.encode())
                )
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._log(scope, status, started, request_id)

    @staticmethod
    def _log(scope: Scope, status: int, started: float, request_id: str) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        notes = scope.get("idflow.notes", {})
        logger.info(
            "%s %s %d %.1fms project=%s run=%s request=%s",
            scope["method"],
            scope["path"],
            status,
            (time.perf_counter() - started) * 1000,
            notes.get("project_id", "-"),
            notes.get("run_id", "-"),
            request_id,
            extra={"event_name": "request_finished"},
        )
