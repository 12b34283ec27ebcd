"""Tests for the runner: error policies, limits, the trace and branch choice.

Most tests run a flow the way the API does (`start_run` on a Runtime over
in-memory SQLite), so a failed run's rollback is the real one. Tests that need
an action no catalogue entry provides (a slow step, a detail with a secret) call
`execute` directly with that stand-in under a catalogue id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson
import pytest
import yaml

from idflow.actions.registry import ACTION_IMPLEMENTATIONS
from idflow.engine.contract import ActionCall, ActionResult, ResumePoint, RunInfo
from idflow.engine.plan import compile_plan
from idflow.engine.runner import RunLimits, RunOutcome, execute
from idflow.errors import TenantNotFound
from idflow.flows.descope import parse_document
from idflow.flows.files import document_from_data
from idflow.runtime import Runtime
from idflow.services import flows as flow_service
from idflow.services import runs as run_service
from idflow.services.audit import CLI_ACTOR
from idflow.settings import Settings
from idflow.store import audit as audit_store
from idflow.store import runs as run_store
from idflow.store import users as user_store
from idflow.store.database import Store
from idflow.store.records import Run, RunStatus, RunTrigger, User
from tests.conftest import TEST_PROJECT_ID

MakeUser = Callable[..., User]
RunFlow = Callable[..., Run]


@pytest.fixture
def make_runtime() -> Iterator[Callable[..., Runtime]]:
    opened: list[Runtime] = []

    def make(**settings: Any) -> Runtime:
        runtime = Runtime.open(Settings(database_url="sqlite://", **settings))
        opened.append(runtime)
        return runtime

    yield make
    for runtime in opened:
        runtime.close()


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime()


@pytest.fixture
def store(runtime: Runtime) -> Store:
    return runtime.store


def flow_runner(runtime: Runtime) -> RunFlow:
    def run(
        flow: str | Mapping[str, Any], inputs: Mapping[str, Any] | None = None
    ) -> Run:
        data = yaml.safe_load(flow) if isinstance(flow, str) else flow
        document = document_from_data(data, "test-flow.yaml")
        with runtime.store.begin() as conn:
            flow_service.save_flow(conn, CLI_ACTOR, TEST_PROJECT_ID, document)
        return run_service.start_run(
            runtime, TEST_PROJECT_ID, document["flowId"], inputs, RunTrigger.API
        )

    return run


@pytest.fixture
def run_flow(runtime: Runtime) -> RunFlow:
    return flow_runner(runtime)


def execute_with(
    flow: str,
    actions: Mapping[str, Callable[[ActionCall], ActionResult]],
    limits: RunLimits | None = None,
    context: dict[str, Any] | None = None,
    resume: ResumePoint | None = None,
) -> RunOutcome:
    """Plan a YAML flow with stand-in actions and execute it without a store."""
    document = document_from_data(yaml.safe_load(flow), "test-flow.yaml")
    plan = compile_plan(
        parse_document(document), 1, {**ACTION_IMPLEMENTATIONS, **actions}
    )
    info = RunInfo(TEST_PROJECT_ID, "R-test", document["flowId"], 1, 0)
    return execute(
        plan,
        info,
        context or {"client": {}},
        conn=None,
        limits=limits or RunLimits(),
        resume=resume,
    )


def stored_user(store: Store, user: User) -> User | None:
    with store.connect() as conn:
        return user_store.get_user(conn, TEST_PROJECT_ID, user.user_id)


def event_actions(store: Store) -> list[str]:
    with store.connect() as conn:
        found, _ = audit_store.search_events(
            conn, TEST_PROJECT_ID, excluded_actions=["FlowSaved"]
        )
    return [event.action for event in found]


RENAME_THEN_FAIL = """
id: rename-then-fail
steps:
  - id: rename
    action: user-update
    with: {{userId: "{{{{ client.userId }}}}", name: Renamed}}
  - id: note
    action: audit-generate-event
    with: {{action: renamed}}
  - id: disable
    action: user-disable
    with: {{userId: ghost}}
    {policy}
  - id: done
    end: {{name: "{{{{ user.name }}}}"}}
  - id: handled
    end:
      code: "{{{{ error.code }}}}"
      message: "{{{{ error.message }}}}"
      taskId: "{{{{ error.taskId }}}}"
