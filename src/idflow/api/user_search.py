"""The user search body (`/v2/mgmt/user/search`) and its translation to a query.

Filters on things idflow does not keep (SSO apps, families, lock reasons, the
`expired` status) are honoured literally: no idflow user has them, so asking for
them matches no one, and asking to exclude them changes nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from idflow.api.bodies import WireModel
from idflow.errors import InvalidArgument
from idflow.store.records import UserStatus
from idflow.store.user_search import TenantRoleFilter, UserQuery

DEFAULT_PAGE_SIZE = 100
# Larger pages are cut to this size; `total` still counts every match.
MAX_PAGE_SIZE = 1000

# Sortable wire field -> store column.
SORT_FIELDS = {
    "userId": "user_id",
    "name": "name",
    "displayName": "name",
    "givenName": "given_name",
    "middleName": "middle_name",
    "familyName": "family_name",
    "email": "email",
    "phone": "phone",
    "status": "status",
    "createdTime": "created_ms",
    "modifiedTime": "modified_ms",
}

SearchStatus = Literal["enabled", "disabled", "invited", "expired"]


class SortField(WireModel):
    """One sort key: `{"field", "desc"}`."""

    field: str = Field(min_length=1)
    desc: bool = False


class RoleMatch(WireModel):
    """Roles wanted in one tenant: `{"values": [...], "and": bool}`."""

    values: list[str] = []
    match_all: bool = Field(False, alias="and")


class SearchUsersBody(WireModel):
    """The search body; the Python SDK always sends the first six keys."""

    tenantIds: list[str] = []
    roleNames: list[str] = []
    limit: int = Field(0, ge=0)
    page: int = Field(0, ge=0)
    testUsersOnly: bool = False
    withTestUser: bool = False
    customAttributes: dict[str, Any] = {}
    statuses: list[SearchStatus] = []
    emails: list[str] = []
    phones: list[str] = []
    ssoAppIds: list[str] = []
    loginIds: list[str] = []
    userIds: list[str] = []
    text: str | None = None
    sort: list[SortField] = []
    fromCreatedTime: int | None = None
    toCreatedTime: int | None = None
    fromModifiedTime: int | None = None
    toModifiedTime: int | None = None
    tenantRoleIds: dict[str, RoleMatch] = {}
    tenantRoleNames: dict[str, RoleMatch] = {}
    familyIds: list[str] = []
    dependent: bool | None = None
    lockReasons: list[str] = []
    tempLockReasons: list[str] = []

    def to_query(self, *, test_only: bool = False) -> UserQuery | None:
        """The store query, or None when the filters can match no idflow user.

        Raises:
            InvalidArgument: when a sort field is not one idflow sorts by.
        """
        statuses = tuple(UserStatus(s) for s in self.statuses if s != "expired")
        if self._matches_no_one() or (self.statuses and not statuses):
            return None

        size = min(self.limit or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        return UserQuery(
            user_ids=tuple(self.userIds),
            login_ids=tuple(self.loginIds),
            statuses=statuses,
            emails=tuple(self.emails),
            phones=tuple(self.phones),
            text=self.text or None,
            with_test_users=self.withTestUser or test_only,
            test_users_only=self.testUsersOnly or test_only,
            created_from_ms=_moment(self.fromCreatedTime),
            created_to_ms=_moment(self.toCreatedTime),
            modified_from_ms=_moment(self.fromModifiedTime),
            modified_to_ms=_moment(self.toModifiedTime),
            role_names=tuple(self.roleNames),
            tenant_ids=tuple(self.tenantIds),
            tenant_roles=self._tenant_roles(),
            custom_attributes=dict(self.customAttributes),
            sort=tuple(_sort_key(index, s) for index, s in enumerate(self.sort)),
            limit=size,
            offset=self.page * size,
        )

    def _matches_no_one(self) -> bool:
        return bool(
            self.ssoAppIds
            or self.familyIds
            or self.dependent
            or self.lockReasons
            or self.tempLockReasons
        )

    def _tenant_roles(self) -> dict[str, TenantRoleFilter]:
        # idflow's roles have no ids of their own: a role's id is its name.
        merged: dict[str, TenantRoleFilter] = {}
        for source in (self.tenantRoleIds, self.tenantRoleNames):
            for tenant_id, match in source.items():
                merged[tenant_id] = TenantRoleFilter(
                    tuple(match.values), match.match_all
                )
        return merged


def _moment(epoch_ms: int | None) -> int | None:
    # Go sends its zero time, a large negative number, for an unset bound.
    return epoch_ms if epoch_ms is not None and epoch_ms > 0 else None


def _sort_key(index: int, sort: SortField) -> tuple[str, bool]:
    column = SORT_FIELDS.get(sort.field)
    if column is None:
        raise InvalidArgument(
            f"sort.{index}.field: idflow cannot sort by {sort.field!r}; expected one of {', '.join(sorted(SORT_FIELDS))}."
        )
    return column, sort.desc
