"""Tests for how actions read their arguments, above all which user they act on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from idflow.store import users as user_store
from idflow.store.database import Store
from idflow.store.records import RunStatus, User, UserStatus
from tests.conftest import TEST_PROJECT_ID
from tests.unit.actions.conftest import RunFlow

MakeUser = Callable[..., User]


def disable_flow(with_argument: bool, load: bool) -> dict[str, Any]:
    """Optionally load a user, then disable a user named only as the options say."""
    steps: list[dict[str, Any]] = []
    if load:
        steps.append(
            {
                "id": "load",
                "action": "user-load",
                "with": {"loginId": "{{ client.loadId }}"},
            }
        )
    disable: dict[str, Any] = {"id": "disable", "action": "user-disable"}
    if with_argument:
        disable["with"] = {"userId": "{{ client.argumentId }}"}
    steps += [disable, {"id": "done", "end": {"disabled": "{{ user.userId }}"}}]
    return {"id": "resolve-user", "steps": steps}


def disabled_ids(store: Store, candidates: dict[str, User]) -> list[str]:
    with store.connect() as conn:
        return [
            name
            for name, user in candidates.items()
            if (found := user_store.get_user(conn, TEST_PROJECT_ID, user.user_id))
            and found.status is UserStatus.DISABLED
        ]


@pytest.mark.parametrize(
    ("sources", "winner"),
    [
        (("argument", "event", "client", "loaded"), "argument"),
        (("event", "client", "loaded"), "event"),
        (("client", "loaded"), "client"),
        (("loaded",), "loaded"),
    ],
)
def test_a_user_action_finds_its_user_by_argument_event_client_then_loaded_user(
    run_flow: RunFlow,
    make_user: MakeUser,
    store: Store,
    sources: tuple[str, ...],
    winner: str,
) -> None:
    candidates = {
        name: make_user() for name in ("argument", "event", "client", "loaded")
    }
    inputs = {"loadId": candidates["loaded"].user_id}
    if "argument" in sources:
        inputs["argumentId"] = candidates["argument"].user_id
    if "client" in sources:
        inputs["userId"] = candidates["client"].user_id
    event = (
        {"action": "LoginFailed", "userId": candidates["event"].user_id}
        if "event" in sources
        else None
    )

    run = run_flow(
        disable_flow(with_argument="argument" in sources, load="loaded" in sources),
        inputs,
        triggering_event=event,
    )

    assert run.status is RunStatus.COMPLETED, run.error
    assert disabled_ids(store, candidates) == [winner]
    assert run.outputs == {"disabled": candidates[winner].user_id}


def test_an_argument_that_renders_empty_falls_back_to_the_next_source(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user()

    run = run_flow(
        disable_flow(with_argument=True, load=False), {"userId": ada.user_id}
    )

    assert run.status is RunStatus.COMPLETED
    assert disabled_ids(store, {"ada": ada}) == ["ada"]


def test_a_client_user_id_may_be_a_login_id(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user(login_ids=("ada@example.com",))

    run_flow(
        disable_flow(with_argument=False, load=False), {"userId": "ada@example.com"}
    )

    assert disabled_ids(store, {"ada": ada}) == ["ada"]


def test_a_user_action_with_no_user_anywhere_fails_saying_where_it_looked(
    run_flow: RunFlow,
) -> None:
    run = run_flow(disable_flow(with_argument=False, load=False))

    assert run.status is RunStatus.FAILED
    assert run.error == {
        "code": "E011003",
        "message": "No user to act on: give the 'userId' argument, or run the flow with a triggering event or a 'userId' input, or load a user first.",
        "taskId": "disable",
    }


def test_a_number_given_as_text_argument_is_read_as_its_digits(
    run_flow: RunFlow, make_user: MakeUser
) -> None:
    make_user(login_ids=("1234",))

    run = run_flow(
        {
            "id": "numeric-login",
            "steps": [
                {"id": "load", "action": "user-load", "with": {"loginId": 1234}},
                {
                    "id": "done",
                    "end": {
                        "loginIds": {"type": "array", "value": "{{ user.loginIds }}"}
                    },
                },
            ],
        }
    )

    assert run.outputs == {"loginIds": ["1234"]}


def test_a_boolean_text_argument_is_refused(run_flow: RunFlow) -> None:
    run = run_flow(
        {
            "id": "bool-login",
            "steps": [
                {"id": "load", "action": "user-load", "with": {"loginId": True}},
                {"id": "done", "end": {}},
            ],
        }
    )

    assert run.error is not None
    assert (run.error["code"], run.error["message"]) == (
        "E011003",
        "Argument 'loginId' is True: expected text.",
    )
