"""User queries: create, find by login id or user id, rewrite, disable, delete.

A user's login ids live twice: ordered in `users.login_ids` so one row read
returns the whole user, and one row each in `user_login_ids`, whose primary key
makes a login id unique in its project and serves the lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError

from idflow.errors import UserAlreadyExists
from idflow.store.driver import DriverStatement
from idflow.store.records import User, UserStatus, UserTenant
from idflow.store.tables import user_login_ids, users

_KEY_COLUMNS = ("project_id", "user_id")
_KEY = and_(
    users.c.project_id == bindparam("project_id"),
    users.c.user_id == bindparam("user_id"),
)
# UPDATE reserves bind names equal to column names for its SET clause.
_UPDATE_KEY = and_(
    users.c.project_id == bindparam("match_project_id"),
    users.c.user_id == bindparam("match_user_id"),
)

_INSERT_USER = insert(users)
_REPLACE_USER = (
    update(users)
    .where(_UPDATE_KEY)
    .values({c.name: bindparam(c.name) for c in users.c if c.name not in _KEY_COLUMNS})
)
# Lifecycle flows disable and enable users on their hot path: straight to the
# driver (see store/driver.py).
_SET_STATUS = DriverStatement(
    update(users)
    .where(_UPDATE_KEY)
    .values(status=bindparam("status"), modified_ms=bindparam("modified_ms"))
)
_DELETE_USER = delete(users).where(_KEY)
_GET_USER = select(users).where(_KEY)
_LOGIN_ID_OWNER = and_(
    user_login_ids.c.project_id == users.c.project_id,
    user_login_ids.c.user_id == users.c.user_id,
)
_FIND_BY_LOGIN_ID = (
    select(users)
    .join(user_login_ids, _LOGIN_ID_OWNER)
    .where(
        user_login_ids.c.project_id == bindparam("project_id"),
        user_login_ids.c.login_id == bindparam("login_id"),
    )
)
# Both lookups of find_user in one statement, so a user id costs one round trip,
# not a miss and then a hit. The login id branch ranks first: it wins when a
# string is a login id of one user and the user id of another.
_FIND_USER = DriverStatement(
    union_all(
        select(users, literal_column("0").label("rank"))
        .join(user_login_ids, _LOGIN_ID_OWNER)
        .where(
            user_login_ids.c.project_id == bindparam("project_id"),
            user_login_ids.c.login_id == bindparam("ref"),
        ),
        select(users, literal_column("1").label("rank")).where(
            users.c.project_id == bindparam("project_id"),
            users.c.user_id == bindparam("ref"),
        ),
    )
    .order_by(literal_column("rank"))
    .limit(1)
)
_LIST_USERS = (
    select(users)
    .where(users.c.project_id == bindparam("project_id"))
    .order_by(users.c.created_ms, users.c.user_id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_COUNT_USERS = (
    select(func.count())
    .select_from(users)
    .where(users.c.project_id == bindparam("project_id"))
)

_INSERT_LOGIN_ID = insert(user_login_ids)
_DELETE_LOGIN_IDS = delete(user_login_ids).where(
    user_login_ids.c.project_id == bindparam("project_id"),
    user_login_ids.c.user_id == bindparam("user_id"),
)
_LOGIN_ID_OWNERS = select(user_login_ids.c.login_id, user_login_ids.c.user_id).where(
    user_login_ids.c.project_id == bindparam("project_id"),
    user_login_ids.c.login_id.in_(bindparam("login_ids", expanding=True)),
)


def insert_user(conn: Connection, user: User) -> None:
    """Store a new user and claim its login ids.

    A login id listed twice is stored once. On failure nothing is written and
    the caller's transaction stays usable.

    Args:
        conn: the connection, inside the caller's transaction.
        user: the user; its user id must be new in the project.

    Raises:
        UserAlreadyExists: a login id, named in the message, belongs to another
            user of the project, or the user id is taken.
    """
    login_ids = _distinct(user.login_ids)
    _check_login_ids_free(conn, user.project_id, login_ids, owner_id=None)

    # The check above misses a login id claimed by a transaction committing
    # meanwhile; the savepoint keeps that PostgreSQL error from aborting ours.
    try:
        with conn.begin_nested():
            conn.execute(_INSERT_USER, _user_values(user, login_ids))
            _insert_login_ids(conn, user.project_id, user.user_id, login_ids)
    except IntegrityError as exc:
        _check_login_ids_free(conn, user.project_id, login_ids, owner_id=None)
        raise UserAlreadyExists(
            f"User id {user.user_id!r} already exists in project {user.project_id!r}."
        ) from exc


def get_user(conn: Connection, project_id: str, user_id: str) -> User | None:
    """Return the user with this user id, or None when there is none."""
    row = conn.execute(
        _GET_USER, {"project_id": project_id, "user_id": user_id}
    ).first()
    return None if row is None else _user_from_row(row)


def find_user(conn: Connection, project_id: str, login_or_user_id: str) -> User | None:
    """Return the user holding this login id, else the one with this user id.

    Descope's management API accepts either identifier wherever it asks for a
    login id; a login id wins when a string happens to be both.

    Args:
        conn: the connection.
        project_id: the project to search.
        login_or_user_id: a login id or a user id.

    Returns:
        The user, or None when neither lookup finds one.
    """
    row = _FIND_USER.first(conn, {"project_id": project_id, "ref": login_or_user_id})
    return None if row is None else _user_from_row(row)


def replace_user(conn: Connection, user: User) -> bool:
    """Rewrite every field of a stored user, its login ids included.

    Args:
        conn: the connection, inside the caller's transaction.
        user: the user as it should now be stored.

    Returns:
        True when the user was rewritten; False when the project has no user
        with this id, in which case nothing is written.

    Raises:
        UserAlreadyExists: a new login id, named in the message, belongs to
            another user; nothing is written.
    """
    login_ids = _distinct(user.login_ids)
    _check_login_ids_free(conn, user.project_id, login_ids, owner_id=user.user_id)
    values = _user_values(user, login_ids)
    match = {"match_project_id": user.project_id, "match_user_id": user.user_id}

    try:
        with conn.begin_nested():
            if conn.execute(_REPLACE_USER, {**values, **match}).rowcount == 0:
                return False
            conn.execute(
                _DELETE_LOGIN_IDS,
                {"project_id": user.project_id, "user_id": user.user_id},
            )
            _insert_login_ids(conn, user.project_id, user.user_id, login_ids)
    except IntegrityError as exc:
        _check_login_ids_free(conn, user.project_id, login_ids, user.user_id)
        raise UserAlreadyExists(
            f"A login id of user {user.user_id!r} was claimed concurrently."
        ) from exc

    return True


def set_user_status(
    conn: Connection,
    project_id: str,
    user_id: str,
    status: UserStatus,
    modified_ms: int,
) -> bool:
    """Change a user's status with a single UPDATE.

    Args:
        conn: the connection, inside the caller's transaction.
        project_id: the user's project.
        user_id: the user.
        status: the new status.
        modified_ms: the new modification time.

    Returns:
        True when the user exists and was updated.
    """
    changed = _SET_STATUS.execute(
        conn,
        {
            "match_project_id": project_id,
            "match_user_id": user_id,
            "status": status.value,
            "modified_ms": modified_ms,
        },
    )
    return changed > 0


def delete_user(conn: Connection, project_id: str, user_id: str) -> bool:
    """Delete a user; its login ids go with it and become free.

    Returns:
        True when a user was deleted, False when there was none.
    """
    result = conn.execute(_DELETE_USER, {"project_id": project_id, "user_id": user_id})
    return result.rowcount > 0


def list_users(
    conn: Connection, project_id: str, *, limit: int, offset: int = 0
) -> list[User]:
    """Return one page of the project's users, oldest first.

    Args:
        conn: the connection.
        project_id: the project.
        limit: the most users to return.
        offset: how many users to skip first.

    Returns:
        The users of the page, ordered by creation time then user id.
    """
    result = conn.execute(
        _LIST_USERS, {"project_id": project_id, "limit": limit, "offset": offset}
    )
    return [_user_from_row(row) for row in result]


def count_users(conn: Connection, project_id: str) -> int:
    """Return how many users the project has."""
    return int(conn.execute(_COUNT_USERS, {"project_id": project_id}).scalar_one())


def find_by_login_id(conn: Connection, project_id: str, login_id: str) -> User | None:
    """Return the user holding this login id (never matched as a user id), or None."""
    row = conn.execute(
        _FIND_BY_LOGIN_ID, {"project_id": project_id, "login_id": login_id}
    ).first()
    return None if row is None else _user_from_row(row)


def user_from_row(row: Row[Any]) -> User:
    """Build a user from a row of the `users` table, for queries in other modules."""
    return _user_from_row(row)


def _check_login_ids_free(
    conn: Connection, project_id: str, login_ids: Sequence[str], owner_id: str | None
) -> None:
    if not login_ids:
        return

    rows = conn.execute(
        _LOGIN_ID_OWNERS, {"project_id": project_id, "login_ids": list(login_ids)}
    ).all()
    taken = {row.login_id for row in rows if row.user_id != owner_id}
    for login_id in login_ids:
        if login_id in taken:
            raise UserAlreadyExists(
                f"Login id {login_id!r} already belongs to a user of project {project_id!r}."
            )


def _insert_login_ids(
    conn: Connection, project_id: str, user_id: str, login_ids: Iterable[str]
) -> None:
    rows = [
        {"project_id": project_id, "login_id": login_id, "user_id": user_id}
        for login_id in login_ids
    ]
    if rows:
        conn.execute(_INSERT_LOGIN_ID, rows)


def _distinct(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _user_values(user: User, login_ids: Sequence[str]) -> dict[str, Any]:
    return {
        "project_id": user.project_id,
        "user_id": user.user_id,
        "login_ids": list(login_ids),
        "status": user.status.value,
        "email": user.email,
        "phone": user.phone,
        "name": user.name,
        "given_name": user.given_name,
        "middle_name": user.middle_name,
        "family_name": user.family_name,
        "verified_email": user.verified_email,
        "verified_phone": user.verified_phone,
        "picture": user.picture,
        "test": user.test,
        "custom_attributes": dict(user.custom_attributes),
        "role_names": list(user.role_names),
        "tenants": [
            {"tenantId": tenant.tenant_id, "roleNames": list(tenant.role_names)}
            for tenant in user.tenants
        ],
        "created_ms": user.created_ms,
        "modified_ms": user.modified_ms,
        "last_login_ms": user.last_login_ms,
    }


def _user_from_row(row: Row[Any]) -> User:
    return User(
        project_id=row.project_id,
        user_id=row.user_id,
        login_ids=tuple(row.login_ids),
        created_ms=row.created_ms,
        modified_ms=row.modified_ms,
        status=UserStatus(row.status),
        email=row.email,
        phone=row.phone,
        name=row.name,
        given_name=row.given_name,
        middle_name=row.middle_name,
        family_name=row.family_name,
        verified_email=row.verified_email,
        verified_phone=row.verified_phone,
        picture=row.picture,
        test=row.test,
        custom_attributes=row.custom_attributes,
        role_names=tuple(row.role_names),
        tenants=tuple(
            UserTenant(tenant_id=item["tenantId"], role_names=tuple(item["roleNames"]))
            for item in row.tenants
        ),
        last_login_ms=row.last_login_ms,
    )
