"""User search: filters, order and paging over a project's users.

Filters on plain columns run in SQL. Filters on roles, tenant memberships and
custom attributes read JSON columns whose query syntax differs per dialect, so
they run in Python over the rows the SQL filters leave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    cast,
    exists,
    func,
    or_,
    select,
)

from idflow.store.records import User, UserStatus
from idflow.store.tables import user_login_ids, users
from idflow.store.users import user_from_row

# Columns a search may sort by; the wire names are the API's to map.
SORTABLE_COLUMNS = frozenset(
    {
        "user_id",
        "name",
        "given_name",
        "middle_name",
        "family_name",
        "email",
        "phone",
        "status",
        "created_ms",
        "modified_ms",
    }
)


@dataclass(frozen=True, slots=True)
class TenantRoleFilter:
    """Users holding, in one tenant, any (or with `match_all`, every) listed role."""

    role_names: tuple[str, ...]
    match_all: bool = False


@dataclass(frozen=True, slots=True)
class UserQuery:
    """A user search: every filter given must hold; empty filters are left out.

    Attributes:
        text: a case-insensitive substring of a login id, the user id, the
            email, the phone or a name.
        with_test_users: include test users, which are left out by default.
        test_users_only: only test users.
        role_names: users holding one of these roles, project-wide or in a tenant.
        tenant_ids: users belonging to one of these tenants.
        tenant_roles: per tenant id, the roles users must hold there.
        custom_attributes: per attribute, the value it must have; a list
            means any of its values.
        sort: (column, descending) pairs, columns from `SORTABLE_COLUMNS`.
    """

    user_ids: tuple[str, ...] = ()
    login_ids: tuple[str, ...] = ()
    statuses: tuple[UserStatus, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    text: str | None = None
    with_test_users: bool = False
    test_users_only: bool = False
    created_from_ms: int | None = None
    created_to_ms: int | None = None
    modified_from_ms: int | None = None
    modified_to_ms: int | None = None
    role_names: tuple[str, ...] = ()
    tenant_ids: tuple[str, ...] = ()
    tenant_roles: Mapping[str, TenantRoleFilter] = field(default_factory=dict)
    custom_attributes: Mapping[str, Any] = field(default_factory=dict)
    sort: tuple[tuple[str, bool], ...] = ()
    limit: int = 100
    offset: int = 0

    @property
    def filters_json(self) -> bool:
        """True when a filter reads roles, tenants or custom attributes."""
        return bool(
            self.role_names
            or self.tenant_ids
            or self.tenant_roles
            or self.custom_attributes
        )


def search_users(
    conn: Connection, project_id: str, query: UserQuery
) -> tuple[list[User], int]:
    """Return one page of the users matching a query, and how many match in all.

    Args:
        conn: the connection.
        project_id: the project to search.
        query: the filters, order and page.

    Returns:
        The page, in the query's order and then oldest first, and the total.
    """
    where = and_(users.c.project_id == project_id, *_scalar_filters(query))
    ordered = select(users).where(where).order_by(*_order(query))
    if not query.filters_json:
        page = ordered.limit(query.limit).offset(query.offset)
        found = [user_from_row(row) for row in conn.execute(page)]
        total = conn.execute(select(func.count()).select_from(users).where(where))
        return found, int(total.scalar_one())

    # TODO(limitation): role, tenant and custom attribute filters run in Python
    # over the rows the other filters leave; can go once memberships and
    # attributes have tables of their own.
    matching = [
        user
        for user in (user_from_row(row) for row in conn.execute(ordered))
        if _matches_json(user, query)
    ]

    return matching[query.offset : query.offset + query.limit], len(matching)


def _scalar_filters(query: UserQuery) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if query.test_users_only:
        filters.append(users.c.test.is_(True))
    elif not query.with_test_users:
        filters.append(users.c.test.is_(False))
    if query.user_ids:
        filters.append(users.c.user_id.in_(query.user_ids))
    if query.login_ids:
        filters.append(_holds_login_id(query.login_ids))
    if query.statuses:
        filters.append(users.c.status.in_([s.value for s in query.statuses]))
    if query.emails:
        lowered = [email.lower() for email in query.emails]
        filters.append(func.lower(users.c.email).in_(lowered))
    if query.phones:
        filters.append(users.c.phone.in_(query.phones))
    if query.text:
        filters.append(_text_matches(query.text.lower()))
    bounds = (
        (users.c.created_ms, query.created_from_ms, query.created_to_ms),
        (users.c.modified_ms, query.modified_from_ms, query.modified_to_ms),
    )
    for column, low, high in bounds:
        if low is not None:
            filters.append(column >= low)
        if high is not None:
            filters.append(column <= high)
    return filters


def _holds_login_id(login_ids: Sequence[str]) -> ColumnElement[bool]:
    return exists(
        select(1).where(
            user_login_ids.c.project_id == users.c.project_id,
            user_login_ids.c.user_id == users.c.user_id,
            user_login_ids.c.login_id.in_(login_ids),
        )
    )


def _text_matches(text: str) -> ColumnElement[bool]:
    columns = (
        users.c.user_id,
        users.c.email,
        users.c.phone,
        users.c.name,
        users.c.given_name,
        users.c.middle_name,
        users.c.family_name,
        cast(users.c.login_ids, String),
    )
    return or_(
        *(func.lower(column).contains(text, autoescape=True) for column in columns)
    )


def _order(query: UserQuery) -> list[ColumnElement[Any]]:
    order: list[ColumnElement[Any]] = []
    for name, descending in query.sort:
        assert name in SORTABLE_COLUMNS, f"{name!r} is not a sortable column"
        # NULLs sort first on SQLite and last on PostgreSQL; as '' they agree.
        column = users.c[name]
        key = column if name.endswith("_ms") else func.coalesce(column, "")
        order.append(key.desc() if descending else key.asc())
    return [*order, users.c.created_ms.asc(), users.c.user_id.asc()]


def _matches_json(user: User, query: UserQuery) -> bool:
    memberships = {t.tenant_id: set(t.role_names) for t in user.tenants}
    if query.tenant_ids and not memberships.keys() & set(query.tenant_ids):
        return False
    if query.role_names:
        held = set(user.role_names).union(*memberships.values())
        if not held & set(query.role_names):
            return False
    for tenant_id, wanted in query.tenant_roles.items():
        in_tenant = memberships.get(tenant_id)
        if in_tenant is None or not _holds_roles(in_tenant, wanted):
            return False
    return all(
        _attribute_matches(user.custom_attributes, name, wanted)
        for name, wanted in query.custom_attributes.items()
    )


def _holds_roles(held: set[str], wanted: TenantRoleFilter) -> bool:
    if wanted.match_all:
        return held.issuperset(wanted.role_names)
    return bool(held.intersection(wanted.role_names))


def _attribute_matches(attributes: Mapping[str, Any], name: str, wanted: Any) -> bool:
    if name not in attributes:
        return False
    value = attributes[name]
    options = wanted if isinstance(wanted, list) else [wanted]
    return any(_same_kind(value, option) and value == option for option in options)


def _same_kind(a: Any, b: Any) -> bool:
    # True == 1 in Python, but a boolean attribute never matches a number.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return True
