"""The OpenAPI 3.1 document of the management API, built from the route table.

Every route of `idflow.api.app.ROUTES` is described by its entry in
`openapi_operations.OPERATIONS`: request bodies come from the pydantic models
the handlers validate with, answers from `openapi_answers`, descriptions from
the handlers' docstrings. The app serves the document at `GET /openapi.json`;
a copy is committed as docs/openapi.json, regenerated with `make openapi`
(`python -m idflow.api.openapi docs/openapi.json`) and held to the served one
by a test.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from idflow.api.openapi_answers import (
    ANSWERS,
    ENTITIES,
    ERROR,
    STRING,
    JsonSchema,
    ref,
)
from idflow.api.openapi_operations import NO_KEY, OPERATIONS, Operation
from idflow.api.rate_limits import family_of
from idflow.api.responses import JsonResponse
from idflow.store.records import KeyScope

SECURITY_SCHEME = "managementKey"

_ERRORS = {
    400: (
        "BadRequest",
        "The body or a query parameter is unusable, or the run failed.",
    ),
    401: ("Unauthorized", "The bearer is missing, malformed or not a live key."),
    403: ("Forbidden", "The key's scope does not cover the call."),
    404: ("NotFound", "An entity the call names does not exist in the project."),
    409: ("Conflict", "The call clashes with the stored state (a taken id, ...)."),
    413: ("PayloadTooLarge", "The body is over the size limit."),
    429: ("RateLimited", "The project spent its budget for this family of calls."),
    500: ("InternalError", "idflow failed unexpectedly; the log has the request id."),
}
_TAGS = (
    ("/v1/mgmt/flow/", "Flows"),
    ("/v2/mgmt/flow/", "Flows"),
    ("/v1/mgmt/user", "Users"),
    ("/v2/mgmt/user/", "Users"),
    ("/v1/mgmt/tenant", "Tenants"),
    ("/v1/mgmt/audit/", "Audit"),
    ("/v1/mgmt/idflow/key/", "Keys"),
    ("/v1/mgmt/idflow/connector", "Connectors"),
    ("/v1/mgmt/idflow/delivery", "Deliveries"),
    ("/v1/mgmt/idflow/event", "Deliveries"),
)
_DESCRIPTION = (
    "idflow's management API, wire-compatible with Descope's for the official "
    "SDKs. Every call but `/health` and `/openapi.json` carries "
    "`Authorization: Bearer <ProjectID>:<ManagementKey>`. docs/api.md explains "
    "each call and every choice idflow makes."
)
_QUALIFIED_NAME = re.compile(r"^(?:\w+__)*(?P<module>\w+)__(?P<name>\w+)$")


def build_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """Describe every route as one OpenAPI 3.1 document.

    Args:
        routes: the app's route table; each method of each route must have
            an entry in `OPERATIONS`.

    Returns:
        The document, as JSON-ready dicts in route order.
    """
    described = _described(routes)
    body_refs, body_schemas = _body_schemas([op for _, _, op in described])

    paths: dict[str, dict[str, Any]] = {}
    for route, method, operation in described:
        body_ref = body_refs[operation.body] if operation.body else None
        paths.setdefault(route.path, {})[method.lower()] = _operation(
            route, operation, body_ref
        )

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "idflow management API",
            "version": version("idflow"),
            "description": _DESCRIPTION,
        },
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "<ProjectID>:<ManagementKey>",
                    "description": "The project id and a management key, joined by ':'.",
                }
            },
            "schemas": {**body_schemas, **ENTITIES, **ANSWERS, "Error": ERROR},
            "responses": _error_responses(),
        },
    }


def render(document: dict[str, Any]) -> bytes:
    """The document as committed: indented JSON ending in a newline."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


async def openapi_document(request: Request) -> JsonResponse:
    """`GET /openapi.json`: this API described as OpenAPI 3.1, without authentication."""
    state = request.app.state
    document = getattr(state, "openapi_document", None)
    if document is None:
        document = state.openapi_document = build_document(request.app.routes)
    return JsonResponse(document)


def _described(routes: Sequence[BaseRoute]) -> list[tuple[Route, str, Operation]]:
    described = []
    for route in routes:
        assert isinstance(route, Route), f"{route!r} is not an HTTP route."
        # Starlette answers HEAD for every GET; it is not a call of its own.
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation = OPERATIONS.get(f"{method} {route.path}")
            assert operation is not None, (
                f"{method} {route.path} has no entry in openapi_operations.OPERATIONS."
            )
            described.append((route, method, operation))
    return described


