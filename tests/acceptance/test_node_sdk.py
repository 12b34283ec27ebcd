"""The official `@descope/node-sdk`, unchanged, against a real `idflow serve`.

A session fixture installs the pinned SDK with npm into tests/acceptance/node/
(git ignores its node_modules); `sdk-report.js` then drives the SDK's
management calls once and prints what each call handed back, which the tests
below check field by field. Without node and npm the tests are skipped, and
they fail instead when CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import FIXTURE_FLOWS, SERVER_KEYS, Server

PINNED_SDK = "2.13.0"
NODE_DIR = Path(__file__).parent / "node"
INSTALL_TIMEOUT_SECONDS = 300
REPORT_TIMEOUT_SECONDS = 120

Report = dict[str, Any]


def _installed_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / "@descope" / "node-sdk" / "package.json"
    if not manifest.exists():
        return None
    found: str = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    return found


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with the pinned SDK installed beside the script."""
    node_bin, npm_bin = shutil.which("node"), shutil.which("npm")
    if node_bin is None or npm_bin is None:
        reason = "node and npm are needed for the Node SDK tests and are not on PATH"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true requires them)")
        pytest.skip(f"{reason}; install Node.js 18 or newer to run them")

    if _installed_version() != PINNED_SDK:
        # `npm ci` installs exactly what package-lock.json pins.
        result = subprocess.run(
            [npm_bin, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci failed:\n{result.stdout}\n{result.stderr}")
    return node_bin


@pytest.fixture(scope="module")
def report(server: Server, node: str) -> Report:
    result = subprocess.run(
        [node, "sdk-report.js"],
        cwd=NODE_DIR,
        env={
            **server.env,
            "IDFLOW_BASE_URL": server.base_url,
            "IDFLOW_PROJECT_ID": server.project_id,
            "IDFLOW_MANAGEMENT_KEY": server.management_key,
            "IDFLOW_V1_EXPORT": str(FIXTURE_FLOWS / "disable-dormant.v1.json"),
        },
        capture_output=True,
        text=True,
        timeout=REPORT_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"sdk-report.js exited {result.returncode}:\n{result.stderr}")
    parsed: Report = json.loads(result.stdout)
    return parsed


def _data(report: Report, step: str) -> Any:
    answer = report[step]
    assert answer.get("ok") is True, answer
    return answer["data"]


def _error(report: Report, step: str, status: int) -> dict[str, Any]:
    answer = report[step]
    assert answer.get("ok") is False, answer
    assert answer["code"] == status, answer
    error: dict[str, Any] = answer["error"]
    assert error["errorDescription"], error
    assert error["errorMessage"], error
    return error


def test_the_sdk_under_test_is_the_pinned_release(report: Report) -> None:
    assert report["sdkVersion"] == PINNED_SDK


def test_the_license_handshake_is_answered(report: Report, server: Server) -> None:
    assert "GET /v1/mgmt/license 200" in server.output()


def test_tenants_are_created_loaded_and_listed(report: Report) -> None:
    created = _data(report, "tenantCreateWithId")
    generated = _data(report, "tenantCreate")
    loaded = _data(report, "tenantLoad")
    listed = _data(report, "tenantLoadAll")
    searched = _data(report, "tenantSearchAll")

    assert created == {"id": "T-node"}
    assert generated["id"].startswith("T")
    assert loaded["id"] == "T-node"
    assert loaded["name"] == "Node Tenant"
    assert loaded["selfProvisioningDomains"] == ["node.example.com"]
    assert loaded["customAttributes"] == {"tier": "gold"}
    assert [t["id"] for t in listed] == ["T-node", generated["id"]]
    assert [t["id"] for t in searched] == ["T-node"]


def test_tenants_are_updated_and_deleted(report: Report) -> None:
    assert _data(report, "tenantUpdate") == {}
    updated = _data(report, "tenantLoadUpdated")
    assert (updated["name"], updated["customAttributes"]) == (
        "Node Tenant Renamed",
        {"tier": "silver"},
    )
    assert _data(report, "tenantDelete") == {}
    assert _error(report, "tenantLoadDeleted", 404)["errorCode"] == "E114102"


def test_users_are_created_in_both_forms_and_loaded(report: Report) -> None:
    ada = _data(report, "userCreate")
    bob = _data(report, "userCreatePositional")

    assert ada["loginIds"] == ["node-ada@example.com", "node-ada-alt"]
    assert ada["email"] == "node-ada@example.com"
    assert ada["phone"] == "+15551230101"
    assert (ada["name"], ada["givenName"], ada["familyName"]) == (
        "Ada Lovelace",
        "Ada",
        "Lovelace",
    )
    assert ada["roleNames"] == ["auditor"]
    assert ada["userTenants"] == [
        {
            "tenantId": "T-node",
            "roleNames": ["admin"],
            "tenantName": "Node Tenant",
            "permissions": [],
        }
    ]
    assert ada["customAttributes"] == {"plan": "pro"}
    assert ada["verifiedEmail"] is True
    assert ada["status"] == "enabled"
    assert (bob["email"], bob["phone"], bob["name"]) == (
        "node-bob@example.com",
        "+15551230102",
        "Bob",
    )
    assert _data(report, "userLoad")["userId"] == ada["userId"]
    assert _data(report, "userLoadByUserId")["userId"] == ada["userId"]


def test_search_pages_sorts_and_counts(report: Report) -> None:
    searched = _data(report, "userSearch")
    in_tenant = _data(report, "userSearchAll")

    assert [u["loginIds"][0] for u in searched["users"]] == [
        "node-ada@example.com",
        "node-bob@example.com",
    ]
    assert searched["total"] == 2
    assert [u["loginIds"][0] for u in in_tenant] == ["node-ada@example.com"]


def test_update_replaces_and_patch_changes_only_what_it_names(report: Report) -> None:
    updated = _data(report, "userUpdate")
    patched = _data(report, "userPatch")

    assert updated["email"] == "node-robert@example.com"
    assert updated["name"] == "Robert"
    assert updated["roleNames"] == ["viewer"]
    # A full replace empties what the call left out.
    assert updated["phone"] == ""
    assert patched["name"] == "Ada King"
    assert patched["customAttributes"] == {"plan": "team"}
    assert patched["phone"] == "+15551230101"


def test_status_and_tenant_roles_change(report: Report) -> None:
    assert _data(report, "userDeactivate")["status"] == "disabled"
    assert _data(report, "userActivate")["status"] == "enabled"
    roles = _data(report, "userAddTenantRoles")["userTenants"][0]["roleNames"]
    assert roles == ["admin", "editor"]


def test_single_field_updates_change_one_thing_each(report: Report) -> None:
    email = _data(report, "userUpdateEmail")
    phone = _data(report, "userUpdatePhone")
    names = _data(report, "userUpdateDisplayName")
    picture = _data(report, "userUpdatePicture")["picture"]
    attribute = _data(report, "userUpdateCustomAttribute")["customAttributes"]

    assert (email["email"], email["verifiedEmail"]) == ("ada@node.example.com", True)
    assert (phone["phone"], phone["verifiedPhone"]) == ("+15551230199", False)
    assert [names[k] for k in ("name", "givenName", "middleName", "familyName")] == [
        "Countess",
        "Augusta",
        "Ada",
        "King",
    ]
    assert picture == "https://node.example.com/ada.png"
    assert attribute == {"plan": "team", "seats": 3}


def test_roles_login_ids_and_logout(report: Report) -> None:
    assert _data(report, "userSetRoles")["roleNames"] == ["owner", "auditor"]
    assert _data(report, "userRemoveRoles")["roleNames"] == ["auditor"]
    assert _data(report, "userUpdateLoginId")["loginIds"] == [
        "node-ada@example.com",
        "node-ada-second",
    ]
    assert _data(report, "userLogout") == {}
    assert _error(report, "userCreateDuplicate", 409)["errorCode"] == "E062107"


def test_batches_invites_and_tenant_membership(report: Report) -> None:
    created = _data(report, "userCreateBatch")
    patched = _data(report, "userPatchBatch")
    invited = _data(report, "userInvite")
    loaded = _data(report, "userLoadUsers")

    assert [u["loginIds"] for u in created["createdUsers"]] == [
        ["node-batch-1@example.com"]
    ]
    assert created["createdUsers"][0]["roleNames"] == ["viewer"]
    assert [f["user"]["loginId"] for f in created["failedUsers"]] == [
        "node-ada@example.com"
    ]
    assert [u["name"] for u in patched["patchedUsers"]] == ["Batch One"]
    assert patched["failedUsers"] == []
    assert invited["status"] == "invited"
    member = _data(report, "userAddTenant")["userTenants"]
    assert [t["tenantId"] for t in member] == ["T-node"]
    assert _data(report, "userRemoveTenant")["userTenants"] == []
    assert [u["loginIds"][0] for u in loaded] == [
        "node-invited@example.com",
        "node-batch-1@example.com",
    ]
    assert _data(report, "userDeleteBatch") == {}


def test_test_users_are_searched_and_deleted_apart(report: Report) -> None:
    found = _data(report, "userSearchTestUsers")

    assert _data(report, "userCreateTestUser")["test"] is True
    assert [u["loginIds"][0] for u in found["users"]] == ["node-test@example.com"]
    assert found["total"] == 1
    assert _data(report, "userDeleteAllTestUsers") == {}
    assert _data(report, "userSearchTestUsersAfter") == {"users": [], "total": 0}


def test_a_deleted_user_is_gone(report: Report) -> None:
    assert _data(report, "userDelete") == {}
    assert _error(report, "userLoadDeleted", 404)["errorCode"] == "E112102"


def test_a_flow_imports_runs_and_exports_back(report: Report) -> None:
    exported = json.loads(
        (FIXTURE_FLOWS / "disable-dormant.v1.json").read_text(encoding="utf-8")
    )
    user_id = _data(report, "userCreate")["userId"]
    imported = _data(report, "flowImport")
    round_trip = _data(report, "flowExport")

    assert imported == round_trip
    assert {k: v for k, v in round_trip["flow"].items() if k not in SERVER_KEYS} == {
        k: v for k, v in exported["flow"].items() if k not in {*SERVER_KEYS, "id"}
    } | {"id": "node-dormant"}
    assert "node-dormant" in {f["id"] for f in _data(report, "flowList")["flows"]}
    # Node hands back `output` alone.
    assert _data(report, "flowRunKeep") == {"userId": user_id, "status": "enabled"}
    assert _data(report, "flowRunDisable") == {"userId": user_id, "status": "disabled"}
    assert _data(report, "userLoadAfterRun")["status"] == "disabled"


def test_a_missing_flow_answers_404(report: Report) -> None:
    assert _error(report, "flowRunMissing", 404)["errorCode"] == "E102101"


def test_a_deleted_flow_is_gone(report: Report) -> None:
    assert _data(report, "flowImportDoomed")["flow"]["id"] == "node-doomed"
    assert _data(report, "flowDelete") == {}
    assert _error(report, "flowExportDeleted", 404)["errorCode"] == "E102101"


def test_custom_events_and_changes_are_in_the_audit_trail(report: Report) -> None:
    user_id = _data(report, "userCreate")["userId"]
    created = _data(report, "auditCreateEvent")
    custom = _data(report, "auditSearch")
    trail = _data(report, "auditSearchAll")

    assert created == {}
    assert len(custom) == 1
    assert custom[0]["action"] == "node.checked"
    assert custom[0]["actorId"] == "node-backend"
    assert custom[0]["tenants"] == ["T-node"]
    assert custom[0]["data"] == {"n": 1}
    # Node turns `occurred` into a number and renames externalIds to loginIds.
    assert isinstance(custom[0]["occurred"], int | float)
    assert "externalIds" not in custom[0]
    assert trail["total"] == len(trail["audits"])
    actions = {a["action"] for a in trail["audits"]}
    assert {"UserCreated", "UserModified", "node.checked"} <= actions
    assert all(a["userId"] == user_id for a in trail["audits"])
    creation = next(a for a in trail["audits"] if a["action"] == "UserCreated")
    assert creation["loginIds"] == ["node-ada@example.com", "node-ada-alt"]


def test_bad_input_and_a_wrong_key_answer_the_contracts_errors(report: Report) -> None:
    assert _error(report, "auditCreateEventBadType", 400)["errorCode"] == "E011003"
    assert _error(report, "wrongKey", 401)["errorCode"] == "E011101"
