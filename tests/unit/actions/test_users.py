"""Tests for the user actions, each run as a flow step on a real store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from idflow.errors import FlowDefinitionError
from idflow.services.audit import AuditAction
from idflow.store import users as user_store
from idflow.store.database import Store
from idflow.store.records import (
    RunStatus,
    Tenant,
    User,
    UserStatus,
    UserTenant,
)
from tests.conftest import TEST_PROJECT_ID
from tests.unit.actions.conftest import RunFlow, events, one_step_flow

MakeUser = Callable[..., User]
MakeTenant = Callable[..., Tenant]


def stored(store: Store, user: User) -> User | None:
    with store.connect() as conn:
        return user_store.get_user(conn, TEST_PROJECT_ID, user.user_id)


def assert_failed(run: Any, code: str, message: str, task_id: str = "act") -> None:
    assert run.status is RunStatus.FAILED
    assert run.error == {"code": code, "message": message, "taskId": task_id}
    assert run.trace[-1]["outcome"] == "failed"
    assert run.trace[-1]["error"] == {"code": code, "message": message}


def test_user_load_puts_the_user_in_context_by_login_id(
    run_flow: RunFlow, make_user: MakeUser, make_tenant: MakeTenant, store: Store
) -> None:
    tenant = make_tenant(tenant_id="T-acme", name="Acme")
    ada = make_user(
        login_ids=("ada@example.com",),
        email="ada@example.com",
        name="Ada",
        tenants=(UserTenant(tenant.tenant_id, ("admin",)),),
        custom_attributes={"plan": "pro"},
    )

    run = run_flow(
        one_step_flow(
            "user-load",
            {"loginId": "ada@example.com"},
            outputs={
                "userId": "{{ user.userId }}",
                "emailDomain": "{{ user.emailDomain }}",
                "plan": "{{ user.customAttributes.plan }}",
                "tenantNames": {"type": "array", "value": "{{ user.tenantNames }}"},
                "status": "{{ user.status }}",
            },
        )
    )

    assert run.status is RunStatus.COMPLETED
    assert run.outputs == {
        "userId": ada.user_id,
        "emailDomain": "example.com",
        "plan": "pro",
        "tenantNames": ["Acme"],
        "status": "enabled",
    }
    assert run.trace[0]["detail"] == {"userId": ada.user_id}
    assert events(store) == []


def test_user_load_accepts_a_user_id(run_flow: RunFlow, make_user: MakeUser) -> None:
    ada = make_user()

    run = run_flow(
        one_step_flow(
            "user-load", {"loginId": ada.user_id}, outputs={"id": "{{ user.userId }}"}
        )
    )

    assert run.outputs == {"id": ada.user_id}


def test_user_load_of_an_unknown_user_fails_the_run_with_user_not_found(
    run_flow: RunFlow,
) -> None:
    run = run_flow(one_step_flow("user-load", {"loginId": "nobody@example.com"}))

    assert_failed(
        run,
        "E112102",
        "No user has the login id or user id 'nobody@example.com' in this project.",
    )


def test_user_load_with_a_login_id_that_renders_empty_fails_as_invalid(
    run_flow: RunFlow,
) -> None:
    run = run_flow(one_step_flow("user-load", {"loginId": "{{ client.missing }}"}))

    assert_failed(
        run, "E011003", "Argument 'loginId' rendered empty: expected a non-blank value."
    )


def test_user_load_from_triggering_event_loads_the_events_user(
    run_flow: RunFlow, make_user: MakeUser
) -> None:
    ada = make_user()

    run = run_flow(
        one_step_flow(
            "user-load-from-triggering-event", outputs={"id": "{{ user.userId }}"}
        ),
        triggering_event={"action": "LoginExceedMaxAttempts", "userId": ada.user_id},
    )

    assert run.outputs == {"id": ada.user_id}


def test_user_load_from_triggering_event_without_an_event_fails_clearly(
    run_flow: RunFlow,
) -> None:
    run = run_flow(one_step_flow("user-load-from-triggering-event"))

    assert_failed(
        run,
        "E011003",
        "The run has no triggering event with a userId: this action needs a flow started by an audit event about a user.",
    )


def test_user_disable_sets_the_status_and_writes_user_modified(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user(login_ids=("ada@example.com", "+15550100"))

    run = run_flow(
        one_step_flow(
            "user-disable",
            {"userId": "ada@example.com"},
            outputs={"status": "{{ user.status }}"},
        )
    )

    assert run.status is RunStatus.COMPLETED
    assert run.outputs == {"status": "disabled"}
    assert run.trace[0]["detail"] == {"userId": ada.user_id, "status": "disabled"}
    after = stored(store, ada)
    assert after is not None
    assert after.status is UserStatus.DISABLED
    assert after.modified_ms >= ada.modified_ms
    [event] = events(store)
    assert (event.action, event.custom, event.user_id) == (
        "UserModified",
        False,
        ada.user_id,
    )
    assert event.data == {"status": "disabled"}
    assert event.external_ids == ("ada@example.com", "+15550100")
    assert (event.actor_id, event.run_id) == ("flow:test-user-disable", run.run_id)


def test_user_disable_of_a_disabled_user_changes_nothing_and_writes_no_event(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user(status=UserStatus.DISABLED)

    run = run_flow(one_step_flow("user-disable", {"userId": ada.user_id}))

    assert run.status is RunStatus.COMPLETED
    assert stored(store, ada) == ada
    assert events(store) == []


def test_user_disable_of_a_missing_user_fails_with_user_not_found(
    run_flow: RunFlow, store: Store
) -> None:
    run = run_flow(one_step_flow("user-disable", {"userId": "U-missing"}))

    assert_failed(
        run,
        "E112102",
        "No user has the login id or user id 'U-missing' in this project.",
    )
    assert events(store) == []


def test_user_enable_sets_the_status_and_writes_user_modified(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user(status=UserStatus.DISABLED)

    run = run_flow(one_step_flow("user-enable", {"userId": ada.user_id}))

    assert run.status is RunStatus.COMPLETED
    after = stored(store, ada)
    assert after is not None
    assert after.status is UserStatus.ENABLED
    [event] = events(store, AuditAction.USER_MODIFIED)
    assert (event.user_id, event.data) == (ada.user_id, {"status": "enabled"})


def test_user_enable_of_a_missing_user_fails_with_user_not_found(
    run_flow: RunFlow,
) -> None:
    run = run_flow(one_step_flow("user-enable", {"userId": "ghost"}))

    assert_failed(
        run, "E112102", "No user has the login id or user id 'ghost' in this project."
    )


def test_user_update_changes_the_given_fields_and_merges_custom_attributes(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user(
        name="Ada",
        family_name="Byron",
        custom_attributes={"plan": "free", "seats": 1},
    )

    run = run_flow(
        one_step_flow(
            "user-update",
            {
                "userId": ada.user_id,
                "familyName": "Lovelace",
                "email": "{{ client.email }}",
                "name": "Ada",
                "customAttributes": {"plan": "pro"},
            },
            outputs={"family": "{{ user.familyName }}"},
        ),
        {"email": "ada@example.org"},
    )

    assert run.status is RunStatus.COMPLETED
    assert run.outputs == {"family": "Lovelace"}
    after = stored(store, ada)
    assert after is not None
    assert (after.name, after.family_name, after.email) == (
        "Ada",
        "Lovelace",
        "ada@example.org",
    )
    assert after.custom_attributes == {"plan": "pro", "seats": 1}
    # `name` already held "Ada", so only the fields that changed are reported.
    [event] = events(store, AuditAction.USER_MODIFIED)
    assert event.data == {
        "familyName": "Lovelace",
        "email": "ada@example.org",
        "customAttributes": {"plan": "pro", "seats": 1},
    }
    assert run.trace[0]["detail"] == {
        "userId": ada.user_id,
        "changed": ["customAttributes", "email", "familyName", "name"],
    }


def test_user_update_with_a_non_text_field_fails_as_invalid(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user()

    run = run_flow(
        one_step_flow("user-update", {"userId": ada.user_id, "name": ["Ada"]})
    )

    assert_failed(run, "E011003", "Argument 'name' is ['Ada']: expected text.")
    assert stored(store, ada) == ada


def test_user_update_with_custom_attributes_that_are_not_an_object_fails(
    run_flow: RunFlow, make_user: MakeUser
) -> None:
    ada = make_user()

    run = run_flow(
        one_step_flow(
            "user-update", {"userId": ada.user_id, "customAttributes": "plan=pro"}
        )
    )

    assert_failed(
        run, "E011003", "Argument 'customAttributes' is 'plan=pro': expected an object."
    )


def test_user_update_without_any_field_is_refused_when_the_flow_is_saved(
    run_flow: RunFlow,
) -> None:
    with pytest.raises(FlowDefinitionError) as raised:
        run_flow(one_step_flow("user-update", {"userId": "{{ client.userId }}"}))

    [problem] = raised.value.problems
    assert (problem.task_id, problem.field) == ("act", "arguments")
    assert problem.message.startswith("Action 'user-update' needs at least one of: ")


def test_user_delete_removes_the_user_and_writes_user_deleted(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user(login_ids=("ada@example.com",))

    run = run_flow(
        {
            "id": "delete",
            "steps": [
                {"id": "load", "action": "user-load", "with": {"loginId": ada.user_id}},
                {"id": "act", "action": "user-delete"},
                # `user.*` keeps the user as loaded, so the End can still name it.
                {"id": "done", "end": {"deleted": "{{ user.userId }}"}},
            ],
        }
    )

    assert run.status is RunStatus.COMPLETED
    assert run.outputs == {"deleted": ada.user_id}
    assert run.trace[1]["detail"] == {"userId": ada.user_id, "deleted": True}
    assert stored(store, ada) is None
    [event] = events(store)
    assert (event.action, event.user_id, event.external_ids) == (
        "UserDeleted",
        ada.user_id,
        ("ada@example.com",),
    )


def test_user_delete_of_a_missing_user_fails_with_user_not_found(
    run_flow: RunFlow,
) -> None:
    run = run_flow(one_step_flow("user-delete", {"userId": "ghost"}))

    assert_failed(
        run, "E112102", "No user has the login id or user id 'ghost' in this project."
    )


def test_user_add_tenant_adds_the_membership_with_roles(
    run_flow: RunFlow, make_user: MakeUser, make_tenant: MakeTenant, store: Store
) -> None:
    acme = make_tenant(name="Acme")
    ada = make_user()

    run = run_flow(
        one_step_flow(
            "user-add-tenant",
            {
                "userId": ada.user_id,
                "tenantId": acme.tenant_id,
                "roleNames": "admin, viewer",
            },
            outputs={"tenants": {"type": "array", "value": "{{ user.tenantNames }}"}},
        )
    )

    assert run.status is RunStatus.COMPLETED
    assert run.outputs == {"tenants": ["Acme"]}
    after = stored(store, ada)
    assert after is not None
    assert after.tenants == (UserTenant(acme.tenant_id, ("admin", "viewer")),)
    [event] = events(store, AuditAction.USER_MODIFIED)
    assert event.data == {
        "userTenants": [{"tenantId": acme.tenant_id, "roleNames": ["admin", "viewer"]}]
    }
    assert run.trace[0]["detail"] == {"userId": ada.user_id, "tenantId": acme.tenant_id}


def test_user_add_tenant_merges_roles_into_an_existing_membership(
    run_flow: RunFlow, make_user: MakeUser, make_tenant: MakeTenant, store: Store
) -> None:
    acme = make_tenant()
    ada = make_user(tenants=(UserTenant(acme.tenant_id, ("viewer",)),))

    run_flow(
        one_step_flow(
            "user-add-tenant",
            {
                "userId": ada.user_id,
                "tenantId": acme.tenant_id,
                "roleNames": ["admin", "viewer"],
            },
        )
    )

    after = stored(store, ada)
    assert after is not None
    assert after.tenants == (UserTenant(acme.tenant_id, ("viewer", "admin")),)


def test_user_add_tenant_of_an_unknown_tenant_fails_with_tenant_not_found(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user()

    run = run_flow(
        one_step_flow("user-add-tenant", {"userId": ada.user_id, "tenantId": "T-none"})
    )

    assert_failed(run, "E114102", "No tenant has the id 'T-none' in this project.")
    assert stored(store, ada) == ada


def test_user_add_tenant_of_a_missing_user_fails_with_user_not_found(
    run_flow: RunFlow, make_tenant: MakeTenant
) -> None:
    acme = make_tenant()

    run = run_flow(
        one_step_flow(
            "user-add-tenant", {"userId": "ghost", "tenantId": acme.tenant_id}
        )
    )

    assert_failed(
        run, "E112102", "No user has the login id or user id 'ghost' in this project."
    )


def test_user_remove_tenant_removes_the_membership(
    run_flow: RunFlow, make_user: MakeUser, make_tenant: MakeTenant, store: Store
) -> None:
    acme, other = make_tenant(), make_tenant()
    ada = make_user(
        tenants=(UserTenant(acme.tenant_id, ("admin",)), UserTenant(other.tenant_id))
    )

    run = run_flow(
        one_step_flow(
            "user-remove-tenant", {"userId": ada.user_id, "tenantId": acme.tenant_id}
        )
    )

    assert run.status is RunStatus.COMPLETED
    after = stored(store, ada)
    assert after is not None
    assert after.tenants == (UserTenant(other.tenant_id),)
    [event] = events(store, AuditAction.USER_MODIFIED)
    assert event.data == {
        "userTenants": [{"tenantId": other.tenant_id, "roleNames": []}]
    }


def test_user_remove_tenant_of_a_non_member_writes_no_event(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user()

    run = run_flow(
        one_step_flow("user-remove-tenant", {"userId": ada.user_id, "tenantId": "T-x"})
    )

    assert run.status is RunStatus.COMPLETED
    assert events(store) == []


def test_user_add_roles_adds_project_roles_without_duplicates(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user(role_names=("viewer",))

    run = run_flow(
        one_step_flow(
            "user-add-roles", {"userId": ada.user_id, "roleNames": ["admin", "viewer"]}
        )
    )

    assert run.status is RunStatus.COMPLETED
    after = stored(store, ada)
    assert after is not None
    assert after.role_names == ("viewer", "admin")
    [event] = events(store, AuditAction.USER_MODIFIED)
    assert event.data == {"roleNames": ["viewer", "admin"]}
    assert run.trace[0]["detail"] == {
        "userId": ada.user_id,
        "roleNames": ["admin", "viewer"],
    }


def test_user_add_roles_in_a_tenant_changes_only_that_membership(
    run_flow: RunFlow, make_user: MakeUser, make_tenant: MakeTenant, store: Store
) -> None:
    acme = make_tenant()
    ada = make_user(role_names=("viewer",), tenants=(UserTenant(acme.tenant_id),))

    run_flow(
        one_step_flow(
            "user-add-roles",
            {"userId": ada.user_id, "roleNames": "auditor", "tenantId": acme.tenant_id},
        )
    )

    after = stored(store, ada)
    assert after is not None
    assert after.role_names == ("viewer",)
    assert after.tenants == (UserTenant(acme.tenant_id, ("auditor",)),)


def test_user_add_roles_in_a_tenant_the_user_is_not_in_fails_as_invalid(
    run_flow: RunFlow, make_user: MakeUser, store: Store
) -> None:
    ada = make_user()

    run = run_flow(
        one_step_flow(
            "user-add-roles",
            {"userId": ada.user_id, "roleNames": "auditor", "tenantId": "T-x"},
        )
    )

    assert_failed(
        run,
        "E011003",
        "The user is not a member of tenant 'T-x': add the tenant first.",
    )
    assert stored(store, ada) == ada


def test_user_add_roles_with_role_names_that_render_empty_fails_as_invalid(
    run_flow: RunFlow, make_user: MakeUser
) -> None:
    ada = make_user()

    run = run_flow(
        one_step_flow(
            "user-add-roles", {"userId": ada.user_id, "roleNames": "{{ client.roles }}"}
        ),
        {"roles": " , "},
    )

    assert_failed(
        run, "E011003", "Argument 'roleNames' is empty: expected at least one value."
    )


def test_user_remove_roles_removes_project_and_tenant_roles(
    run_flow: RunFlow, make_user: MakeUser, make_tenant: MakeTenant, store: Store
) -> None:
    acme = make_tenant()
    ada = make_user(
        role_names=("admin", "viewer"),
        tenants=(UserTenant(acme.tenant_id, ("admin", "auditor")),),
    )

    run_flow(
        {
            "id": "demote",
            "steps": [
                {
                    "id": "project",
                    "action": "user-remove-roles",
                    "with": {"userId": ada.user_id, "roleNames": ["admin", "owner"]},
                },
                {
                    "id": "tenant",
                    "action": "user-remove-roles",
                    "with": {"roleNames": "admin", "tenantId": acme.tenant_id},
                },
                {"id": "done", "end": {}},
            ],
        }
    )

    after = stored(store, ada)
    assert after is not None
    assert after.role_names == ("viewer",)
    assert after.tenants == (UserTenant(acme.tenant_id, ("auditor",)),)
    assert [e.data for e in events(store, AuditAction.USER_MODIFIED)] == [
        {"roleNames": ["viewer"]},
        {"userTenants": [{"tenantId": acme.tenant_id, "roleNames": ["auditor"]}]},
    ]


def test_user_remove_roles_of_a_missing_user_fails_with_user_not_found(
    run_flow: RunFlow,
) -> None:
    run = run_flow(
        one_step_flow("user-remove-roles", {"userId": "ghost", "roleNames": "admin"})
    )

    assert_failed(
        run, "E112102", "No user has the login id or user id 'ghost' in this project."
    )
