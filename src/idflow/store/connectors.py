"""Connector queries: create, look up by name, list, change, delete, and re-key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, insert, select, update

from idflow.store.records import Connector, ConnectorType
from idflow.store.tables import connectors

_BY_NAME = and_(
    connectors.c.project_id == bindparam("project_id"),
    connectors.c.name == bindparam("name"),
)
_INSERT = insert(connectors)
_GET = select(connectors).where(_BY_NAME)
_LIST = (
    select(connectors)
    .where(connectors.c.project_id == bindparam("project_id"))
    .order_by(connectors.c.name)
)
# UPDATE reserves bind names equal to column names for its SET clause.
_UPDATE = (
    update(connectors)
    .where(connectors.c.connector_id == bindparam("match_connector_id"))
    .values(
        settings=bindparam("settings"),
        secrets=bindparam("secrets"),
        key_id=bindparam("key_id"),
        secret_names=bindparam("secret_names"),
        modified_ms=bindparam("modified_ms"),
    )
)
_DELETE = delete(connectors).where(_BY_NAME)
_WITH_SECRETS = (
    select(connectors)
    .where(connectors.c.secrets.is_not(None))
    .order_by(connectors.c.connector_id)
)
_SET_SECRETS = (
    update(connectors)
    .where(connectors.c.connector_id == bindparam("match_connector_id"))
    .values(secrets=bindparam("secrets"), key_id=bindparam("key_id"))
)


def insert_connector(conn: Connection, connector: Connector) -> None:
    """Store a new connector; its name must be new in its project.

    Args:
        conn: the connection, inside the caller's transaction.
        connector: the connector, its secrets already encrypted.
    """
    conn.execute(_INSERT, _row_values(connector))


def get_connector(conn: Connection, project_id: str, name: str) -> Connector | None:
    """Return the project's connector with this name, or None."""
    row = conn.execute(_GET, {"project_id": project_id, "name": name}).first()
    return None if row is None else _from_row(row)


def list_connectors(conn: Connection, project_id: str) -> list[Connector]:
    """Return the project's connectors, by name."""
    rows = conn.execute(_LIST, {"project_id": project_id})
    return [_from_row(row) for row in rows]


def update_connector(conn: Connection, connector: Connector) -> bool:
    """Write a connector's settings, secrets and modification time.

    Returns:
        True when the connector exists and was updated.
    """
    values = _row_values(connector)
    result = conn.execute(
        _UPDATE,
        {
            "match_connector_id": connector.connector_id,
            "settings": values["settings"],
            "secrets": values["secrets"],
            "key_id": values["key_id"],
            "secret_names": values["secret_names"],
            "modified_ms": values["modified_ms"],
        },
    )
    return result.rowcount > 0


def delete_connector(conn: Connection, project_id: str, name: str) -> bool:
    """Delete a connector; returns False when the project has none by this name."""
    result = conn.execute(_DELETE, {"project_id": project_id, "name": name})
    return result.rowcount > 0


def connectors_with_secrets(conn: Connection) -> list[Connector]:
    """Return every connector of every project that holds secrets, for re-keying."""
    return [_from_row(row) for row in conn.execute(_WITH_SECRETS)]


def set_secrets(
    conn: Connection, connector_id: str, secrets: str | None, key_id: str | None
) -> None:
    """Replace a connector's ciphertext and key id, leaving all else as it is."""
    conn.execute(
        _SET_SECRETS,
        {"match_connector_id": connector_id, "secrets": secrets, "key_id": key_id},
    )


def _row_values(connector: Connector) -> dict[str, Any]:
    return {
        "connector_id": connector.connector_id,
        "project_id": connector.project_id,
        "name": connector.name,
        "type": connector.type.value,
        "settings": dict(connector.settings),
        "secrets": connector.secrets,
        "key_id": connector.key_id,
        "secret_names": list(connector.secret_names),
        "created_ms": connector.created_ms,
        "modified_ms": connector.modified_ms,
    }


def _from_row(row: Row[Any]) -> Connector:
    return Connector(
        project_id=row.project_id,
        connector_id=row.connector_id,
        name=row.name,
        type=ConnectorType(row.type),
        created_ms=row.created_ms,
        modified_ms=row.modified_ms,
        settings=row.settings,
        secrets=row.secrets,
        key_id=row.key_id,
        secret_names=tuple(row.secret_names),
    )
