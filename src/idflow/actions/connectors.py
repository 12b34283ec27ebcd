"""Connector actions: a flow step calls a project's connector by name.

Each action does its store work inside the run's transaction (load the
connector, decrypt its secrets, read the step's arguments) and hands the
network call back to the runner as an `ExternalCall`, which the runner makes
after committing the run's effects so far, or in the background when the step
says `async`. Secrets are scrubbed from every message and trace detail.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from idflow.actions import arguments
from idflow.connectors.base import ResolvedConnector
from idflow.connectors.registry import KINDS
from idflow.connectors.runtime import ConnectorRuntime
from idflow.engine.contract import ActionCall, ActionResult, ExternalCall, RunInfo
from idflow.errors import ConfigurationError, ConnectorError, InvalidArgument
from idflow.redaction import scrub_values
from idflow.services import connectors as connector_service

logger = logging.getLogger(__name__)

# Arguments every connector step takes; the rest are the request itself.
COMMON_ARGUMENTS = ("connector", "timeoutSeconds", "async")


def idempotency_key(run_id: str, task_id: str) -> str:
    """The idempotency key of one step of one run: the same on every retry."""
    return hashlib.sha256(f"{run_id}/{task_id}".encode()).hexdigest()[:32]


def _key_scope(run: RunInfo) -> str:
    # A run started by an event is one attempt at its delivery, which the
    # (event, flow) pair names; every attempt then sends the same key, so a
    # receiver can tell a retry after a crash from a new request.
    if run.triggering_event_id:
        return f"delivery:{run.triggering_event_id}:{run.flow_id}"
    return run.run_id


def _flag(call: ActionCall, name: str) -> bool:
    value = call.arguments.get(name)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidArgument(f"Argument {name!r} is {value!r}: expected true or false.")


def _timeout(call: ActionCall, connector: ResolvedConnector) -> float:
    raw = arguments.text(call, "timeoutSeconds")
    if raw is None:
        return float(getattr(connector.settings, "timeoutSeconds", 10.0))
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise InvalidArgument(
            f"Argument 'timeoutSeconds' is {raw!r}: expected a positive number."
        )
    return seconds


def _runtime(call: ActionCall) -> ConnectorRuntime:
    runtime = call.session.connectors if call.session is not None else None
    if not isinstance(runtime, ConnectorRuntime):
        raise ConfigurationError(
            "Connector steps need a run started by idflow's run service."
        )
    return runtime


def _prepare(call: ActionCall, connector_type: str) -> ActionResult:
    kind = KINDS[connector_type]
    runtime = _runtime(call)
    name = arguments.text(call, "connector", required=True)
    assert name is not None
    resolved = connector_service.resolve_connector(
        call.conn, runtime.keyring, call.run.project_id, name, connector_type
    )
    outbound = runtime.outbound(
        _timeout(call, resolved), idempotency_key(_key_scope(call.run), call.task_id)
    )
    request = {
        key: value
        for key, value in call.arguments.items()
        if key not in COMMON_ARGUMENTS
    }
    secrets = tuple(resolved.secrets.values())

    def perform() -> ActionResult:
        started = time.perf_counter()
        try:
            result = kind.call(resolved, request, outbound)
        except ConnectorError as exc:
            raise type(exc)(scrub_values(exc.message, secrets)) from None
        logger.debug(
            "Connector %s (%s) answered in %.1fms",
            name,
            connector_type,
            (time.perf_counter() - started) * 1000,
            extra={"event_name": "connector_called"},
        )
        return ActionResult(result.value, _scrubbed(result.detail, secrets))

    return ActionResult(
        detail={"connector": name},
        external=ExternalCall(perform, background=_flag(call, "async")),
    )


def _scrubbed(detail: Mapping[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    return dict(scrub_values(dict(detail), secrets))


def call_http(call: ActionCall) -> ActionResult:
    """`http-connector`: send one request through an HTTP connector."""
    return _prepare(call, "http")


def send_email(call: ActionCall) -> ActionResult:
    """`email-connector`: send one email through an SMTP connector."""
    return _prepare(call, "smtp")


def post_slack(call: ActionCall) -> ActionResult:
    """`slack-connector`: post a message to a Slack incoming webhook."""
    return _prepare(call, "slack")


def post_teams(call: ActionCall) -> ActionResult:
    """`teams-connector`: post a message to a Teams incoming webhook."""
    return _prepare(call, "teams")


def query_sql(call: ActionCall) -> ActionResult:
    """`sql-connector`: run one parameterised query through a SQL connector."""
    return _prepare(call, "sql")
