"""User endpoints that change one thing, each answering `{"user"}`.

Status, login id, email, phone, names, picture, one custom attribute, roles and
tenants. A field sent empty (`""`) is removed; a field left out is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import Field
from starlette.requests import Request

from idflow.api.auth import Principal
from idflow.api.bodies import Email, Phone
from idflow.api.context import ApiContext
from idflow.api.responses import JsonResponse
from idflow.api.user_models import UserRef, keep_verified, user_answer
from idflow.services import users as user_service
from idflow.store.records import KeyScope, User, UserStatus

_R = TypeVar("_R", bound=UserRef)


class StatusBody(UserRef):
    """`/v1/mgmt/user/update/status`."""

    status: Literal["enabled", "disabled"]


class LoginIdBody(UserRef):
    """`/v1/mgmt/user/update/loginid`: a missing `newLoginId` removes `loginId`."""

    newLoginId: str | None = None


class EmailBody(UserRef):
    """`/v1/mgmt/user/update/email`."""

    email: Email | None = None
    verified: bool | None = None
    failOnConflict: bool = False


class PhoneBody(UserRef):
    """`/v1/mgmt/user/update/phone`."""

    phone: Phone | None = None
    verified: bool | None = None
    failOnConflict: bool = False


class NameBody(UserRef):
    """`/v1/mgmt/user/update/name`: only the parts given change."""

    displayName: str | None = None
    givenName: str | None = None
    middleName: str | None = None
    familyName: str | None = None


class PictureBody(UserRef):
    """`/v1/mgmt/user/update/picture`."""

    picture: str | None = None


class AttributeBody(UserRef):
    """`/v1/mgmt/user/update/customAttribute`: a null value removes the attribute."""

    attributeKey: str = Field(min_length=1)
    attributeValue: str | bool | int | float | None = None


class RolesBody(UserRef):
    """`/v1/mgmt/user/update/role/{set,remove}` and `/v2/.../role/add`."""

    roleNames: list[str]
    tenantId: str | None = None


class TenantBody(UserRef):
    """`/v1/mgmt/user/update/tenant/{add,remove}`."""

    tenantId: str = Field(min_length=1)
    roleNames: list[str] = []


_NAME_FIELDS = {
    "displayName": "name",
    "givenName": "given_name",
    "middleName": "middle_name",
    "familyName": "family_name",
}


async def _update(
    request: Request,
    model: type[_R],
    change: Callable[[Any, Principal, User, _R], User],
) -> JsonResponse:
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, model)

    def run(conn: Any) -> dict[str, Any]:
        user = user_service.require_user(conn, principal.project_id, body.loginId)
        return user_answer(conn, change(conn, principal, user, body))

    return JsonResponse(await api.write(run))


async def update_status(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update/status`: enable or disable a user."""

    def change(conn: Any, who: Principal, user: User, body: StatusBody) -> User:
        return user_service.set_status(conn, who.actor, user, UserStatus(body.status))

    return await _update(request, StatusBody, change)


async def update_login_id(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update/loginid`: replace or remove one login id."""

    def change(conn: Any, who: Principal, user: User, body: LoginIdBody) -> User:
        new = body.newLoginId or None
        if new is not None:
            user_service.check_login_id_free(conn, user, new)
        return user_service.replace_login_id(conn, who.actor, user, body.loginId, new)

    return await _update(request, LoginIdBody, change)


async def update_email(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update/email`: set or (empty) remove the email."""

    def change(conn: Any, who: Principal, user: User, body: EmailBody) -> User:
        email = body.email or None
        if email is not None and body.failOnConflict:
            user_service.check_login_id_free(conn, user, email)
        verified = keep_verified(body.verified, user.verified_email, user.email, email)
        return user_service.change_user(
            conn, who.actor, user, email=email, verified_email=verified
        )

    return await _update(request, EmailBody, change)


async def update_phone(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update/phone`: set or (empty) remove the phone."""

    def change(conn: Any, who: Principal, user: User, body: PhoneBody) -> User:
        phone = body.phone or None
        if phone is not None and body.failOnConflict:
            user_service.check_login_id_free(conn, user, phone)
        verified = keep_verified(body.verified, user.verified_phone, user.phone, phone)
        return user_service.change_user(
            conn, who.actor, user, phone=phone, verified_phone=verified
        )

    return await _update(request, PhoneBody, change)


async def update_name(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update/name`: display name and name parts."""

    def change(conn: Any, who: Principal, user: User, body: NameBody) -> User:
        changes = {
            attribute: getattr(body, key) or None
            for key, attribute in _NAME_FIELDS.items()
            if body.given(key)
        }
        return user_service.change_user(conn, who.actor, user, **changes)

    return await _update(request, NameBody, change)


async def update_picture(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update/picture`."""

    def change(conn: Any, who: Principal, user: User, body: PictureBody) -> User:
        return user_service.change_user(
            conn, who.actor, user, picture=body.picture or None
        )

    return await _update(request, PictureBody, change)


async def update_custom_attribute(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update/customAttribute`: set or remove one attribute."""

    def change(conn: Any, who: Principal, user: User, body: AttributeBody) -> User:
        attributes = dict(user.custom_attributes)
        if body.attributeValue is None:
            attributes.pop(body.attributeKey, None)
        else:
            attributes[body.attributeKey] = body.attributeValue
        return user_service.change_user(
            conn, who.actor, user, custom_attributes=attributes
        )

    return await _update(request, AttributeBody, change)


async def set_roles(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update/role/set`: replace roles, project-wide or in a tenant."""

    def change(conn: Any, who: Principal, user: User, body: RolesBody) -> User:
        return user_service.set_roles(
            conn, who.actor, user, body.roleNames, body.tenantId
        )

    return await _update(request, RolesBody, change)


async def add_roles(request: Request) -> JsonResponse:
    """`POST /v2/mgmt/user/update/role/add`: add roles, project-wide or in a tenant."""

    def change(conn: Any, who: Principal, user: User, body: RolesBody) -> User:
        return user_service.add_roles(
            conn, who.actor, user, body.roleNames, body.tenantId
        )

    return await _update(request, RolesBody, change)


async def remove_roles(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update/role/remove`: remove roles; absent ones are ignored."""

    def change(conn: Any, who: Principal, user: User, body: RolesBody) -> User:
        return user_service.remove_roles(
            conn, who.actor, user, body.roleNames, body.tenantId
        )

    return await _update(request, RolesBody, change)


async def add_tenant(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update/tenant/add`: join a tenant, optionally with roles."""

    def change(conn: Any, who: Principal, user: User, body: TenantBody) -> User:
        return user_service.add_tenant(
            conn, who.actor, user, body.tenantId, body.roleNames
        )

    return await _update(request, TenantBody, change)


async def remove_tenant(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update/tenant/remove`: leave a tenant."""

    def change(conn: Any, who: Principal, user: User, body: TenantBody) -> User:
        return user_service.remove_tenant(conn, who.actor, user, body.tenantId)

    return await _update(request, TenantBody, change)
