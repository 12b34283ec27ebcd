"""The worker: claim deliveries in batches, run them on N threads, keep their leases alive.

One dispatcher thread claims deliveries in batches and queues them for N run
threads, holding at most N plus a small prefetch, so a worker never sits on much
more than it can run. It sleeps until woken: by a NOTIFY on PostgreSQL (a
listener thread on its own connection), by a commit in this process that added
deliveries, by run threads coming free, or at the latest after the poll
interval. A renewer thread extends the leases of everything held, so a long run
is not taken over while it still works.

Stopping (SIGTERM, SIGINT, or the end of `idflow serve`) claims nothing more,
hands back claims not yet started, lets runs in flight finish for the grace
period, and then hands back the rest; a run that still ends later finds its
lease gone and rolls back.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import random
import socket
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from typing import Any, TypeVar

from idflow.clock import new_id, now_ms
from idflow.errors import IdflowError
from idflow.runtime import Runtime
from idflow.services import runs as run_service
from idflow.store import audit as audit_store
from idflow.store import deliveries as delivery_store
from idflow.store.claims import WakeListener, claim_dialect
from idflow.workers.attempt import AttemptResult, Attempts, Claimed
from idflow.workers.retry import RetryPolicy

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# SQLite has no LISTEN, and other processes (the CLI, a second server) may add
# deliveries; a short poll there finds them quickly at a negligible cost.
SQLITE_POLL_SECONDS = 0.2
# A lease is renewed when a third of it is left, so two renewals can fail in
# a row (a database restart) before another worker may take a delivery over.
RENEW_FRACTION = 3
# The listener wakes this often to see whether the worker is stopping.
LISTEN_SLICE_SECONDS = 0.5
# How often the sweeper looks for synchronous runs whose process stopped.
SWEEP_SECONDS = 60.0


def worker_id() -> str:
    """A worker id that says where the worker runs: host, process and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_id('W')[-6:]}"


