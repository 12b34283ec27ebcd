"""The writer process of `idflow serve` on a SQLite file: its writes off the API's interpreter lock.

The API's event loop and the SQLite store thread share one interpreter lock.
Under load the loop holds it almost always, so the store thread waited for it
at every step of its work (waking up, each statement, the commit): in a batch
of 16 run records, about 1.1 ms of waiting against 0.3 ms of work, and runs
that disable a user stopped at about 1,300 a second with the two threads
taking turns (bench/RESULTS.md). A child process has an interpreter of its
own, on another core: `python -m idflow.services.record_writer`. The event
loop sends it work down a pipe and reads the answer as it reads a socket, with
no thread to hand over to. It does two kinds of work, each what the store
thread would have done:

- **Records** of the runs the event loop made (decision 0015): per batch,
  `store.runs.insert_current_runs` in one transaction. The message is
  `{"record": [run, ...]}`, each run as orjson renders `Run` (whose fields are
  the `runs` table's columns, so each is what `store.runs.run_rows` makes of
  it, as a test checks); the answer `{"kept": [bool, ...]}` after the commit.
- **Runs** whose flow works in the store alone (decision 0016,
  `services.writer_runs`): per batch, `start_run` for each order, in one
  transaction with a savepoint each, as the store thread's group commit makes
  them. The message is `{"make": [order, ...]}` (`RunOrder`); the answer
  `{"made": [...], "announced": bool, "contextOnly": [...]}` (`MadeBatch`).

Each message is one frame, a 4-byte little-endian length then JSON, and each
gets one answer, in order: a batch of records and a batch of runs may both be
on their way, and the server matches answers to messages by their order. A
transaction that failed is answered `{"error": message}`: nothing of that batch
was stored. The child ignores SIGINT and SIGTERM, which a terminal or a service
manager sends to the whole process group, and stops when its input closes: when
the server closes it, or when the server dies. Its commits leave the WAL's
checkpoints to a thread of its own (`store.checkpoints`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, BinaryIO

import orjson

from idflow.errors import IdflowError, StoreBusy, StoreError, error_named
from idflow.logs import configure_logging
from idflow.runtime import Runtime
from idflow.services import runs
from idflow.settings import Settings
from idflow.store import runs as run_store
from idflow.store.checkpoints import WRITER_AUTOCHECKPOINT_PAGES, WalCheckpointer
from idflow.store.claims import claim_dialect
from idflow.store.database import Store
from idflow.store.records import Run, RunStatus, RunTrigger

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct("<I")

# How long a new child may take to import idflow and open the store.
START_TIMEOUT_SECONDS = 30.0
# How long `close` waits for the child to finish its last batch and exit.
CLOSE_TIMEOUT_SECONDS = 10.0
# After the child exits, how long its answers may still be read from the pipe.
EXITED_GRACE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class RunOrder:
    """An API run the writer process is asked to make: `start_run`'s arguments."""

    project_id: str
    flow_id: str
    run_id: str
    inputs: Mapping[str, Any] | None
    preview: bool = False
    tenant_id: str | None = None

    def start(self, runtime: Runtime) -> Run:
        """Make the run here with `start_run`, refusing a plan with connector steps.

        The child makes it so, and the server too, for a batch the child
        took with it unanswered.

        Raises:
            CallsConnectors: the flow's current version calls connectors.
            What `start_run` raises otherwise.
        """
        return runs.start_run(
            runtime,
            self.project_id,
            self.flow_id,
            self.inputs,
            RunTrigger.API,
            preview=self.preview,
            tenant_id=self.tenant_id,
            run_id=self.run_id,
            store_only=True,
        )


@dataclass(frozen=True, slots=True)
class MadeRun:
    """What became of one `RunOrder`: exactly one of the three is set.

    Attributes:
        run: the recorded run, completed or failed, as `start_run` returned it.
        error: what `start_run` raised instead, to raise again in the server.
        elsewhere: the flow's current version calls connectors, so the child
            did not make the run; nothing was written.
    """

    run: Run | None = None
    error: Exception | None = None
    elsewhere: bool = False


@dataclass(frozen=True, slots=True)
class MadeBatch:
    """The child's answer to a batch of `RunOrder`s, after its commit.

    Attributes:
        runs: one per order, in order.
        announced: the commit queued deliveries, which this process's
            embedded worker should hear of.
        context_only: flows whose current version the child found to need
            nothing but the context: the server can make their runs itself.
    """

    runs: list[MadeRun]
    announced: bool
    context_only: list[tuple[str, str]]


class RunMakingFailed(Exception):
    """The writer process failed to make a run for a reason that is not idflow's error.

    A bug, not bad input; the API answers it as any unexpected error.
    """


