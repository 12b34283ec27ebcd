"""Delivery endpoints: search and load deliveries, explain an event, redrive dead letters.

These are idflow's own (Descope has no outbox to inspect), under
`/v1/mgmt/idflow/`. Times are epoch milliseconds, as in the audit search, and a
time range selects deliveries by the time of their event. A redrive asked with
`dryRun` counts what it would queue again and changes nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.routing import Route

from idflow.api.bodies import WireModel
from idflow.api.context import ApiContext, require_query_param
from idflow.api.responses import JsonResponse
from idflow.clock import now_ms
from idflow.services import deliveries as delivery_service
from idflow.services import explain
from idflow.store.deliveries import DeliveryQuery
from idflow.store.records import DeliveryStatus, KeyScope

_PREFIX = "/v1/mgmt/idflow"
DEFAULT_PAGE_SIZE = 100
# Larger pages are cut to this size; `total` still counts every match.
MAX_PAGE_SIZE = 1000

StatusName = Literal["pending", "running", "done", "dead", "skipped"]


class DeliverySearchBody(WireModel):
    """`delivery/search`: filters on state, flow and event time, and a page."""

    statuses: list[StatusName] = []
    flowIds: list[str] = []
    from_ms: int | None = Field(None, alias="from", ge=0)
    to_ms: int | None = Field(None, alias="to", ge=0)
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1)
    page: int = Field(0, ge=0)

    def to_query(self) -> DeliveryQuery:
        """The store query the body asks for."""
        size = min(self.limit, MAX_PAGE_SIZE)
        return DeliveryQuery(
            statuses=tuple(DeliveryStatus(s) for s in self.statuses),
            flow_ids=tuple(self.flowIds),
            since_ms=self.from_ms,
            until_ms=self.to_ms,
            limit=size,
            offset=self.page * size,
        )


class RedriveBody(WireModel):
    """`delivery/redrive`: which dead deliveries, and whether only to count them."""

    flowIds: list[str] = []
    deliveryIds: list[str] = []
    from_ms: int | None = Field(None, alias="from", ge=0)
    to_ms: int | None = Field(None, alias="to", ge=0)
    dryRun: bool = False


async def search_deliveries(request: Request) -> JsonResponse:
    """`POST .../delivery/search` → `{"deliveries", "total"}`, newest first."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    body = await api.body(request, DeliverySearchBody)
    query = body.to_query()

    def search(conn: Any) -> dict[str, Any]:
        found, total = delivery_service.list_deliveries(
            conn, principal.project_id, query
        )
        return {
            "deliveries": [delivery_service.delivery_to_wire(d) for d in found],
            "total": total,
        }

    return JsonResponse(await api.read(search))


async def load_delivery(request: Request) -> JsonResponse:
    """`GET .../delivery?id=`: one delivery, with its attempts and last error."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    delivery_id = require_query_param(request, "id")

    found = await api.read(
        lambda conn: delivery_service.require_delivery(
            conn, principal.project_id, delivery_id
        )
    )
    return JsonResponse({"delivery": delivery_service.delivery_to_wire(found)})


async def redrive_deliveries(request: Request) -> JsonResponse:
    """`POST .../delivery/redrive` → `{"count", "dryRun"}`; only dead ones are redriven."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, RedriveBody)
    query = DeliveryQuery(
        flow_ids=tuple(body.flowIds),
        delivery_ids=tuple(body.deliveryIds),
        since_ms=body.from_ms,
        until_ms=body.to_ms,
    )

    def redrive(conn: Any) -> dict[str, Any]:
        count = delivery_service.redrive(
            conn, principal.project_id, query, dry_run=body.dryRun, now_ms=now_ms()
        )
        return {"count": count, "dryRun": body.dryRun}

    run = api.read if body.dryRun else api.write
    return JsonResponse(await run(redrive))


async def explain_event(request: Request) -> JsonResponse:
    """`GET .../event?id=`: an event, its deliveries and why each flow ran or not."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    event_id = require_query_param(request, "id")

    report = await api.read(
        lambda conn: explain.explain_event(conn, principal.project_id, event_id)
    )
    return JsonResponse(explain.report_to_wire(report))


ROUTES = [
    Route(f"{_PREFIX}/delivery/search", search_deliveries, methods=["POST"]),
    Route(f"{_PREFIX}/delivery", load_delivery, methods=["GET"]),
    Route(f"{_PREFIX}/delivery/redrive", redrive_deliveries, methods=["POST"]),
    Route(f"{_PREFIX}/event", explain_event, methods=["GET"]),
]
