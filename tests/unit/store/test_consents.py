from __future__ import annotations

import pytest

from idflow.store import consents
from idflow.store.database import Store
from idflow.store.records import Consent


def _consent(consent_id: str, user_id: str, app_id: str, created_ms: int) -> Consent:
    return Consent(
        project_id="P1",
        consent_id=consent_id,
        user_id=user_id,
        app_id=app_id,
        scopes=("openid", "email"),
        granted_by=user_id,
        created_ms=created_ms,
    )


@pytest.fixture
def granted(store: Store) -> list[Consent]:
    made = [
        _consent("C1", "U1", "app-a", 1),
        _consent("C2", "U1", "app-b", 2),
        _consent("C3", "U2", "app-a", 3),
        Consent("P2", "C4", "U1", "app-a", ("openid",), "admin", 4, tenant_id="T1"),
    ]
    with store.begin() as conn:
        for consent in made:
            consents.insert_consent(conn, consent)
    return made


def test_list_consents_filters_by_user_and_app(
    store: Store, granted: list[Consent]
) -> None:
    c1, c2, c3, c4 = granted

    with store.connect() as conn:
        assert consents.list_consents(conn, "P1") == [c1, c2, c3]
        assert consents.list_consents(conn, "P1", user_id="U1") == [c1, c2]
        assert consents.list_consents(conn, "P1", app_id="app-a") == [c1, c3]
        assert consents.list_consents(conn, "P1", user_id="U1", app_id="app-b") == [c2]
        assert consents.list_consents(conn, "P2") == [c4]


def test_delete_consents_of_one_app_keeps_the_others(
    store: Store, granted: list[Consent]
) -> None:
    _, c2, c3, _ = granted

    with store.begin() as conn:
        deleted = consents.delete_consents(conn, "P1", user_id="U1", app_id="app-a")
    with store.connect() as conn:
        remaining = consents.list_consents(conn, "P1")

    assert deleted == 1
    assert remaining == [c2, c3]


def test_delete_consents_of_a_user_removes_all_of_them(
    store: Store, granted: list[Consent]
) -> None:
    with store.begin() as conn:
        deleted = consents.delete_consents(conn, "P1", user_id="U1")
    with store.connect() as conn:
        remaining = consents.list_consents(conn, "P1", user_id="U1")
        other_project = consents.list_consents(conn, "P2", user_id="U1")

    assert deleted == 2
    assert remaining == []
    assert other_project == [granted[3]]