class WriterGone(Exception):
    """The writer process stopped, or could not be reached, before it answered.

    The batch may or may not have been committed: whoever writes it again must
    count the runs already stored (`insert_current_runs(skip_recorded=True)`).
    """


# What the child's answer to one message is handed to, in the pipe's data
# callback: the decoded answer, or `WriterGone` when none will come.
AnswerHandler = Callable[[dict[str, Any] | WriterGone], None]


class _AnswerReader(asyncio.SubprocessProtocol):
    """The server's end of the child's pipes: hands each answer to its message's handler.

    The child answers every message, in the order sent, so the handlers wait
    in a queue in that order. Each is called from the data callback itself,
    as soon as its answer is whole: a batch answered there lets its runs'
    requests go and can send the next batch at once, where a coroutine
    reading the pipe resumed only after the rest of the loop's ready work,
    which under load meant up to a millisecond later (bench/RESULTS.md).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.handlers: deque[AnswerHandler] = deque()
        self.gone: WriterGone | None = None
        self.exited: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        """Decode each whole answer and hand it on; keep a partial one for later."""
        buffer = self._buffer
        buffer += data
        while len(buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer)
            end = _LENGTH.size + length
            if len(buffer) < end:
                return
            try:
                answer = orjson.loads(bytes(buffer[_LENGTH.size : end]))
            except orjson.JSONDecodeError:
                self._fail("It sent an answer that is not JSON.")
                return
            del buffer[:end]
            if not self.handlers:
                # An answer no message asked for: the exchange is out of step,
                # and no later answer can be trusted.
                self._fail("It sent an answer nobody asked for.")
                return
            _hand(self.handlers.popleft(), answer)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        """Its answers ended: every message still waiting is answered WriterGone."""
        if fd == 1:
            self._fail(f"Its output closed ({exc!r}).")

    def process_exited(self) -> None:
        """Note the exit; answers it wrote before are still read from the pipe."""
        if not self.exited.done():
            self.exited.set_result(None)
        # Its output normally closes at once (`pipe_connection_lost`); should a
        # descriptor it handed on keep that open, the messages still waiting
        # are answered WriterGone all the same.
        asyncio.get_running_loop().call_later(
            EXITED_GRACE_SECONDS, self._fail, "It exited."
        )

    def _fail(self, why: str) -> None:
        if self.gone is None:
            self.gone = WriterGone(why)
        while self.handlers:
            _hand(self.handlers.popleft(), self.gone)


def _hand(handler: AnswerHandler, answer: dict[str, Any] | WriterGone) -> None:
    # A handler's fault must not stop the reader, or every later answer
    # would be lost with it.
    try:
        handler(answer)
    except Exception:
        logger.exception(
            "Handling an answer of the run record writer failed",
            extra={"event_name": "record_writer_answer_failed"},
        )


class RecordWriter:
    """The API's side of one writer process, used from one event loop.

    Messages may follow each other down the pipe before their answers come:
    the child answers them one by one, in order, and each answer goes to the
    handler its message was sent with (`send`).
    """

    def __init__(
        self, transport: asyncio.SubprocessTransport, reader: _AnswerReader
    ) -> None:
        self._transport = transport
        self._reader = reader
        # uvloop's pipe transports are not `asyncio.WriteTransport`s by class,
        # though they behave as one.
        stdin: Any = transport.get_pipe_transport(0)
        assert stdin is not None, "started with a pipe for its input"
        self._stdin = stdin

    @classmethod
    async def start(cls, settings: Settings) -> RecordWriter:
        """Start a writer process on the store and with the run limits of `settings`.

        Raises:
            OSError: the process could not be started.
            WriterGone: it started but stopped, or did not say it was ready
                within `START_TIMEOUT_SECONDS`.
        """
        loop = asyncio.get_running_loop()
        transport, reader = await loop.subprocess_exec(
            _AnswerReader,
            sys.executable,
            "-m",
            __name__,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            env={**os.environ, **_child_environment(settings)},
        )
        try:
            writer = cls(transport, reader)
        except BaseException:
            transport.close()  # Which kills the child.
            raise
        # The child says it is ready once its store is open.
        ready: asyncio.Future[dict[str, Any]] = loop.create_future()
        reader.handlers.append(partial(_settle, ready))
        try:
            await asyncio.wait_for(ready, START_TIMEOUT_SECONDS)
        except (WriterGone, TimeoutError) as exc:
            await writer.close()
            raise WriterGone(
                f"The run record writer (process {writer.pid}) did not start: {exc!r}."
            ) from exc
        logger.info(
            "Run records are written by process %d",
            writer.pid,
            extra={"event_name": "record_writer_started"},
        )
        return writer

    @property
    def usable(self) -> bool:
        """False once the process has stopped or its pipe has failed."""
        reader = self._reader
        return (
            reader.gone is None
            and not reader.exited.done()
            and not self._stdin.is_closing()
        )

    @property
    def returncode(self) -> int | None:
        """The process's exit status, once it has exited."""
        return self._transport.get_returncode()

    @property
    def pid(self) -> int:
        """The writer process's id."""
        return self._transport.get_pid()

    def send(self, message: dict[str, Any], on_answer: AnswerHandler) -> None:
        """Send one message; `on_answer` gets its answer, or `WriterGone`.

        `on_answer` is called from the pipe's data callback, on the event
        loop, so it must not block; it is called exactly once.

        Raises:
            WriterGone: the process is not usable; nothing was sent.
        """
        if not self.usable:
            raise self._reader.gone or WriterGone(
                f"The run record writer (process {self.pid}) is closing."
            )
        self._stdin.write(_frame(message))
        # After the write, which may raise: no handler waits for a message
        # never sent. The answer is read on a later turn of this loop.
        self._reader.handlers.append(on_answer)

    def send_records(
        self, runs: Sequence[Run], on_kept: Callable[[list[bool] | Exception], None]
    ) -> None:
        """Have the child store the runs whose flow is current, answering in the callback.

        `on_kept` gets, for each run, whether it is stored now; or the
        transaction's `StoreError`, nothing stored; or `WriterGone`, when the
        child stopped before answering and may or may not have committed.

        Raises:
            WriterGone: the process is not usable; nothing was sent.
        """

        def answered(answer: dict[str, Any] | WriterGone) -> None:
            if isinstance(answer, WriterGone):
                on_kept(answer)
            elif "error" in answer:
                on_kept(StoreError(answer["error"]))
            else:
                on_kept(answer["kept"])

        # orjson renders the dataclasses itself: no row dicts on the loop.
        self.send({"record": runs}, answered)

    async def make(self, orders: Sequence[RunOrder]) -> MadeBatch:
        """Have the child make these runs in one transaction, each in a savepoint.

        Raises:
            StoreError: the batch's transaction failed; no run of it happened.
            WriterGone: the child stopped before answering; the runs may have
                committed, and whoever makes them again must look for their
                records first (`RunOrder.run_id`).
        """
        answer = await self._exchange({"make": orders})
        return MadeBatch(
            [_made_run(made) for made in answer["made"]],
            answer["announced"],
            [tuple(flow) for flow in answer["contextOnly"]],
        )

    async def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        answered: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self.send(message, partial(_settle, answered))
        # A caller cancelled here leaves its answer to come and be dropped:
        # the answers after it still reach their own messages.
        answer = await answered
        if "error" in answer:
            raise StoreError(answer["error"])
        return answer

    async def close(self) -> None:
        """Let the child finish and exit; kill it if it has not within the timeout."""
        if not self._stdin.is_closing():
            self._stdin.close()
        try:
            await asyncio.wait_for(
                asyncio.shield(self._reader.exited), CLOSE_TIMEOUT_SECONDS
            )
        except TimeoutError:
            logger.warning(
                "The run record writer (process %d) did not exit; killing it",
                self.pid,
                extra={"event_name": "record_writer_killed"},
            )
            with contextlib.suppress(ProcessLookupError):
                self._transport.kill()
            await self._reader.exited
        self._transport.close()

    async def wait(self) -> int:
        """Wait for the process to exit by itself, and answer its exit status."""
        await asyncio.shield(self._reader.exited)
        returncode = self.returncode
        assert returncode is not None, "it has exited"
        return returncode


