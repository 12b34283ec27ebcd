"""Connector administration on a server that has no secret key to encrypt their secrets."""

from __future__ import annotations

import httpx

from tests.acceptance.wire import error_body, ok


def test_creating_a_connector_without_a_secret_key_says_how_to_make_one(
    http: httpx.Client,
) -> None:
    # The module's server has neither IDFLOW_SECRET_KEY nor a key file.
    response = http.post(
        "/v1/mgmt/idflow/connector/create",
        json={
            "name": "hook",
            "type": "http",
            "settings": {"baseUrl": "https://x.test"},
        },
    )

    body = error_body(response, 500, "E010500")
    assert body["errorDescription"] == "Server configuration"
    assert "IDFLOW_SECRET_KEY" in body["errorMessage"]
    assert "idflow init" in body["errorMessage"]
    listed = ok(http.get("/v1/mgmt/idflow/connector/all"))
    assert listed["connectors"] == []
