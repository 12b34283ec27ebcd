"""Operator settings for connectors, read once from the environment.

| Variable | Default | Meaning |
|---|---|---|
| IDFLOW_SECRET_KEY | - | secret keys, comma-separated; the first encrypts |
| IDFLOW_SECRET_KEY_FILE | var/secret.key | file of keys, used when the above is unset |
| IDFLOW_OUTBOUND_ALLOW | - | addresses and networks connectors may reach though not public |
| IDFLOW_CONNECTOR_MAX_RESPONSE_BYTES | 1048576 | largest answer body read |
| IDFLOW_CONNECTOR_MAX_TIMEOUT_SECONDS | 30 | longest timeout a step may ask for |
| IDFLOW_CONNECTOR_SQLITE_DIRS | - | folders SQLite connectors may open files in |
| IDFLOW_CONNECTOR_CA_FILE | - | PEM file of CA certificates trusted besides the default roots |
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from idflow.connectors.outbound import OutboundPolicy
from idflow.errors import ConfigurationError

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    """What the operator decides about connectors.

    Attributes:
        env: the variables the secret keys are read from, kept so the keys are
            loaded only when a connector first needs them.
        sqlite_dirs: folders whose files SQLite connectors may open; none by
            default, since a path could otherwise name idflow's own store.
        ca_file: CA certificates that HTTP, chat and SMTP connectors trust on
            top of their default roots, for servers with an internal CA.
    """

    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)
    max_response_bytes: int = MAX_RESPONSE_BYTES
    max_timeout_seconds: float = MAX_TIMEOUT_SECONDS
    sqlite_dirs: tuple[Path, ...] = ()
    ca_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConnectorSettings:
        """Read the connector settings, checking each.

        Raises:
            ConfigurationError: naming the variable whose value is unusable.
        """
        source = dict(os.environ if env is None else env)
        return cls(
            env={k: v for k, v in source.items() if k.startswith("IDFLOW_SECRET_KEY")},
            outbound=OutboundPolicy.parse(source.get("IDFLOW_OUTBOUND_ALLOW", "")),
            max_response_bytes=int(
                _positive(
                    source,
                    "IDFLOW_CONNECTOR_MAX_RESPONSE_BYTES",
                    float(MAX_RESPONSE_BYTES),
                )
            ),
            max_timeout_seconds=_positive(
                source, "IDFLOW_CONNECTOR_MAX_TIMEOUT_SECONDS", MAX_TIMEOUT_SECONDS
            ),
            sqlite_dirs=tuple(
                Path(part).resolve()
                for part in source.get("IDFLOW_CONNECTOR_SQLITE_DIRS", "").split(",")
                if part.strip()
            ),
            ca_file=_ca_file(source.get("IDFLOW_CONNECTOR_CA_FILE", "")),
        )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ConfigurationError(f"{name} is {raw!r}: expected a positive number.")
    return value


def _ca_file(raw: str) -> Path | None:
    if not raw.strip():
        return None
    path = Path(raw.strip()).resolve()
    # Loaded once here so that a missing or malformed file stops start-up,
    # rather than failing every TLS connector call later.
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except OSError as exc:  # ssl.SSLError included: no certificate in the file
        reason = exc.reason if isinstance(exc, ssl.SSLError) else exc.strerror
        raise ConfigurationError(
            f"IDFLOW_CONNECTOR_CA_FILE is {raw!r}: expected a readable PEM file of CA certificates ({reason or exc})."
        ) from exc

    return path