class Worker:
    """Claims deliveries and runs their flows, on threads or one call at a time.

    Tests drive it synchronously with `run_once`; processes call `start` and
    `stop`. Both share the same claim and attempt code.

    Args:
        runtime: the process runtime.
        concurrency: runs at once; defaults to `IDFLOW_WORKER_CONCURRENCY`.
        owner: the id its leases carry; defaults to `worker_id()`.
        clock: the current time in epoch milliseconds.
        random: floats in [0, 1) for the backoff's jitter.
        run_in: how to run store work; the default runs it on the calling
            thread. `idflow serve` on SQLite passes the runtime's store thread,
            so runs and API writes share its group commits; runs that wait on
            connectors stay on the worker's run thread, so the wait holds up
            no API request (`Runtime.run_leaves_store_thread`).
        prefetch: claims held beyond the run threads, so a claim's
            transaction serves several runs; defaults to `concurrency`.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        concurrency: int | None = None,
        owner: str | None = None,
        clock: Callable[[], int] = now_ms,
        random: Callable[[], float] = random.random,
        run_in: Callable[[Callable[[], Any]], Any] | None = None,
        prefetch: int | None = None,
    ) -> None:
        settings = runtime.settings.deliveries
        self.runtime = runtime
        self.owner = owner or worker_id()
        self.concurrency = concurrency or settings.concurrency
        self.prefetch = self.concurrency if prefetch is None else prefetch
        self.lease_ms = round(settings.lease_seconds * 1000)
        self.poll_seconds = settings.poll_seconds
        # A claim on SQLite takes the file's one write lock, even when it finds
        # nothing: a poll first reads whether anything is due.
        self._look_before_claiming = runtime.store.dialect_name == "sqlite"
        if self._look_before_claiming:
            self.poll_seconds = min(self.poll_seconds, SQLITE_POLL_SECONDS)
        self.grace_seconds = settings.grace_seconds
        self._clock = clock
        self._run_in = run_in
        self._attempts = Attempts(
            runtime, self.owner, RetryPolicy.from_settings(settings), clock, random
        )
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # Batches of claims for the run threads; None tells a thread to stop.
        self._queue: queue.Queue[list[Claimed] | None] = queue.Queue()
        self._held: dict[str, Claimed] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._unwatch: Callable[[], None] | None = None

    # The synchronous core: tests call these; the threads below loop over them.

    def claim(self, limit: int) -> list[Claimed]:
        """Claim up to `limit` due deliveries, each with its event, in one transaction."""

        def work() -> list[Claimed]:
            now = self._clock()
            if self._look_before_claiming:
                with self.runtime.store.connect() as conn:
                    if not delivery_store.any_due(conn, now):
                        return []
            with self.runtime.store.begin() as conn:
                claimed = delivery_store.claim_deliveries(
                    conn, self.owner, limit, self.lease_ms, now
                )
                return [
                    Claimed(
                        d,
                        None
                        if d.event_id is None
                        else audit_store.get_event(conn, d.project_id, d.event_id),
                    )
                    for d in claimed
                ]

        claimed = self._call(work)
        if claimed:
            logger.debug(
                "Claimed %d deliveries",
                len(claimed),
                extra={"event_name": "delivery_claimed"},
            )
        return claimed

    def attempt(self, claimed: Claimed) -> AttemptResult:
        """Run one claimed delivery's flow and settle the delivery."""
        return self._call(lambda: self._attempts.attempt(claimed))

    def run_once(self, limit: int | None = None) -> list[AttemptResult]:
        """Claim what is due now (up to `limit`) and attempt each, one by one."""
        claimed = self.claim(limit or self.concurrency)
        return [self.attempt(item) for item in claimed]

    def run_until_idle(self, max_rounds: int = 1000) -> list[AttemptResult]:
        """Call `run_once` until nothing is due at the worker's clock's time."""
        results: list[AttemptResult] = []
        for _ in range(max_rounds):
            round_results = self.run_once()
            if not round_results:
                break
            results.extend(round_results)
        return results

    def sweep(self) -> list[str]:
        """Fail the synchronous runs left `running` by a process that stopped.

        Returns:
            The ids of the runs failed (`services.runs.fail_abandoned_runs`).
        """
        return self._call(
            partial(run_service.fail_abandoned_runs, self.runtime, self._clock())
        )

    def wake(self) -> None:
        """Make the dispatcher claim now instead of at its next poll."""
        self._wake.set()

    # The threaded worker.

    def start(self) -> None:
        """Start the dispatcher, run, renewer and (on PostgreSQL) listener threads."""
        dialect = claim_dialect(self.runtime.store.dialect_name)
        self._unwatch = dialect.watch_commits(self.runtime.store, self._wake.set)
        targets: list[tuple[str, Callable[[], None]]] = [
            ("dispatcher", self._dispatch),
            ("renewer", self._renew),
            ("sweeper", self._sweep),
        ]
        targets += [(f"run-{n}", self._run) for n in range(self.concurrency)]
        if self.runtime.store.dialect_name == "postgresql":
            targets.append(("listener", self._listen))
        for name, target in targets:
            thread = threading.Thread(
                target=target, name=f"idflow-worker-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        logger.info(
            "Worker %s started with %d run threads on %s",
            self.owner,
            self.concurrency,
            self.runtime.store.url_for_display,
            extra={"event_name": "worker_started"},
        )

    def stop(self, grace_seconds: float | None = None) -> None:
        """Stop claiming, let runs in flight finish, and hand back every other claim.

        Args:
            grace_seconds: how long runs in flight may take to finish;
                defaults to `IDFLOW_WORKER_GRACE_SECONDS`.
        """
        grace = self.grace_seconds if grace_seconds is None else grace_seconds
        self._stopping.set()
        self._wake.set()
        if self._unwatch is not None:
            self._unwatch()
        dispatcher = self._threads[0] if self._threads else None
        if dispatcher is not None:
            dispatcher.join()

        # Claims no run thread has picked up go back at once, uncounted.
        unstarted = self._take_queued()
        released = self._release(unstarted, uncount=True)
        for _ in range(self.concurrency):
            self._queue.put(None)
        deadline = time.monotonic() + grace
        for thread in self._threads[1:]:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            in_flight = list(self._held)
        released += self._release(in_flight, uncount=False)

        logger.info(
            "Worker %s stopped; %d claims handed back",
            self.owner,
            released,
            extra={"event_name": "worker_stopped"},
        )

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            with self._lock:
                free = self.concurrency + self.prefetch - len(self._held)
            # Claim in batches: only once the prefetched claims have started.
            if free >= max(self.prefetch, 1) and self._claim_into_queue(free) == free:
                # There may be more due: claim again once threads come free.
                continue
            self._wake.wait(self.poll_seconds)

    def _claim_into_queue(self, limit: int) -> int:
        try:
            claimed = self.claim(limit)
        except IdflowError as exc:
            logger.warning(
                "Claiming deliveries failed: %s",
                exc.message,
                extra={"event_name": "delivery_claim_failed"},
            )
            return 0
        except Exception:
            # The dispatcher must outlive any fault, or the worker would idle.
            logger.exception(
                "Claiming deliveries failed unexpectedly",
                extra={"event_name": "delivery_claim_failed"},
            )
            return 0
        with self._lock:
            for item in claimed:
                self._held[item.delivery.delivery_id] = item
        if self._run_in is not None:
            # On a shared store thread, one job runs the whole batch: handing
            # each claim over on its own costs about as much as a short run.
            self._queue.put(claimed)
        else:
            for item in claimed:
                self._queue.put([item])
        return len(claimed)

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._attempt_all(batch)

    def _next_batch(self) -> list[Claimed] | None:
        items = self._queue.get()
        if items is None:
            return None
        with self._lock:
            return [i for i in items if i.delivery.delivery_id in self._held]

    def _attempt_all(self, items: list[Claimed]) -> None:
        if self._run_in is None:
            self._attempt_grouped(items)
        else:
            # A run that waits on connectors would hold the shared store thread
            # for the whole wait; it runs here instead, between the jobs that
            # take the others there, so deliveries still start in claim order.
            runtime = self.runtime
            for apart, group in itertools.groupby(
                items,
                key=lambda i: runtime.run_leaves_store_thread(
                    i.delivery.project_id, i.delivery.flow_id
                ),
            ):
                if apart:
                    self._attempt_each(list(group))
                else:
                    self._call(partial(self._attempt_grouped, list(group)))
        # The dispatcher may claim again; waking it once per batch is enough.
        self._wake.set()

    def _attempt_grouped(self, items: list[Claimed]) -> None:
        # On SQLite the batch's runs share one commit (`Store.batch`); each
        # run, with its delivery's completion, is still atomic on its own.
        grouped = self.runtime.store.dialect_name == "sqlite" and len(items) > 1
        with self.runtime.store.batch() if grouped else nullcontext():
            self._attempt_each(items)

    def _attempt_each(self, items: list[Claimed]) -> None:
        for item in items:
            delivery_id = item.delivery.delivery_id
            try:
                self._attempts.attempt(item)
            except Exception:
                # attempt() settles every failure itself; this is a store outage
                # while settling, and the lease will bring the delivery back.
                logger.exception(
                    "Delivery %s could not be settled",
                    delivery_id,
                    extra={"event_name": "delivery_crashed"},
                )
            finally:
                with self._lock:
                    self._held.pop(delivery_id, None)

    def _renew(self) -> None:
        interval = self.lease_ms / 1000 / RENEW_FRACTION
        # A run that ended just before a renewal is not renewed either; only a
        # delivery still held at the next renewal has really lost its lease.
        unrenewed: set[str] = set()
        reported: set[str] = set()
        while not self._stopping.wait(interval):
            with self._lock:
                held = list(self._held)
            try:
                renewed = self._renew_leases(held) if held else set()
            except Exception as exc:
                logger.warning(
                    "Renewing %d leases failed: %s",
                    len(held),
                    getattr(exc, "message", type(exc).__name__),
                    extra={"event_name": "delivery_lease_renewal_failed"},
                )
                continue
            with self._lock:
                lost = {d for d in unrenewed if d in self._held} - reported
                unrenewed = {d for d in held if d not in renewed and d in self._held}
                reported = (reported | lost) & set(self._held)
            for delivery_id in sorted(lost):
                logger.warning(
                    "Delivery %s lost its lease before its run ended",
                    delivery_id,
                    extra={"event_name": "delivery_lease_lost"},
                )

    def _sweep(self) -> None:
        # Every worker sweeps; the update of each run is guarded by its status,
        # so two workers sweeping at once fail each run once.
        while not self._stopping.wait(SWEEP_SECONDS):
            try:
                self.sweep()
            except Exception as exc:
                logger.warning(
                    "Looking for abandoned runs failed: %s",
                    getattr(exc, "message", type(exc).__name__),
                    extra={"event_name": "run_sweep_failed"},
                )

    def _renew_leases(self, held: list[str]) -> set[str]:
        def work() -> set[str]:
            expires = self._clock() + self.lease_ms
            with self.runtime.store.begin() as conn:
                return delivery_store.renew_leases(conn, self.owner, held, expires)

        return self._call(work)

    def _listen(self) -> None:
        dialect = claim_dialect(self.runtime.store.dialect_name)
        for failures in itertools.count():
            if self._stopping.is_set():
                return
            listener: WakeListener | None = None
            try:
                listener = dialect.listen(self.runtime.store)
                if listener is None:
                    return
                self._wake.set()  # Catch up on what was added while deaf.
                while not self._stopping.is_set():
                    if listener.wait(LISTEN_SLICE_SECONDS):
                        self._wake.set()
            except IdflowError as exc:
                logger.warning(
                    "The delivery listener failed (%d times); polling until it is back: %s",
                    failures + 1,
                    exc.message,
                    extra={"event_name": "worker_listener_failed"},
                )
                self._stopping.wait(self.poll_seconds)
            finally:
                if listener is not None:
                    listener.close()

    def _take_queued(self) -> list[str]:
        taken: list[str] = []
        while True:
            try:
                items = self._queue.get_nowait()
            except queue.Empty:
                break
            taken.extend(i.delivery.delivery_id for i in items or ())
        with self._lock:
            for delivery_id in taken:
                self._held.pop(delivery_id, None)
        return taken

    def _release(self, delivery_ids: list[str], *, uncount: bool) -> int:
        if not delivery_ids:
            return 0

        def work() -> int:
            with self.runtime.store.begin() as conn:
                return delivery_store.release_deliveries(
                    conn, self.owner, delivery_ids, self._clock(), uncount=uncount
                )

        try:
            return int(self._call(work))
        except IdflowError as exc:
            logger.warning(
                "Handing back %d claims failed; their leases will expire: %s",
                len(delivery_ids),
                exc.message,
                extra={"event_name": "delivery_release_failed"},
            )
            return 0

    def _call(self, work: Callable[[], _T]) -> _T:
        if self._run_in is None:
            return work()
        result: _T = self._run_in(work)
        return result
