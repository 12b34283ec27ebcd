"""Flow endpoints of the management API: run, list, delete, import and export.

Imports and exports speak both of Descope's envelopes: v1 (`flow.dsl`, the
Python and Node SDKs) and v2 (`contents`/`metadata`, the console, Terraform and
descopecli). Keys idflow does not know are kept, so an export imports unchanged
and exports back with the same content; only the server's own keys (`version`,
`modifiedTime`, `etag`) are recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from idflow.api.bodies import WireModel, parse_body, read_json_from
from idflow.api.context import ApiContext, note
from idflow.api.responses import JsonResponse, exception_response, send_json
from idflow.errors import FlowDefinitionError, FlowInvalid, RunFailed
from idflow.flows.descope import normalize_document, v1_to_v2
from idflow.services import flows as flow_service
from idflow.services import runs
from idflow.services.audit import Actor
from idflow.store.records import FlowRecord, KeyScope, Run, RunStatus, RunTrigger


class _RunOptions(WireModel):
    input: dict[str, Any] | None = None
    preview: bool | None = None
    tenant: str | None = None


class RunBody(WireModel):
    """`/v1/mgmt/flow/run`: options nested (Node, Go) or at the top (Python)."""

    flowId: str = Field(min_length=1)
    options: _RunOptions | None = None
    input: dict[str, Any] | None = None
    preview: bool | None = None
    tenant: str | None = None

    def run_input(self) -> dict[str, Any]:
        """The input: `options.input` when options holds it, else the top-level one."""
        if self.options is not None and self.options.input is not None:
            return self.options.input
        return self.input or {}

    def run_preview(self) -> bool:
        """Whether to preview: `options.preview` when options holds it, else the top level."""
        if self.options is not None and self.options.preview is not None:
            return self.options.preview
        return bool(self.preview)

    def run_tenant(self) -> str | None:
        """The tenant to run for: `options.tenant` when options holds it, else the top level."""
        if self.options is not None and self.options.tenant is not None:
            return self.options.tenant
        return self.tenant


class RunRequest:
    """What a `/v1/mgmt/flow/run` body asks for, with `RunBody`'s precedence applied."""

    __slots__ = ("flow_id", "inputs", "preview", "tenant")

    def __init__(
        self, flow_id: str, inputs: dict[str, Any], preview: bool, tenant: str | None
    ) -> None:
        self.flow_id = flow_id
        self.inputs = inputs
        self.preview = preview
        self.tenant = tenant

    @classmethod
    def parse(cls, data: dict[str, Any]) -> RunRequest:
        """Validate a decoded body as `RunBody` does, and say what it asks for.

        The SDKs' bodies are checked by hand: pydantic's model costs more than
        the rest of reading the request. Anything the hand check does not
        accept at once (a wrong type, a blank flow id) goes through `RunBody`,
        which accepts or refuses it with its own message, so the two never
        disagree.

        Raises:
            InvalidArgument: naming the field at fault, from `RunBody`.
        """
        fast = _parse_plain(data)
        if fast is not None:
            return fast
        body = parse_body(RunBody, data)
        return cls(body.flowId, body.run_input(), body.run_preview(), body.run_tenant())


def _parse_plain(data: dict[str, Any]) -> RunRequest | None:
    flow_id = data.get("flowId")
    if type(flow_id) is not str or not flow_id:
        return None
    top = _plain_options(data)
    options = data.get("options")
    nested = (None, None, None) if options is None else _plain_options(options)
    if top is None or nested is None:
        return None
    # What is set in `options` wins over the top level, as in `RunBody`.
    inputs = nested[0] if nested[0] is not None else top[0]
    preview = nested[1] if nested[1] is not None else top[1]
    tenant = nested[2] if nested[2] is not None else top[2]
    return RunRequest(flow_id, inputs or {}, bool(preview), tenant)


def _plain_options(
    data: Any,
) -> tuple[dict[str, Any] | None, bool | None, str | None] | None:
    # A JSON object's keys are strings, so `dict[str, Any]` holds for any dict.
    if type(data) is not dict:
        return None
    inputs, preview, tenant = data.get("input"), data.get("preview"), data.get("tenant")
    if inputs is not None and type(inputs) is not dict:
        return None
    if preview is not None and type(preview) is not bool:
        return None
    if tenant is not None and type(tenant) is not str:
        return None
    return inputs, preview, tenant


