"""User endpoints of the management API: create, update, patch, load, search, delete.

Single-field updates (status, login id, email, roles, tenants, ...) are in
`api.user_updates`. Every call runs in one transaction: a call that fails, for
any reason, leaves the store as it was, batch calls included, except that a
batch reports each entry's own failure and keeps the entries that worked, as
Descope's batch answers do.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from starlette.requests import Request

from idflow.api.bodies import WireModel
from idflow.api.context import ApiContext, query_param
from idflow.api.responses import JsonResponse
from idflow.api.user_models import (
    CreateBatchBody,
    CreateUserBody,
    PatchBatchBody,
    PatchUserBody,
    UpdateUserBody,
    user_answer,
)
from idflow.api.user_search import SearchUsersBody
from idflow.errors import IdflowError, InvalidArgument
from idflow.services import users as user_service
from idflow.services.audit import Actor
from idflow.store.records import KeyScope, User


class DeleteUserBody(WireModel):
    """`/v1/mgmt/user/delete` and `/logout`: `{"loginId"}` or `{"userId"}`."""

    loginId: str | None = None
    userId: str | None = None


class UserIdsBody(WireModel):
    """`/v1/mgmt/user/delete/batch` and `/v1/mgmt/users/load`."""

    userIds: list[str] = Field(min_length=1)
    includeInvalidUsers: bool = False


async def create_user(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/create`: a new user → `{"user"}`."""
    return await _create(request, test=False)


async def create_test_user(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/create/test`: a new test user → `{"user"}`."""
    return await _create(request, test=True)


async def _create(request: Request, *, test: bool) -> JsonResponse:
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, CreateUserBody)
    body.check_supported()

    def create(conn: Any) -> dict[str, Any]:
        user = _insert(conn, principal.actor, principal.project_id, body, test=test)
        return user_answer(conn, user)

    return JsonResponse(await api.write(create))


def _insert(
    conn: Any,
    actor: Actor,
    project_id: str,
    body: CreateUserBody,
    *,
    test: bool = False,
    invite: bool = False,
) -> User:
    user_service.check_tenants(conn, project_id, body.tenant_ids())
    return user_service.create_user(
        conn,
        actor,
        project_id,
        body.loginId,
        additional_login_ids=body.additionalLoginIds,
        status=body.initial_status(invite=invite),
        **body.new_user_fields(test=test),
    )


async def create_users(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/create/batch` → `{"createdUsers", "failedUsers"}`.

    The whole body is validated before any user is made; then an entry that
    fails (a taken login id, a missing tenant) is reported in `failedUsers`
    with its reason, and the others are created.
    """
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, CreateBatchBody)
    for entry in body.users:
        entry.check_supported()

    def create(conn: Any) -> dict[str, Any]:
        created, failed = [], []
        for entry in body.users:
            try:
                user = _insert(
                    conn,
                    principal.actor,
                    principal.project_id,
                    entry,
                    invite=body.invite,
                )
            except IdflowError as exc:
                failed.append({"failure": exc.message, "user": _echo(entry)})
                continue
            created.append(user_answer(conn, user)["user"])
        return {"createdUsers": created, "failedUsers": failed, "additionalErrors": {}}

    return JsonResponse(await api.write(create))


def _echo(entry: WireModel) -> dict[str, Any]:
    return entry.model_dump(exclude_unset=True, exclude={"password", "hashedPassword"})


async def update_user(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/update`: replace every field of a user → `{"user"}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, UpdateUserBody)
    body.check_supported()

    def update(conn: Any) -> dict[str, Any]:
        user = user_service.require_user(conn, principal.project_id, body.loginId)
        user_service.check_tenants(conn, principal.project_id, body.tenant_ids())
        changed = user_service.change_user(
            conn, principal.actor, user, **body.replacement(user)
        )
        return user_answer(conn, changed)

    return JsonResponse(await api.write(update))


async def patch_user(request: Request) -> JsonResponse:
    """`PATCH /v1/mgmt/user/patch`: change only the fields given → `{"user"}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, PatchUserBody)
    body.check_supported()

    def patch(conn: Any) -> dict[str, Any]:
        return user_answer(
            conn, _patch(conn, principal.actor, principal.project_id, body)
        )

    return JsonResponse(await api.write(patch))


def _patch(conn: Any, actor: Actor, project_id: str, body: PatchUserBody) -> User:
    user = user_service.require_user(conn, project_id, body.loginId)
    user_service.check_tenants(conn, project_id, body.tenant_ids())
    return user_service.change_user(conn, actor, user, **body.changes(user))


async def patch_users(request: Request) -> JsonResponse:
    """`PATCH /v1/mgmt/user/patch/batch` → `{"patchedUsers", "failedUsers"}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, PatchBatchBody)
    for entry in body.users:
        entry.check_supported()

    def patch(conn: Any) -> dict[str, Any]:
        patched, failed = [], []
        for entry in body.users:
            try:
                user = _patch(conn, principal.actor, principal.project_id, entry)
            except IdflowError as exc:
                failed.append({"failure": exc.message, "user": _echo(entry)})
                continue
            patched.append(user_answer(conn, user)["user"])
        return {"patchedUsers": patched, "failedUsers": failed}

    return JsonResponse(await api.write(patch))


