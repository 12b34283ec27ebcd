"""User operations shared by the API, the CLI and flow actions, each with its event.

Every function takes the caller's store connection and writes the change and its
audit event in that one transaction. Lookups accept a login id or a user id, as
Descope's management API does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from idflow.clock import new_id, now_ms
from idflow.errors import (
    InvalidArgument,
    TenantNotFound,
    UserAlreadyExists,
    UserNotFound,
)
from idflow.services.audit import Actor, AuditAction, emit
from idflow.store import tenants as tenant_store
from idflow.store import user_search
from idflow.store import users as user_store
from idflow.store.records import User, UserStatus, UserTenant

# The most users one bulk operation touches: a sanity bound, not a page size.
MAX_BULK_USERS = 1_000_000

# Record attribute -> the name the SDKs and audit events use for it.
WIRE_NAMES = {
    "login_ids": "loginIds",
    "email": "email",
    "phone": "phone",
    "name": "name",
    "given_name": "givenName",
    "middle_name": "middleName",
    "family_name": "familyName",
    "verified_email": "verifiedEmail",
    "verified_phone": "verifiedPhone",
    "picture": "picture",
    "test": "test",
    "status": "status",
    "custom_attributes": "customAttributes",
    "role_names": "roleNames",
    "tenants": "userTenants",
}


def require_user(conn: Any, project_id: str, login_or_user_id: str) -> User:
    """Return the user with this login id (or, failing that, user id).

    Raises:
        UserNotFound: when neither matches a user of the project.
    """
    user = user_store.find_user(conn, project_id, login_or_user_id)
    if user is None:
        raise UserNotFound(
            f"No user has the login id or user id {login_or_user_id!r} in this project."
        )
    return user


def require_user_by_id(conn: Any, project_id: str, user_id: str) -> User:
    """Return the user with this user id (never matched as a login id).

    Raises:
        UserNotFound: when the project has no user with this id.
    """
    user = user_store.get_user(conn, project_id, user_id)
    if user is None:
        raise UserNotFound(f"No user has the user id {user_id!r} in this project.")
    return user


def create_user(
    conn: Any,
    actor: Actor,
    project_id: str,
    login_id: str,
    *,
    additional_login_ids: Iterable[str] = (),
    status: UserStatus = UserStatus.ENABLED,
    **fields: Any,
) -> User:
    """Create a user and write `UserCreated`.

    Args:
        conn: the store connection of the caller's transaction.
        actor: who creates the user.
        project_id: the project.
        login_id: the user's first login id.
        additional_login_ids: further login ids.
        status: the initial status.
        **fields: any other `User` attribute (email, name, custom_attributes, ...).

    Raises:
        InvalidArgument: when the login id is blank.
        UserAlreadyExists: when a login id is taken.
    """
    if not login_id or not login_id.strip():
        raise InvalidArgument("The login id is empty: expected a non-blank string.")
    created = now_ms()
    user = User(
        project_id=project_id,
        user_id=new_id("U"),
        login_ids=(login_id, *additional_login_ids),
        created_ms=created,
        modified_ms=created,
        status=status,
        **fields,
    )
    user_store.insert_user(conn, user)
    emit(
        conn,
        actor,
        project_id,
        AuditAction.USER_CREATED,
        user_id=user.user_id,
        login_ids=user.login_ids,
    )

    return user


def change_user(conn: Any, actor: Actor, user: User, **changes: Any) -> User:
    """Apply changes to a user and write `UserModified` with the new values.

    Fields that already hold the given value are left out; when nothing changes,
    nothing is written and no event is emitted.

    Args:
        conn: the store connection.
        actor: who makes the change.
        user: the user as loaded.
        **changes: `User` attributes and their new values.

    Returns:
        The user as stored afterwards.
    """
    changed = {
        name: value for name, value in changes.items() if getattr(user, name) != value
    }
    if not changed:
        return user

    updated = dataclasses.replace(user, modified_ms=now_ms(), **changed)
    if set(changed) == {"status"}:
        # Status alone is the hot path of lifecycle flows: one narrow UPDATE.
        user_store.set_user_status(
            conn, user.project_id, user.user_id, updated.status, updated.modified_ms
        )
    else:
        user_store.replace_user(conn, updated)
    data = {WIRE_NAMES[name]: _wire_value(value) for name, value in changed.items()}
    emit(
        conn,
        actor,
        user.project_id,
        AuditAction.USER_MODIFIED,
        user_id=user.user_id,
        login_ids=updated.login_ids,
        data=data,
    )

    return updated


def set_status(conn: Any, actor: Actor, user: User, status: UserStatus) -> User:
    """Enable or disable a user (a no-op when it already has that status)."""
    return change_user(conn, actor, user, status=status)


def delete_user(conn: Any, actor: Actor, user: User) -> None:
    """Delete a user and write `UserDeleted`."""
    user_store.delete_user(conn, user.project_id, user.user_id)
    emit(
        conn,
        actor,
        user.project_id,
        AuditAction.USER_DELETED,
        user_id=user.user_id,
        login_ids=user.login_ids,
    )


def add_tenant(
    conn: Any, actor: Actor, user: User, tenant_id: str, role_names: Iterable[str] = ()
) -> User:
    """Add the user to a tenant (merging roles if already a member).

    Raises:
        TenantNotFound: when the tenant does not exist.
    """
    if tenant_store.get_tenant(conn, user.project_id, tenant_id) is None:
        raise TenantNotFound(f"No tenant has the id {tenant_id!r} in this project.")
    tenants = _tenant_map(user)
    tenants[tenant_id] = _merge(tenants.get(tenant_id, ()), role_names)
    return change_user(conn, actor, user, tenants=_tenant_tuple(tenants))


def remove_tenant(conn: Any, actor: Actor, user: User, tenant_id: str) -> User:
    """Remove the user from a tenant; removing a non-member changes nothing."""
    tenants = _tenant_map(user)
    tenants.pop(tenant_id, None)
    return change_user(conn, actor, user, tenants=_tenant_tuple(tenants))


def add_roles(
    conn: Any,
    actor: Actor,
    user: User,
    role_names: Iterable[str],
    tenant_id: str | None = None,
) -> User:
    """Add roles project-wide, or in one tenant the user belongs to.

    Raises:
        InvalidArgument: when the user is not a member of `tenant_id`.
    """
    if tenant_id is None:
        return change_user(
            conn, actor, user, role_names=_merge(user.role_names, role_names)
        )
    tenants = _tenant_map(user)
    if tenant_id not in tenants:
        raise InvalidArgument(
            f"The user is not a member of tenant {tenant_id!r}: add the tenant first."
        )
    tenants[tenant_id] = _merge(tenants[tenant_id], role_names)
    return change_user(conn, actor, user, tenants=_tenant_tuple(tenants))


def remove_roles(
    conn: Any,
    actor: Actor,
    user: User,
    role_names: Iterable[str],
    tenant_id: str | None = None,
) -> User:
    """Remove roles project-wide, or in one tenant; absent roles are ignored."""
    removed = set(role_names)
    if tenant_id is None:
        return change_user(
            conn,
            actor,
            user,
            role_names=tuple(r for r in user.role_names if r not in removed),
        )
    tenants = _tenant_map(user)
    if tenant_id in tenants:
        tenants[tenant_id] = tuple(r for r in tenants[tenant_id] if r not in removed)
    return change_user(conn, actor, user, tenants=_tenant_tuple(tenants))


def user_to_wire(
    user: User, tenant_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Render a user as the Descope SDKs see it (the `user` object of answers)."""
    names = tenant_names or {}
    return {
        "userId": user.user_id,
        "loginIds": list(user.login_ids),
        "externalIds": list(user.login_ids),
        "name": user.name or "",
        "givenName": user.given_name or "",
        "middleName": user.middle_name or "",
        "familyName": user.family_name or "",
        "email": user.email or "",
        "verifiedEmail": user.verified_email,
        "phone": user.phone or "",
        "verifiedPhone": user.verified_phone,
        "roleNames": list(user.role_names),
        "userTenants": [
            {
                "tenantId": t.tenant_id,
                "roleNames": list(t.role_names),
                "tenantName": names.get(t.tenant_id, ""),
                "permissions": [],
            }
            for t in user.tenants
        ],
        "status": str(user.status),
        "picture": user.picture or "",
        "test": user.test,
        "customAttributes": dict(user.custom_attributes),
        # Descope's createdTime is in epoch seconds.
        "createdTime": user.created_ms // 1000,
        "editable": True,
        "permissions": [],
        "ssoAppIds": [],
        "TOTP": False,
        "SAML": False,
        "OIDC": False,
        "SCIM": False,
        "OAuth": {},
        "webauthn": False,
        "password": False,
        "push": False,
    }


