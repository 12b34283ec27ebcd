"""The official `descope` Python SDK, unchanged, against a real `idflow serve`.

Each test drives the SDK's public management calls and checks both what the SDK
hands back and what idflow stored, read back through another call or the CLI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any

import pytest
from descope import AssociatedTenant, AuthException, DescopeClient, UserObj
from descope.management.common import FlowRunOptions, Sort

from tests.acceptance.conftest import SERVER_KEYS, Server, descope_export

PINNED_SDK = "2.16.1"


@pytest.fixture(scope="module")
def descope(server: Server) -> Iterator[DescopeClient]:
    client = DescopeClient(
        project_id=server.project_id,
        management_key=server.management_key,
        base_url=server.base_url,
    )
    yield client


@pytest.fixture(scope="module")
def tenant(descope: DescopeClient) -> str:
    created = descope.mgmt.tenant.create("SDK Tenant", id="T-sdk")
    tenant_id: str = created["id"]
    return tenant_id


def _error_code(exc: pytest.ExceptionInfo[AuthException]) -> str:
    # Python raises with the raw body as the message, unparsed.
    code: str = json.loads(exc.value.error_message)["errorCode"]
    return code


def test_the_sdk_under_test_is_the_pinned_release() -> None:
    assert version("descope") == PINNED_SDK


def test_the_license_handshake_succeeds_at_construction(
    descope: DescopeClient,
) -> None:
    # The tier the handshake read is sent as x-descope-license from then on.
    assert descope._mgmt_http_client.rate_limit_tier == "tier4"


def test_create_load_and_load_by_user_id(descope: DescopeClient, tenant: str) -> None:
    users = descope.mgmt.user

    created = users.create(
        "sdk-ada@example.com",
        email="sdk-ada@example.com",
        phone="+15551230001",
        display_name="Ada Lovelace",
        given_name="Ada",
        family_name="Lovelace",
        role_names=["auditor"],
        user_tenants=[AssociatedTenant(tenant, ["admin"])],
        custom_attributes={"plan": "pro"},
        verified_email=True,
        additional_login_ids=["sdk-ada-alt"],
    )["user"]
    by_login = users.load("sdk-ada-alt")["user"]
    by_id = users.load_by_user_id(created["userId"])["user"]

    assert created["loginIds"] == ["sdk-ada@example.com", "sdk-ada-alt"]
    assert created["verifiedEmail"] is True
    assert created["userTenants"][0]["tenantName"] == "SDK Tenant"
    assert by_login == by_id == created


def test_update_patch_and_single_field_updates(descope: DescopeClient) -> None:
    users = descope.mgmt.user
    users.create("sdk-grace@example.com", display_name="Grace", role_names=["a"])

    replaced = users.update("sdk-grace@example.com", display_name="Grace H")["user"]
    patched = users.patch("sdk-grace@example.com", middle_name="B")["user"]
    emailed = users.update_email("sdk-grace@example.com", "grace@navy.mil", True)
    phoned = users.update_phone("sdk-grace@example.com", "+15551230002")
    named = users.update_display_name("sdk-grace@example.com", family_name="Hopper")
    pictured = users.update_picture("sdk-grace@example.com", "https://x.io/g.png")
    attributed = users.update_custom_attribute("sdk-grace@example.com", "rank", 7)
    renamed = users.update_login_id("sdk-grace@example.com", "sdk-hopper@example.com")

    # update is a full replace: the roles it was not given are gone.
    assert (replaced["name"], replaced["roleNames"]) == ("Grace H", [])
    assert (patched["middleName"], patched["name"]) == ("B", "Grace H")
    assert emailed["user"]["email"] == "grace@navy.mil"
    assert emailed["user"]["verifiedEmail"] is True
    assert phoned["user"]["phone"] == "+15551230002"
    assert named["user"]["familyName"] == "Hopper"
    assert pictured["user"]["picture"] == "https://x.io/g.png"
    assert attributed["user"]["customAttributes"] == {"rank": 7}
    assert renamed["user"]["loginIds"] == ["sdk-hopper@example.com"]
    assert users.load("sdk-hopper@example.com")["user"]["middleName"] == "B"


def test_activate_and_deactivate(descope: DescopeClient) -> None:
    users = descope.mgmt.user
    users.create("sdk-status@example.com")

    off = users.deactivate("sdk-status@example.com")["user"]["status"]
    stored_off = users.load("sdk-status@example.com")["user"]["status"]
    on = users.activate("sdk-status@example.com")["user"]["status"]

    assert (off, stored_off, on) == ("disabled", "disabled", "enabled")


def test_roles_and_tenants(descope: DescopeClient, tenant: str) -> None:
    users = descope.mgmt.user
    users.create("sdk-roles@example.com")

    users.set_roles("sdk-roles@example.com", ["a", "b"])
    users.add_roles("sdk-roles@example.com", ["c"])
    project_roles = users.remove_roles("sdk-roles@example.com", ["a"])["user"]
    users.add_tenant("sdk-roles@example.com", tenant)
    users.set_tenant_roles("sdk-roles@example.com", tenant, ["x", "y"])
    users.add_tenant_roles("sdk-roles@example.com", tenant, ["z"])
    in_tenant = users.remove_tenant_roles("sdk-roles@example.com", tenant, ["x"])
    left = users.remove_tenant("sdk-roles@example.com", tenant)["user"]

    assert project_roles["roleNames"] == ["b", "c"]
    assert in_tenant["user"]["userTenants"] == [
        {
            "tenantId": tenant,
            "roleNames": ["y", "z"],
            "tenantName": "SDK Tenant",
            "permissions": [],
        }
    ]
    assert left["userTenants"] == []


def test_invite_batch_patch_batch_and_load_users(descope: DescopeClient) -> None:
    users = descope.mgmt.user

    batch = users.invite_batch(
        [UserObj("sdk-b1@example.com"), UserObj("sdk-b2@example.com", status="enabled")]
    )
    patched = users.patch_batch(
        [UserObj("sdk-b1@example.com", display_name="B One"), UserObj("sdk-nobody")]
    )
    ids = [u["userId"] for u in batch["createdUsers"]]
    loaded = users.load_users(list(reversed(ids)))

    assert [u["status"] for u in batch["createdUsers"]] == ["invited", "enabled"]
    assert batch["failedUsers"] == []
    assert [u["name"] for u in patched["patchedUsers"]] == ["B One"]
    assert [f["user"]["loginId"] for f in patched["failedUsers"]] == ["sdk-nobody"]
    assert [u["userId"] for u in loaded["users"]] == list(reversed(ids))


def test_search_all_filters_sorts_pages_and_counts(
    descope: DescopeClient, tenant: str
) -> None:
    users = descope.mgmt.user
    for name in ("Zed", "Yann", "Xavi"):
        users.create(
            f"sdk-search-{name.lower()}@example.com",
            display_name=name,
            user_tenants=[AssociatedTenant(tenant, ["searched"])],
            custom_attributes={"cohort": "s1"},
        )

    first = users.search_all(
        custom_attributes={"cohort": "s1"}, sort=[Sort("name")], limit=2
    )
    second = users.search_all(
        custom_attributes={"cohort": "s1"}, sort=[Sort("name")], limit=2, page=1
    )
    by_text = users.search_all(text="YANN")
    by_tenant_role = users.search_all(
        tenant_role_names={tenant: {"values": ["searched"], "and": True}}
    )

    assert [u["name"] for u in first["users"]] == ["Xavi", "Yann"]
    assert [u["name"] for u in second["users"]] == ["Zed"]
    assert first["total"] == second["total"] == 3
    assert [u["name"] for u in by_text["users"]] == ["Yann"]
    assert by_tenant_role["total"] == 3


def test_test_users_are_kept_apart_and_deleted_together(
    descope: DescopeClient,
) -> None:
    users = descope.mgmt.user
    users.create_test_user("sdk-test-user@example.com")

    normal = users.search_all(login_ids=["sdk-test-user@example.com"])
    tests = users.search_all_test_users(login_ids=["sdk-test-user@example.com"])
    users.delete_all_test_users()

    assert normal["total"] == 0
    assert tests["total"] == 1
    with pytest.raises(AuthException) as missing:
        users.load("sdk-test-user@example.com")
    assert missing.value.status_code == 404


def test_delete_and_delete_by_user_id_and_logout(descope: DescopeClient) -> None:
    users = descope.mgmt.user
    users.create("sdk-del-1@example.com")
    second = users.create("sdk-del-2@example.com")["user"]["userId"]
    users.logout_user("sdk-del-1@example.com")

    users.delete("sdk-del-1@example.com")
    users.delete_by_user_id(second)

    for login_id in ("sdk-del-1@example.com", "sdk-del-2@example.com"):
        with pytest.raises(AuthException) as missing:
            users.load(login_id)
        assert missing.value.status_code == 404
        assert _error_code(missing) == "E112102"


def test_tenants_create_update_patch_load_search_delete(
    descope: DescopeClient,
) -> None:
    tenants = descope.mgmt.tenant

    generated = tenants.create("SDK Generated", self_provisioning_domains=["gen.io"])[
        "id"
    ]
    tenants.create("SDK Chosen", id="T-sdk-chosen", custom_attributes={"k": "v"})
    tenants.update("T-sdk-chosen", "SDK Renamed", self_provisioning_domains=["ren.io"])
    tenants.patch_tenant("T-sdk-chosen", custom_attributes={"k": "w"})
    loaded = tenants.load("T-sdk-chosen")
    every = {t["id"] for t in tenants.load_all()["tenants"]}
    by_domain = tenants.search_all(self_provisioning_domains=["gen.io"])["tenants"]
    by_name = tenants.search_all(names=["SDK Renamed"])["tenants"]
    tenants.delete(generated, cascade=True)

    assert (loaded["name"], loaded["selfProvisioningDomains"]) == (
        "SDK Renamed",
        ["ren.io"],
    )
    assert loaded["customAttributes"] == {"k": "w"}
    assert {generated, "T-sdk-chosen"} <= every
    assert [t["id"] for t in by_domain] == [generated]
    assert [t["id"] for t in by_name] == ["T-sdk-chosen"]
    with pytest.raises(AuthException) as missing:
        tenants.load(generated)
    assert missing.value.status_code == 404
    assert _error_code(missing) == "E114102"


def test_import_run_and_export_a_management_flow(
    api: Server, descope: DescopeClient
) -> None:
    flows = descope.mgmt.flow
    exported = descope_export("sdk-dormant")
    user_id = descope.mgmt.user.create("sdk-dormant@example.com")["user"]["userId"]

    imported = flows.import_flow("sdk-dormant", exported["flow"], exported["screens"])
    listed = flows.list_flows()
    nested = flows.run_flow(
        "sdk-dormant",
        FlowRunOptions(flow_input={"userId": user_id, "daysInactive": 10}),
    )
    as_dict = flows.run_flow(
        "sdk-dormant", {"input": {"userId": user_id, "daysInactive": 120}}
    )
    round_trip = flows.export_flow("sdk-dormant")

    assert imported == round_trip
    assert {k: v for k, v in round_trip["flow"].items() if k not in SERVER_KEYS} == {
        k: v for k, v in exported["flow"].items() if k not in SERVER_KEYS
    }
    assert "sdk-dormant" in {f["id"] for f in listed["flows"]}
    assert listed["total"] == len(listed["flows"])
    assert nested == {"output": {"userId": user_id, "status": "enabled"}}
    assert as_dict == {"output": {"userId": user_id, "status": "disabled"}}
    assert descope.mgmt.user.load(user_id)["user"]["status"] == "disabled"
    runs = api.cli_json("runs", "list", "--flow", "sdk-dormant")
    assert [r["status"] for r in runs] == ["completed", "completed"]


def test_a_failing_run_raises_400_once_and_is_not_replayed(
    api: Server, descope: DescopeClient
) -> None:
    exported = descope_export("sdk-failing")
    descope.mgmt.flow.import_flow("sdk-failing", exported["flow"], exported["screens"])

    with pytest.raises(AuthException) as failed:
        descope.mgmt.flow.run_flow(
            "sdk-failing", {"input": {"userId": "ghost", "daysInactive": 1}}
        )

    assert failed.value.status_code == 400
    assert _error_code(failed) == "E112102"
    # The SDK replays 503s; a failed run answered 400 runs exactly once.
    runs = api.cli_json("runs", "list", "--flow", "sdk-failing")
    assert [r["status"] for r in runs] == ["failed"]


def _async_result(descope: DescopeClient, execution_id: str) -> dict[str, Any]:
    # Bounded wait for a background run; the answer is checked, not the time.
    deadline = time.monotonic() + 30
    while True:
        result: dict[str, Any] = descope.mgmt.flow.get_flow_async_result(execution_id)
        if result["status"] != "running" or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_async_run_answers_an_execution_id_then_the_output(
    api: Server, descope: DescopeClient
) -> None:
    exported = descope_export("sdk-async")
    descope.mgmt.flow.import_flow("sdk-async", exported["flow"], exported["screens"])
    user_id = descope.mgmt.user.create("sdk-async@example.com")["user"]["userId"]

    accepted = descope.mgmt.flow.run_flow_async(
        "sdk-async", {"input": {"userId": user_id, "daysInactive": 200}}
    )
    result = _async_result(descope, accepted["executionId"])

    assert set(accepted) == {"executionId"}
    assert result == {
        "executionId": accepted["executionId"],
        "status": "completed",
        "output": {"userId": user_id, "status": "disabled"},
    }
    assert descope.mgmt.user.load(user_id)["user"]["status"] == "disabled"
    shown = api.cli_json("runs", "show", accepted["executionId"], "--json")
    assert shown["status"] == "completed"


def test_async_run_of_a_failing_flow_reports_the_error_and_a_missing_id_404(
    descope: DescopeClient,
) -> None:
    exported = descope_export("sdk-async-failing")
    descope.mgmt.flow.import_flow(
        "sdk-async-failing", exported["flow"], exported["screens"]
    )

    accepted = descope.mgmt.flow.run_flow_async(
        "sdk-async-failing", {"input": {"userId": "ghost", "daysInactive": 1}}
    )
    result = _async_result(descope, accepted["executionId"])
    with pytest.raises(AuthException) as missing:
        descope.mgmt.flow.get_flow_async_result("R-no-such-run")
    with pytest.raises(AuthException) as no_flow:
        descope.mgmt.flow.run_flow_async("no-such-flow", {"input": {}})

    assert result["status"] == "failed"
    assert result["error"]["errorCode"] == "E112102"
    assert "ghost" in result["error"]["errorMessage"]
    assert missing.value.status_code == 404
    assert _error_code(missing) == "E102104"
    assert no_flow.value.status_code == 404
    assert _error_code(no_flow) == "E102101"


def test_delete_flows(descope: DescopeClient) -> None:
    exported = descope_export("sdk-doomed")
    descope.mgmt.flow.import_flow("sdk-doomed", exported["flow"], exported["screens"])

    descope.mgmt.flow.delete_flows(["sdk-doomed"])

    with pytest.raises(AuthException) as missing:
        descope.mgmt.flow.export_flow("sdk-doomed")
    assert missing.value.status_code == 404
    assert _error_code(missing) == "E102101"


def test_the_audit_trail_records_sdk_changes_and_custom_events(
    descope: DescopeClient, tenant: str
) -> None:
    user_id = descope.mgmt.user.create("sdk-audited@example.com")["user"]["userId"]
    descope.mgmt.user.deactivate(user_id)
    descope.mgmt.audit.create_event(
        "sdk.checked", "warn", "backend", tenant, user_id=user_id, data={"n": 1}
    )
    since = datetime.now() - timedelta(minutes=5)

    trail = descope.mgmt.audit.search(user_ids=[user_id], from_ts=since)["audits"]
    custom = descope.mgmt.audit.search(actions=["sdk.checked"], tenants=[tenant])

    assert [a["action"] for a in trail] == [
        "sdk.checked",
        "UserModified",
        "UserCreated",
    ]
    assert trail[2]["loginIds"] == ["sdk-audited@example.com"]
    assert trail[1]["data"] == {"status": "disabled"}
    # The SDK turns the epoch-millisecond string into a datetime.
    assert all(isinstance(a["occurred"], datetime) for a in trail)
    # The SDK gives a naive UTC datetime.
    now = datetime.now(UTC).replace(tzinfo=None)
    assert abs(trail[0]["occurred"] - now) < timedelta(minutes=5)
    assert custom["audits"][0]["data"] == {"n": 1}
    assert custom["audits"][0]["tenants"] == [tenant]


def test_a_wrong_key_raises_401(server: Server) -> None:
    stranger = DescopeClient(
        project_id=server.project_id,
        management_key="K2wrongwrongwrong",
        base_url=server.base_url,
    )

    with pytest.raises(AuthException) as refused:
        stranger.mgmt.user.load("anyone")

    assert refused.value.status_code == 401
    assert _error_code(refused) == "E011101"


def test_a_missing_flow_raises_404(descope: DescopeClient) -> None:
    with pytest.raises(AuthException) as missing:
        descope.mgmt.flow.run_flow("no-such-flow")

    assert missing.value.status_code == 404
    assert _error_code(missing) == "E102101"


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda d: d.mgmt.user.create("sdk-bad", email="not-an-email"), "E011003"),
        (lambda d: d.mgmt.user.create("sdk-ada@example.com"), "E062107"),
        (lambda d: d.mgmt.user.add_tenant("sdk-ada@example.com", "T-none"), "E114102"),
        (lambda d: d.mgmt.tenant.create("x", enforce_sso=True), "E011003"),
        (lambda d: d.mgmt.audit.create_event("a", "notice", "me", "T1"), "E011003"),
        (
            lambda d: d.mgmt.flow.import_flow("sdk-bad", {"dsl": {"tasks": 1}}, []),
            "E102106",
        ),
    ],
)
def test_bad_input_raises_the_status_and_code_of_the_contract(
    descope: DescopeClient, call: Any, code: str
) -> None:
    with pytest.raises(AuthException) as refused:
        call(descope)

    status = {"E011003": 400, "E102106": 400, "E062107": 409, "E114102": 404}[code]
    assert refused.value.status_code == status
    assert _error_code(refused) == code
