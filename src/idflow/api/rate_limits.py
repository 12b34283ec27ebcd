"""Request rate limits per project and endpoint family, counted in this process.

Each family of endpoints has its own budget per project: at most `requests`
calls in a fixed window of `window_seconds`. A call over the budget is refused
with 429, `Retry-After` (whole seconds until the window resets) and
Descope's `E130429` body. A limit with a backoff keeps refusing for at least
that long after its first refusal, as Descope does for user creation.

Three profiles ship, chosen with `IDFLOW_RATE_LIMITS`:

- `self-hosted` (the default): generous budgets over windows of 10 s, meant to
  stop a runaway loop from filling the store, not to meter a healthy backend;
- `descope`: the figures Descope publishes, for a backend that must behave the
  same against both;
- `off`: no limits, for benchmarks.

`IDFLOW_RATE_LIMIT_OVERRIDES` changes single families of the chosen profile:
`flow-run=100/10s,audit-search=off`.

Counters live in the memory of one server process and are reset when it
restarts; the module touches nothing else.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from idflow.errors import ConfigurationError, RateLimited

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

DEFAULT_PROFILE = "self-hosted"
# Past this many counters, expired ones are dropped before a new one is added.
MAX_WINDOWS = 10_000


class Family(StrEnum):
    """A group of endpoints sharing one budget per project."""

    USER_CREATE = "user-create"
    USER_UPDATE = "user-update"
    USER_OTHER = "user-other"
    FLOW_RUN = "flow-run"
    AUDIT_SEARCH = "audit-search"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `requests` calls per fixed window of `window_seconds`.

    Attributes:
        backoff_seconds: once refused, the caller waits at least this long,
            even when the window resets sooner; 0 waits for the reset only.
    """

    requests: int
    window_seconds: int
    backoff_seconds: int = 0

    def __str__(self) -> str:
        return f"{self.requests}/{self.window_seconds}s"


PROFILES: Mapping[str, Mapping[Family, Limit]] = {
    "off": {},
    # Each budget is above what one process serves for its family on SQLite,
    # so only a loop gone wrong meets it; audit search scans the most rows.
    "self-hosted": {
        Family.USER_CREATE: Limit(1000, 10),
        Family.USER_UPDATE: Limit(2000, 10),
        Family.USER_OTHER: Limit(5000, 10),
        Family.FLOW_RUN: Limit(20000, 10),
        Family.AUDIT_SEARCH: Limit(100, 10),
        Family.OTHER: Limit(5000, 10),
    },
    # https://docs.descope.com/rate-limiting and the audit docs. Descope's
    # backend budget (1000 / 10 s) covers every call of a project together;
    # here it is given to the flow-run and other families each.
    "descope": {
        Family.USER_CREATE: Limit(100, 60, backoff_seconds=60),
        Family.USER_UPDATE: Limit(200, 60),
        Family.USER_OTHER: Limit(500, 60),
        Family.FLOW_RUN: Limit(1000, 10, backoff_seconds=10),
        Family.AUDIT_SEARCH: Limit(10, 60),
        Family.OTHER: Limit(1000, 10, backoff_seconds=10),
    },
}

_FAMILY_OF_PATH = {
    "/v1/mgmt/user/create": Family.USER_CREATE,
    "/v1/mgmt/user/create/test": Family.USER_CREATE,
    "/v1/mgmt/user/create/batch": Family.USER_CREATE,
    "/v1/mgmt/user/update": Family.USER_UPDATE,
    "/v2/mgmt/user/search": Family.USER_UPDATE,
    "/v2/mgmt/user/search/test": Family.USER_UPDATE,
    "/v1/mgmt/user": Family.USER_OTHER,
    "/v1/mgmt/flow/run": Family.FLOW_RUN,
    "/v1/mgmt/flow/async/run": Family.FLOW_RUN,
    "/v1/mgmt/audit/search": Family.AUDIT_SEARCH,
}
_USER_PREFIXES = ("/v1/mgmt/user/", "/v1/mgmt/users/", "/v2/mgmt/user/")
# The SDKs ask for the license once per client, and a refused handshake only
# drops their tier header, so counting it would spend budget for nothing.
_UNLIMITED_PATHS = frozenset({"/v1/mgmt/license"})
_OVERRIDE = re.compile(r"^(?P<requests>\d+)/(?P<seconds>\d+)s?$")


