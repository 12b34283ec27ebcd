"""idflow's own management key administration: create, list and revoke keys.

Descope has no endpoint for project management keys: its SDKs' `management_key`
calls (`/v1/mgmt/managementkey`) administer company-wide keys with role
bindings, a model idflow does not have. idflow's keys therefore live on paths
of their own, `/v1/mgmt/idflow/key/*`, shaped in Descope's style, so an SDK
call aimed at Descope's paths gets a clear 404 instead of a misread request.
Only a full key may administer keys.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from starlette.requests import Request

from idflow.api.bodies import WireModel
from idflow.api.context import ApiContext
from idflow.api.responses import JsonResponse
from idflow.services import projects as project_service
from idflow.store.records import KeyScope


class CreateKeyBody(WireModel):
    """`/v1/mgmt/idflow/key/create`: a name and a scope (`full` by default)."""

    name: str = Field(min_length=1)
    # Lax, so the enum takes its wire values; strict would want an instance.
    scope: KeyScope = Field(KeyScope.FULL, strict=False)


class KeyIdBody(WireModel):
    """`/v1/mgmt/idflow/key/revoke`: `{"id"}`."""

    id: str = Field(min_length=1)


async def create_key(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/idflow/key/create` → `{"key", "cleartext"}`.

    `cleartext` is the secret, shown in this answer only; idflow keeps its hash.
    """
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, CreateKeyBody)

    def create(conn: Any) -> dict[str, Any]:
        issued = project_service.create_key(
            conn, principal.actor, principal.project_id, body.name.strip(), body.scope
        )
        return {
            "key": project_service.key_to_wire(issued.key),
            "cleartext": issued.secret,
        }

    return JsonResponse(await api.write(create))


async def list_keys(request: Request) -> JsonResponse:
    """`GET /v1/mgmt/idflow/key/all` → `{"keys"}`, revoked ones included, no secrets."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)

    def load(conn: Any) -> dict[str, Any]:
        keys = project_service.list_keys(conn, principal.project_id)
        return {"keys": [project_service.key_to_wire(key) for key in keys]}

    return JsonResponse(await api.read(load))


async def revoke_key(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/idflow/key/revoke` → `{"key"}`, now revoked.

    The key stops working at once in this process and within the key cache's
    few seconds in others.
    """
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, KeyIdBody)

    def revoke(conn: Any) -> dict[str, Any]:
        key = project_service.revoke_live_key(
            conn, principal.actor, principal.project_id, body.id
        )
        return {"key": project_service.key_to_wire(key)}

    answer = await api.write(revoke)
    api.keys.clear()

    return JsonResponse(answer)
