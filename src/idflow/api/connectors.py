"""Connector endpoints: create, update, load, list, delete and test a project's connectors.

These are idflow's own (Descope configures connectors in its console, with no
management API for them), under `/v1/mgmt/idflow/connector/`. Secrets are
write-only: they are accepted on create and update, and every answer lists only
their names. A test request waits on the network outside any store transaction.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from idflow.api.bodies import WireModel
from idflow.api.context import ApiContext, require_query_param
from idflow.api.responses import JsonResponse
from idflow.services import connectors as connector_service
from idflow.store.records import KeyScope

_PREFIX = "/v1/mgmt/idflow/connector"


class CreateBody(WireModel):
    """`connector/create`: a new connector with its settings and secrets."""

    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, Any] = Field(default_factory=dict)


class UpdateBody(WireModel):
    """`connector/update`: new settings (whole) and/or secrets to set or remove."""

    name: str = Field(min_length=1)
    settings: dict[str, Any] | None = None
    secrets: dict[str, Any] | None = None


class NameBody(WireModel):
    """`connector/delete`: the connector, by name."""

    name: str = Field(min_length=1)


class TestBody(WireModel):
    """`connector/test`: the connector and, optionally, the request to send."""

    name: str = Field(min_length=1)
    request: dict[str, Any] = Field(default_factory=dict)


async def create_connector(request: Request) -> JsonResponse:
    """Create a connector; answer it without its secrets."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, CreateBody)
    keyring = api.runtime.connectors.keyring

    created = await api.write(
        lambda conn: connector_service.create_connector(
            conn,
            keyring,
            principal.actor,
            principal.project_id,
            name=body.name,
            connector_type=body.type,
            settings=body.settings,
            secrets=body.secrets,
        )
    )
    return JsonResponse({"connector": connector_service.connector_view(created)})


async def update_connector(request: Request) -> JsonResponse:
    """Replace a connector's settings and/or change some secrets."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, UpdateBody)
    keyring = api.runtime.connectors.keyring

    changed = await api.write(
        lambda conn: connector_service.update_connector(
            conn,
            keyring,
            principal.actor,
            principal.project_id,
            body.name,
            settings=body.settings,
            secrets=body.secrets,
        )
    )
    return JsonResponse({"connector": connector_service.connector_view(changed)})


async def delete_connector(request: Request) -> JsonResponse:
    """Delete a connector."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, NameBody)

    await api.write(
        lambda conn: connector_service.delete_connector(
            conn, principal.actor, principal.project_id, body.name
        )
    )
    return JsonResponse({})


async def load_connector(request: Request) -> JsonResponse:
    """`GET ...?name=`: one connector, without its secrets."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    name = require_query_param(request, "name")

    found = await api.read(
        lambda conn: connector_service.require_connector(
            conn, principal.project_id, name
        )
    )
    return JsonResponse({"connector": connector_service.connector_view(found)})


async def list_connectors(request: Request) -> JsonResponse:
    """Every connector of the project, by name, without secrets."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)

    found = await api.read(
        lambda conn: connector_service.list_connectors(conn, principal.project_id)
    )
    return JsonResponse(
        {"connectors": [connector_service.connector_view(c) for c in found]}
    )


async def test_connector(request: Request) -> JsonResponse:
    """Send a test request now and answer what came back (never raising for it)."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, TestBody)
    connectors = api.runtime.connectors

    resolved = await api.read(
        lambda conn: connector_service.resolve_connector(
            conn, connectors.keyring, principal.project_id, body.name
        )
    )
    # Off the store threads, and with no connection held: the wait is the network's.
    report = await run_in_threadpool(
        connector_service.probe_connector, connectors, resolved, body.request
    )
    return JsonResponse(report)


ROUTES = [
    Route(f"{_PREFIX}/create", create_connector, methods=["POST"]),
    Route(f"{_PREFIX}/update", update_connector, methods=["POST"]),
    Route(f"{_PREFIX}/delete", delete_connector, methods=["POST"]),
    Route(f"{_PREFIX}/test", test_connector, methods=["POST"]),
    Route(_PREFIX, load_connector, methods=["GET"]),
    Route(f"{_PREFIX}/all", list_connectors, methods=["GET"]),
]
