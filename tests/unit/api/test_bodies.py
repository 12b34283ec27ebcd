"""Reading a JSON body from ASGI messages: whole, in chunks, too long, cut short."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import ClientDisconnect

from idflow.api.bodies import read_json_from
from idflow.errors import BadRequest, PayloadTooLarge


def _read(
    messages: list[dict[str, Any]], length: str | None = None, limit: int = 64
) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return asyncio.run(read_json_from(receive, length, limit))


def _body(data: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.request", "body": data, "more_body": more}


def test_a_body_in_one_message_or_in_chunks_reads_the_same() -> None:
    whole = _read([_body(b'{"flowId": "f", "n": 1}')])
    chunked = _read(
        [
            _body(b'{"flowId"', more=True),
            _body(b': "f", ', more=True),
            _body(b'"n": 1}'),
        ]
    )

    assert whole == chunked == {"flowId": "f", "n": 1}


@pytest.mark.parametrize("body", [b"", b"  \n", b"null"])
def test_an_empty_body_reads_as_an_empty_object(body: bytes) -> None:
    assert _read([_body(body)]) == {}


def test_a_body_over_the_limit_is_refused_as_declared_and_as_sent() -> None:
    with pytest.raises(PayloadTooLarge, match="has 65 bytes: at most 64"):
        _read([_body(b"{}")], length="65")
    with pytest.raises(PayloadTooLarge, match="over 64 bytes"):
        _read([_body(b"{" + b" " * 70 + b"}")])
    with pytest.raises(PayloadTooLarge, match="over 64 bytes"):
        _read([_body(b"{" + b" " * 40, more=True), _body(b" " * 40 + b"}")])


def test_a_body_that_is_not_a_json_object_says_what_it_is() -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        _read([_body(b"{nope")])
    with pytest.raises(BadRequest, match="is a JSON list: expected a JSON object"):
        _read([_body(b"[1, 2]")])


def test_a_client_gone_before_the_body_ended_is_a_disconnect() -> None:
    with pytest.raises(ClientDisconnect):
        _read([{"type": "http.disconnect"}])
    with pytest.raises(ClientDisconnect):
        _read([_body(b'{"a"', more=True), {"type": "http.disconnect"}])
