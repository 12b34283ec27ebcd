"""How the server reads the writer process's answers: in order, whole, and never lost."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from idflow.services.record_writer import WriterGone, _AnswerReader, _frame


def _reader_with(handlers: int) -> tuple[_AnswerReader, list[tuple[int, Any]]]:
    reader = _AnswerReader()
    got: list[tuple[int, Any]] = []
    for number in range(handlers):
        reader.handlers.append(lambda answer, n=number: got.append((n, answer)))
    return reader, got


def test_answers_go_to_their_messages_in_order_whatever_the_chunks() -> None:
    async def scenario() -> list[tuple[int, Any]]:
        reader, got = _reader_with(3)
        stream = b"".join(_frame({"kept": [n]}) for n in range(3))
        # Two answers and a half in one chunk, the rest a byte at a time.
        reader.pipe_data_received(1, stream[:30])
        for byte in range(30, len(stream)):
            reader.pipe_data_received(1, stream[byte : byte + 1])
        return got

    got = asyncio.run(scenario())

    assert got == [(0, {"kept": [0]}), (1, {"kept": [1]}), (2, {"kept": [2]})]


def test_messages_still_waiting_are_answered_writer_gone_when_the_pipe_closes() -> None:
    async def scenario() -> tuple[list[tuple[int, Any]], bool]:
        reader, got = _reader_with(2)
        reader.pipe_data_received(1, _frame({"kept": [True]}))
        reader.pipe_connection_lost(1, None)
        return got, reader.gone is not None

    got, gone = asyncio.run(scenario())

    assert got[0] == (0, {"kept": [True]})
    assert got[1][0] == 1 and isinstance(got[1][1], WriterGone)
    assert gone


def test_an_exit_fails_the_messages_waiting_once_its_last_answers_had_time_to_come(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("idflow.services.record_writer.EXITED_GRACE_SECONDS", 0.01)

    async def scenario() -> tuple[list[tuple[int, Any]], list[tuple[int, Any]]]:
        reader, got = _reader_with(2)
        reader.process_exited()
        # Written before it exited, read after the exit was noticed.
        reader.pipe_data_received(1, _frame({"kept": [True]}))
        at_once = list(got)
        await asyncio.sleep(0.05)
        return at_once, got

    at_once, later = asyncio.run(scenario())

    assert at_once == [(0, {"kept": [True]})]
    assert isinstance(later[1][1], WriterGone)


def test_an_answer_nobody_asked_for_fails_the_exchange_rather_than_misroute() -> None:
    async def scenario() -> _AnswerReader:
        reader, _ = _reader_with(0)
        reader.pipe_data_received(1, _frame({"kept": [True]}))
        return reader

    reader = asyncio.run(scenario())

    assert isinstance(reader.gone, WriterGone)
    assert "nobody asked for" in str(reader.gone)


def test_a_handler_that_raises_is_logged_and_the_next_answer_still_arrives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> list[Any]:
        reader = _AnswerReader()
        got: list[Any] = []

        def broken(answer: Any) -> None:
            raise RuntimeError("a bug in a handler")

        reader.handlers.extend([broken, got.append])
        reader.pipe_data_received(1, _frame({"n": 1}) + _frame({"n": 2}))
        return got

    with caplog.at_level(logging.ERROR):
        got = asyncio.run(scenario())

    assert got == [{"n": 2}]
    assert "record_writer_answer_failed" in {
        getattr(record, "event_name", "") for record in caplog.records
    }


def test_an_answer_that_is_not_json_fails_the_messages_waiting() -> None:
    async def scenario() -> list[tuple[int, Any]]:
        reader, got = _reader_with(2)
        garbage = b"not json"
        reader.pipe_data_received(1, len(garbage).to_bytes(4, "little") + garbage)
        return got

    got = asyncio.run(scenario())

    assert [number for number, _ in got] == [0, 1]
    assert all(isinstance(answer, WriterGone) for _, answer in got)
    assert "not JSON" in str(got[0][1])