def _operation(
    route: Route, operation: Operation, body_ref: JsonSchema | None
) -> dict[str, Any]:
    keyed = operation.access != NO_KEY
    family = family_of(route.path) if keyed else None

    described: dict[str, Any] = {
        "operationId": route.name,
        "summary": operation.summary,
        "description": inspect.getdoc(route.endpoint) or "",
        "tags": [_tag(route.path)],
        "x-idflow-access": operation.access,
    }
    if family is not None:
        described["x-idflow-rate-limit-family"] = str(family)
    if not keyed:
        described["security"] = []
    if operation.query:
        described["parameters"] = [
            {"name": name, "in": "query", "required": required, "schema": STRING}
            for name, required in operation.query.items()
        ]
    if body_ref is not None:
        described["requestBody"] = {
            "required": False,
            "description": "JSON; an empty body reads as `{}`, `null` as absent, unknown keys are ignored.",
            "content": {"application/json": {"schema": body_ref}},
        }
    described["responses"] = {
        "200": {
            "description": "Success.",
            "content": {"application/json": {"schema": ref(operation.answer)}},
        },
        **{
            str(status): {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
            for status in _error_statuses(operation, keyed, family is not None)
        },
    }
    return described


def _error_statuses(operation: Operation, keyed: bool, limited: bool) -> list[int]:
    statuses = set(operation.errors) | {500}
    if keyed:
        # Any key may ask for the license; every other call needs a scope.
        statuses |= {401, 403} if operation.access in set(KeyScope) else {401}
    if limited:
        statuses.add(429)
    if operation.body is not None:
        statuses |= {400, 413}
    if operation.query:
        statuses.add(400)
    return sorted(statuses)


def _tag(path: str) -> str:
    return next((tag for prefix, tag in _TAGS if path.startswith(prefix)), "Process")


class _BodySchemas(GenerateJsonSchema):
    # Field titles pydantic derives from names ("Loginid") only add noise.
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _body_schemas(
    operations: Sequence[Operation],
) -> tuple[dict[type[BaseModel], JsonSchema], dict[str, JsonSchema]]:
    models = list(dict.fromkeys(op.body for op in operations if op.body is not None))
    refs, definitions = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/components/schemas/{model}",
        schema_generator=_BodySchemas,
    )
    renamed = {name: _component_name(name) for name in definitions.get("$defs", {})}
    assert len(set(renamed.values())) == len(renamed), f"Schema names clash: {renamed}."
    schemas = {
        renamed[name]: _renamed(schema, renamed)
        for name, schema in definitions.get("$defs", {}).items()
    }
    by_model = {
        model: _renamed(refs[(model, "validation")], renamed) for model in models
    }
    return by_model, schemas


def _component_name(name: str) -> str:
    # Pydantic qualifies a class name shared by two modules with its module
    # path; the document names it after the module instead: ConnectorsNameBody.
    match = _QUALIFIED_NAME.match(name)
    if match is not None:
        module = "".join(part.title() for part in match["module"].split("_"))
        name = module + match["name"]
    return name.lstrip("_")


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        renamed = {key: _renamed(item, names) for key, item in value.items()}
        target = renamed.get("$ref")
        if isinstance(target, str):
            prefix, _, name = target.rpartition("/")
            renamed["$ref"] = f"{prefix}/{names.get(name, name)}"
        return renamed
    if isinstance(value, list):
        return [_renamed(item, names) for item in value]
    return value


def _error_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (name, description) in _ERRORS.items():
        response: dict[str, Any] = {
            "description": f"{status}: {description}",
            "content": {"application/json": {"schema": ref("Error")}},
        }
        if status == 429:
            response["headers"] = {
                "Retry-After": {
                    "description": "Whole seconds until the budget is back.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        responses[name] = response
    return responses


def main(argv: Sequence[str]) -> int:
    """Write the document of the app's routes to the file named, or to stdout."""
    from idflow.api.app import ROUTES  # noqa: PLC0415  (the app imports this module)

    rendered = render(build_document(ROUTES))
    if argv:
        Path(argv[0]).write_bytes(rendered)
    else:
        sys.stdout.buffer.write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
