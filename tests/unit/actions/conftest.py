"""Action tests run real flows on a real Runtime over in-memory SQLite.

`run_flow` saves a flow (a YAML string or a dict, in the authoring form or as a
Descope document) the way `idflow flow apply` does and starts a run of it the way
the API does, so each action is exercised through the planner, the runner and
the run's transaction. The store fixtures of tests/conftest.py are pointed at the
runtime's store, so `make_user` and friends write where the flows read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import yaml

from idflow.flows.files import document_from_data
from idflow.runtime import Runtime
from idflow.services import flows as flow_service
from idflow.services.audit import CLI_ACTOR, AuditAction
from idflow.services.runs import start_run
from idflow.settings import Settings
from idflow.store import audit as audit_store
from idflow.store.database import Store
from idflow.store.records import AuditEvent, Run, RunTrigger
from tests.conftest import TEST_PROJECT_ID

RunFlow = Callable[..., Run]


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    # `sqlite://` is one private in-memory database behind a single shared
    # connection (StaticPool), so every transaction of the test sees it.
    runtime = Runtime.open(Settings(database_url="sqlite://"))
    yield runtime
    runtime.close()


@pytest.fixture
def store(runtime: Runtime) -> Store:
    return runtime.store


@pytest.fixture
def run_flow(runtime: Runtime) -> RunFlow:
    def run(
        flow: str | Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        triggering_event: Mapping[str, Any] | None = None,
    ) -> Run:
        data = yaml.safe_load(flow) if isinstance(flow, str) else flow
        document = document_from_data(data, "test-flow.yaml")
        with runtime.store.begin() as conn:
            flow_service.save_flow(conn, CLI_ACTOR, TEST_PROJECT_ID, document)
        return start_run(
            runtime,
            TEST_PROJECT_ID,
            document["flowId"],
            inputs,
            RunTrigger.API,
            triggering_event=triggering_event,
        )

    return run


def one_step_flow(
    action: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    outputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A flow of one action step, then an End answering `outputs`."""
    return {
        "id": f"test-{action}",
        "steps": [
            {"id": "act", "action": action, "with": dict(arguments or {})},
            {"id": "done", "end": dict(outputs or {})},
        ],
    }


def events(store: Store, *actions: str | AuditAction) -> list[AuditEvent]:
    """The project's audit events, oldest first; only `actions` when given."""
    with store.connect() as conn:
        found, _ = audit_store.search_events(
            conn,
            TEST_PROJECT_ID,
            actions=[str(a) for a in actions],
            excluded_actions=[str(AuditAction.FLOW_SAVED)],
            limit=1000,
        )
    return list(reversed(found))
