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
gets one answer, in order; the server sends one at a time. A transaction that
failed is answered `{"error": message}`: nothing of that batch was stored. The
child ignores SIGINT and SIGTERM, which a terminal or a service manager sends
to the whole process group, and stops when its input closes: when the server
closes it, or when the server dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import struct
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from idflow.errors import IdflowError, StoreBusy, StoreError, error_named
from idflow.logs import configure_logging
from idflow.runtime import Runtime
from idflow.services import runs
from idflow.settings import Settings
from idflow.store import runs as run_store
from idflow.store.claims import claim_dialect
from idflow.store.database import Store
from idflow.store.records import Run, RunStatus, RunTrigger

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct("<I")

# How long a new child may take to import idflow and open the store.
START_TIMEOUT_SECONDS = 30.0
# How long `close` waits for the child to finish its last batch and exit.
CLOSE_TIMEOUT_SECONDS = 10.0


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


class RecordWriter:
    """The API's side of one writer process, used from one event loop.

    One message is in the pipe at a time (`_turn`), so an answer always
    answers the last message sent.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._broken = False
        # Record batches and run batches share the pipe, one exchange at a time.
        self._turn = asyncio.Lock()

    @classmethod
    async def start(cls, settings: Settings) -> RecordWriter:
        """Start a writer process on the store and with the run limits of `settings`.

        Raises:
            OSError: the process could not be started.
            WriterGone: it started but stopped, or did not say it was ready
                within `START_TIMEOUT_SECONDS`.
        """
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **_child_environment(settings)},
        )
        writer = cls(process)
        # The child says it is ready once its store is open.
        try:
            await asyncio.wait_for(writer._read_answer(), START_TIMEOUT_SECONDS)
        except (WriterGone, TimeoutError) as exc:
            await writer.close()
            raise WriterGone(
                f"The run record writer (process {process.pid}) did not start: {exc!r}."
            ) from exc
        logger.info(
            "Run records are written by process %d",
            process.pid,
            extra={"event_name": "record_writer_started"},
        )
        return writer

    @property
    def usable(self) -> bool:
        """False once the process has stopped or failed to answer."""
        return not self._broken and self._process.returncode is None

    @property
    def returncode(self) -> int | None:
        """The process's exit status, once it has exited."""
        return self._process.returncode

    @property
    def pid(self) -> int:
        """The writer process's id."""
        return self._process.pid

    async def write(self, runs: Sequence[Run]) -> list[bool]:
        """Have the child store the runs whose flow is current; answer which it kept.

        Raises:
            StoreError: the child's transaction failed; nothing was stored.
            WriterGone: the child stopped before answering.
        """
        # orjson renders the dataclasses itself: no row dicts on the loop.
        answer = await self._exchange({"record": runs})
        kept: list[bool] = answer["kept"]
        return kept

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
        stdin = self._process.stdin
        assert stdin is not None, "started with pipes"
        async with self._turn:
            if self._broken:
                raise WriterGone(
                    f"The run record writer (process {self._process.pid}) is not "
                    "usable: an earlier exchange with it was cut short."
                )
            try:
                stdin.write(_frame(message))
                await stdin.drain()
                answer = await self._read_answer()
            except OSError as exc:
                self._broken = True
                raise WriterGone(
                    f"The run record writer (process {self._process.pid}) stopped: {exc!r}."
                ) from exc
            except asyncio.CancelledError:
                # Its answer may still come, and would be taken for the next
                # message's: this pipe is not used again.
                self._broken = True
                raise
        if "error" in answer:
            raise StoreError(answer["error"])
        return answer

    async def _read_answer(self) -> dict[str, Any]:
        stdout = self._process.stdout
        assert stdout is not None, "started with pipes"
        try:
            (length,) = _LENGTH.unpack(await stdout.readexactly(_LENGTH.size))
            answer: dict[str, Any] = orjson.loads(await stdout.readexactly(length))
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._broken = True
            raise WriterGone(
                f"The run record writer (process {self._process.pid}) stopped: {exc!r}."
            ) from exc
        return answer

    async def close(self) -> None:
        """Let the child finish and exit; kill it if it has not within the timeout."""
        self._broken = True
        stdin = self._process.stdin
        if stdin is not None:
            stdin.close()
            with contextlib.suppress(OSError):
                await stdin.wait_closed()
        try:
            await asyncio.wait_for(self._process.wait(), CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.warning(
                "The run record writer (process %d) did not exit; killing it",
                self._process.pid,
                extra={"event_name": "record_writer_killed"},
            )
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()


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
    store = Store.open(settings.database_url)
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
