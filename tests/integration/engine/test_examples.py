"""Every flow in examples/flows loads, saves and runs with the answers it promises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idflow.flows.files import load_flow_file
from idflow.runtime import Runtime
from idflow.services import flows as flow_service
from idflow.services import projects as project_service
from idflow.services import users as user_service
from idflow.services.audit import CLI_ACTOR
from idflow.services.runs import start_run
from idflow.settings import Settings
from idflow.store import audit as audit_store
from idflow.store import users as user_store
from idflow.store.database import Store
from idflow.store.records import RunStatus, RunTrigger, UserStatus

EXAMPLES = Path(__file__).parents[3] / "examples" / "flows"

# For each example: (status the user starts in, input, status it ends in, the
# outputs besides userId). A new example without cases here fails the guard test.
CASES: dict[
    str, list[tuple[UserStatus, dict[str, Any], UserStatus, dict[str, Any]]]
] = {
    "disable-inactive-user": [
        (
            UserStatus.ENABLED,
            {"daysInactive": 120, "thresholdDays": 90},
            UserStatus.DISABLED,
            {"status": "disabled"},
        ),
        (
            UserStatus.ENABLED,
            {"daysInactive": 30, "thresholdDays": 90},
            UserStatus.ENABLED,
            {"status": "enabled"},
        ),
    ],
    "reenable-after-verification": [
        (
            UserStatus.DISABLED,
            {"verified": True, "method": "otp"},
            UserStatus.ENABLED,
            {"status": "enabled", "reenabled": True},
        ),
        (
            UserStatus.DISABLED,
            {"verified": False, "method": "otp"},
            UserStatus.DISABLED,
            {"status": "disabled", "reenabled": False},
        ),
        (
            UserStatus.ENABLED,
            {"verified": True, "method": "otp"},
            UserStatus.ENABLED,
            {"status": "enabled", "reenabled": False},
        ),
    ],
}


def _example_ids() -> list[str]:
    return sorted(path.stem for path in EXAMPLES.glob("*.y*ml"))


def test_every_example_flow_has_run_cases() -> None:
    assert _example_ids() == sorted(CASES)


@pytest.fixture
def runtime(store: Store) -> Iterator[Runtime]:
    yield Runtime(store, Settings())


@pytest.mark.parametrize("flow_id", sorted(CASES))
def test_example_flow_runs_each_case_to_the_expected_answer(
    runtime: Runtime, flow_id: str
) -> None:
    document, flow = load_flow_file(EXAMPLES / f"{flow_id}.yaml")
    assert flow.flow_id == flow_id
    with runtime.store.begin() as conn:
        project, _ = project_service.create_project(conn, CLI_ACTOR, "Examples")
        flow_service.save_flow(conn, CLI_ACTOR, project.project_id, document)

    for index, (before, inputs, after, outputs) in enumerate(CASES[flow_id]):
        with runtime.store.begin() as conn:
            user = user_service.create_user(
                conn, CLI_ACTOR, project.project_id, f"u{index}@example.com"
            )
            user = user_service.set_status(conn, CLI_ACTOR, user, before)

        run = start_run(
            runtime,
            project.project_id,
            flow_id,
            {"userId": f"u{index}@example.com", **inputs},
            RunTrigger.CLI,
        )

        assert run.status is RunStatus.COMPLETED, run.error
        assert run.outputs == {"userId": user.user_id, **outputs}
        with runtime.store.connect() as conn:
            stored = user_store.get_user(conn, project.project_id, user.user_id)
        assert stored is not None
        assert stored.status is after


def test_reenable_example_records_how_the_user_was_verified(runtime: Runtime) -> None:
    document, _ = load_flow_file(EXAMPLES / "reenable-after-verification.yaml")
    with runtime.store.begin() as conn:
        project, _ = project_service.create_project(conn, CLI_ACTOR, "Examples")
        flow_service.save_flow(conn, CLI_ACTOR, project.project_id, document)
        user = user_service.create_user(
            conn, CLI_ACTOR, project.project_id, "ada@example.com"
        )
        user_service.set_status(conn, CLI_ACTOR, user, UserStatus.DISABLED)

    start_run(
        runtime,
        project.project_id,
        "reenable-after-verification",
        {"userId": user.user_id, "verified": "true", "method": "passkey"},
        RunTrigger.API,
    )

    with runtime.store.connect() as conn:
        events, total = audit_store.search_events(
            conn, project.project_id, actions=["user.reenabled.after.verification"]
        )
    assert total == 1
    assert events[0].data == {"method": "passkey"}
