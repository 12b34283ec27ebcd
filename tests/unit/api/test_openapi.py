"""The OpenAPI document: every route described, valid, committed and documented."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idflow.api import openapi
from idflow.api.app import ROUTES
from idflow.api.openapi_answers import ENTITIES
from idflow.api.openapi_operations import OPERATIONS
from idflow.services.audit import audit_to_wire
from idflow.services.connectors import connector_view
from idflow.services.projects import key_to_wire
from idflow.services.tenants import tenant_to_wire
from idflow.services.users import user_to_wire
from idflow.store.records import (
    AuditEvent,
    AuditType,
    Connector,
    ConnectorType,
    KeyScope,
    ManagementKey,
    Tenant,
    User,
)

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "docs" / "openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")
# A method and a path as docs/api.md writes them: POST `/v1/...` or `POST /v1/...`.
DOCUMENTED_CALL = re.compile(
    r"\b(GET|POST|PUT|PATCH|DELETE) `(/[^`?\s]*)|`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)"
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build_document(ROUTES)


def _calls(document: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def test_every_route_is_described_and_every_description_has_a_route() -> None:
    routes = {
        f"{method} {route.path}"
        for route in ROUTES
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }

    assert sorted(routes - set(OPERATIONS)) == []
    assert sorted(set(OPERATIONS) - routes) == []


def test_a_route_without_a_description_fails_the_build() -> None:
    async def undocumented(request: Request) -> Response:
        return Response()

    with pytest.raises(AssertionError, match="POST /v1/mgmt/new/call has no entry"):
        openapi.build_document(
            [Route("/v1/mgmt/new/call", undocumented, methods=["POST"])]
        )


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)

    assert document["openapi"] == "3.1.0"


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    components = document["components"]
    targets = {tuple(target.split("/")) for target in _refs(document)}

    assert {t[:2] for t in targets} == {("#", "components")}
    assert sorted(t for t in targets if t[3] not in components[t[2]]) == []


def test_operation_ids_are_unique_and_every_call_has_a_summary(
    document: dict[str, Any],
) -> None:
    operations = [
        item[method]
        for item in document["paths"].values()
        for method in item
        if method in METHODS
    ]
    ids = [op["operationId"] for op in operations]

    assert len(ids) == len(set(ids))
    assert [op["operationId"] for op in operations if not op["summary"]] == []
    assert [op["operationId"] for op in operations if not op["description"]] == []


def test_keyed_calls_use_the_bearer_and_open_ones_say_so(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["managementKey"]
    open_calls = {
        path
        for path, item in document["paths"].items()
        for op in item.values()
        if op.get("security") == []
    }

    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"managementKey": []}]
    assert open_calls == {"/health", "/openapi.json"}


def test_request_bodies_come_from_the_handlers_models(document: dict[str, Any]) -> None:
    run = document["paths"]["/v1/mgmt/flow/run"]["post"]
    schema = run["requestBody"]["content"]["application/json"]["schema"]
    body = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]

    assert body["required"] == ["flowId"]
    assert set(body["properties"]) == {
        "flowId",
        "options",
        "input",
        "preview",
        "tenant",
    }
    assert run["x-idflow-access"] == "run-flows"
    assert run["x-idflow-rate-limit-family"] == "flow-run"


def test_errors_share_the_descope_body_and_429_gives_retry_after(
    document: dict[str, Any],
) -> None:
    responses = document["components"]["responses"]
    error = document["components"]["schemas"]["Error"]
    search = document["paths"]["/v1/mgmt/audit/search"]["post"]["responses"]

    assert error["required"] == ["errorCode", "errorDescription", "errorMessage"]
    assert {
        r["content"]["application/json"]["schema"]["$ref"] for r in responses.values()
    } == {"#/components/schemas/Error"}
    assert "Retry-After" in responses["RateLimited"]["headers"]
    assert set(search) == {"200", "400", "401", "403", "413", "429", "500"}


def test_the_committed_document_is_the_one_the_routes_build(
    document: dict[str, Any],
) -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))

    assert committed == document, "docs/openapi.json is stale: run `make openapi`."
    assert COMMITTED.read_bytes() == openapi.render(document)


def test_every_call_in_the_document_is_in_api_md_and_back(
    document: dict[str, Any],
) -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    documented = {
        f"{match[1] or match[3]} {match[2] or match[4]}"
        for match in DOCUMENTED_CALL.finditer(text)
    }
    described = _calls(document)

    assert sorted(described - documented) == []
    assert sorted(documented - described) == []


def _rendered_entities() -> dict[str, dict[str, Any]]:
    return {
        "User": user_to_wire(
            User(
                project_id="P1",
                user_id="U1",
                login_ids=("a",),
                created_ms=1,
                modified_ms=1,
            )
        ),
        "Tenant": tenant_to_wire(
            Tenant(
                project_id="P1", tenant_id="T1", name="T", created_ms=1, modified_ms=1
            )
        ),
        "AuditRecord": audit_to_wire(
            AuditEvent(
                project_id="P1",
                event_id="A1",
                occurred_ms=1,
                action="UserCreated",
                type=AuditType.INFO,
                actor_id="K1",
            )
        ),
        "ManagementKey": key_to_wire(
            ManagementKey("K1", "P1", "ci", KeyScope.FULL, "hash", created_ms=1)
        ),
        "Connector": connector_view(
            Connector(
                "P1", "C1", "crm", ConnectorType.HTTP, created_ms=1, modified_ms=1
            )
        ),
    }


@pytest.mark.parametrize("name", sorted(_rendered_entities()))
def test_entity_schemas_list_exactly_the_keys_the_services_render(name: str) -> None:
    rendered = _rendered_entities()[name]

    assert list(ENTITIES[name]["properties"]) == list(rendered)