"""
GHOST_MESSAGE = "No user has the login id or user id 'ghost' in this project."


def rename_then_fail(policy: str) -> str:
    # The handler End is reached only by the error edge; other policies need a
    # flow without it, or validation would report it unreachable.
    flow = RENAME_THEN_FAIL.format(policy=f"on-error: {policy}" if policy else "")
    if policy != "handled":
        flow = flow.split("  - id: handled")[0]
    return flow


def test_automatic_policy_fails_the_run_with_the_steps_code_and_message(
    run_flow: RunFlow, make_user: MakeUser
) -> None:
    ada = make_user(name="Ada")

    run = run_flow(rename_then_fail(""), {"userId": ada.user_id})

    assert run.status is RunStatus.FAILED
    assert run.error == {
        "code": "E112102",
        "message": GHOST_MESSAGE,
        "taskId": "disable",
    }
    assert run.outputs is None
    assert [(e["taskId"], e["outcome"]) for e in run.trace] == [
        ("rename", "success"),
        ("note", "success"),
        ("disable", "failed"),
    ]
    assert run.trace[-1]["error"] == {"code": "E112102", "message": GHOST_MESSAGE}


def test_automatic_policy_rolls_back_every_effect_of_the_run(
    run_flow: RunFlow, runtime: Runtime, make_user: MakeUser, store: Store
) -> None:
    ada = make_user(name="Ada")

    run = run_flow(rename_then_fail("automatic"), {"userId": ada.user_id})

    assert stored_user(store, ada) == ada
    assert event_actions(store) == []
    # The failed run itself is recorded, with its trace, for the operator.
    recorded = run_service.get_run(runtime, TEST_PROJECT_ID, run.run_id)
    assert recorded.status is RunStatus.FAILED
    assert [e["taskId"] for e in recorded.trace] == ["rename", "note", "disable"]


def test_ignore_policy_continues_along_success_and_marks_the_step(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user(name="Ada")

    run = run_flow(rename_then_fail("ignore"), {"userId": ada.user_id})

    assert run.status is RunStatus.COMPLETED
    # The failed step put nothing in context: `user` is still the renamed user.
    assert run.outputs == {"name": "Renamed"}
    failed = run.trace[2]
    assert (failed["taskId"], failed["outcome"], failed["errorIgnored"]) == (
        "disable",
        "success",
        True,
    )
    assert failed["error"] == {"code": "E112102", "message": GHOST_MESSAGE}
    assert run.trace[3]["taskId"] == "done"
    after = stored_user(store, ada)
    assert after is not None
    assert after.name == "Renamed"


def test_custom_policy_follows_the_error_edge_with_the_error_in_context(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user(name="Ada")

    run = run_flow(rename_then_fail("handled"), {"userId": ada.user_id})

    assert run.status is RunStatus.COMPLETED
    assert run.outputs == {
        "code": "E112102",
        "message": GHOST_MESSAGE,
        "taskId": "disable",
    }
    assert [(e["taskId"], e["outcome"]) for e in run.trace] == [
        ("rename", "success"),
        ("note", "success"),
        ("disable", "error"),
        ("handled", "end"),
    ]
    # A handled error is the run's business: the effects before it commit.
    after = stored_user(store, ada)
    assert after is not None
    assert after.name == "Renamed"
    assert sorted(event_actions(store)) == ["UserModified", "renamed"]


def test_an_error_without_a_code_of_its_own_fails_with_the_step_failed_code(
    run_flow: RunFlow,
) -> None:
    run = run_flow(
        """
        id: bad-context-write
        steps:
          - {id: e, end: {n: {type: number, value: "{{ client.n }}"}}}
        """,
        {"n": "many"},
    )

    assert run.error == {
        "code": "E102002",
        "message": "Output 'n' cannot be a number: got 'many' (str); expected a number or a numeric string.",
        "taskId": "e",
    }
    assert run.trace[-1]["outcome"] == "failed"


@pytest.mark.parametrize(
    ("output_type", "value", "message"),
    [
        (
            "boolean",
            "maybe",
            "Output 'out' cannot be a boolean: got 'maybe' (str); expected true, false, 'true', 'false', 1 or 0.",
        ),
        (
            "object",
            "[1]",
            "Output 'out' cannot be an object: got '[1]' (str); expected an object or a JSON object text.",
        ),
        (
            "array",
            {"a": 1},
            "Output 'out' cannot be an array: got {'a': 1} (dict); expected an array or a JSON array text.",
        ),
    ],
)
def test_an_end_output_that_does_not_fit_its_type_fails_the_run_clearly(
    run_flow: RunFlow, output_type: str, value: Any, message: str
) -> None:
    run = run_flow(
        {
            "id": "typed-end",
            "steps": [
                {
                    "id": "e",
                    "end": {"out": {"type": output_type, "value": "{{ client.v }}"}},
                }
            ],
        },
        {"v": value},
    )

    assert run.status is RunStatus.FAILED
    assert run.error == {"code": "E102002", "message": message, "taskId": "e"}


def test_end_outputs_are_converted_to_their_declared_types(run_flow: RunFlow) -> None:
    run = run_flow(
        """
        id: typed-outputs
        steps:
          - id: e
            end:
              count: {type: number, value: "{{ client.count }}"}
              flag: {type: boolean, value: "{{ client.flag }}"}
              meta: {type: object, value: "{{ client.meta }}"}
              tags: {type: array, value: "{{ client.tags }}"}
              text: "{{ client.count }} items"
        """,
        {"count": "42", "flag": "true", "meta": '{"a": 1}', "tags": ["x"]},
    )

    assert run.outputs == {
        "count": 42,
        "flag": True,
        "meta": {"a": 1},
        "tags": ["x"],
        "text": "42 items",
    }


def test_an_end_conversion_failure_rolls_back_the_runs_effects(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user()

    run = run_flow(
        {
            "id": "disable-then-bad-end",
            "steps": [
                {
                    "id": "disable",
                    "action": "user-disable",
                    "with": {"userId": ada.user_id},
                },
                {
                    "id": "e",
                    "end": {"n": {"type": "number", "value": "{{ user.status }}"}},
                },
            ],
        }
    )

    assert run.status is RunStatus.FAILED
    assert stored_user(store, ada) == ada


THREE_STEPS = """
id: three-steps
steps:
  - {id: first, action: audit-generate-event, with: {action: one}}
  - {id: second, action: audit-generate-event, with: {action: two}}
  - {id: done, end: {}}