def _settle(
    future: asyncio.Future[dict[str, Any]], answer: dict[str, Any] | WriterGone
) -> None:
    if future.done():
        return  # Its caller was cancelled; the answer is dropped.
    if isinstance(answer, WriterGone):
        future.set_exception(answer)
    else:
        future.set_result(answer)


def _child_environment(settings: Settings) -> dict[str, str]:
    # The child reads its settings from the environment as `idflow serve`
    # does; the ones a run obeys are set from the server's own, so a run
    # made there is held to the same limits. The URL is not on the command
    # line, where `ps` would show it to everyone.
    return {
        "IDFLOW_DATABASE_URL": settings.database_url,
        "IDFLOW_RUN_TIMEOUT_SECONDS": repr(settings.run_timeout_seconds),
        "IDFLOW_MAX_STEPS": str(settings.max_steps),
        "IDFLOW_MAX_INPUT_BYTES": str(settings.max_input_bytes),
        "IDFLOW_MAX_OUTPUT_BYTES": str(settings.max_output_bytes),
        "IDFLOW_MAX_EVENT_DEPTH": str(settings.deliveries.max_event_depth),
        "IDFLOW_LOG_LEVEL": settings.log_level,
    }


def _made_run(made: dict[str, Any]) -> MadeRun:
    if "run" in made:
        return MadeRun(run=_run_from_wire(made["run"]))
    if "refused" in made:
        return MadeRun(error=error_named(made["refused"])(made["message"]))
    if "failed" in made:
        return MadeRun(error=RunMakingFailed(made["failed"]))
    return MadeRun(elsewhere=True)


