from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from idflow.errors import UserAlreadyExists
from idflow.store import users
from idflow.store.database import Store
from idflow.store.records import User, UserStatus, UserTenant

MakeUser = Callable[..., User]


def test_insert_user_round_trips_every_field(store: Store) -> None:
    user = User(
        project_id="P1",
        user_id="U1",
        login_ids=("ada@example.com", "+15550100"),
        created_ms=1_700_000_000_000,
        modified_ms=1_700_000_000_001,
        status=UserStatus.INVITED,
        email="ada@example.com",
        phone="+15550100",
        name="Ada Lovelace",
        given_name="Ada",
        middle_name="King",
        family_name="Lovelace",
        verified_email=True,
        verified_phone=True,
        picture="https://example.com/ada.png",
        test=True,
        custom_attributes={"plan": "pro", "seats": 3, "tags": ["a", "é"]},
        role_names=("admin", "viewer"),
        tenants=(UserTenant("T1", ("owner",)), UserTenant("T2")),
        last_login_ms=1_700_000_000_002,
    )

    with store.begin() as conn:
        users.insert_user(conn, user)
    with store.connect() as conn:
        stored = users.get_user(conn, "P1", "U1")

    assert stored == user


def test_insert_user_with_a_taken_login_id_raises_and_writes_nothing(
    store: Store, make_user: MakeUser
) -> None:
    ada = make_user(login_ids=("ada@example.com",))
    rival = User(
        project_id=ada.project_id,
        user_id="U-rival",
        login_ids=("new@example.com", "ada@example.com"),
        created_ms=1,
        modified_ms=1,
    )

    with (
        store.begin() as conn,
        pytest.raises(UserAlreadyExists, match=re.escape("ada@example.com")),
    ):
        users.insert_user(conn, rival)

    with store.connect() as conn:
        assert users.get_user(conn, ada.project_id, "U-rival") is None
        assert users.find_user(conn, ada.project_id, "new@example.com") is None
        assert users.count_users(conn, ada.project_id) == 1


def test_insert_user_conflict_leaves_the_transaction_usable(
    store: Store, make_user: MakeUser
) -> None:
    ada = make_user(login_ids=("ada@example.com",))
    clash = User(ada.project_id, "U-clash", ("ada@example.com",), 1, 1)
    other = User(ada.project_id, "U-other", ("other@example.com",), 1, 1)

    with store.begin() as conn:
        with pytest.raises(UserAlreadyExists):
            users.insert_user(conn, clash)
        users.insert_user(conn, other)

    with store.connect() as conn:
        assert users.count_users(conn, ada.project_id) == 2


def test_insert_user_with_a_taken_user_id_raises(
    store: Store, make_user: MakeUser
) -> None:
    ada = make_user()
    twin = replace(ada, login_ids=("twin@example.com",))

    with store.begin() as conn, pytest.raises(UserAlreadyExists, match=ada.user_id):
        users.insert_user(conn, twin)


def test_insert_user_stores_a_repeated_login_id_once(store: Store) -> None:
    user = User("P1", "U1", ("a@example.com", "b@example.com", "a@example.com"), 1, 1)

    with store.begin() as conn:
        users.insert_user(conn, user)
    with store.connect() as conn:
        stored = users.get_user(conn, "P1", "U1")

    assert stored is not None
    assert stored.login_ids == ("a@example.com", "b@example.com")


def test_same_login_id_may_exist_in_two_projects(make_user: MakeUser) -> None:
    make_user(project_id="P1", login_ids=("ada@example.com",))
    make_user(project_id="P2", login_ids=("ada@example.com",))


def test_find_user_by_login_id_then_by_user_id(
    store: Store, make_user: MakeUser
) -> None:
    ada = make_user(login_ids=("ada@example.com", "ada"))

    with store.connect() as conn:
        by_first = users.find_user(conn, ada.project_id, "ada@example.com")
        by_second = users.find_user(conn, ada.project_id, "ada")
        by_user_id = users.find_user(conn, ada.project_id, ada.user_id)
        missing = users.find_user(conn, ada.project_id, "nobody")
        other_project = users.find_user(conn, "P-other", "ada")

    assert by_first == by_second == by_user_id == ada
    assert missing is None
    assert other_project is None


