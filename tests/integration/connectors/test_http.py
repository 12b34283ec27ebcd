"""The HTTP connector against a local server: auth, signatures, retries, caps, timeouts."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from idflow.store.records import Connector, Run, RunStatus
from tests.integration.connectors.servers import RecordingServer, Reply

Steps = Callable[..., Run]


def _call(**arguments: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": "call",
            "action": "http-connector",
            "with": {"connector": "api", **arguments},
        },
        {
            "id": "done",
            "end": {
                "status": "{{ http.status }}",
                "body": {"type": "object", "value": "{{ http.body }}"},
            },
        },
    ]


def test_a_step_sends_its_templated_request_and_maps_the_answer(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    http_server.script("/users/u1", Reply(201, {"created": True}))
    add_connector(
        "api", "http", {"baseUrl": http_server.url, "headers": {"X-Team": "iam"}}
    )

    run = run_steps(
        _call(
            method="POST",
            path="/users/{{ client.userId }}",
            query={"notify": True},
            body={"email": "{{ client.email }}"},
        ),
        {"userId": "u1", "email": "ada@example.com"},
    )

    assert run.status is RunStatus.COMPLETED, run.error
    assert run.outputs == {"status": "201", "body": {"created": True}}
    [request] = http_server.to("/users/u1")
    assert request.method == "POST"
    assert request.path == "/users/u1?notify=true"
    assert request.json() == {"email": "ada@example.com"}
    assert request.headers["x-team"] == "iam"
    assert request.headers["host"] == f"127.0.0.1:{http_server.port}"


def test_the_body_signature_verifies_with_the_signing_secret(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    add_connector(
        "api",
        "http",
        {"baseUrl": http_server.url, "signature": {"header": "X-Signature"}},
        {"signingSecret": "sign-me-please"},
    )

    run = run_steps(_call(path="/hook", body={"event": "UserCreated"}))

    assert run.status is RunStatus.COMPLETED, run.error
    [request] = http_server.to("/hook")
    expected = hmac.new(b"sign-me-please", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-signature"] == f"sha256={expected}"


def test_bearer_api_key_and_basic_auth_send_their_headers(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    base = {"baseUrl": http_server.url}
    add_connector(
        "bearer", "http", base | {"auth": {"type": "bearer"}}, {"token": "tok-abc"}
    )
    add_connector(
        "keyed",
        "http",
        base | {"auth": {"type": "apiKey", "header": "X-Api-Key"}},
        {"apiKey": "key-abc"},
    )
    add_connector(
        "basic",
        "http",
        base | {"auth": {"type": "basic", "username": "svc"}},
        {"password": "pw-abc"},
    )

    for name in ("bearer", "keyed", "basic"):
        run = run_steps(
            [
                {
                    "id": "call",
                    "action": "http-connector",
                    "with": {"connector": name, "path": f"/{name}"},
                },
                {"id": "done", "end": {"ok": True}},
            ]
        )
        assert run.status is RunStatus.COMPLETED, run.error

    assert http_server.to("/bearer")[0].headers["authorization"] == "Bearer tok-abc"
    assert http_server.to("/keyed")[0].headers["x-api-key"] == "key-abc"
    assert (
        http_server.to("/basic")[0].headers["authorization"] == "Basic c3ZjOnB3LWFiYw=="
    )


def test_an_oauth_token_is_fetched_once_and_reused_until_it_expires(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    http_server.script(
        "/token", Reply(200, {"access_token": "at-1", "expires_in": 3600})
    )
    add_connector(
        "api",
        "http",
        {
            "baseUrl": http_server.url,
            "auth": {
                "type": "oauth2",
                "tokenUrl": f"{http_server.url}/token",
                "clientId": "idflow",
                "scope": "users.write",
            },
        },
        {"clientSecret": "client-s3cret"},
    )

    for _ in range(3):
        assert run_steps(_call(path="/data")).status is RunStatus.COMPLETED

    [token_request] = http_server.to("/token")
    assert token_request.body == b"grant_type=client_credentials&scope=users.write"
    assert (
        token_request.headers["authorization"] == "Basic aWRmbG93OmNsaWVudC1zM2NyZXQ="
    )
    assert [r.headers["authorization"] for r in http_server.to("/data")] == [
        "Bearer at-1"
    ] * 3


def test_an_expired_oauth_token_is_fetched_again(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    # A lifetime inside the expiry margin counts as expired at once.
    http_server.script(
        "/token",
        Reply(200, {"access_token": "short-1", "expires_in": 5}),
        Reply(200, {"access_token": "short-2", "expires_in": 5}),
    )
    auth = {"type": "oauth2", "tokenUrl": f"{http_server.url}/token", "clientId": "c"}
    add_connector(
        "api",
        "http",
        {"baseUrl": http_server.url, "auth": auth},
        {"clientSecret": "s3cret-x"},
    )

    run_steps(_call(path="/data"))
    run_steps(_call(path="/data"))

    assert len(http_server.to("/token")) == 2
    assert [r.headers["authorization"] for r in http_server.to("/data")] == [
        "Bearer short-1",
        "Bearer short-2",
    ]


def test_5xx_and_429_are_retried_with_one_idempotency_key(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    http_server.script(
        "/flaky",
        Reply(503),
        Reply(429, headers={"Retry-After": "0"}),
        Reply(200, {"done": True}),
    )
    add_connector("api", "http", {"baseUrl": http_server.url, "maxAttempts": 3})

    run = run_steps(_call(path="/flaky", method="POST", body={"n": 1}))

    assert run.status is RunStatus.COMPLETED, run.error
    keys = [r.headers["idempotency-key"] for r in http_server.to("/flaky")]
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert run.trace[0]["detail"] == {"connector": "api", "status": 200, "attempts": 3}


def test_a_dropped_connection_is_retried_with_the_same_idempotency_key(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    http_server.script("/dropped", Reply(drop=True), Reply(200, {"done": True}))
    add_connector("api", "http", {"baseUrl": http_server.url, "maxAttempts": 2})

    run = run_steps(_call(path="/dropped", method="POST", body={"n": 1}))

    assert run.status is RunStatus.COMPLETED, run.error
    keys = [r.headers["idempotency-key"] for r in http_server.to("/dropped")]
    assert len(keys) == 2
    assert len(set(keys)) == 1


def test_another_step_or_run_gets_another_idempotency_key(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    add_connector("api", "http", {"baseUrl": http_server.url})
    steps = [
        {
            "id": "one",
            "action": "http-connector",
            "with": {"connector": "api", "path": "/k"},
        },
        {
            "id": "two",
            "action": "http-connector",
            "with": {"connector": "api", "path": "/k"},
        },
        {"id": "done", "end": {"ok": True}},
    ]

    run_steps(steps)
    run_steps(steps)

    keys = [r.headers["idempotency-key"] for r in http_server.to("/k")]
    assert len(set(keys)) == 4


def test_other_4xx_answers_are_not_retried_and_fail_the_step(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    http_server.script("/missing", Reply(404, {"error": "nope"}))
    add_connector("api", "http", {"baseUrl": http_server.url})

    run = run_steps(_call(path="/missing"))

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["code"] == "E123001"
    assert "404 after 1 attempt" in run.error["message"]
    assert len(http_server.to("/missing")) == 1


def test_retries_stop_after_the_last_attempt(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    http_server.script("/down", Reply(500))
    add_connector("api", "http", {"baseUrl": http_server.url, "maxAttempts": 2})

    run = run_steps(_call(path="/down"))

    assert run.status is RunStatus.FAILED
    assert len(http_server.to("/down")) == 2


def test_a_slow_server_times_the_step_out(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    http_server.script("/slow", Reply(200, {"late": True}, delay_seconds=1.0))
    add_connector("api", "http", {"baseUrl": http_server.url})

    run = run_steps(_call(path="/slow", timeoutSeconds=0.2))

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["code"] == "E123004"


def test_a_redirect_is_followed_to_a_permitted_address(
    http_server: RecordingServer,
    add_connector: Callable[..., Connector],
    run_steps: Steps,
) -> None:
    http_server.script("/old", Reply(307, headers={"Location": "/new"}))
    http_server.script("/new", Reply(200, {"moved": True}))
    add_connector("api", "http", {"baseUrl": http_server.url})

    run = run_steps(_call(path="/old", method="POST", body={"a": 1}))

    assert run.status is RunStatus.COMPLETED, run.error
    assert run.outputs == {"status": "200", "body": {"moved": True}}
    assert http_server.to("/new")[0].json() == {"a": 1}
