"""The management API application: routes, error rendering and the request log.

One INFO line per request carries method, path, status, duration, project and
request id; it never carries the bearer, bodies or personal data.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from idflow.api import (
    audit,
    connectors,
    deliveries,
    flows,
    keys,
    openapi,
    tenants,
    user_updates,
    users,
)
from idflow.api.context import ApiContext
from idflow.api.responses import JsonResponse, error_response, exception_response
from idflow.clock import new_id
from idflow.errors import ApiError, ConfigurationError, NotFound
from idflow.runtime import Runtime

logger = logging.getLogger(__name__)

_SLASHES = re.compile(r"//+")

# The status the request log gives a request that got no answer.
CLIENT_GONE_STATUS = 499


async def license_info(request: Request) -> JsonResponse:
    """`GET /v1/mgmt/license`: the SDKs ask at start-up; answer at once, fixed tier."""
    await ApiContext.of(request).principal(request)
    return JsonResponse({"rateLimitTier": "tier4"})


async def health(request: Request) -> JsonResponse:
    """`GET /health`: the process is up (no store access, for load balancers)."""
    return JsonResponse({"status": "ok"})


async def _raised(request: Request, exc: Exception) -> Response:
    # ApiError, ConfigurationError and every other fault alike.
    return exception_response(exc, request.scope.get("idflow.request_id", "-"))


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(NotFound(f"No endpoint {request.method} {request.url.path}."))


Endpoint = Callable[[Request], Awaitable[Response]]


def _post(path: str, endpoint: Endpoint) -> Route:
    return Route(path, endpoint, methods=["POST"])


def _get(path: str, endpoint: Endpoint) -> Route:
    return Route(path, endpoint, methods=["GET"])


def _patch(path: str, endpoint: Endpoint) -> Route:
    return Route(path, endpoint, methods=["PATCH"])


# Every path of the API, grouped by family; docs/api.md lists each with its body.
ROUTES = [
    # Flows.
    # Plain ASGI, and served ahead of the router: see `SHORTCUTS`.
    Route("/v1/mgmt/flow/run", flows.run_flow, methods=["POST"], name="run_flow"),
    _post("/v1/mgmt/flow/async/run", flows.run_flow_async),
    _post("/v1/mgmt/flow/async/result", flows.flow_async_result),
    _post("/v1/mgmt/flow/list", flows.list_flows),
    _post("/v1/mgmt/flow/delete", flows.delete_flows),
    _post("/v1/mgmt/flow/export", flows.export_flow_v1),
    _post("/v1/mgmt/flow/import", flows.import_flow_v1),
    _post("/v2/mgmt/flow/export", flows.export_flow_v2),
    _post("/v2/mgmt/flow/import", flows.import_flow_v2),
    # Users.
    _post("/v1/mgmt/user/create", users.create_user),
    _post("/v1/mgmt/user/create/test", users.create_test_user),
    _post("/v1/mgmt/user/create/batch", users.create_users),
    _post("/v1/mgmt/user/update", users.update_user),
    _patch("/v1/mgmt/user/patch", users.patch_user),
    _patch("/v1/mgmt/user/patch/batch", users.patch_users),
    _get("/v1/mgmt/user", users.load_user),
    _post("/v1/mgmt/users/load", users.load_users),
    _post("/v2/mgmt/user/search", users.search_users),
    _post("/v2/mgmt/user/search/test", users.search_test_users),
    _post("/v1/mgmt/user/delete", users.delete_user),
    _post("/v1/mgmt/user/delete/batch", users.delete_users),
    Route("/v1/mgmt/user/test/delete/all", users.delete_test_users, methods=["DELETE"]),
    _post("/v1/mgmt/user/logout", users.logout_user),
    _post("/v1/mgmt/user/update/status", user_updates.update_status),
    _post("/v1/mgmt/user/update/loginid", user_updates.update_login_id),
    _post("/v1/mgmt/user/update/email", user_updates.update_email),
    _post("/v1/mgmt/user/update/phone", user_updates.update_phone),
    _post("/v1/mgmt/user/update/name", user_updates.update_name),
    _post("/v1/mgmt/user/update/picture", user_updates.update_picture),
    _post("/v1/mgmt/user/update/customAttribute", user_updates.update_custom_attribute),
    _post("/v1/mgmt/user/update/role/set", user_updates.set_roles),
    # Descope moved role/add to v2 while set and remove stayed on v1.
    _post("/v2/mgmt/user/update/role/add", user_updates.add_roles),
    _post("/v1/mgmt/user/update/role/remove", user_updates.remove_roles),
    _post("/v1/mgmt/user/update/tenant/add", user_updates.add_tenant),
    _post("/v1/mgmt/user/update/tenant/remove", user_updates.remove_tenant),
    # Tenants.
    _post("/v1/mgmt/tenant/create", tenants.create_tenant),
    _post("/v1/mgmt/tenant/update", tenants.update_tenant),
    _patch("/v1/mgmt/tenant/patch", tenants.patch_tenant),
    _post("/v1/mgmt/tenant/delete", tenants.delete_tenant),
    _get("/v1/mgmt/tenant", tenants.load_tenant),
    _get("/v1/mgmt/tenant/all", tenants.load_all_tenants),
    _post("/v1/mgmt/tenant/search", tenants.search_tenants),
    # Audit.
    _post("/v1/mgmt/audit/search", audit.search_audit),
    _post("/v1/mgmt/audit/event", audit.create_event),
    # idflow's own key administration.
    _post("/v1/mgmt/idflow/key/create", keys.create_key),
    _get("/v1/mgmt/idflow/key/all", keys.list_keys),
    _post("/v1/mgmt/idflow/key/revoke", keys.revoke_key),
    # idflow's own connector administration.
    *connectors.ROUTES,
    # idflow's own event deliveries.
    *deliveries.ROUTES,
    # Process.
    _get("/v1/mgmt/license", license_info),
    _get("/health", health),
    _get("/openapi.json", openapi.openapi_document),
]


# Endpoints the request log serves itself, by method and exact path, without
# Starlette's middleware and router. Running a flow is the call made most, and
# the one whose speed users measure; in a profile of the app alone, the
# framework's layers around it took about a sixth of each request
# (bench/RESULTS.md). Each is in `ROUTES` too.
SHORTCUTS: dict[tuple[str, str], Callable[[Scope, Receive, Send], Awaitable[None]]] = {
    ("POST", "/v1/mgmt/flow/run"): flows.run_flow,
}


def create_app(runtime: Runtime, *, record_writer_process: bool = False) -> Starlette:
    """Build the ASGI application serving the management API on a runtime.

    Args:
        runtime: the process runtime.
        record_writer_process: on a SQLite file, have a writer process record
            the runs the event loop makes (`services.record_writer`), started
            and stopped with the application's lifespan; `idflow serve` asks
            for it. Otherwise the store thread records them.
    """
    app = Starlette(
        lifespan=_record_writer_lifespan if record_writer_process else None,
        routes=ROUTES,
        exception_handlers={
            ApiError: _raised,
            ConfigurationError: _raised,
            404: _not_found,
            405: _not_found,
            Exception: _raised,
        },
    )
    app.state.idflow = ApiContext(runtime)
    wrapped: Any = RequestLog(app)
    return wrapped  # type: ignore[no-any-return]


@asynccontextmanager
async def _record_writer_lifespan(app: Starlette) -> AsyncIterator[None]:
    # On the serving loop: the writer process answers that loop. It starts in
    # the background; the store thread writes until it is ready. uvicorn has
    # drained the requests before the shutdown half runs.
    api: ApiContext = app.state.idflow
    await api.recorder.use_writer_process()
    try:
        yield
    finally:
        await api.recorder.close()


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
        # Logged when no answer was started: the client went away first (the
        # status nginx logs for it). Every fault is answered, with 500.
        status = CLIENT_GONE_STATUS

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append(
                    (b"x-request-id", request_id.encode())
                )
            await send(message)

        try:
            shortcut = SHORTCUTS.get((scope["method"], scope["path"]))
            if shortcut is None:
                await self.app(scope, receive, send_with_status)
            else:
                # What the endpoint would find had Starlette routed to it.
                scope["app"] = self.app
                await shortcut(scope, receive, send_with_status)
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
