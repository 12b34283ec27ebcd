"""Request bodies of the user endpoints, and how they map onto `User` fields.

The create and update bodies share their keys (the Python SDK builds both with
one function); patch carries only the keys given. Keys idflow cannot honour
(SSO apps, families, credentials) are accepted when empty, as the SDKs send
them by default, and refused when they carry a value, so nothing is silently
dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from idflow.api.bodies import Email, Phone, WireModel, refuse_unsupported
from idflow.services import users as user_service
from idflow.store.records import User, UserStatus, UserTenant

CreateStatus = Literal["enabled", "disabled", "invited"]

# Body key -> User attribute, for the optional text fields.
_TEXT_FIELDS = {
    "email": "email",
    "phone": "phone",
    "displayName": "name",
    "givenName": "given_name",
    "middleName": "middle_name",
    "familyName": "family_name",
    "picture": "picture",
}


class TenantRoles(WireModel):
    """A tenant membership in a user body: `{"tenantId", "roleNames"}`."""

    tenantId: str = Field(min_length=1)
    roleNames: list[str] = []


class UserRef(WireModel):
    """A body naming one user by `loginId`, which may also be a user id."""

    loginId: str = Field(min_length=1)


class UserFields(UserRef):
    """The keys create and update bodies share."""

    email: Email | None = None
    phone: Phone | None = None
    displayName: str | None = None
    givenName: str | None = None
    middleName: str | None = None
    familyName: str | None = None
    roleNames: list[str] = []
    userTenants: list[TenantRoles] = []
    picture: str | None = None
    customAttributes: dict[str, Any] = {}
    additionalLoginIds: list[str] = []
    verifiedEmail: bool | None = None
    verifiedPhone: bool | None = None
    ssoAppIDs: list[str] = []
    familyAssociations: list[Any] = []
    password: str | None = None
    hashedPassword: dict[str, Any] | None = None
    seed: str | None = None

    def check_supported(self) -> None:
        """Refuse keys carrying what idflow does not keep.

        Raises:
            InvalidArgument: naming the key.
        """
        refuse_unsupported(
            ssoAppIDs=bool(self.ssoAppIDs),
            familyAssociations=bool(self.familyAssociations),
            password=self.password is not None,
            hashedPassword=self.hashedPassword is not None,
            seed=self.seed is not None,
        )

    def tenant_ids(self) -> list[str]:
        """The tenants the body makes the user a member of."""
        return [membership.tenantId for membership in self.userTenants]

    def record_fields(self) -> dict[str, Any]:
        """The `User` attributes the body sets, every one of them (a full replace)."""
        fields = {
            attribute: getattr(self, key) or None
            for key, attribute in _TEXT_FIELDS.items()
        }
        fields["role_names"] = tuple(dict.fromkeys(self.roleNames))
        fields["tenants"] = tenants_from(self.userTenants)
        fields["custom_attributes"] = dict(self.customAttributes)
        return fields


class CreateUserBody(UserFields):
    """`/v1/mgmt/user/create` (and `/create/test`, and each batch entry)."""

    test: bool = False
    invite: bool = False
    status: CreateStatus | None = None

    def new_user_fields(self, *, test: bool = False) -> dict[str, Any]:
        """Keyword arguments for `create_user`, the login ids excepted."""
        fields = self.record_fields()
        fields["verified_email"] = bool(self.verifiedEmail and fields["email"])
        fields["verified_phone"] = bool(self.verifiedPhone and fields["phone"])
        fields["test"] = test or self.test
        return fields

    def initial_status(self, *, invite: bool = False) -> UserStatus:
        """The status asked for; an invite without one makes the user invited."""
        if self.status is not None:
            return UserStatus(self.status)
        return UserStatus.INVITED if invite or self.invite else UserStatus.ENABLED


class CreateBatchBody(WireModel):
    """`/v1/mgmt/user/create/batch`: `{"users": [...]}` plus invite options."""

    users: list[CreateUserBody] = Field(min_length=1)
    invite: bool = False


class UpdateUserBody(UserFields):
    """`/v1/mgmt/user/update`: every key replaces the stored value."""

    def replacement(self, user: User) -> dict[str, Any]:
        """The fields of `user` after the replace.

        Verification flags left out keep their value while the email or phone
        stays the same, and drop to false when it changes.
        """
        fields = self.record_fields()
        fields["verified_email"] = keep_verified(
            self.verifiedEmail, user.verified_email, user.email, fields["email"]
        )
        fields["verified_phone"] = keep_verified(
            self.verifiedPhone, user.verified_phone, user.phone, fields["phone"]
        )
        kept = self.loginId if self.loginId in user.login_ids else user.login_ids[0]
        fields["login_ids"] = tuple(dict.fromkeys([kept, *self.additionalLoginIds]))
        return fields


class PatchUserBody(UserRef):
    """PATCH `/v1/mgmt/user/patch`: only the keys given change."""

    email: Email | None = None
    phone: Phone | None = None
    displayName: str | None = None
    givenName: str | None = None
    middleName: str | None = None
    familyName: str | None = None
    roleNames: list[str] | None = None
    userTenants: list[TenantRoles] | None = None
    picture: str | None = None
    customAttributes: dict[str, Any] | None = None
    verifiedEmail: bool | None = None
    verifiedPhone: bool | None = None
    ssoAppIds: list[str] | None = None
    status: CreateStatus | None = None
    familyAssociations: list[Any] | None = None

    def check_supported(self) -> None:
        """Refuse keys carrying what idflow does not keep.

        Raises:
            InvalidArgument: naming the key.
        """
        refuse_unsupported(
            ssoAppIds=bool(self.ssoAppIds),
            familyAssociations=bool(self.familyAssociations),
        )

    def tenant_ids(self) -> list[str]:
        """The tenants the body makes the user a member of."""
        return [t.tenantId for t in self.userTenants or ()]

    def changes(self, user: User) -> dict[str, Any]:
        """The `User` attributes the patch changes, with their new values."""
        changes: dict[str, Any] = {
            attribute: getattr(self, key) or None
            for key, attribute in _TEXT_FIELDS.items()
            if self.given(key)
        }
        if self.roleNames is not None:
            changes["role_names"] = tuple(dict.fromkeys(self.roleNames))
        if self.userTenants is not None:
            changes["tenants"] = tenants_from(self.userTenants)
        if self.customAttributes is not None:
            changes["custom_attributes"] = dict(self.customAttributes)
        if self.status is not None:
            changes["status"] = UserStatus(self.status)
        changes["verified_email"] = keep_verified(
            self.verifiedEmail,
            user.verified_email,
            user.email,
            changes.get("email", user.email),
        )
        changes["verified_phone"] = keep_verified(
            self.verifiedPhone,
            user.verified_phone,
            user.phone,
            changes.get("phone", user.phone),
        )
        return changes


class PatchBatchBody(WireModel):
    """PATCH `/v1/mgmt/user/patch/batch`: `{"users": [<patch body>...]}`."""

    users: list[PatchUserBody] = Field(min_length=1)


def tenants_from(memberships: list[TenantRoles]) -> tuple[UserTenant, ...]:
    """The user's tenants from a body's `userTenants`, a tenant listed once."""
    merged: dict[str, list[str]] = {}
    for membership in memberships:
        merged.setdefault(membership.tenantId, []).extend(membership.roleNames)
    return tuple(
        UserTenant(tenant_id, tuple(dict.fromkeys(roles)))
        for tenant_id, roles in merged.items()
    )


def keep_verified(
    given: bool | None, current: bool, old_value: str | None, new_value: str | None
) -> bool:
    """The verification flag of an email or phone after a change."""
    if new_value is None:
        return False
    if given is not None:
        return given
    return current if new_value == old_value else False


def user_answer(conn: Any, user: User) -> dict[str, Any]:
    """The `{"user": ...}` answer of most user endpoints, tenant names filled in."""
    names = user_service.tenant_names_for(conn, user)
    return {"user": user_service.user_to_wire(user, names)}
