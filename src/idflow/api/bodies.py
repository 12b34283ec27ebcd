"""Reading request bodies: JSON decoding, size limits, and pydantic validation.

Bodies are validated once, here at the edge; handlers receive typed values. A
`null` is treated as absent and unknown keys are ignored, as the Descope SDKs
expect of the server.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from idflow.errors import BadRequest, InvalidArgument, PayloadTooLarge

_M = TypeVar("_M", bound=BaseModel)


async def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    """Return the body as a JSON object; an empty body reads as `{}`.

    Raises:
        PayloadTooLarge: when the body is longer than `max_bytes`.
        BadRequest: when it is not JSON or not an object.
    """
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise PayloadTooLarge(
            f"The request body has {length} bytes: at most {max_bytes} are accepted."
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(
                f"The request body is over {max_bytes} bytes: at most {max_bytes} are accepted."
            )
    if not body.strip():
        return {}

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"The request body is not valid JSON ({exc}): expected a JSON object."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest(
            f"The request body is a JSON {type(data).__name__}: expected a JSON object."
        )
    return data


def parse_body(model: type[_M], data: dict[str, Any]) -> _M:
    """Validate a decoded body against a pydantic model.

    Raises:
        InvalidArgument: naming the first field at fault and what was expected.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgument(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False)[:5]:
        path = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{path}: {error['msg'].rstrip('.')}")
    return "Invalid request body: " + "; ".join(problems) + "."
