"""Project and management key queries: create, look up, list and revoke."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update

from idflow.store.records import KeyScope, ManagementKey, Project
from idflow.store.tables import management_keys, projects

_INSERT_PROJECT = insert(projects)
_GET_PROJECT = select(projects).where(projects.c.project_id == bindparam("project_id"))
_LIST_PROJECTS = select(projects).order_by(projects.c.created_ms, projects.c.project_id)

_INSERT_KEY = insert(management_keys)
_FIND_KEY_BY_HASH = select(management_keys).where(
    management_keys.c.key_hash == bindparam("key_hash")
)
_LIST_KEYS = (
    select(management_keys)
    .where(management_keys.c.project_id == bindparam("project_id"))
    .order_by(management_keys.c.created_ms, management_keys.c.key_id)
)
_REVOKE_KEY = (
    update(management_keys)
    .where(
        management_keys.c.project_id == bindparam("match_project_id"),
        management_keys.c.key_id == bindparam("match_key_id"),
        management_keys.c.revoked_ms.is_(None),
    )
    .values(revoked_ms=bindparam("revoked_ms"))
)


def insert_project(conn: Connection, project: Project) -> None:
    """Store a new project.

    Args:
        conn: the connection, inside the caller's transaction.
        project: the project to store; its id must be new.
    """
    conn.execute(
        _INSERT_PROJECT,
        {
            "project_id": project.project_id,
            "name": project.name,
            "created_ms": project.created_ms,
        },
    )


def get_project(conn: Connection, project_id: str) -> Project | None:
    """Return the project with this id, or None when there is none."""
    row = conn.execute(_GET_PROJECT, {"project_id": project_id}).first()
    return None if row is None else _project_from_row(row)


def list_projects(conn: Connection) -> list[Project]:
    """Return every project, oldest first."""
    return [_project_from_row(row) for row in conn.execute(_LIST_PROJECTS)]


def insert_key(conn: Connection, key: ManagementKey) -> None:
    """Store a new management key; its project must exist.

    Args:
        conn: the connection, inside the caller's transaction.
        key: the key, carrying only the hash of its secret.
    """
    conn.execute(
        _INSERT_KEY,
        {
            "key_id": key.key_id,
            "project_id": key.project_id,
            "name": key.name,
            "scope": key.scope.value,
            "key_hash": key.key_hash,
            "created_ms": key.created_ms,
            "revoked_ms": key.revoked_ms,
        },
    )


def find_key_by_hash(conn: Connection, key_hash: str) -> ManagementKey | None:
    """Return the key whose secret has this hash, revoked or not, or None.

    Args:
        conn: the connection.
        key_hash: the SHA-256 hash of the presented secret.

    Returns:
        The key; the caller checks `revoked_ms` and the project.
    """
    row = conn.execute(_FIND_KEY_BY_HASH, {"key_hash": key_hash}).first()
    return None if row is None else _key_from_row(row)


def list_keys(conn: Connection, project_id: str) -> list[ManagementKey]:
    """Return the project's keys, revoked ones included, oldest first."""
    result = conn.execute(_LIST_KEYS, {"project_id": project_id})
    return [_key_from_row(row) for row in result]


def revoke_key(conn: Connection, project_id: str, key_id: str, revoked_ms: int) -> bool:
    """Mark a key revoked from now on.

    Args:
        conn: the connection, inside the caller's transaction.
        project_id: the project the key belongs to.
        key_id: the key.
        revoked_ms: when the key stops working.

    Returns:
        True when a live key was revoked; False when the project has no such
        key or it was already revoked, in which case nothing changes.
    """
    result = conn.execute(
        _REVOKE_KEY,
        {
            "match_project_id": project_id,
            "match_key_id": key_id,
            "revoked_ms": revoked_ms,
        },
    )
    return result.rowcount > 0


def _project_from_row(row: Row[Any]) -> Project:
    return Project(project_id=row.project_id, name=row.name, created_ms=row.created_ms)


def _key_from_row(row: Row[Any]) -> ManagementKey:
    return ManagementKey(
        key_id=row.key_id,
        project_id=row.project_id,
        name=row.name,
        scope=KeyScope(row.scope),
        key_hash=row.key_hash,
        created_ms=row.created_ms,
        revoked_ms=row.revoked_ms,
    )