def _run_from_wire(fields: dict[str, Any]) -> Run:
    # orjson rendered the dataclass: its fields by name, enums by value.
    return Run(
        **{
            **fields,
            "trigger": RunTrigger(fields["trigger"]),
            "status": RunStatus(fields["status"]),
            "trace": tuple(fields["trace"]),
        }
    )


def _frame(value: Any) -> bytes:
    body = orjson.dumps(value)
    return _LENGTH.pack(len(body)) + body


def _read_frame(source: BinaryIO) -> Any:
    head = source.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None  # The parent closed its end: no more batches.
    (length,) = _LENGTH.unpack(head)
    return orjson.loads(source.read(length))


def main() -> None:
    """The child: store each batch it is sent, answer, stop when its input ends."""
    # Only from here on: a Ctrl+C in the second the imports above take stops
    # the child, and the server writes on its store thread until it starts
    # another (`services.run_recorder`).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    # The answers get a descriptor of their own; anything printed by mistake
    # goes to stderr rather than into the protocol.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    configure_logging(os.environ.get("IDFLOW_LOG_LEVEL") or "INFO")

    settings = Settings.from_env()
    # Its commits leave the WAL's checkpoints to a thread, so that a batch
    # never waits on one (`store.checkpoints`).
    store = Store.open(
        settings.database_url, sqlite_autocheckpoint_pages=WRITER_AUTOCHECKPOINT_PAGES
    )
    checkpointer = WalCheckpointer(store)
    checkpointer.start()
    runtime = Runtime(store, settings)
    announced: list[bool] = []
    claim_dialect(store.dialect_name).watch_commits(
        store, lambda: announced.append(True)
    )
    messages = sys.stdin.buffer
    try:
        answers.write(_frame({"ready": os.getpid()}))
        answers.flush()
        while (message := _read_frame(messages)) is not None:
            try:
                if "record" in message:
                    answer: dict[str, Any] = {
                        "kept": _store_batch(store, message["record"])
                    }
                else:
                    announced.clear()
                    answer = _make_batch(runtime, message["make"])
                    answer["announced"] = bool(announced)
            except StoreError as exc:
                answer = {"error": exc.message}
            answers.write(_frame(answer))
            answers.flush()
    finally:
        checkpointer.stop()
        runtime.close()


def _store_batch(store: Store, rows: list[dict[str, Any]]) -> list[bool]:
    """Store a batch of run records in one transaction.

    Raises:
        StoreBusy: another writer kept the lock for the whole busy timeout,
            which the store waits out in short steps (`store.database`).
        StoreError: the transaction failed otherwise.
    """
    with store.begin() as conn:
        return run_store.insert_current_runs(conn, rows)


def _make_batch(runtime: Runtime, orders: list[dict[str, Any]]) -> dict[str, Any]:
    """Make a batch of runs in one transaction, each in a savepoint.

    Raises:
        StoreBusy: another writer kept the lock for the whole busy timeout;
            no run of the batch began.
        StoreError: the batch's commit failed; none of its runs happened.
    """
    received = [RunOrder(**order) for order in orders]
    with runtime.store.batch():
        made = [_make_one(runtime, order) for order in received]
    flows = {(order.project_id, order.flow_id) for order in received}
    return {
        "made": made,
        "contextOnly": [
            flow for flow in flows if runtime.plans.context_only_plan(*flow) is not None
        ],
    }


def _make_one(runtime: Runtime, order: RunOrder) -> dict[str, Any]:
    try:
        run = order.start(runtime)
    except runs.CallsConnectors:
        return {"elsewhere": True}
    except StoreBusy:
        raise  # The batch never got the lock: all of it fails.
    except IdflowError as exc:
        return {"refused": type(exc).__name__, "message": exc.message}
    except Exception as exc:
        logger.exception(
            "Making run %s failed",
            order.run_id,
            extra={"event_name": "writer_run_failed"},
        )
        return {"failed": f"The writer process failed to make the run: {exc!r}."}
    return {"run": run}


if __name__ == "__main__":
    main()
