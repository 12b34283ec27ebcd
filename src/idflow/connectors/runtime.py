"""What connectors share in one process: keys, the HTTP client, caches and threads.

The secret keys are read on first use, so a process that never touches a
connector starts without one. Background ("run asynchronously") calls go to a
small pool of connector threads; their failures are logged, since no run waits
for them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from idflow.connectors.auth import TokenCache
from idflow.connectors.base import Outbound
from idflow.connectors.config import ConnectorSettings
from idflow.connectors.secrets import Keyring, key_file_path, load_keyring
from idflow.connectors.sql import EngineCache
from idflow.connectors.transport import HttpSender
from idflow.errors import IdflowError

logger = logging.getLogger(__name__)

BACKGROUND_THREADS = 4


class ConnectorRuntime:
    """The connector half of a process runtime."""

    def __init__(self, settings: ConnectorSettings) -> None:
        self.settings = settings
        self.tokens = TokenCache()
        self.engines = EngineCache()
        self._keyring: Keyring | None = None
        self._keyring_stamp: float | None = None
        self._sender: HttpSender | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future[object]] = set()
        self._lock = threading.Lock()

    @property
    def keyring(self) -> Keyring:
        """The secret keys, loaded on first use.

        Raises:
            ConfigurationError: no key is configured, or one is malformed.
        """
        stamp = _file_stamp(key_file_path(self.settings.env))
        with self._lock:
            # A rewritten key file (after `idflow connector rotate-key`) is read
            # again, so running processes follow a rotation without a restart.
            if self._keyring is None or stamp != self._keyring_stamp:
                self._keyring = load_keyring(self.settings.env)
                self._keyring_stamp = stamp
            return self._keyring

    def use_keyring(self, keyring: Keyring) -> None:
        """Replace the keys in force, as after a rotation."""
        stamp = _file_stamp(key_file_path(self.settings.env))
        with self._lock:
            self._keyring = keyring
            self._keyring_stamp = stamp

    @property
    def sender(self) -> HttpSender:
        """The shared HTTP client behind the outbound guard."""
        with self._lock:
            if self._sender is None:
                self._sender = HttpSender(
                    self.settings.outbound,
                    self.settings.max_response_bytes,
                    self.settings.ca_file,
                )
            return self._sender

    def outbound(self, timeout: float, idempotency_key: str | None = None) -> Outbound:
        """What one call may use, with its timeout capped by the operator's limit."""
        return Outbound(
            sender=self.sender,
            tokens=self.tokens,
            settings=self.settings,
            timeout=min(timeout, self.settings.max_timeout_seconds),
            idempotency_key=idempotency_key,
            engines=self.engines,
        )

    def dispatch(self, work: Callable[[], object]) -> None:
        """Run a background call on a connector thread; nobody waits for it."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    BACKGROUND_THREADS, thread_name_prefix="idflow-connector"
                )
            future = self._executor.submit(_logged, work)
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[object]) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout: float | None = None) -> None:
        """Wait until the background calls started so far have ended."""
        with self._lock:
            pending = set(self._pending)
        wait(pending, timeout=timeout)

    def close(self) -> None:
        """Finish background calls, then close the HTTP client and SQL engines."""
        with self._lock:
            executor, self._executor = self._executor, None
            sender, self._sender = self._sender, None
        if executor is not None:
            executor.shutdown(wait=True)
        if sender is not None:
            sender.close()
        self.engines.close()


def _logged(work: Callable[[], object]) -> object:
    try:
        return work()
    except IdflowError as exc:
        logger.error(
            "A background connector call failed: %s",
            exc.message,
            extra={"event_name": "connector_call_failed"},
        )
    except Exception:
        logger.exception(
            "A background connector call crashed",
            extra={"event_name": "connector_call_crashed"},
        )
    return None


def _file_stamp(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime_ns / 1e9
    except FileNotFoundError:
        return None
