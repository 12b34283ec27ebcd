"""Flow endpoints over real HTTP: list, delete, import and export in both envelopes."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import SERVER_KEYS, descope_export
from tests.acceptance.wire import error_body, ok


def _without_server_keys(flow: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in flow.items() if key not in SERVER_KEYS}


def _import_v1(http: httpx.Client, flow_id: str) -> dict[str, Any]:
    exported = descope_export(flow_id)
    answer: dict[str, Any] = ok(
        http.post("/v1/mgmt/flow/import", json={"flowId": flow_id, **exported})
    )
    return answer


def test_a_descope_v1_export_imports_unchanged_and_exports_back_the_same(
    http: httpx.Client,
) -> None:
    original = descope_export("v1-round-trip")

    imported = _import_v1(http, "v1-round-trip")
    exported = ok(http.post("/v1/mgmt/flow/export", json={"flowId": "v1-round-trip"}))

    assert imported == exported
    assert _without_server_keys(exported["flow"]) == _without_server_keys(
        original["flow"]
    )
    assert exported["screens"] == []
    assert exported["flow"]["version"] == 1
    assert isinstance(exported["flow"]["modifiedTime"], str)


def test_v1_import_saves_under_the_flow_id_of_the_body(http: httpx.Client) -> None:
    exported = descope_export("named-inside")

    ok(http.post("/v1/mgmt/flow/import", json={**exported, "flowId": "named-outside"}))

    answer = ok(http.post("/v1/mgmt/flow/export", json={"flowId": "named-outside"}))
    assert answer["flow"]["id"] == "named-outside"
    error_body(
        http.post("/v1/mgmt/flow/export", json={"flowId": "named-inside"}),
        404,
        "E102101",
    )


def test_a_v2_export_imports_and_exports_back_the_same(http: httpx.Client) -> None:
    _import_v1(http, "v2-source")
    document = ok(http.post("/v2/mgmt/flow/export", json={"flowId": "v2-source"}))[
        "flow"
    ]
    copied = copy.deepcopy(document)
    copied["flowId"] = "v2-copy"

    answer = ok(http.post("/v2/mgmt/flow/import", json={"flow": copied}))
    exported = ok(http.post("/v2/mgmt/flow/export", json={"flowId": "v2-copy"}))

    assert answer == {}
    assert exported["flow"] == copied
    assert set(document) >= {"flowId", "metadata", "contents"}
    assert document["metadata"]["managementConfig"] == {
        "triggers": {"enabled": True, "triggerType": "api"}
    }


def test_importing_again_adds_a_version_only_when_the_content_changes(
    http: httpx.Client,
) -> None:
    _import_v1(http, "versioned")
    same = _import_v1(http, "versioned")
    changed = descope_export("versioned")
    changed["flow"]["description"] = "Changed."

    after = ok(
        http.post("/v1/mgmt/flow/import", json={"flowId": "versioned", **changed})
    )

    assert same["flow"]["version"] == 1
    assert after["flow"]["version"] == 2
    assert after["flow"]["description"] == "Changed."


def test_a_disabled_flow_stays_disabled_through_import_and_export(
    http: httpx.Client,
) -> None:
    exported = descope_export("switched-off")
    exported["flow"]["disabled"] = True

    ok(http.post("/v1/mgmt/flow/import", json={"flowId": "switched-off", **exported}))

    answer = ok(http.post("/v1/mgmt/flow/export", json={"flowId": "switched-off"}))
    assert answer["flow"]["disabled"] is True
    run = http.post("/v1/mgmt/flow/run", json={"flowId": "switched-off"})
    error_body(run, 409, "E102105")


def test_an_invalid_flow_is_answered_400_with_every_problem_and_not_saved(
    http: httpx.Client,
) -> None:
    exported = descope_export("broken")
    tasks = exported["flow"]["dsl"]["tasks"]
    tasks["2"]["conditions"][0]["atomicConditions"][0]["operator"] = "roughly"
    tasks["3"]["type"] = "screen"

    response = http.post("/v1/mgmt/flow/import", json={"flowId": "broken", **exported})

    body = error_body(response, 400, "E102106")
    assert {problem["taskId"] for problem in body["problems"]} >= {"3"}
    error_body(
        http.post("/v1/mgmt/flow/export", json={"flowId": "broken"}), 404, "E102101"
    )


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/v1/mgmt/flow/import", {"flowId": "x"}, "flow"),
        ("/v1/mgmt/flow/import", {"flow": {"dsl": {}}}, "flowId"),
        ("/v1/mgmt/flow/import", {"flowId": "x", "flow": []}, "flow"),
        ("/v2/mgmt/flow/import", {"flow": "x"}, "flow"),
        ("/v1/mgmt/flow/export", {}, "flowId"),
        ("/v1/mgmt/flow/delete", {"ids": []}, "ids"),
    ],
)
def test_a_bad_flow_body_is_answered_400_naming_the_field(
    http: httpx.Client, path: str, body: dict[str, Any], named: str
) -> None:
    response = http.post(path, json=body)

    assert named in error_body(response, 400, "E011003")["errorMessage"]


def test_list_answers_every_flow_with_its_total_with_or_without_a_body(
    http: httpx.Client,
) -> None:
    for flow_id in ("listed-a", "listed-b"):
        _import_v1(http, flow_id)

    no_body = ok(http.post("/v1/mgmt/flow/list"))
    empty_body = ok(http.post("/v1/mgmt/flow/list", json={}))
    some = ok(http.post("/v1/mgmt/flow/list", json={"ids": ["listed-b"]}))

    assert no_body == empty_body
    assert no_body["total"] == len(no_body["flows"])
    assert {"listed-a", "listed-b"} <= {f["id"] for f in no_body["flows"]}
    assert some["total"] == 1
    entry = some["flows"][0]
    assert entry["id"] == "listed-b"
    assert entry["name"] == "Disable a dormant user"
    assert entry["disabled"] is False
    assert entry["management"] is True


def test_delete_removes_every_flow_named_or_none(http: httpx.Client) -> None:
    _import_v1(http, "doomed")

    missing = http.post("/v1/mgmt/flow/delete", json={"ids": ["doomed", "never-was"]})
    ok(http.post("/v1/mgmt/flow/export", json={"flowId": "doomed"}))
    deleted = ok(http.post("/v1/mgmt/flow/delete", json={"ids": ["doomed"]}))

    error_body(missing, 404, "E102101")
    assert deleted == {}
    error_body(
        http.post("/v1/mgmt/flow/export", json={"flowId": "doomed"}), 404, "E102101"
    )


def test_an_imported_flow_runs(http: httpx.Client) -> None:
    _import_v1(http, "runnable")
    user = ok(
        http.post("/v1/mgmt/user/create", json={"loginId": "dormant@example.com"})
    )

    answer = ok(
        http.post(
            "/v1/mgmt/flow/run",
            json={
                "flowId": "runnable",
                "options": {
                    "input": {"userId": "dormant@example.com", "daysInactive": 400}
                },
            },
        )
    )

    assert answer == {
        "output": {"userId": user["user"]["userId"], "status": "disabled"}
    }


def test_theme_calls_get_a_json_404(http: httpx.Client) -> None:
    response = http.post("/v1/mgmt/theme/export", json={})

    error_body(response, 404, "E011104")
