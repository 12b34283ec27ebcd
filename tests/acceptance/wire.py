"""Checks every HTTP acceptance test makes of an answer: status, JSON, error code."""

from __future__ import annotations

import itertools
from typing import Any

import httpx


def ok(response: httpx.Response) -> Any:
    """The decoded body of a 200 answer; fails the test with the body otherwise."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def error_body(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The Descope error body of an answer that must have this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["errorCode"] == code, body
    assert body["errorDescription"], body
    assert body["errorMessage"], body
    return body


def error(response: httpx.Response, status: int, code: str) -> str:
    """The `errorMessage` of an answer that must have this status and code."""
    message: str = error_body(response, status, code)["errorMessage"]
    return message


_serial = itertools.count()


def new_login(prefix: str = "user") -> str:
    """A login id no other test of this process uses."""
    return f"{prefix}-{next(_serial)}@example.com"


def create_user(http: httpx.Client, login_id: str, **fields: Any) -> dict[str, Any]:
    """Create a user over the API and return it as answered."""
    answer = ok(http.post("/v1/mgmt/user/create", json={"loginId": login_id, **fields}))
    user: dict[str, Any] = answer["user"]
    return user


def load_user(http: httpx.Client, login_id: str) -> dict[str, Any]:
    """Load a user over the API by login id."""
    answer = ok(http.get("/v1/mgmt/user", params={"loginId": login_id}))
    user: dict[str, Any] = answer["user"]
    return user


def create_http_connector(
    http: httpx.Client, name: str, base_url: str, **settings: Any
) -> None:
    """Create an HTTP connector over idflow's connector API."""
    ok(
        http.post(
            "/v1/mgmt/idflow/connector/create",
            json={
                "name": name,
                "type": "http",
                "settings": {"baseUrl": base_url, **settings},
            },
        )
    )