async def load_user(request: Request) -> JsonResponse:
    """`GET /v1/mgmt/user?loginId=…` or `?userId=…` → `{"user"}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    login_id = query_param(request, "loginId")
    user_id = query_param(request, "userId")
    if login_id is None and user_id is None:
        raise InvalidArgument(
            "The query names no user: expected ?loginId=<login id> or ?userId=<user id>."
        )

    def load(conn: Any) -> dict[str, Any]:
        if login_id is not None:
            user = user_service.require_user(conn, principal.project_id, login_id)
        else:
            user = user_service.require_user_by_id(
                conn, principal.project_id, str(user_id)
            )
        return user_answer(conn, user)

    return JsonResponse(await api.read(load))


async def load_users(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/users/load`: users by user id, in the order asked → `{"users"}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    body = await api.body(request, UserIdsBody)

    def load(conn: Any) -> dict[str, Any]:
        found = user_service.load_users(conn, principal.project_id, body.userIds)
        names = user_service.tenant_names(conn, principal.project_id)
        return {"users": [user_service.user_to_wire(u, names) for u in found]}

    return JsonResponse(await api.read(load))


async def search_users(request: Request) -> JsonResponse:
    """`POST /v2/mgmt/user/search`: filtered, sorted page → `{"users", "total"}`."""
    return await _search(request, test_only=False)


async def search_test_users(request: Request) -> JsonResponse:
    """`POST /v2/mgmt/user/search/test`: as search, test users only."""
    return await _search(request, test_only=True)


async def _search(request: Request, *, test_only: bool) -> JsonResponse:
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    body = await api.body(request, SearchUsersBody)
    query = body.to_query(test_only=test_only)
    if query is None:
        return JsonResponse({"users": [], "total": 0})

    def search(conn: Any) -> dict[str, Any]:
        found, total = user_service.search_users(conn, principal.project_id, query)
        names = user_service.tenant_names(conn, principal.project_id)
        users = [user_service.user_to_wire(user, names) for user in found]
        return {"users": users, "total": total}

    return JsonResponse(await api.read(search))


async def delete_user(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/delete`: `{"loginId"}` or `{"userId"}` → `{}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, DeleteUserBody)

    def delete(conn: Any) -> dict[str, Any]:
        user = _require_named(conn, principal.project_id, body)
        user_service.delete_user(conn, principal.actor, user)
        return {}

    return JsonResponse(await api.write(delete))


def _require_named(conn: Any, project_id: str, body: DeleteUserBody) -> User:
    if body.loginId:
        return user_service.require_user(conn, project_id, body.loginId)
    if body.userId:
        return user_service.require_user_by_id(conn, project_id, body.userId)
    raise InvalidArgument(
        "The body names no user: expected {'loginId': ...} or {'userId': ...}."
    )


async def delete_users(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/delete/batch`: all named users or none → `{}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, UserIdsBody)

    def delete(conn: Any) -> dict[str, Any]:
        found = [
            user_service.require_user_by_id(conn, principal.project_id, user_id)
            for user_id in dict.fromkeys(body.userIds)
        ]
        for user in found:
            user_service.delete_user(conn, principal.actor, user)
        return {}

    return JsonResponse(await api.write(delete))


async def delete_test_users(request: Request) -> JsonResponse:
    """`DELETE /v1/mgmt/user/test/delete/all`: every test user → `{}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)

    def delete(conn: Any) -> dict[str, Any]:
        user_service.delete_test_users(conn, principal.actor, principal.project_id)
        return {}

    return JsonResponse(await api.write(delete))


async def logout_user(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/user/logout`: idflow holds no sessions; checks the user → `{}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, DeleteUserBody)

    def check(conn: Any) -> dict[str, Any]:
        _require_named(conn, principal.project_id, body)
        return {}

    return JsonResponse(await api.read(check))
