"""`idflow worker`: claim deliveries and run the flows events trigger, until signalled."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

import click

from idflow.cli.root import EXIT_FAILED, CliState, handled_errors, pass_state
from idflow.collector import settle_after_start_up
from idflow.logs import configure_logging
from idflow.workers.worker import Worker

# How often the main thread looks up from waiting, so signals are handled.
_SIGNAL_CHECK_SECONDS = 0.5


@click.command()
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    help="Runs at once (env IDFLOW_WORKER_CONCURRENCY, default 4).",
)
@pass_state
def worker(state: CliState, concurrency: int | None) -> None:
    """Run event-triggered flows: claim deliveries, run them, mark them done.

    Any number of workers may share a PostgreSQL store, on any machines. The
    first SIGTERM or SIGINT stops claiming, lets runs in flight finish for up
    to IDFLOW_WORKER_GRACE_SECONDS and hands back every other claim; a second
    one exits at once, and its claims return when their leases expire.
    """
    configure_logging(state.settings.log_level)
    with handled_errors():
        runtime = state.open()
    stopping = threading.Event()

    def on_signal(number: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            os._exit(EXIT_FAILED)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    running = Worker(runtime, concurrency=concurrency)
    settle_after_start_up()
    running.start()
    while not stopping.wait(_SIGNAL_CHECK_SECONDS):
        pass
    running.stop()
