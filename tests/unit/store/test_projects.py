from __future__ import annotations

from collections.abc import Callable

from idflow.store import projects
from idflow.store.database import Store
from idflow.store.records import KeyScope, ManagementKey, Project

MakeProject = Callable[..., Project]
MakeKey = Callable[..., ManagementKey]


def test_insert_project_then_get_and_list_it(
    store: Store, make_project: MakeProject
) -> None:
    older = make_project(created_ms=1)
    newer = make_project(created_ms=2)

    with store.connect() as conn:
        assert projects.get_project(conn, older.project_id) == older
        assert projects.get_project(conn, "P-ghost") is None
        assert projects.list_projects(conn) == [older, newer]


def test_find_key_by_hash_returns_the_key_or_none(
    store: Store, make_key: MakeKey
) -> None:
    key = make_key(scope=KeyScope.READ_ONLY, key_hash="abc123")

    with store.connect() as conn:
        assert projects.find_key_by_hash(conn, "abc123") == key
        assert projects.find_key_by_hash(conn, "nope") is None


def test_list_keys_returns_only_the_projects_keys_oldest_first(
    store: Store, make_project: MakeProject, make_key: MakeKey
) -> None:
    project = make_project()
    second = make_key(project_id=project.project_id, created_ms=20)
    first = make_key(project_id=project.project_id, created_ms=10)
    make_key()

    with store.connect() as conn:
        assert projects.list_keys(conn, project.project_id) == [first, second]


def test_revoke_key_revokes_a_live_key_once(store: Store, make_key: MakeKey) -> None:
    key = make_key()

    with store.begin() as conn:
        first = projects.revoke_key(conn, key.project_id, key.key_id, 500)
        again = projects.revoke_key(conn, key.project_id, key.key_id, 600)
        elsewhere = projects.revoke_key(conn, "P-other", key.key_id, 600)
    with store.connect() as conn:
        stored = projects.find_key_by_hash(conn, key.key_hash)

    assert (first, again, elsewhere) == (True, False, False)
    assert stored is not None
    assert stored.revoked_ms == 500