def test_find_user_prefers_the_login_id_over_a_matching_user_id(
    store: Store, make_user: MakeUser
) -> None:
    owner_of_id = make_user(user_id="shared")
    owner_of_login = make_user(login_ids=("shared",))

    with store.connect() as conn:
        found = users.find_user(conn, owner_of_id.project_id, "shared")

    assert found == owner_of_login


def test_replace_user_rewrites_fields_and_login_ids(
    store: Store, make_user: MakeUser
) -> None:
    ada = make_user(login_ids=("old@example.com", "kept@example.com"))
    changed = replace(
        ada,
        login_ids=("kept@example.com", "new@example.com"),
        name="Ada",
        custom_attributes={"plan": "team"},
        tenants=(UserTenant("T9", ("member",)),),
        modified_ms=ada.modified_ms + 5,
    )

    with store.begin() as conn:
        assert users.replace_user(conn, changed)
    with store.connect() as conn:
        assert users.get_user(conn, ada.project_id, ada.user_id) == changed
        assert users.find_user(conn, ada.project_id, "new@example.com") == changed
        assert users.find_user(conn, ada.project_id, "old@example.com") is None


def test_replace_user_frees_dropped_login_ids_for_others(
    store: Store, make_user: MakeUser
) -> None:
    ada = make_user(login_ids=("old@example.com",))
    with store.begin() as conn:
        users.replace_user(conn, replace(ada, login_ids=("new@example.com",)))

    bob = make_user(project_id=ada.project_id, login_ids=("old@example.com",))

    with store.connect() as conn:
        assert users.find_user(conn, ada.project_id, "old@example.com") == bob


def test_replace_user_with_another_users_login_id_raises_and_changes_nothing(
    store: Store, make_user: MakeUser
) -> None:
    ada = make_user(login_ids=("ada@example.com",))
    bob = make_user(project_id=ada.project_id, login_ids=("bob@example.com",))
    grab = replace(ada, login_ids=("bob@example.com",), name="Thief")

    with (
        store.begin() as conn,
        pytest.raises(UserAlreadyExists, match=re.escape("bob@example.com")),
    ):
        users.replace_user(conn, grab)

    with store.connect() as conn:
        assert users.get_user(conn, ada.project_id, ada.user_id) == ada
        assert users.find_user(conn, ada.project_id, "bob@example.com") == bob


def test_replace_user_returns_false_for_an_unknown_user(store: Store) -> None:
    ghost = User("P1", "U-ghost", ("ghost@example.com",), 1, 1)

    with store.begin() as conn:
        assert not users.replace_user(conn, ghost)
    with store.connect() as conn:
        assert users.find_user(conn, "P1", "ghost@example.com") is None


def test_set_user_status_changes_status_and_modified_time(
    store: Store, make_user: MakeUser
) -> None:
    ada = make_user()

    with store.begin() as conn:
        changed = users.set_user_status(
            conn, ada.project_id, ada.user_id, UserStatus.DISABLED, 42
        )
        unknown = users.set_user_status(
            conn, ada.project_id, "U-ghost", UserStatus.DISABLED, 42
        )
    with store.connect() as conn:
        stored = users.get_user(conn, ada.project_id, ada.user_id)

    assert changed
    assert not unknown
    assert stored == replace(ada, status=UserStatus.DISABLED, modified_ms=42)


def test_delete_user_frees_its_login_ids(store: Store, make_user: MakeUser) -> None:
    ada = make_user(login_ids=("ada@example.com",))

    with store.begin() as conn:
        assert users.delete_user(conn, ada.project_id, ada.user_id)
        assert not users.delete_user(conn, ada.project_id, ada.user_id)
    make_user(project_id=ada.project_id, login_ids=("ada@example.com",))

    with store.connect() as conn:
        assert users.get_user(conn, ada.project_id, ada.user_id) is None


def test_list_users_pages_by_creation_time(store: Store, make_user: MakeUser) -> None:
    made = [make_user(project_id="P1", created_ms=100 - i) for i in range(5)]
    make_user(project_id="P2")
    oldest_first = list(reversed(made))

    with store.connect() as conn:
        first = users.list_users(conn, "P1", limit=2)
        rest = users.list_users(conn, "P1", limit=10, offset=2)
        total = users.count_users(conn, "P1")

    assert first == oldest_first[:2]
    assert rest == oldest_first[2:]
    assert total == 5
