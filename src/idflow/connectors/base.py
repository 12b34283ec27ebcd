"""The shape every connector type shares: its settings model, its secrets, its calls.

A type module (`http`, `smtp`, `chat`, `sql`) exports one `ConnectorKind`. The
services layer validates settings with `settings_model`, checks secret names
against `secret_names`, decrypts, and hands a `ResolvedConnector` to `call` (a
flow step) or `test` (an operator's test request). Neither sees the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from idflow.connectors.auth import TokenCache
from idflow.connectors.config import ConnectorSettings
from idflow.connectors.transport import HttpSender
from idflow.errors import ConnectorError

if TYPE_CHECKING:
    from idflow.connectors.sql import EngineCache


@dataclass(frozen=True, slots=True)
class ResolvedConnector:
    """A connector ready to call, its secrets in the clear (never logged).

    Attributes:
        version: changes whenever the connector is saved, so caches keyed by it
            (OAuth tokens, SQL engines) never outlive a change of settings.
    """

    connector_id: str
    name: str
    type: str
    version: int
    settings: BaseModel
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def cache_key(self) -> str:
        """A key naming this connector at this version."""
        return f"{self.connector_id}:{self.version}"


@dataclass(frozen=True, slots=True)
class Outbound:
    """What a call may use to reach the outside world.

    Attributes:
        timeout: seconds the whole call may take, retries included.
        idempotency_key: stable across retries of one step of one run; None
            for test requests.
        engines: the SQL engines of the process, for SQL connectors.
    """

    sender: HttpSender
    tokens: TokenCache
    settings: ConnectorSettings
    timeout: float
    idempotency_key: str | None = None
    engines: EngineCache | None = None


@dataclass(frozen=True, slots=True)
class CallResult:
    """What a call hands back.

    Attributes:
        value: goes into the flow context under the step's context key.
        detail: a short summary for the run trace: no secrets, no bodies, no
            personal data.
    """

    value: Any
    detail: Mapping[str, Any] = field(default_factory=dict)


CallFn = Callable[[ResolvedConnector, Mapping[str, Any], Outbound], CallResult]


@dataclass(frozen=True, slots=True)
class ConnectorKind:
    """One connector type.

    Attributes:
        step_arguments: the step arguments `call` reads, besides the common ones.
        required_secrets: secrets without which the connector cannot work.
        probe: sends a harmless request and reports what came back; it raises
            only for what stops the request being sent at all.
    """

    name: str
    settings_model: type[BaseModel]
    secret_names: frozenset[str]
    call: CallFn
    probe: CallFn
    required_secrets: frozenset[str] = frozenset()


def text_field(request: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    """Return a text value of a request, numbers turned to text.

    Raises:
        ConnectorError: when it is required and blank, or not text.
    """
    value = request.get(name)
    if value is None or value == "":
        if required:
            raise ConnectorError(f"The step's {name!r} rendered empty: expected text.")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConnectorError(f"The step's {name!r} is not text.")
    return str(value)


def text_list(request: Mapping[str, Any], name: str) -> list[str]:
    """Return a list of strings from a list or comma-separated text."""
    value = request.get(name)
    if value is None or value == "":
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConnectorError(f"The step's {name!r} is not a list.")
    return [str(item).strip() for item in items if str(item).strip()]