def user_to_context(
    user: User, tenant_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Render a user for the flow context: the wire shape plus derived keys."""
    wire = user_to_wire(user, tenant_names)
    email = user.email or ""
    wire["emailDomain"] = email.rpartition("@")[2] if "@" in email else ""
    wire["tenantIds"] = [t.tenant_id for t in user.tenants]
    wire["tenantNames"] = [
        names for t in user.tenants if (names := (tenant_names or {}).get(t.tenant_id))
    ]
    wire["lastLoginTime"] = user.last_login_ms // 1000 if user.last_login_ms else None
    return wire


def tenant_names_for(conn: Any, user: User) -> dict[str, str]:
    """Look up the names of the user's tenants (no query when it has none)."""
    names = {}
    for membership in user.tenants:
        tenant = tenant_store.get_tenant(conn, user.project_id, membership.tenant_id)
        if tenant is not None:
            names[tenant.tenant_id] = tenant.name
    return names


def check_tenants(conn: Any, project_id: str, tenant_ids: Iterable[str]) -> None:
    """Check every tenant a user is to belong to exists.

    Raises:
        TenantNotFound: naming the first tenant that does not.
    """
    for tenant_id in dict.fromkeys(tenant_ids):
        if tenant_store.get_tenant(conn, project_id, tenant_id) is None:
            raise TenantNotFound(f"No tenant has the id {tenant_id!r} in this project.")


def tenant_names(conn: Any, project_id: str) -> dict[str, str]:
    """Return the name of every tenant of the project, for rendering many users."""
    return {t.tenant_id: t.name for t in tenant_store.list_tenants(conn, project_id)}


def search_users(
    conn: Any, project_id: str, query: user_search.UserQuery
) -> tuple[list[User], int]:
    """Return one page of the users matching a query, and how many match in all."""
    return user_search.search_users(conn, project_id, query)


def load_users(conn: Any, project_id: str, user_ids: Iterable[str]) -> list[User]:
    """Return the users with these user ids, in the order asked; unknown ids are skipped."""
    found = (user_store.get_user(conn, project_id, i) for i in dict.fromkeys(user_ids))
    return [user for user in found if user is not None]


def set_roles(
    conn: Any,
    actor: Actor,
    user: User,
    role_names: Iterable[str],
    tenant_id: str | None = None,
) -> User:
    """Replace the user's roles project-wide, or in one tenant it belongs to.

    Raises:
        InvalidArgument: when the user is not a member of `tenant_id`.
    """
    roles = tuple(dict.fromkeys(role_names))
    if tenant_id is None:
        return change_user(conn, actor, user, role_names=roles)
    tenants = _tenant_map(user)
    if tenant_id not in tenants:
        raise InvalidArgument(
            f"The user is not a member of tenant {tenant_id!r}: add the tenant first."
        )
    tenants[tenant_id] = roles
    return change_user(conn, actor, user, tenants=_tenant_tuple(tenants))


def replace_login_id(
    conn: Any, actor: Actor, user: User, old: str, new: str | None
) -> User:
    """Replace one of the user's login ids, or remove it when `new` is None.

    Args:
        conn: the store connection.
        actor: who makes the change.
        user: the user.
        old: the login id to replace; a user id stands for the first login id.
        new: the login id to put in its place, or None to remove it.

    Raises:
        InvalidArgument: when removing the user's last login id.
        UserAlreadyExists: when `new` belongs to another user.
    """
    target = old if old in user.login_ids else user.login_ids[0]
    login_ids = [new if login_id == target else login_id for login_id in user.login_ids]
    kept = tuple(login_id for login_id in login_ids if login_id)
    if not kept:
        raise InvalidArgument(
            f"User {user.user_id!r} has only the login id {target!r}: a user needs at least one."
        )
    return change_user(conn, actor, user, login_ids=kept)


def check_login_id_free(conn: Any, user: User, login_id: str) -> None:
    """Check no other user of the project holds `login_id`.

    Raises:
        UserAlreadyExists: when another user holds it.
    """
    holder = user_store.find_by_login_id(conn, user.project_id, login_id)
    if holder is not None and holder.user_id != user.user_id:
        raise UserAlreadyExists(
            f"The login id {login_id!r} already belongs to another user of this project."
        )


def delete_test_users(conn: Any, actor: Actor, project_id: str) -> int:
    """Delete every test user of the project; returns how many were deleted."""
    query = user_search.UserQuery(test_users_only=True, limit=MAX_BULK_USERS)
    found, _ = user_search.search_users(conn, project_id, query)
    for user in found:
        delete_user(conn, actor, user)

    return len(found)


def _tenant_map(user: User) -> dict[str, tuple[str, ...]]:
    return {t.tenant_id: t.role_names for t in user.tenants}


def _tenant_tuple(tenants: Mapping[str, tuple[str, ...]]) -> tuple[UserTenant, ...]:
    return tuple(UserTenant(tenant_id, roles) for tenant_id, roles in tenants.items())


def _merge(existing: Iterable[str], added: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*existing, *added]))


def _wire_value(value: Any) -> Any:
    if isinstance(value, tuple) and value and isinstance(value[0], UserTenant):
        return [
            {"tenantId": t.tenant_id, "roleNames": list(t.role_names)} for t in value
        ]
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value) if isinstance(value, UserStatus) else value
