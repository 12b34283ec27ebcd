"""Connector configuration: create, change, list, delete, test, resolve and re-key.

Settings are validated for the connector's type before anything is stored, and
secrets are encrypted here, on the way in, under the operator's key. Nothing
this module returns to a caller holds a secret: views list secret names only,
and error messages never quote secret values or bodies.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from idflow.clock import new_id, now_ms
from idflow.connectors.base import ConnectorKind, ResolvedConnector
from idflow.connectors.registry import KINDS
from idflow.connectors.runtime import ConnectorRuntime
from idflow.connectors.secrets import Keyring
from idflow.errors import (
    ConnectorError,
    ConnectorExists,
    ConnectorNotFound,
    InvalidArgument,
)
from idflow.redaction import scrub_values
from idflow.services.audit import Actor, AuditAction, emit
from idflow.store import connectors as connector_store
from idflow.store.records import Connector, ConnectorType

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


def create_connector(
    conn: Any,
    keyring: Keyring,
    actor: Actor,
    project_id: str,
    *,
    name: str,
    connector_type: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
) -> Connector:
    """Validate and store a new connector, its secrets encrypted.

    Raises:
        InvalidArgument: the name, type, settings or secrets are not usable.
        ConnectorExists: the project has a connector by this name.
    """
    if not _NAME.match(name):
        raise InvalidArgument(
            f"Connector name {name!r} is not usable: expected up to 64 letters, digits, spaces, '_', '.' or '-'."
        )
    kind = _kind(connector_type)
    checked = _check_settings(kind, settings)
    values = _check_secrets(kind, {}, secrets or {})
    if connector_store.get_connector(conn, project_id, name) is not None:
        raise ConnectorExists(
            f"The project already has a connector named {name!r}: update it or choose another name."
        )

    stamp = now_ms()
    connector = _sealed(
        Connector(
            project_id=project_id,
            connector_id=new_id("C"),
            name=name,
            type=ConnectorType(kind.name),
            created_ms=stamp,
            modified_ms=stamp,
            settings=checked,
        ),
        keyring,
        values,
    )
    connector_store.insert_connector(conn, connector)
    _audit(conn, actor, AuditAction.CONNECTOR_CREATED, connector)

    return connector


def update_connector(
    conn: Any,
    keyring: Keyring,
    actor: Actor,
    project_id: str,
    name: str,
    *,
    settings: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> Connector:
    """Replace a connector's settings and/or change some of its secrets.

    Args:
        conn: the connection, inside the caller's transaction.
        keyring: the keys in force.
        actor: who makes the change.
        project_id: the project.
        name: the connector.
        settings: the new settings, whole; None keeps the old ones.
        secrets: secrets to set; a null value removes that secret, and
            secrets not named stay as they are.

    Raises:
        ConnectorNotFound: the project has no connector by this name.
        InvalidArgument: the settings or secrets are not usable.
    """
    current = require_connector(conn, project_id, name)
    kind = _kind(current.type)
    checked = (
        _check_settings(kind, settings) if settings is not None else current.settings
    )
    values = dict(_open(current, keyring))
    values = _check_secrets(kind, values, secrets or {})

    changed = _sealed(
        replace(
            current,
            settings=checked,
            modified_ms=max(now_ms(), current.modified_ms + 1),
        ),
        keyring,
        values,
    )
    connector_store.update_connector(conn, changed)
    _audit(conn, actor, AuditAction.CONNECTOR_MODIFIED, changed)

    return changed


def delete_connector(conn: Any, actor: Actor, project_id: str, name: str) -> None:
    """Delete a connector; flows naming it fail at that step from now on.

    Raises:
        ConnectorNotFound: the project has no connector by this name.
    """
    connector = require_connector(conn, project_id, name)
    connector_store.delete_connector(conn, project_id, name)
    _audit(conn, actor, AuditAction.CONNECTOR_DELETED, connector)


def require_connector(conn: Any, project_id: str, name: str) -> Connector:
    """Return the named connector, or raise ConnectorNotFound."""
    connector = connector_store.get_connector(conn, project_id, name)
    if connector is None:
        raise ConnectorNotFound(f"No connector is named {name!r} in this project.")
    return connector


def list_connectors(conn: Any, project_id: str) -> list[Connector]:
    """Return the project's connectors, by name."""
    return connector_store.list_connectors(conn, project_id)


def connector_view(connector: Connector) -> dict[str, Any]:
    """The connector as the API, the CLI and exports show it: never its secrets."""
    return {
        "connectorId": connector.connector_id,
        "name": connector.name,
        "type": str(connector.type),
        "settings": dict(connector.settings),
        "secretNames": list(connector.secret_names),
        "createdTime": connector.created_ms,
        "modifiedTime": connector.modified_ms,
    }


