"""Audit endpoints of the management API: search the trail, post a custom event.

Search accepts the filters of every SDK: Python's and Go's `from`/`to` in epoch
milliseconds (Go's zero time, a large negative number, meaning unset), Go's
`size` and the descope-js widget's `limit` for the page size, and `sort` on
`occurred`. Unlike Descope, which answers the last 30 days, idflow searches
every event it keeps.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request

from idflow.api.bodies import WireModel
from idflow.api.context import ApiContext
from idflow.api.responses import JsonResponse
from idflow.errors import InvalidArgument
from idflow.services import audit as audit_service
from idflow.services.audit import Actor
from idflow.store.audit import AuditQuery
from idflow.store.records import AuditType, KeyScope

DEFAULT_PAGE_SIZE = 100
# Larger pages are cut to this size; `total` still counts every match.
MAX_PAGE_SIZE = 1000


class AuditSort(WireModel):
    """A sort key; only `occurred` (the default, newest first) is sortable."""

    field: str = Field(min_length=1)
    desc: bool = True


class AuditSearchBody(WireModel):
    """`/v1/mgmt/audit/search` filters; Python and Go send `noTenants` always."""

    userIds: list[str] = []
    actions: list[str] = []
    excludedActions: list[str] = []
    devices: list[str] = []
    methods: list[str] = []
    geos: list[str] = []
    remoteAddresses: list[str] = []
    externalIds: list[str] = []
    tenants: list[str] = []
    noTenants: bool = False
    text: str | None = None
    from_ms: int | None = Field(None, alias="from")
    to_ms: int | None = Field(None, alias="to")
    size: int | None = Field(None, ge=0)
    limit: int | None = Field(None, ge=0)
    page: int = Field(0, ge=0)
    sort: list[AuditSort] = []

    def to_query(self) -> AuditQuery:
        """The store query the body asks for.

        Raises:
            InvalidArgument: when a sort field is not `occurred`.
        """
        size = min(self.size or self.limit or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        return AuditQuery(
            user_ids=tuple(self.userIds),
            actions=tuple(self.actions),
            excluded_actions=tuple(self.excludedActions),
            devices=tuple(self.devices),
            methods=tuple(self.methods),
            geos=tuple(self.geos),
            remote_addresses=tuple(self.remoteAddresses),
            external_ids=tuple(self.externalIds),
            tenant_ids=tuple(self.tenants),
            include_untenanted=self.noTenants,
            text=self.text or None,
            from_ms=_moment(self.from_ms),
            to_ms=_moment(self.to_ms),
            oldest_first=self._oldest_first(),
            limit=size,
            offset=self.page * size,
        )

    def _oldest_first(self) -> bool:
        for index, sort in enumerate(self.sort):
            if sort.field != "occurred":
                raise InvalidArgument(
                    f"sort.{index}.field: audit records sort only by 'occurred', not {sort.field!r}."
                )
        return bool(self.sort) and not self.sort[0].desc


class AuditEventBody(WireModel):
    """`/v1/mgmt/audit/event`: a custom event; the first four keys are required."""

    action: str = Field(min_length=1)
    type: Literal["info", "warn", "error"]
    actorId: str = Field(min_length=1)
    tenantId: str = Field(min_length=1)
    userId: str | None = None
    data: dict[str, Any] = {}


def _moment(epoch_ms: int | None) -> int | None:
    return epoch_ms if epoch_ms is not None and epoch_ms > 0 else None


async def search_audit(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/audit/search` → `{"audits", "total"}`, newest first."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    body = await api.body(request, AuditSearchBody)
    query = body.to_query()

    def search(conn: Any) -> dict[str, Any]:
        found, total = audit_service.search_audit(conn, principal.project_id, query)
        return {
            "audits": [audit_service.audit_to_wire(e) for e in found],
            "total": total,
        }

    return JsonResponse(await api.read(search))


async def create_event(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/audit/event`: record a custom event → `{}`.

    The event's actor is the `actorId` given, as in Descope, and its data is
    kept exactly as sent.
    """
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, AuditEventBody)

    def record(conn: Any) -> dict[str, Any]:
        audit_service.emit_custom(
            conn,
            Actor(body.actorId),
            principal.project_id,
            body.action,
            AuditType(body.type),
            user_id=body.userId,
            tenant_id=body.tenantId,
            data=body.data,
        )
        return {}

    return JsonResponse(await api.write(record))
