"""JSON answers and Descope-style error bodies for the management API."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Send

from idflow.errors import ApiError, ConfigurationError, RateLimited

logger = logging.getLogger(__name__)

# idflow's own unexpected fault; never used for a flow's business outcome.
INTERNAL_ERROR_CODE = "E010500"


class JsonResponse(Response):
    """A response whose body is JSON encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode the content as compact JSON."""
        return orjson.dumps(content)


async def send_json(send: Send, content: Any) -> None:
    """Answer 200 with a JSON body straight through ASGI, as `JsonResponse` would.

    For the flow-run endpoint, which answers thousands a second: building a
    `Response` first costs more than these two messages.
    """
    body = orjson.dumps(content)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def error_response(error: ApiError) -> JsonResponse:
    """Render an ApiError with its status and `errorCode` body."""
    headers = {}
    if isinstance(error, RateLimited):
        # Whole seconds, never an HTTP date: the SDKs parse it with int().
        headers["Retry-After"] = str(error.retry_after_seconds)
    return JsonResponse(error.to_body(), status_code=error.status, headers=headers)


def configuration_error_response(message: str, request_id: str) -> JsonResponse:
    """Answer a request the server's own settings keep it from serving, saying how to fix them.

    A missing secret key, say, is the operator's to fix, not the caller's: 500,
    as for any fault of the server, but with the message that names the fix.
    """
    return JsonResponse(
        {
            "errorCode": INTERNAL_ERROR_CODE,
            "errorDescription": "Server configuration",
            "errorMessage": f"{message} (request id {request_id})",
        },
        status_code=500,
    )


def internal_error_response(request_id: str) -> JsonResponse:
    """Answer an unexpected fault with 500 and the request id to look it up by."""
    return JsonResponse(
        {
            "errorCode": INTERNAL_ERROR_CODE,
            "errorDescription": "Internal error",
            "errorMessage": f"idflow failed unexpectedly; the server log has the details under request id {request_id}.",
        },
        status_code=500,
    )


def exception_response(exc: Exception, request_id: str) -> JsonResponse:
    """Answer an exception a handler raised: its own error, or a logged 500.

    What the application's exception handlers answer, for them and for the
    endpoints served as plain ASGI (`idflow.api.app.RequestLog`).
    """
    if isinstance(exc, ApiError):
        return error_response(exc)
    if isinstance(exc, ConfigurationError):
        logger.error(
            "Request %s cannot be served as the server is configured: %s",
            request_id,
            exc.message,
            extra={"event_name": "request_misconfigured"},
        )
        return configuration_error_response(exc.message, request_id)
    logger.error(
        "Request %s failed unexpectedly",
        request_id,
        exc_info=exc,
        extra={"event_name": "request_crashed"},
    )
    return internal_error_response(request_id)
