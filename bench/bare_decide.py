"""The ceiling for the *decide* workload: the decision alone on a bare ASGI app.

No engine, no store, no authentication: it reads `{"userId", "daysInactive"}`
and answers `{"output": {"userId", "status"}}`, the body idflow answers, so the
two are measured on the same request and response. `bench/http_runs.py` serves
it with uvicorn beside idflow, in the same run of the machine.
"""

from __future__ import annotations

from typing import Any

import orjson

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
