"""Flow endpoints of the management API: run (the rest arrives with the full API)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from idflow.api.context import ApiContext
from idflow.api.responses import JsonResponse
from idflow.errors import RunFailed
from idflow.services import runs
from idflow.store.records import KeyScope, Run, RunStatus, RunTrigger


class _RunOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: dict[str, Any] | None = None
    preview: bool | None = None
    tenant: str | None = None


class RunBody(BaseModel):
    """`/v1/mgmt/flow/run`: options nested (Node, Go) or at the top (Python)."""

    model_config = ConfigDict(extra="ignore")

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


async def run_flow(request: Request) -> JsonResponse:
    """Run a flow synchronously and answer its End outputs as `{"output": …}`."""
    api = ApiContext.of(request)
    principal = await api.principal(request)
    principal.require(KeyScope.RUN_FLOWS)
    body = await api.body(request, RunBody)

    run = await api.runtime.call_blocking(
        lambda: runs.start_run(
            api.runtime,
            principal.project_id,
            body.flowId,
            body.run_input(),
            RunTrigger.API,
        )
    )
    api.note(request, run_id=run.run_id)
    if run.status is not RunStatus.COMPLETED:
        raise run_failure(run)
    return JsonResponse({"output": run.outputs or {}})


def run_failure(run: Run) -> RunFailed:
    """The API error for a failed run: the failing step's code, the run id in the message."""
    error = dict(run.error or {})
    return RunFailed(
        f"Run {run.run_id} of flow {run.flow_id!r} failed at task {error.get('taskId')!r}: {error.get('message')}",
        run_id=run.run_id,
        task_id=error.get("taskId"),
        step_code=error.get("code"),
    )