def resolve_connector(
    conn: Any, keyring: Keyring, project_id: str, name: str, expected: str | None = None
) -> ResolvedConnector:
    """Load a connector and decrypt its secrets, ready to call.

    Raises:
        ConnectorNotFound: the project has no connector by this name.
        ConnectorError: it is of another type than `expected`, or lacks a
            required secret.
    """
    connector = require_connector(conn, project_id, name)
    if expected is not None and connector.type != expected:
        raise ConnectorError(
            f"Connector {name!r} is a {connector.type} connector: this step needs a {expected} connector."
        )
    kind = KINDS[connector.type]
    secrets = _open(connector, keyring)
    missing = sorted(kind.required_secrets - set(secrets))
    if missing:
        raise ConnectorError(
            f"Connector {name!r} lacks the secret(s) {', '.join(missing)}."
        )

    return ResolvedConnector(
        connector_id=connector.connector_id,
        name=connector.name,
        type=str(connector.type),
        version=connector.modified_ms,
        settings=kind.settings_model.model_validate(connector.settings),
        secrets=secrets,
    )


def probe_connector(
    runtime: ConnectorRuntime,
    resolved: ResolvedConnector,
    request: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Send a test request now and report what came back, without raising for it.

    Call it outside any store transaction: it waits on the network.

    Returns:
        `{"ok", "durationMs", "result"}` on success, `{"ok": false, "error"}`
        when the call failed; secrets are scrubbed from both.
    """
    kind = KINDS[resolved.type]
    timeout = float(getattr(resolved.settings, "timeoutSeconds", 10.0))
    started = time.perf_counter()
    try:
        result = kind.probe(resolved, dict(request or {}), runtime.outbound(timeout))
    except ConnectorError as exc:
        report: dict[str, Any] = {
            "ok": False,
            "error": {"code": exc.error_code, "message": exc.message},
        }
    else:
        report = {"ok": True, "result": result.value}
    report["durationMs"] = round((time.perf_counter() - started) * 1000, 1)

    return dict(scrub_values(report, resolved.secrets.values()))


def rekey_all(conn: Any, keyring: Keyring, actor: Actor) -> int:
    """Re-encrypt under the current key every secret sealed under another key.

    Returns:
        How many connectors were re-encrypted.

    Raises:
        ConfigurationError: a connector's key is not in the ring.
    """
    count = 0
    for connector in connector_store.connectors_with_secrets(conn):
        if not keyring.needs_rekey(connector.key_id):
            continue
        values = _open(connector, keyring)
        sealed = _sealed(connector, keyring, values)
        connector_store.set_secrets(
            conn, connector.connector_id, sealed.secrets, sealed.key_id
        )
        emit(
            conn,
            actor,
            connector.project_id,
            AuditAction.CONNECTOR_SECRETS_REKEYED,
            data={"name": connector.name, "keyId": keyring.current.key_id},
        )
        count += 1
    return count


def _kind(connector_type: str) -> ConnectorKind:
    kind = KINDS.get(connector_type)
    if kind is None:
        raise InvalidArgument(
            f"Connector type {connector_type!r} is unknown: expected one of {', '.join(sorted(KINDS))}."
        )
    return kind


def _check_settings(kind: ConnectorKind, settings: Mapping[str, Any]) -> dict[str, Any]:
    try:
        model = kind.settings_model.model_validate(dict(settings))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors(include_url=False)[:5]
        )
        raise InvalidArgument(
            f"The {kind.name} connector settings are not usable: {problems}."
        ) from None
    checked: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)

    return checked


def _check_secrets(
    kind: ConnectorKind, current: dict[str, str], changes: Mapping[str, Any]
) -> dict[str, str]:
    values = dict(current)
    for name, value in changes.items():
        if name not in kind.secret_names:
            raise InvalidArgument(
                f"A {kind.name} connector has no secret {name!r}: expected {', '.join(sorted(kind.secret_names))}."
            )
        if value is None:
            values.pop(name, None)
        elif isinstance(value, str) and value:
            values[name] = value
        else:
            raise InvalidArgument(
                f"Secret {name!r} must be a non-empty string, or null to remove it."
            )
    return values


def _open(connector: Connector, keyring: Keyring) -> dict[str, str]:
    if connector.secrets is None:
        return {}
    return keyring.decrypt(connector.secrets, connector.connector_id)


def _sealed(
    connector: Connector, keyring: Keyring, values: Mapping[str, str]
) -> Connector:
    if not values:
        return replace(connector, secrets=None, key_id=None, secret_names=())
    return replace(
        connector,
        secrets=keyring.encrypt(values, connector.connector_id),
        key_id=keyring.current.key_id,
        secret_names=tuple(sorted(values)),
    )


def _audit(conn: Any, actor: Actor, action: AuditAction, connector: Connector) -> None:
    emit(
        conn,
        actor,
        connector.project_id,
        action,
        data={
            "name": connector.name,
            "type": str(connector.type),
            "secretNames": list(connector.secret_names),
        },
    )
