"""Reading request bodies: JSON decoding, size limits, and pydantic validation.

Bodies are validated once, here at the edge; handlers receive typed values. A
`null` is treated as absent and unknown keys are ignored, as the Descope SDKs
expect of the server: Go sends `null` for unset arrays and Python's user update
sends unset keys as `null`. Types are strict, so `"true"` is not a boolean and
`"7"` is not a number.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeVar

import orjson
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
    model_validator,
)
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

from idflow.errors import BadRequest, InvalidArgument, PayloadTooLarge

_M = TypeVar("_M", bound=BaseModel)


class WireModel(BaseModel):
    """Base of every request body: strict types, unknown keys ignored, null absent."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    def given(self, name: str) -> bool:
        """True when the request carried the field with a non-null value."""
        return name in self.model_fields_set


def refuse_unsupported(**carried: bool) -> None:
    """Raise for the first key that carries a value idflow cannot keep.

    The SDKs send such keys empty or false by default, so only a value the
    caller chose is refused, rather than silently dropped.

    Raises:
        InvalidArgument: naming the key.
    """
    for key, has_value in carried.items():
        if has_value:
            raise InvalidArgument(
                f"{key}: idflow does not keep this setting, so it cannot honour a value here; send it empty or false, or leave it out."
            )


def _check_email(value: str) -> str:
    if value == "":
        return value
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not an email address ({exc})") from None
    return value


def _check_phone(value: str) -> str:
    # Only international numbers parse without a region to assume; numbers
    # that are possible but unassigned (+1 555 ...) pass, as test data uses them.
    if value == "":
        return value
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise ValueError("not a phone number: expected E.164, such as +15551234567")
    return value


Email = Annotated[str, AfterValidator(_check_email)]
Phone = Annotated[str, AfterValidator(_check_phone)]


async def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    """Return the body as a JSON object; an empty body reads as `{}`.

    Raises:
        PayloadTooLarge: when the body is longer than `max_bytes`.
        BadRequest: when it is not JSON or not an object.
    """
    length = request.headers.get("content-length")
    return await _read_json_chunks(request.stream(), length, max_bytes)


async def read_json_from(
    receive: Receive, content_length: str | None, max_bytes: int
) -> dict[str, Any]:
    """`read_json` for a plain ASGI endpoint, reading from its `receive`.

    Raises:
        PayloadTooLarge: when the body is longer than `max_bytes`.
        BadRequest: when it is not JSON or not an object.
        ClientDisconnect: when the client went away before the body ended.
    """
    _check_declared_length(content_length, max_bytes)
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        # The usual case: a small body arrives whole, in one message.
        return _decode_object(message.get("body", b""), max_bytes)
    return await _read_json_chunks(_chunks(receive, message), None, max_bytes)


async def _chunks(
    receive: Receive, first: Message | None = None
) -> AsyncIterator[bytes]:
    # What Starlette's `Request.stream` does, for an app without a Request.
    message = first if first is not None else await receive()
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
        message = await receive()


async def _read_json_chunks(
    chunks: AsyncIterator[bytes], content_length: str | None, max_bytes: int
) -> dict[str, Any]:
    """Gather a body from its chunks and decode it as a JSON object.

    Raises:
        PayloadTooLarge: when the body is longer than `max_bytes`, as declared
            or as sent.
        BadRequest: when it is not JSON or not an object.
    """
    _check_declared_length(content_length, max_bytes)
    body = b""
    async for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            raise _over_limit(max_bytes)
    return _decode_object(body, max_bytes)


def _check_declared_length(content_length: str | None, max_bytes: int) -> None:
    if content_length and content_length.isdigit() and int(content_length) > max_bytes:
        raise PayloadTooLarge(
            f"The request body has {content_length} bytes: at most {max_bytes} are accepted."
        )


def _over_limit(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is over {max_bytes} bytes: at most {max_bytes} are accepted."
    )


def _decode_object(body: bytes, max_bytes: int) -> dict[str, Any]:
    if len(body) > max_bytes:
        raise _over_limit(max_bytes)
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
        problem = f"{path}: {error['msg'].rstrip('.')}"
        if error["type"] != "missing":
            problem += f", got {_json_kind(error.get('input'))}"
        problems.append(problem)
    return "Invalid request body: " + "; ".join(problems) + "."


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"string {shown!r}"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else "null"
