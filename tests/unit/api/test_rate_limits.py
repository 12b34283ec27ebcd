"""Rate limits: fixed windows per project and family, profiles and overrides."""

from __future__ import annotations

import orjson
import pytest

from idflow.api import rate_limits
from idflow.api.rate_limits import (
    PROFILES,
    Family,
    Limit,
    RateLimiter,
    RateLimitPolicy,
    family_of,
)
from idflow.api.responses import error_response
from idflow.errors import ConfigurationError, RateLimited
from idflow.settings import Settings

CREATE = "/v1/mgmt/user/create"
RUN = "/v1/mgmt/flow/run"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _limiter(clock: FakeClock, overrides: str) -> RateLimiter:
    return RateLimiter(RateLimitPolicy.parse("off", overrides), clock)


def _refusal(limiter: RateLimiter, path: str, project: str = "P1") -> RateLimited:
    with pytest.raises(RateLimited) as refused:
        limiter.check(project, path)
    return refused.value


def test_calls_within_the_budget_pass_and_the_next_waits_for_the_reset() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, "user-create=3/60s")

    for _ in range(3):
        limiter.check("P1", CREATE)
    clock.now += 20.5
    refused = _refusal(limiter, CREATE)

    assert refused.retry_after_seconds == 40
    assert refused.error_code == "E130429"
    assert refused.status == 429
    assert "more than 3 user-create calls within 60 s" in refused.message


def test_the_budget_comes_back_when_the_window_resets() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, "user-create=1/10s")
    limiter.check("P1", CREATE)
    _refusal(limiter, CREATE)

    clock.now += 10
    limiter.check("P1", CREATE)

    assert _refusal(limiter, CREATE).retry_after_seconds == 10


def test_retry_after_is_at_least_one_second() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, "flow-run=1/10s")
    limiter.check("P1", RUN)

    clock.now += 9.9

    assert _refusal(limiter, RUN).retry_after_seconds == 1


def test_a_backoff_keeps_refusing_past_the_end_of_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimitPolicy("descope"), clock)
    for _ in range(100):
        limiter.check("P1", CREATE)
    clock.now += 50

    first = _refusal(limiter, CREATE)
    clock.now += 30
    second = _refusal(limiter, CREATE)
    clock.now += 30
    limiter.check("P1", CREATE)

    assert (first.retry_after_seconds, second.retry_after_seconds) == (60, 30)


def test_projects_and_families_have_budgets_of_their_own() -> None:
    limiter = _limiter(FakeClock(), "user-create=1/60s,flow-run=1/60s")

    limiter.check("P1", CREATE)
    limiter.check("P2", CREATE)
    limiter.check("P1", RUN)

    _refusal(limiter, CREATE, "P1")
    _refusal(limiter, CREATE, "P2")
    _refusal(limiter, RUN, "P1")


def test_the_off_profile_limits_nothing() -> None:
    limiter = RateLimiter(RateLimitPolicy("off"), FakeClock())

    for _ in range(10_000):
        limiter.check("P1", CREATE)


def test_the_license_handshake_is_never_counted() -> None:
    limiter = _limiter(FakeClock(), "other=1/60s")

    for _ in range(5):
        limiter.check("P1", "/v1/mgmt/license")
    limiter.check("P1", "/v1/mgmt/tenant/all")

    _refusal(limiter, "/v1/mgmt/tenant/all")


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/v1/mgmt/user/create", Family.USER_CREATE),
        ("/v1/mgmt/user/create/batch", Family.USER_CREATE),
        ("/v1/mgmt/user/create/test", Family.USER_CREATE),
        ("/v1/mgmt/user/update", Family.USER_UPDATE),
        ("/v2/mgmt/user/search", Family.USER_UPDATE),
        ("/v2/mgmt/user/search/test", Family.USER_UPDATE),
        ("/v1/mgmt/user", Family.USER_OTHER),
        ("/v1/mgmt/user/patch", Family.USER_OTHER),
        ("/v1/mgmt/user/update/status", Family.USER_OTHER),
        ("/v1/mgmt/users/load", Family.USER_OTHER),
        ("/v2/mgmt/user/update/role/add", Family.USER_OTHER),
        ("/v1/mgmt/flow/run", Family.FLOW_RUN),
        ("/v1/mgmt/flow/async/run", Family.FLOW_RUN),
        ("/v1/mgmt/audit/search", Family.AUDIT_SEARCH),
        ("/v1/mgmt/audit/event", Family.OTHER),
        ("/v1/mgmt/flow/export", Family.OTHER),
        ("/v1/mgmt/tenant/create", Family.OTHER),
        ("/v1/mgmt/userx", Family.OTHER),
        ("/v1/mgmt/license", None),
    ],
)
def test_each_path_is_counted_in_its_family(path: str, family: Family | None) -> None:
    assert family_of(path) == family


