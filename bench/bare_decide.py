"""The ceiling for the *decide* workload: the decision alone, on bare ASGI and on Starlette.

No engine, no store, no authentication: it reads `{"userId", "daysInactive"}`
and answers `{"output": {"userId", "status"}}`, the body idflow answers, so the
two are measured on the same request and response. `bench/http_runs.py` serves
both with uvicorn beside idflow, in the same run of the machine: `app` is raw
ASGI, the strict ceiling; `starlette_app` is the same endpoint as a Starlette
route, the framework idflow's API is built on and the figure the peers' README
quotes ("bare Starlette").
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Scope = dict[str, Any]


async def app(scope: Scope, receive: Any, send: Any) -> None:
    """Answer every HTTP request with the decision on its JSON body."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)

    request = orjson.loads(body or b"{}")
    inputs = (request.get("options") or {}).get("input") or {}
    status = "disabled" if inputs.get("daysInactive", 0) > 90 else "enabled"
    answer = orjson.dumps(
        {"output": {"userId": inputs.get("userId"), "status": status}}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(answer)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer})


async def _decide(request: Request) -> Response:
    body = orjson.loads(await request.body() or b"{}")
    inputs = (body.get("options") or {}).get("input") or {}
    status = "disabled" if inputs.get("daysInactive", 0) > 90 else "enabled"
    return Response(
        orjson.dumps({"output": {"userId": inputs.get("userId"), "status": status}}),
        media_type="application/json",
    )


async def _health(_request: Request) -> Response:
    return Response(b"{}", media_type="application/json")


starlette_app = Starlette(
    routes=[
        Route("/", _health, methods=["GET"]),
        Route("/v1/mgmt/flow/run", _decide, methods=["POST"]),
    ]
)
