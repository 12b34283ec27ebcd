"""What every API handler shares: the runtime, the key cache, and request notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from idflow.api import auth
from idflow.api.bodies import parse_body, read_json
from idflow.runtime import Runtime

_M = TypeVar("_M", bound=BaseModel)


@dataclass(slots=True)
class ApiContext:
    """The API's shared state, kept on the Starlette app."""

    runtime: Runtime
    keys: auth.KeyCache = field(default_factory=auth.KeyCache)

    @staticmethod
    def of(request: Request) -> ApiContext:
        """Return the context of the app serving a request."""
        context: ApiContext = request.app.state.idflow
        return context

    async def principal(self, request: Request) -> auth.Principal:
        """Authenticate the request and note its project for the request log."""
        principal = await auth.authenticate(request, self.runtime, self.keys)
        self.note(request, project_id=principal.project_id)
        return principal

    async def body(self, request: Request, model: type[_M]) -> _M:
        """Read and validate the JSON body against a model."""
        data = await read_json(request, self.runtime.settings.max_body_bytes)
        return parse_body(model, data)

    @staticmethod
    def note(request: Request, **fields: Any) -> None:
        """Attach fields to the request's log line (project, run id)."""
        notes: dict[str, Any] = request.scope.setdefault("idflow.notes", {})
        notes.update(fields)