# The API's most called endpoint, served as plain ASGI: the request log hands
# it the request ahead of Starlette's routing and middleware (`SHORTCUTS` in
# idflow.api.app), and `ROUTES` lists the same object, so it is found either
# way and answers alike. It answers its own errors, as the application's
# exception handlers would. Its docstring is its OpenAPI description.
class RunFlowEndpoint:
    """Run a flow synchronously and answer its End outputs as `{"output": …}`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request; `scope["app"]` is the Starlette application."""
        api: ApiContext = scope["app"].state.idflow
        try:
            outputs = await self._outputs(api, scope, receive)
        except ClientDisconnect:
            return  # Nobody is left to answer.
        except Exception as exc:
            response = exception_response(exc, scope.get("idflow.request_id", "-"))
            await response(scope, receive, send)
            return
        await send_json(send, {"output": outputs})

    @staticmethod
    async def _outputs(
        api: ApiContext, scope: Scope, receive: Receive
    ) -> Mapping[str, Any]:
        authorization = content_length = None
        for name, value in scope["headers"]:
            # The first of a repeated header counts, as Starlette reads it.
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"content-length" and content_length is None:
                content_length = value.decode("latin-1")
        principal = await api.principal_of(scope, authorization)
        principal.require(KeyScope.RUN_FLOWS)
        data = await read_json_from(
            receive, content_length, api.runtime.settings.max_body_bytes
        )
        request = RunRequest.parse(data)

        run = await _run_context_only(api, principal.project_id, request)
        if run is None:
            run = await api.writer_runs.run(
                principal.project_id,
                request.flow_id,
                request.inputs,
                preview=request.preview,
                tenant_id=request.tenant,
            )
        if run is None:
            # A run that waits on connectors must not hold the SQLite store thread.
            run = await api.runtime.call_run(
                principal.project_id,
                request.flow_id,
                lambda: runs.start_run(
                    api.runtime,
                    principal.project_id,
                    request.flow_id,
                    request.inputs,
                    RunTrigger.API,
                    preview=request.preview,
                    tenant_id=request.tenant,
                ),
            )
        note(scope, run_id=run.run_id)
        if run.status is not RunStatus.COMPLETED:
            raise run_failure(run)
        return run.outputs or {}


run_flow = RunFlowEndpoint()


async def _run_context_only(
    api: ApiContext, project_id: str, request: RunRequest
) -> Run | None:
    """Make the run on the event loop when its flow needs nothing but its context.

    Conditions and End alone need no store until the run is recorded, so such
    a run skips the store thread's queue; the recorder writes it with others
    in one transaction (`services.run_recorder`). A preview or a run for a
    tenant takes the standard path, as does any flow whose current plan is
    not cached as context-only.

    Returns:
        The recorded run, or None when the standard path must make it: the
        flow does not qualify, or it changed since its plan was cached.
    """
    if request.preview or request.tenant is not None:
        return None
    plan = api.runtime.plans.context_only_plan(project_id, request.flow_id)
    if plan is None:
        return None
    run = runs.make_context_only_run(
        api.runtime, plan, project_id, request.flow_id, request.inputs
    )
    if not await api.recorder.record(run):
        return None
    runs.log_finished(run)
    return run


async def run_flow_async(request: Request) -> JsonResponse:
    """Accept a run and answer its `executionId` at once; a worker makes the run.

    The run is recorded as `running`, pinned to the current version and queued
    before the answer goes out, so `async/result` finds it from the first
    moment and a crash of any process only delays it.
    """
    api = ApiContext.of(request)
    principal = await api.principal(request)
    principal.require(KeyScope.RUN_FLOWS)
    body = await api.body(request, RunBody)

    accepted = await api.runtime.call_blocking(
        lambda: runs.accept_run(
            api.runtime,
            principal.project_id,
            body.flowId,
            body.run_input(),
            RunTrigger.API,
            preview=body.run_preview(),
            tenant_id=body.run_tenant(),
        )
    )
    api.note(request, run_id=accepted.run_id)
    return JsonResponse({"executionId": accepted.run_id})


class AsyncResultBody(WireModel):
    """`/v1/mgmt/flow/async/result`: `{"executionId"}` from `async/run`."""

    executionId: str = Field(min_length=1)


async def flow_async_result(request: Request) -> JsonResponse:
    """Answer an accepted run's state: running, or its output, or its error.

    Descope publishes only the finished shape, `{"output": …}`; idflow adds
    `status` always and, for a failed run, `error` holding the body the
    synchronous run would have answered.
    """
    api = ApiContext.of(request)
    principal = await api.principal(request)
    principal.require(KeyScope.RUN_FLOWS)
    body = await api.body(request, AsyncResultBody)

    run = await api.runtime.call_blocking(
        lambda: runs.get_run(api.runtime, principal.project_id, body.executionId)
    )
    api.note(request, run_id=run.run_id)
    answer: dict[str, Any] = {"executionId": run.run_id, "status": str(run.status)}
    if run.status is RunStatus.COMPLETED:
        answer["output"] = run.outputs or {}
    elif run.status is RunStatus.FAILED:
        answer["error"] = run_failure(run).to_body()
    return JsonResponse(answer)


