"""What every API handler shares: the runtime, the key cache, and request notes.

Handlers reach the store only through `read` and `write`, which run service
calls on the store's threads in one connection or one transaction: a request
either writes everything it was asked to or, when anything fails, nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.types import Scope

from idflow.api import auth
from idflow.api.bodies import parse_body, read_json
from idflow.api.rate_limits import RateLimiter
from idflow.errors import InvalidArgument
from idflow.runtime import Runtime
from idflow.services.run_recorder import RunRecorder
from idflow.services.writer_runs import WriterRuns
from idflow.store.records import KeyScope

_M = TypeVar("_M", bound=BaseModel)
_T = TypeVar("_T")


@dataclass(slots=True)
class ApiContext:
    """The API's shared state, kept on the Starlette app."""

    runtime: Runtime
    keys: auth.KeyCache = field(default_factory=auth.KeyCache)
    limiter: RateLimiter = field(init=False)
    recorder: RunRecorder = field(init=False)
    writer_runs: WriterRuns = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.runtime.settings.rate_limits)
        self.recorder = RunRecorder(self.runtime)
        self.writer_runs = WriterRuns(self.runtime, self.recorder)

    @staticmethod
    def of(request: Request) -> ApiContext:
        """Return the context of the app serving a request."""
        context: ApiContext = request.app.state.idflow
        return context

    async def principal(self, request: Request) -> auth.Principal:
        """Authenticate the request, note its project and count it against its limit.

        Raises:
            Unauthorized: when the bearer is missing or wrong.
            RateLimited: when the project has spent its budget for the endpoint.
        """
        return await self.principal_of(
            request.scope, request.headers.get("authorization")
        )

    async def principal_of(
        self, scope: Scope, authorization: str | None
    ) -> auth.Principal:
        """`principal` for a plain ASGI endpoint: its scope and `Authorization` header.

        Raises:
            Unauthorized: when the bearer is missing or wrong.
            RateLimited: when the project has spent its budget for the endpoint.
        """
        principal = auth.cached_principal(
            authorization, self.keys
        ) or await auth.authenticate_bearer(authorization, self.runtime, self.keys)
        note(scope, project_id=principal.project_id)
        # Counted after authentication, so only real projects hold counters.
        self.limiter.check(principal.project_id, scope["path"])
        return principal

    async def authorize(self, request: Request, scope: KeyScope) -> auth.Principal:
        """Authenticate the request and check its key may make a call of `scope`.

        Raises:
            Unauthorized: when the bearer is missing or wrong.
            Forbidden: when the key's scope does not cover the call.
        """
        principal = await self.principal(request)
        principal.require(scope)
        return principal

    async def read(self, work: Callable[[Any], _T]) -> _T:
        """Run `work(conn)` on a store connection, off the event loop."""

        def run() -> _T:
            with self.runtime.store.connect() as conn:
                return work(conn)

        return await self.runtime.call_blocking(run)

    async def write(self, work: Callable[[Any], _T]) -> _T:
        """Run `work(conn)` in one transaction, rolled back if it raises."""

        def run() -> _T:
            with self.runtime.store.begin() as conn:
                return work(conn)

        return await self.runtime.call_blocking(run)

    async def body(self, request: Request, model: type[_M]) -> _M:
        """Read and validate the JSON body against a model."""
        data = await read_json(request, self.runtime.settings.max_body_bytes)
        return parse_body(model, data)

    @staticmethod
    def note(request: Request, **fields: Any) -> None:
        """Attach fields to the request's log line (project, run id)."""
        note(request.scope, **fields)


def note(scope: Scope, **fields: Any) -> None:
    """Attach fields to the log line of the request a scope belongs to."""
    notes: dict[str, Any] = scope.setdefault("idflow.notes", {})
    notes.update(fields)


def query_param(request: Request, name: str) -> str | None:
    """Return a non-empty query parameter, or None when it is absent or blank."""
    value = request.query_params.get(name)
    return value if value else None


def require_query_param(request: Request, name: str) -> str:
    """Return a query parameter the call cannot do without.

    Raises:
        InvalidArgument: when it is absent or blank.
    """
    value = query_param(request, name)
    if value is None:
        raise InvalidArgument(
            f"The query parameter {name!r} is missing: expected ?{name}=<value>."
        )
    return value