def test_the_descope_profile_carries_the_published_figures() -> None:
    descope = PROFILES["descope"]

    assert descope[Family.USER_CREATE] == Limit(100, 60, backoff_seconds=60)
    assert descope[Family.USER_UPDATE] == Limit(200, 60)
    assert descope[Family.USER_OTHER] == Limit(500, 60)
    assert descope[Family.AUDIT_SEARCH] == Limit(10, 60)
    assert descope[Family.OTHER] == Limit(1000, 10, backoff_seconds=10)


def test_every_profile_but_off_limits_every_family() -> None:
    assert PROFILES["off"] == {}
    assert set(PROFILES["self-hosted"]) == set(Family)
    assert set(PROFILES["descope"]) == set(Family)


def test_the_self_hosted_profile_is_more_generous_than_descope() -> None:
    def per_second(limit: Limit) -> float:
        return limit.requests / limit.window_seconds

    for family in Family:
        hosted, descope = PROFILES["self-hosted"][family], PROFILES["descope"][family]
        assert per_second(hosted) > per_second(descope), family


def test_overrides_replace_or_lift_the_limit_of_a_family() -> None:
    policy = RateLimitPolicy.parse(" Descope ", "flow-run=5/1s, audit-search=OFF")

    limits = policy.limits()

    assert limits[Family.FLOW_RUN] == Limit(5, 1)
    assert Family.AUDIT_SEARCH not in limits
    assert limits[Family.USER_CREATE] == PROFILES["descope"][Family.USER_CREATE]
    assert str(policy) == "descope, flow-run=5/1s, audit-search=off"


def test_an_unset_profile_is_the_self_hosted_one() -> None:
    assert RateLimitPolicy.parse(None, None) == RateLimitPolicy("self-hosted")
    assert RateLimitPolicy.parse("", "") == RateLimitPolicy("self-hosted")
    assert str(RateLimitPolicy()) == "self-hosted"


def test_an_unknown_profile_is_refused_with_the_variable_and_the_choices() -> None:
    with pytest.raises(ConfigurationError) as refused:
        RateLimitPolicy.parse("strict", None)

    assert refused.value.message == (
        "IDFLOW_RATE_LIMITS is 'strict': expected one of off, self-hosted, descope."
    )


@pytest.mark.parametrize(
    "overrides",
    ["flow-run", "flows=1/1s", "flow-run=1", "flow-run=0/10s", "flow-run=5/0s", "x"],
)
def test_a_malformed_override_is_refused_naming_the_entry(overrides: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        RateLimitPolicy.parse("self-hosted", f"other=1/1s,{overrides}")

    assert f"IDFLOW_RATE_LIMIT_OVERRIDES has {overrides!r}" in refused.value.message


def test_settings_read_the_profile_and_the_overrides() -> None:
    settings = Settings.from_env(
        {"IDFLOW_RATE_LIMITS": "off", "IDFLOW_RATE_LIMIT_OVERRIDES": "flow-run=2/60s"}
    )

    assert settings.rate_limits.limits() == {Family.FLOW_RUN: Limit(2, 60)}
    assert Settings.from_env({}).rate_limits == RateLimitPolicy("self-hosted")


def test_a_refusal_answers_429_with_retry_after_and_the_descope_body() -> None:
    limiter = _limiter(FakeClock(), "audit-search=1/30s")
    limiter.check("P1", "/v1/mgmt/audit/search")

    response = error_response(_refusal(limiter, "/v1/mgmt/audit/search"))

    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert orjson.loads(response.body) == {
        "errorCode": "E130429",
        "errorDescription": "Rate limit exceeded",
        "errorMessage": "This project made more than 1 audit-search calls within 30 s: retry after 30 s.",
    }


def test_expired_counters_are_dropped_once_there_are_many(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rate_limits, "MAX_WINDOWS", 3)
    clock = FakeClock()
    limiter = _limiter(clock, "other=1/10s")
    for project in ("P1", "P2", "P3"):
        limiter.check(project, "/v1/mgmt/tenant/all")
    clock.now += 10

    limiter.check("P4", "/v1/mgmt/tenant/all")

    assert len(limiter._windows) == 1


def test_the_first_refusal_of_a_window_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = _limiter(FakeClock(), "flow-run=1/10s")
    limiter.check("P1", RUN)

    for _ in range(3):
        _refusal(limiter, RUN)

    events = [r for r in caplog.records if r.__dict__.get("event_name")]
    assert [(r.levelname, r.__dict__["event_name"]) for r in events] == [
        ("WARNING", "rate_limit_exceeded")
    ]