"""


def test_a_run_past_the_step_limit_fails_at_the_step_it_did_not_take(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime(max_steps=2)

    run = flow_runner(runtime)(THREE_STEPS)

    assert run.status is RunStatus.FAILED
    assert run.error == {
        "code": "E102003",
        "message": "The run took more than 2 steps.",
        "taskId": "done",
    }
    assert [e["taskId"] for e in run.trace] == ["first", "second"]
    assert event_actions(runtime.store) == []


def test_a_run_of_exactly_the_step_limit_completes(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime(max_steps=3)

    run = flow_runner(runtime)(THREE_STEPS)

    assert run.status is RunStatus.COMPLETED


def test_a_run_past_its_time_limit_fails_before_its_next_step() -> None:
    def slow(call: ActionCall) -> ActionResult:
        time.sleep(0.05)
        return ActionResult()

    outcome = execute_with(
        THREE_STEPS,
        {"audit-generate-event": slow},
        RunLimits(timeout_seconds=0.01),
    )

    assert not outcome.succeeded
    assert outcome.error == {
        "code": "E102003",
        "message": "The run took longer than 0.01 seconds.",
        "taskId": "second",
    }
    assert [e["taskId"] for e in outcome.trace] == ["first"]


def output_flow(text: str) -> dict[str, Any]:
    return {"id": "big-output", "steps": [{"id": "e", "end": {"text": text}}]}


def test_outputs_larger_than_the_limit_fail_the_run(
    make_runtime: Callable[..., Runtime],
) -> None:
    text = "x" * 30
    size = len(orjson.dumps({"text": text}))
    runtime = make_runtime(max_output_bytes=size - 1)

    run = flow_runner(runtime)(output_flow(text))

    assert run.status is RunStatus.FAILED
    assert run.error == {
        "code": "E102003",
        "message": f"The outputs take {size} bytes: at most {size - 1} are allowed.",
        "taskId": "e",
    }


def test_outputs_of_exactly_the_limit_are_answered(
    make_runtime: Callable[..., Runtime],
) -> None:
    text = "x" * 30
    runtime = make_runtime(max_output_bytes=len(orjson.dumps({"text": text})))

    run = flow_runner(runtime)(output_flow(text))

    assert run.outputs == {"text": text}


def test_the_trace_records_each_steps_outcome_and_duration(
    run_flow: RunFlow, make_user: MakeUser
) -> None:
    ada = make_user()

    run = run_flow(
        """
        id: traced
        steps:
          - {id: load, name: Load the user, action: user-load, with: {loginId: "{{ client.id }}"}}
          - {id: check, if: {id: enabled, when: user.status equal enabled, goto: done}, else: done}
          - {id: done, end: {}}
        """,
        {"id": ada.user_id},
    )

    assert [(e["taskId"], e["name"], e["type"], e["outcome"]) for e in run.trace] == [
        ("load", "Load the user", "action", "success"),
        ("check", "check", "condition", "enabled"),
        ("done", "done", "end", "end"),
    ]
    assert run.trace[0]["action"] == "user-load"
    assert run.trace[0]["detail"] == {"userId": ada.user_id}
    for entry in run.trace:
        assert isinstance(entry["durationMs"], float)
        assert entry["durationMs"] >= 0


def test_the_trace_of_a_condition_shows_operands_operator_predicate_and_branch(
    run_flow: RunFlow,
) -> None:
    run = run_flow(
        """
        id: condition-trace
        steps:
          - id: check
            if:
              - id: big
                name: Big order
                when:
                  - "client.total greater-than {{ client.limit }}"
                  - client.coupon empty
                goto: done
            else: done
          - {id: done, end: {}}
        """,
        {"total": 120, "limit": 100},
    )

    [entry] = [e for e in run.trace if e["taskId"] == "check"]
    assert (entry["outcome"], entry["branch"]) == ("big", "Big order")
    assert entry["branches"] == [
        {
            "branch": "Big order",
            "operands": [
                {
                    "target": "client.total",
                    "value": 120,
                    "missing": False,
                    "operator": "greater-than",
                    "predicate": 100,
                    "result": True,
                },
                {
                    "target": "client.coupon",
                    "value": None,
                    "missing": True,
                    "operator": "empty",
                    "predicate": "",
                    "result": True,
                },
            ],
            "matched": True,
        }
    ]


def test_the_trace_hides_condition_values_under_secret_looking_keys(
    run_flow: RunFlow,
) -> None:
    run = run_flow(
        """
        id: secret-trace
        steps:
          - id: check
            if:
              - {id: a, when: client.apiToken not-empty, goto: b}
            else: b
          - id: b
            if:
              - {id: c, when: client.account equal x, goto: done}
            else: done
          - {id: done, end: {}}
        """,
        {"apiToken": "tok-123", "account": {"name": "acme", "password": "hunter2"}},
    )

    token, account = (run.trace[i]["branches"][0]["operands"][0] for i in (0, 1))
    assert (token["value"], token["result"]) == ("[redacted]", True)
    assert account["value"] == {"name": "acme", "password": "[redacted]"}
    assert run.inputs["apiToken"] == "[redacted]"
    assert b"tok-123" not in orjson.dumps(run.trace)
    assert b"hunter2" not in orjson.dumps(run.trace)


def test_the_trace_hides_a_templated_predicate_read_from_a_secret_key(
    run_flow: RunFlow,
) -> None:
    run = run_flow(
        """
        id: secret-predicate
        steps:
          - id: check
            if:
              - {id: a, when: "client.given equal {{ client.expectedToken }}", goto: done}
            else: done
          - {id: done, end: {}}
        """,
        {"given": "s3cr3t", "expectedToken": "s3cr3t"},
    )

    operand = run.trace[0]["branches"][0]["operands"][0]
    assert (operand["predicate"], operand["result"]) == ("[redacted]", True)
    assert operand["value"] == "s3cr3t"  # `given` is not a secret-looking key


def test_a_templated_predicate_unusable_at_run_time_fails_the_run_at_its_task(
    run_flow: RunFlow,
) -> None:
    run = run_flow(
        """
        id: bad-pattern
        steps:
          - id: check
            if:
              - {id: a, when: "client.v matches {{ client.pattern }}", goto: done}
            else: done
          - {id: done, end: {}}
        """,
        {"v": "abc", "pattern": "("},
    )

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert (run.error["taskId"], run.error["code"]) == ("check", "E102002")
    assert run.trace[0]["outcome"] == "failed"


def test_the_trace_hides_secret_looking_keys_of_an_actions_detail() -> None:
    def leaky(call: ActionCall) -> ActionResult:
        return ActionResult(None, {"userId": "U1", "sessionToken": "s3cr3t"})

    outcome = execute_with(THREE_STEPS, {"audit-generate-event": leaky})

    assert outcome.trace[0]["detail"] == {"userId": "U1", "sessionToken": "[redacted]"}


BRANCHES = """
id: branches
steps:
  - id: check
    if:
      - {id: first, when: client.n greater-than 10, goto: a}
      - {id: second, when: client.n greater-than 5, goto: b}
    else: c
  - {id: a, end: {took: a}}
  - {id: b, end: {took: b}}
  - {id: c, end: {took: c}}
