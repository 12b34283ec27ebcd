"""Rate limits over real HTTP and through the Python SDK, with tiny budgets."""

from __future__ import annotations

import re

import httpx
import pytest
from descope import DescopeClient, RateLimitException

from tests.acceptance.conftest import Server
from tests.acceptance.wire import error_body, ok

WINDOW_SECONDS = 600


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    # Windows far longer than the module runs, so no budget comes back mid-test.
    return {
        "IDFLOW_RATE_LIMITS": "self-hosted",
        "IDFLOW_RATE_LIMIT_OVERRIDES": (
            f"audit-search=2/{WINDOW_SECONDS}s,user-create=1/{WINDOW_SECONDS}s"
        ),
    }


def test_a_call_over_the_budget_answers_429_with_retry_after(
    http: httpx.Client,
) -> None:
    for _ in range(2):
        ok(http.post("/v1/mgmt/audit/search", json={}))

    refused = http.post("/v1/mgmt/audit/search", json={})

    body = error_body(refused, 429, "E130429")
    assert body["errorDescription"] == "Rate limit exceeded"
    assert re.fullmatch(r"[1-9][0-9]*", refused.headers["retry-after"])
    assert 1 <= int(refused.headers["retry-after"]) <= WINDOW_SECONDS
    assert f"retry after {refused.headers['retry-after']} s" in body["errorMessage"]


def test_another_family_keeps_its_own_budget(http: httpx.Client) -> None:
    # Spend audit-search's budget (an earlier test may have begun to), so the
    # calls below are made while one family of this project is refused.
    answers = [http.post("/v1/mgmt/audit/search", json={}) for _ in range(3)]
    assert answers[-1].status_code == 429

    ok(http.get("/v1/mgmt/tenant/all"))
    ok(http.post("/v1/mgmt/tenant/search", json={}))
    assert http.post("/v1/mgmt/audit/search", json={}).status_code == 429


def test_the_python_sdk_raises_rate_limit_exception_without_retrying(
    api: Server,
) -> None:
    client = DescopeClient(
        project_id=api.project_id,
        management_key=api.management_key,
        base_url=api.base_url,
    )
    client.mgmt.user.create("limited-1@example.com")

    with pytest.raises(RateLimitException) as refused:
        client.mgmt.user.create("limited-2@example.com")

    # Python reports the errorCode of the body as the exception's status code.
    assert refused.value.status_code == "E130429"
    assert refused.value.error_type == "API rate limit exceeded"
    retry_after = refused.value.rate_limit_parameters["Retry-After"]
    assert 1 <= retry_after <= WINDOW_SECONDS
    refusals = re.findall(r"POST /v1/mgmt/user/create 429", api.output())
    assert len(refusals) == 1
