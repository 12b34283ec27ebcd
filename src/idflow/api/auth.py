"""Management bearer authentication: `Authorization: Bearer <ProjectID>:<Key>`.

Verified keys are cached for a few seconds so the hot path costs no query; a key
revoked through another process stops working within `KEY_CACHE_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from idflow.errors import Forbidden, Unauthorized
from idflow.runtime import Runtime
from idflow.services import projects
from idflow.services.audit import Actor
from idflow.store.records import KeyScope, ManagementKey

KEY_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a management API request."""

    project_id: str
    key: ManagementKey

    @property
    def actor(self) -> Actor:
        """The actor changes made through this key are audited under."""
        return Actor(self.key.key_id)

    def require(self, scope: KeyScope) -> None:
        """Check the key may make a call needing `scope`.

        A full key may do anything; a run-flows key may run flows; a read-only
        key may only read.

        Raises:
            Forbidden: when the key's scope does not cover the call.
        """
        if self.key.scope is KeyScope.FULL or self.key.scope is scope:
            return
        raise Forbidden(
            f"This management key is limited to {self.key.scope!s}: the call needs {scope!s}."
        )


class KeyCache:
    """Verified keys by (project id, secret hash), each for a short time."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], tuple[ManagementKey, float]] = {}
        self._lock = threading.Lock()

    def get(self, project_id: str, key_hash: str) -> ManagementKey | None:
        """Return the cached key, or None when absent or expired."""
        with self._lock:
            entry = self._keys.get((project_id, key_hash))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, project_id: str, key_hash: str, key: ManagementKey) -> None:
        """Remember a verified key for `KEY_CACHE_SECONDS`."""
        with self._lock:
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[(project_id, key_hash)] = (
                key,
                time.monotonic() + KEY_CACHE_SECONDS,
            )

    def clear(self) -> None:
        """Forget every key, as after a revocation."""
        with self._lock:
            self._keys.clear()


def parse_bearer(header: str | None) -> tuple[str, str]:
    """Split a management bearer into project id and key.

    Raises:
        Unauthorized: when the header is missing or not `Bearer <PID>:<Key>`.
    """
    if not header:
        raise Unauthorized(
            "The Authorization header is missing: expected 'Bearer <ProjectID>:<ManagementKey>'."
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "The Authorization header is not a bearer: expected 'Bearer <ProjectID>:<ManagementKey>'."
        )
    parts = token.strip().split(":")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise Unauthorized(
            "The bearer is malformed: expected '<ProjectID>:<ManagementKey>', two parts joined by ':'."
        )
    return parts[0], parts[1]


def cached_principal(header: str | None, cache: KeyCache) -> Principal | None:
    """The caller of a bearer whose key was verified moments ago, or None.

    The common case of `authenticate_bearer`, without a coroutine.

    Raises:
        Unauthorized: when the bearer is missing or malformed.
    """
    project_id, secret = parse_bearer(header)
    key = cache.get(project_id, projects.hash_key(secret))
    return None if key is None else Principal(project_id, key)


async def authenticate_bearer(
    header: str | None, runtime: Runtime, cache: KeyCache
) -> Principal:
    """Return the caller whose `Authorization` header this is.

    Raises:
        Unauthorized: when the bearer is missing, malformed or not valid.
    """
    project_id, secret = parse_bearer(header)
    key_hash = projects.hash_key(secret)
    key = cache.get(project_id, key_hash)
    if key is None:

        def verify() -> ManagementKey:
            with runtime.store.connect() as conn:
                return projects.authenticate(conn, project_id, secret)

        key = await runtime.call_blocking(verify)
        cache.put(project_id, key_hash, key)
    return Principal(project_id, key)