"""


def test_the_first_matching_branch_wins_and_later_ones_are_not_evaluated(
    run_flow: RunFlow,
) -> None:
    run = run_flow(BRANCHES, {"n": 20})

    assert run.outputs == {"took": "a"}
    assert [b["branch"] for b in run.trace[0]["branches"]] == ["first"]


def test_a_later_branch_is_taken_when_the_earlier_ones_do_not_match(
    run_flow: RunFlow,
) -> None:
    run = run_flow(BRANCHES, {"n": 7})

    assert run.outputs == {"took": "b"}
    assert [(b["branch"], b["matched"]) for b in run.trace[0]["branches"]] == [
        ("first", False),
        ("second", True),
    ]


def test_else_catches_every_run_no_branch_matches(run_flow: RunFlow) -> None:
    run = run_flow(BRANCHES, {"n": "not a number"})

    assert run.outputs == {"took": "c"}
    assert (run.trace[0]["outcome"], run.trace[0]["branch"]) == ("ELSE", "Else")
    assert [b["matched"] for b in run.trace[0]["branches"]] == [False, False]


def test_else_is_tried_last_wherever_the_document_lists_it(run_flow: RunFlow) -> None:
    document = document_from_data(yaml.safe_load(BRANCHES), "branches.yaml")
    conditions = document["contents"]["tasks"]["check"]["conditions"]
    conditions.insert(0, conditions.pop())

    run = run_flow(document, {"n": 7})

    assert run.outputs == {"took": "b"}


def test_an_and_branch_stops_at_its_first_false_condition(run_flow: RunFlow) -> None:
    run = run_flow(
        """
        id: and-branch
        steps:
          - id: check
            if: {id: both, when: [client.a is-true, client.b is-true], goto: "yes"}
            else: "no"
          - {id: "yes", end: {took: "yes"}}
          - {id: "no", end: {took: "no"}}
        """,
        {"a": False, "b": True},
    )

    assert run.outputs == {"took": "no"}
    [branch] = run.trace[0]["branches"]
    assert [o["target"] for o in branch["operands"]] == ["client.a"]


def test_an_or_branch_matches_when_any_condition_holds(run_flow: RunFlow) -> None:
    flow = """
        id: or-branch
        steps:
          - id: check
            if: {id: either, any: [client.a is-true, client.b is-true], goto: "yes"}
            else: "no"
          - {id: "yes", end: {took: "yes"}}
          - {id: "no", end: {took: "no"}}
        """

    assert run_flow(flow, {"a": False, "b": True}).outputs == {"took": "yes"}
    assert run_flow(flow, {"a": False, "b": False}).outputs == {"took": "no"}


def test_an_or_branch_stops_at_its_first_true_condition(run_flow: RunFlow) -> None:
    run = run_flow(
        """
        id: or-short
        steps:
          - id: check
            if: {id: either, any: [client.a is-true, client.b is-true], goto: done}
            else: done
          - {id: done, end: {}}
        """,
        {"a": True},
    )

    [branch] = run.trace[0]["branches"]
    assert [o["target"] for o in branch["operands"]] == ["client.a"]
    assert branch["matched"] is True


def test_a_steps_result_lands_under_its_context_key(
    run_flow: RunFlow, make_user: MakeUser
) -> None:
    ada = make_user()

    run = run_flow(
        {
            "id": "context-key",
            "steps": [
                {
                    "id": "load",
                    "action": "user-load",
                    "with": {"loginId": ada.user_id},
                    "context-key": "admin",
                },
                {
                    "id": "done",
                    "end": {"admin": "{{ admin.userId }}", "user": "{{ user.userId }}"},
                },
            ],
        }
    )

    assert run.outputs == {"admin": ada.user_id, "user": ""}


def test_templates_read_the_run_and_its_inputs(run_flow: RunFlow) -> None:
    run = run_flow(
        """
        id: run-context
        steps:
          - {id: e, end: {run: "{{ run.id }}", flow: "{{ run.flowId }}", who: "{{ client.who }}"}}
        """,
        {"who": "ops"},
    )

    assert run.outputs == {"run": run.run_id, "flow": "run-context", "who": "ops"}


RECORD_STEPS = """
id: record-steps
steps:
  - {id: first, action: audit-generate-event, with: {action: "1"}}
  - {id: second, action: audit-generate-event, with: {action: "{{ seen }}"}}
  - {id: third, action: audit-generate-event, with: {action: "3"}}
  - {id: done, end: {seen: "{{ seen }}"}}