def family_of(path: str) -> Family | None:
    """Return the family a request path is counted in, or None when it is not limited."""
    if path in _UNLIMITED_PATHS:
        return None
    family = _FAMILY_OF_PATH.get(path)
    if family is not None:
        return family
    if path.startswith(_USER_PREFIXES):
        return Family.USER_OTHER
    return Family.OTHER


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """A named profile and the families the operator set apart from it.

    Attributes:
        overrides: (family, limit) pairs replacing the profile's limit; a limit
            of None leaves that family unlimited.
    """

    profile: str = DEFAULT_PROFILE
    overrides: tuple[tuple[Family, Limit | None], ...] = ()

    @classmethod
    def parse(cls, profile: str | None, overrides: str | None) -> RateLimitPolicy:
        """Read `IDFLOW_RATE_LIMITS` and `IDFLOW_RATE_LIMIT_OVERRIDES`.

        Raises:
            ConfigurationError: naming the variable whose value is unusable.
        """
        name = (profile or DEFAULT_PROFILE).strip().lower()
        if name not in PROFILES:
            raise ConfigurationError(
                f"IDFLOW_RATE_LIMITS is {profile!r}: expected one of {', '.join(PROFILES)}."
            )
        entries = [e.strip() for e in (overrides or "").split(",") if e.strip()]
        return cls(name, tuple(_parse_override(entry) for entry in entries))

    def limits(self) -> dict[Family, Limit]:
        """The limit of each limited family: the profile's, then the overrides."""
        limits = dict(PROFILES[self.profile])
        for family, limit in self.overrides:
            if limit is None:
                limits.pop(family, None)
            else:
                limits[family] = limit
        return limits

    def __str__(self) -> str:
        changed = [f"{family}={limit or 'off'}" for family, limit in self.overrides]
        return ", ".join([self.profile, *changed])


def _parse_override(entry: str) -> tuple[Family, Limit | None]:
    expected = (
        "expected <family>=<requests>/<seconds>s or <family>=off, "
        f"the family one of {', '.join(Family)}"
    )
    name, _, spec = entry.partition("=")
    try:
        family = Family(name.strip().lower())
    except ValueError:
        raise ConfigurationError(
            f"IDFLOW_RATE_LIMIT_OVERRIDES has {entry!r}: {expected}."
        ) from None
    spec = spec.strip().lower()
    if spec == "off":
        return family, None

    match = _OVERRIDE.match(spec)
    if match is None or int(match["requests"]) < 1 or int(match["seconds"]) < 1:
        raise ConfigurationError(
            f"IDFLOW_RATE_LIMIT_OVERRIDES has {entry!r}: {expected}, both numbers positive."
        )
    return family, Limit(int(match["requests"]), int(match["seconds"]))


@dataclass(slots=True)
class _Window:
    resets_at: float
    calls: int = 0
    refusing: bool = False


# TODO(limitation): counters are per process, so N servers behind one load balancer allow N times each budget; can go once counters are kept in the store or a shared cache.
class RateLimiter:
    """Fixed-window call counters per project and family, in this process's memory.

    The API calls `check` from the event loop only, between two awaits, so
    the counters need no lock.
    """

    def __init__(self, policy: RateLimitPolicy, clock: Clock = time.monotonic) -> None:
        self._limits = policy.limits()
        self._clock = clock
        self._windows: dict[tuple[str, Family], _Window] = {}

    def check(self, project_id: str, path: str) -> None:
        """Count one call of a project to a path, or refuse it.

        Raises:
            RateLimited: when the path's family has no budget left in the
                current window, with the seconds until it has.
        """
        if not self._limits:
            return
        family = family_of(path)
        limit = None if family is None else self._limits.get(family)
        if family is None or limit is None:
            return

        now = self._clock()
        window = self._window(project_id, family, limit, now)
        if window.calls < limit.requests:
            window.calls += 1
            return

        if not window.refusing:
            window.refusing = True
            window.resets_at = max(window.resets_at, now + limit.backoff_seconds)
            logger.warning(
                "Project %s is over its %s rate limit of %s",
                project_id,
                family,
                limit,
                extra={"event_name": "rate_limit_exceeded"},
            )
        # Never 0: a client told to wait 0 s would retry in a tight loop.
        retry_after = max(1, math.ceil(window.resets_at - now))
        raise RateLimited(
            f"This project made more than {limit.requests} {family} calls within {limit.window_seconds} s: retry after {retry_after} s.",
            retry_after_seconds=retry_after,
        )

    def _window(
        self, project_id: str, family: Family, limit: Limit, now: float
    ) -> _Window:
        key = (project_id, family)
        window = self._windows.get(key)
        if window is not None and now < window.resets_at:
            return window

        if window is None and len(self._windows) >= MAX_WINDOWS:
            self._windows = {
                k: w for k, w in self._windows.items() if now < w.resets_at
            }
        window = _Window(resets_at=now + limit.window_seconds)
        self._windows[key] = window
        return window
