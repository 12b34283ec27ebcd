"""Tests for the consent actions, each run as a flow step on a real store."""

from __future__ import annotations

from collections.abc import Callable

from idflow.services.audit import AuditAction
from idflow.store import consents as consent_store
from idflow.store.database import Store
from idflow.store.records import Consent, RunStatus, User
from tests.conftest import TEST_PROJECT_ID
from tests.unit.actions.conftest import RunFlow, events, one_step_flow

MakeUser = Callable[..., User]


def consents_of(store: Store, user: User) -> list[Consent]:
    with store.connect() as conn:
        return consent_store.list_consents(conn, TEST_PROJECT_ID, user_id=user.user_id)


def grant(run_flow: RunFlow, user: User, app_id: str, scopes: object) -> None:
    run = run_flow(
        one_step_flow(
            "consent-grant", {"userId": user.user_id, "appId": app_id, "scopes": scopes}
        )
    )
    assert run.status is RunStatus.COMPLETED, run.error


def test_consent_grant_records_the_scopes_and_writes_consent_granted(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user()

    run = run_flow(
        one_step_flow(
            "consent-grant",
            {
                "userId": ada.user_id,
                "appId": "app-crm",
                "scopes": "read, write, read",
                "tenantId": "T-acme",
            },
            outputs={"consentId": "{{ consent.id }}", "app": "{{ consent.appId }}"},
        )
    )

    assert run.status is RunStatus.COMPLETED
    [consent] = consents_of(store, ada)
    assert (consent.app_id, consent.scopes, consent.tenant_id) == (
        "app-crm",
        ("read", "write"),
        "T-acme",
    )
    assert consent.granted_by == "flow:test-consent-grant"
    assert run.outputs == {"consentId": consent.consent_id, "app": "app-crm"}
    assert run.trace[0]["detail"] == {"consentId": consent.consent_id}
    [event] = events(store)
    assert (event.action, event.user_id, event.tenant_id, event.run_id) == (
        "ConsentGranted",
        ada.user_id,
        "T-acme",
        run.run_id,
    )
    assert event.data == {
        "appId": "app-crm",
        "scopes": ["read", "write"],
        "consentId": consent.consent_id,
    }


def test_consent_grant_of_a_missing_user_fails_with_user_not_found(
    run_flow: RunFlow, store: Store
) -> None:
    run = run_flow(
        one_step_flow(
            "consent-grant", {"userId": "ghost", "appId": "app", "scopes": ["read"]}
        )
    )

    assert run.status is RunStatus.FAILED
    assert run.error == {
        "code": "E112102",
        "message": "No user has the login id or user id 'ghost' in this project.",
        "taskId": "act",
    }
    assert events(store) == []


def test_consent_grant_with_scopes_that_render_empty_fails_as_invalid(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user()

    run = run_flow(
        one_step_flow(
            "consent-grant",
            {"userId": ada.user_id, "appId": "app", "scopes": "{{ client.scopes }}"},
        )
    )

    assert run.error is not None
    assert (run.error["code"], run.error["message"]) == (
        "E011003",
        "Argument 'scopes' is empty: expected at least one value.",
    )
    assert consents_of(store, ada) == []


def test_consent_revoke_for_one_app_leaves_the_other_apps(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user()
    grant(run_flow, ada, "app-crm", ["read"])
    grant(run_flow, ada, "app-crm", ["write"])
    grant(run_flow, ada, "app-mail", ["send"])

    run = run_flow(
        one_step_flow(
            "consent-revoke",
            {"userId": ada.user_id, "appId": "app-crm"},
            outputs={"revoked": {"type": "number", "value": "{{ consent.revoked }}"}},
        )
    )

    assert run.outputs == {"revoked": 2}
    assert [c.app_id for c in consents_of(store, ada)] == ["app-mail"]
    [event] = events(store, AuditAction.CONSENT_REVOKED)
    assert (event.user_id, event.data) == (
        ada.user_id,
        {"appId": "app-crm", "count": 2},
    )
    assert run.trace[0]["detail"] == {"userId": ada.user_id, "revoked": 2}


def test_consent_revoke_without_an_app_revokes_every_consent(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada, bob = make_user(), make_user()
    grant(run_flow, ada, "app-crm", ["read"])
    grant(run_flow, ada, "app-mail", ["send"])
    grant(run_flow, bob, "app-crm", ["read"])

    run_flow(one_step_flow("consent-revoke", {"userId": ada.user_id}))

    assert consents_of(store, ada) == []
    assert len(consents_of(store, bob)) == 1
    [event] = events(store, AuditAction.CONSENT_REVOKED)
    assert event.data == {"appId": None, "count": 2}


def test_consent_revoke_with_nothing_to_revoke_writes_no_event(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user()

    run = run_flow(one_step_flow("consent-revoke", {"userId": ada.user_id}))

    assert run.status is RunStatus.COMPLETED
    assert events(store, AuditAction.CONSENT_REVOKED) == []


def test_consent_revoke_of_a_missing_user_fails_with_user_not_found(
    run_flow: RunFlow,
) -> None:
    run = run_flow(one_step_flow("consent-revoke", {"userId": "ghost"}))

    assert run.error is not None
    assert run.error["code"] == "E112102"
