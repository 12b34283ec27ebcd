"""Settings read once from the environment, with defaults for the embedded setup.

| Variable | Default | Meaning |
|---|---|---|
| IDFLOW_DATABASE_URL | sqlite:///var/idflow.db | the store; a PostgreSQL URL works too |
| IDFLOW_HOST / IDFLOW_PORT | 127.0.0.1 / 8080 | where `idflow serve` listens |
| IDFLOW_RUN_TIMEOUT_SECONDS | 30 | longest a run may take |
| IDFLOW_MAX_STEPS | 1000 | most steps one run may take |
| IDFLOW_MAX_INPUT_BYTES | 65536 | largest run input, as JSON |
| IDFLOW_MAX_OUTPUT_BYTES | 65536 | largest End output, as JSON |
| IDFLOW_MAX_BODY_BYTES | 1048576 | largest HTTP request body |
| IDFLOW_LOG_LEVEL | INFO | root log level |
| IDFLOW_RATE_LIMITS | self-hosted | rate limit profile: off, self-hosted or descope |
| IDFLOW_RATE_LIMIT_OVERRIDES | - | families set apart: `flow-run=100/10s,audit-search=off` |
| IDFLOW_RECORD_WRITER | process | on a SQLite file, who writes `idflow serve`'s context-only run records and makes its runs of flows without connectors: a writer process, or `thread` (the store thread) |

Connector settings (secret keys, outbound allowlist, caps, trusted CA file) are
read by `idflow.connectors.config`, and event delivery and worker settings by
`idflow.workers.config`; their docstrings list them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from idflow.api.rate_limits import RateLimitPolicy
from idflow.connectors.config import ConnectorSettings
from idflow.engine.runner import RunLimits
from idflow.errors import ConfigurationError
from idflow.workers.config import DeliverySettings

DEFAULT_DATABASE_URL = "sqlite:///var/idflow.db"

# Who writes the run records of `idflow serve` on a SQLite file, and makes its
# store-only runs (decisions 0015 and 0016).
RECORD_WRITERS = ("process", "thread")

_N = TypeVar("_N", int, float)
_KIND_NAMES = {int: "a whole number", float: "a number"}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything idflow reads from its environment."""

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    run_timeout_seconds: float = 30.0
    max_steps: int = 1000
    max_input_bytes: int = 64 * 1024
    max_output_bytes: int = 64 * 1024
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    record_writer: str = "process"
    rate_limits: RateLimitPolicy = field(default_factory=RateLimitPolicy)
    connectors: ConnectorSettings = field(default_factory=ConnectorSettings)
    deliveries: DeliverySettings = field(default_factory=DeliverySettings)
    # The limits every run is held to, from the three settings above them.
    run_limits: RunLimits = field(init=False, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from environment variables, checking each.

        Raises:
            ConfigurationError: naming the variable whose value is unusable.
        """
        source = os.environ if env is None else env
        return cls(
            database_url=source.get("IDFLOW_DATABASE_URL") or DEFAULT_DATABASE_URL,
            host=source.get("IDFLOW_HOST") or "127.0.0.1",
            port=_number(source, "IDFLOW_PORT", 8080, int),
            run_timeout_seconds=_number(
                source, "IDFLOW_RUN_TIMEOUT_SECONDS", 30.0, float
            ),
            max_steps=_number(source, "IDFLOW_MAX_STEPS", 1000, int),
            max_input_bytes=_number(source, "IDFLOW_MAX_INPUT_BYTES", 64 * 1024, int),
            max_output_bytes=_number(source, "IDFLOW_MAX_OUTPUT_BYTES", 64 * 1024, int),
            max_body_bytes=_number(source, "IDFLOW_MAX_BODY_BYTES", 1024 * 1024, int),
            log_level=(source.get("IDFLOW_LOG_LEVEL") or "INFO").upper(),
            record_writer=_choice(
                source, "IDFLOW_RECORD_WRITER", RECORD_WRITERS, "process"
            ),
            rate_limits=RateLimitPolicy.parse(
                source.get("IDFLOW_RATE_LIMITS"),
                source.get("IDFLOW_RATE_LIMIT_OVERRIDES"),
            ),
            connectors=ConnectorSettings.from_env(source),
            deliveries=DeliverySettings.from_env(source),
        )

    def __post_init__(self) -> None:
        # Made once: every run reads it, and the API makes thousands a second.
        object.__setattr__(
            self,
            "run_limits",
            RunLimits(
                max_steps=self.max_steps,
                timeout_seconds=self.run_timeout_seconds,
                max_output_bytes=self.max_output_bytes,
            ),
        )


def _choice(
    env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str
) -> str:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in choices:
        raise ConfigurationError(
            f"{name} is {raw!r}: expected one of {', '.join(choices)}."
        )
    return raw.lower()


def _number(env: Mapping[str, str], name: str, default: _N, kind: type[_N]) -> _N:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(
            f"{name} is {raw!r}: expected {_KIND_NAMES[kind]}."
        ) from None
    if value <= 0:
        raise ConfigurationError(f"{name} is {raw!r}: expected a positive number.")
    return value