"""


def noting(ran: list[str]) -> Callable[[ActionCall], ActionResult]:
    def note(call: ActionCall) -> ActionResult:
        ran.append(call.task_id)
        return ActionResult(detail={"n": call.arguments["action"]})

    return note


def test_a_resumed_run_goes_on_from_its_point_with_the_context_as_stored() -> None:
    ran: list[str] = []
    earlier = [{"taskId": "first", "name": "first", "outcome": "success"}]

    outcome = execute_with(
        RECORD_STEPS,
        {"audit-generate-event": noting(ran)},
        context={"client": {}, "seen": "kept"},
        resume=ResumePoint("second", {"client": {}, "seen": "kept"}, earlier),
    )

    assert outcome.succeeded
    assert outcome.outputs == {"seen": "kept"}
    assert ran == ["second", "third"]
    assert [e["taskId"] for e in outcome.trace] == ["first", "second", "third", "done"]
    assert [e.get("resumed", False) for e in outcome.trace] == [
        False,
        True,
        False,
        False,
    ]
    assert outcome.trace[1]["detail"] == {"n": "kept"}


def test_the_steps_before_a_resume_count_against_the_step_limit() -> None:
    earlier = [{"taskId": "first"}, {"taskId": "x"}]

    outcome = execute_with(
        RECORD_STEPS,
        {"audit-generate-event": noting([])},
        limits=RunLimits(max_steps=3),
        resume=ResumePoint("second", {"client": {}}, earlier),
    )

    assert not outcome.succeeded
    assert outcome.error == {
        "code": "E102003",
        "message": "The run took more than 3 steps.",
        "taskId": "third",
    }


def test_a_resume_at_a_task_the_version_lacks_fails_clearly() -> None:
    outcome = execute_with(
        RECORD_STEPS,
        {"audit-generate-event": noting([])},
        resume=ResumePoint("gone", {"client": {}}, []),
    )

    assert not outcome.succeeded
    assert outcome.error == {
        "code": "E102002",
        "message": "The run cannot resume at task 'gone': version 1 has no such task.",
        "taskId": "gone",
    }


def _save(runtime: Runtime, flow: str) -> str:
    document = document_from_data(yaml.safe_load(flow), "test-flow.yaml")
    with runtime.store.begin() as conn:
        flow_service.save_flow(conn, CLI_ACTOR, TEST_PROJECT_ID, document)
    return str(document["flowId"])


def test_a_failed_preview_is_recorded_as_a_preview_and_keeps_nothing(
    runtime: Runtime, make_user: MakeUser
) -> None:
    user = make_user(name="Before")
    flow_id = _save(runtime, rename_then_fail(""))

    run = run_service.start_run(
        runtime,
        TEST_PROJECT_ID,
        flow_id,
        {"userId": user.user_id},
        RunTrigger.API,
        preview=True,
    )

    assert (run.trigger, run.status) == (RunTrigger.PREVIEW, RunStatus.FAILED)
    assert run.error is not None and run.error["taskId"] == "disable"
    stored = run_service.get_run(runtime, TEST_PROJECT_ID, run.run_id)
    assert (stored.trigger, stored.status) == (RunTrigger.PREVIEW, RunStatus.FAILED)
    assert stored_user(runtime.store, user) == user


def test_a_run_for_a_tenant_that_does_not_exist_is_refused_and_not_recorded(
    runtime: Runtime,
) -> None:
    flow_id = _save(runtime, THREE_STEPS)

    with pytest.raises(TenantNotFound, match="T-missing"):
        run_service.start_run(
            runtime, TEST_PROJECT_ID, flow_id, {}, RunTrigger.API, tenant_id="T-missing"
        )

    with runtime.store.connect() as conn:
        assert run_store.count_runs(conn, TEST_PROJECT_ID, flow_id=flow_id) == 0
    assert event_actions(runtime.store) == []