def run_failure(run: Run) -> RunFailed:
    """The API error for a failed run: the failing step's code, the run id in the message."""
    error = dict(run.error or {})
    return RunFailed(
        f"Run {run.run_id} of flow {run.flow_id!r} failed at task {error.get('taskId')!r}: {error.get('message')}",
        run_id=run.run_id,
        task_id=error.get("taskId"),
        step_code=error.get("code"),
    )


class FlowIdBody(WireModel):
    """`/v1/mgmt/flow/export` and `/v2/mgmt/flow/export`: `{"flowId"}`."""

    flowId: str = Field(min_length=1)


class FlowListBody(WireModel):
    """`/v1/mgmt/flow/list`: no body (Python), `{}` (Node) or `{"ids"}`."""

    ids: list[str] = []


class FlowIdsBody(WireModel):
    """`/v1/mgmt/flow/delete`: `{"ids": [...]}`."""

    ids: list[str] = Field(min_length=1)


class ImportV1Body(WireModel):
    """`/v1/mgmt/flow/import`: the v1 export answer plus the target `flowId`."""

    flowId: str = Field(min_length=1)
    flow: dict[str, Any]
    screens: list[Any] = []


class ImportV2Body(WireModel):
    """`/v2/mgmt/flow/import`: `{"flow": <v2 document>}`."""

    flow: dict[str, Any]


async def list_flows(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/flow/list` → `{"flows", "total"}`, by flow id."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    body = await api.body(request, FlowListBody)
    wanted = set(body.ids)

    def load(conn: Any) -> dict[str, Any]:
        found = flow_service.list_flows(conn, principal.project_id)
        listed = [_list_entry(f) for f in found if not wanted or f.flow_id in wanted]
        return {"flows": listed, "total": len(listed)}

    return JsonResponse(await api.read(load))


def _list_entry(record: FlowRecord) -> dict[str, Any]:
    return {
        "id": record.flow_id,
        "name": record.name,
        "description": record.description,
        "disabled": record.disabled,
        # Every flow idflow runs is a management flow.
        "management": True,
        "version": record.current_version,
        "modifiedTime": str(record.modified_ms // 1000),
    }


async def delete_flows(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/flow/delete`: every flow named, or none → `{}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, FlowIdsBody)

    def delete(conn: Any) -> dict[str, Any]:
        flow_service.delete_flows(conn, principal.actor, principal.project_id, body.ids)
        return {}

    return JsonResponse(await api.write(delete))


async def export_flow_v1(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/flow/export` → `{"flow": <v1 flow>, "screens"}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    body = await api.body(request, FlowIdBody)

    def export(conn: Any) -> dict[str, Any]:
        return flow_service.export_v1(conn, principal.project_id, body.flowId)

    return JsonResponse(await api.read(export))


async def export_flow_v2(request: Request) -> JsonResponse:
    """`POST /v2/mgmt/flow/export` → `{"flow": <v2 document>}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.READ_ONLY)
    body = await api.body(request, FlowIdBody)

    def export(conn: Any) -> dict[str, Any]:
        return {"flow": flow_service.export_v2(conn, principal.project_id, body.flowId)}

    return JsonResponse(await api.read(export))


async def import_flow_v1(request: Request) -> JsonResponse:
    """`POST /v1/mgmt/flow/import`: save as the next version → the v1 export.

    The flow is saved under the body's `flowId`, whatever `flow.id` says, as
    the SDKs document the call.
    """
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, ImportV1Body)
    document = v1_to_v2(body.flow, body.screens)
    document["flowId"] = body.flowId

    def save(conn: Any) -> dict[str, Any]:
        _import(conn, principal.actor, principal.project_id, document)
        return flow_service.export_v1(conn, principal.project_id, body.flowId)

    return JsonResponse(await api.write(save))


async def import_flow_v2(request: Request) -> JsonResponse:
    """`POST /v2/mgmt/flow/import`: save a v2 document as the next version → `{}`."""
    api = ApiContext.of(request)
    principal = await api.authorize(request, KeyScope.FULL)
    body = await api.body(request, ImportV2Body)

    def save(conn: Any) -> dict[str, Any]:
        document = _normalized(body.flow)
        _import(conn, principal.actor, principal.project_id, document)
        return {}

    return JsonResponse(await api.write(save))


def _normalized(flow: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return normalize_document(flow, "flow")
    except FlowDefinitionError as exc:
        raise FlowInvalid(exc.message, exc.problems) from exc


def _import(conn: Any, actor: Actor, project_id: str, document: dict[str, Any]) -> None:
    try:
        flow_service.import_flow(conn, actor, project_id, document)
    except FlowDefinitionError as exc:
        raise FlowInvalid(exc.message, exc.problems) from exc
