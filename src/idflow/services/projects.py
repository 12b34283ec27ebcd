"""Projects and their management keys: creation, authentication, revocation.

A management key is shown once, when made; the store keeps only its SHA-256 hash.
Keys are 256 random bits, so a fast hash is safe here where a password would need
a slow one, and lookups by hash stay a single indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from idflow.clock import new_id, now_ms
from idflow.errors import (
    InvalidArgument,
    KeyNotFound,
    LastFullKey,
    ProjectNotFound,
    Unauthorized,
)
from idflow.services.audit import Actor, AuditAction, emit
from idflow.store import projects as project_store
from idflow.store.records import KeyScope, ManagementKey, Project

KEY_PREFIX = "K2"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A newly made key: its record and the secret, which is never shown again."""

    key: ManagementKey
    secret: str


def hash_key(secret: str) -> str:
    """Return the stored form of a management key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_project(conn: Any, actor: Actor, name: str) -> tuple[Project, IssuedKey]:
    """Create a project with a first, full-rights management key.

    Raises:
        InvalidArgument: when the name is blank.
    """
    if not name.strip():
        raise InvalidArgument("The project name is empty: expected a non-blank name.")
    project = Project(project_id=new_id("P"), name=name.strip(), created_ms=now_ms())
    project_store.insert_project(conn, project)
    emit(
        conn,
        actor,
        project.project_id,
        AuditAction.PROJECT_CREATED,
        data={"name": project.name},
    )
    issued = create_key(conn, actor, project.project_id, "default", KeyScope.FULL)

    return project, issued


def create_key(
    conn: Any, actor: Actor, project_id: str, name: str, scope: KeyScope
) -> IssuedKey:
    """Make a management key for a project and write `ManagementKeyCreated`."""
    # Keys never contain ':', which separates project id and key in the bearer.
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ManagementKey(
        key_id=new_id("K"),
        project_id=project_id,
        name=name,
        scope=scope,
        key_hash=hash_key(secret),
        created_ms=now_ms(),
    )
    project_store.insert_key(conn, key)
    emit(
        conn,
        actor,
        project_id,
        AuditAction.MANAGEMENT_KEY_CREATED,
        data={"keyId": key.key_id, "name": name, "scope": str(scope)},
    )

    return IssuedKey(key, secret)


def revoke_key(conn: Any, actor: Actor, project_id: str, key_id: str) -> bool:
    """Revoke a key; returns False when the project has no such live key."""
    revoked = project_store.revoke_key(conn, project_id, key_id, now_ms())
    if revoked:
        emit(
            conn,
            actor,
            project_id,
            AuditAction.MANAGEMENT_KEY_REVOKED,
            data={"keyId": key_id},
        )
    return revoked


def authenticate(conn: Any, project_id: str, secret: str) -> ManagementKey:
    """Return the live key matching a project id and secret.

    Raises:
        Unauthorized: when the key is unknown, revoked, or of another project;
            the message never says which, so keys cannot be probed.
    """
    key = project_store.find_key_by_hash(conn, hash_key(secret))
    if key is None or key.revoked_ms is not None or key.project_id != project_id:
        raise Unauthorized("The management key is not valid for this project.")
    return key


def resolve_project(conn: Any, project_id: str | None) -> Project:
    """Return the named project, or the only one when none is named.

    Raises:
        ProjectNotFound: when the named project does not exist.
        InvalidArgument: when none is named and there is not exactly one.
    """
    if project_id:
        project = project_store.get_project(conn, project_id)
        if project is None:
            raise ProjectNotFound(f"No project has the id {project_id!r}.")
        return project

    projects = project_store.list_projects(conn)
    if len(projects) == 1:
        return projects[0]
    if not projects:
        raise InvalidArgument(
            "There is no project yet: create one with `idflow project create --name NAME`."
        )
    raise InvalidArgument(
        f"There are {len(projects)} projects: choose one with --project or IDFLOW_PROJECT."
    )


def list_keys(conn: Any, project_id: str) -> list[ManagementKey]:
    """Return the project's keys, revoked ones included, oldest first."""
    return project_store.list_keys(conn, project_id)


def revoke_live_key(
    conn: Any, actor: Actor, project_id: str, key_id: str
) -> ManagementKey:
    """Revoke a live key of the project, keeping at least one live full key.

    Returns:
        The key as it is now, revoked.

    Raises:
        KeyNotFound: when the project has no live key with this id.
        LastFullKey: when it is the project's only live full key, without
            which no one could administer the project over the API.
    """
    keys = project_store.list_keys(conn, project_id)
    live = [k for k in keys if k.revoked_ms is None]
    key = next((k for k in live if k.key_id == key_id), None)
    if key is None:
        raise KeyNotFound(
            f"No live management key has the id {key_id!r} in this project."
        )
    full = [k for k in live if k.scope is KeyScope.FULL]
    if key.scope is KeyScope.FULL and len(full) == 1:
        raise LastFullKey(
            f"Key {key_id!r} is the project's last live full key: create another full key before revoking it."
        )

    revoke_key(conn, actor, project_id, key_id)
    revoked = next(
        k for k in project_store.list_keys(conn, project_id) if k.key_id == key_id
    )

    return revoked


def key_to_wire(key: ManagementKey) -> dict[str, Any]:
    """Render a management key for the API: never its secret or its hash."""
    return {
        "id": key.key_id,
        "name": key.name,
        "scope": str(key.scope),
        "status": "active" if key.revoked_ms is None else "revoked",
        # Seconds, as Descope's createdTime fields elsewhere.
        "createdTime": key.created_ms // 1000,
        "revokedTime": key.revoked_ms // 1000 if key.revoked_ms else 0,
    }
