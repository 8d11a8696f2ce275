"""The rate limiter's budgets in time: the rolling window frees up, search is separate, days reset.

The limits against real sockets are in test_hubspot_server.py; here a hand-moved clock checks
the timing rules exactly without waiting ten seconds.
"""

from __future__ import annotations

from datetime import date

import pytest

from engagement_ranker.constants import (
    HUBSPOT_SEARCH_PER_SECOND,
    HUBSPOT_TIER_LIMITS,
    HUBSPOT_WINDOW_SECONDS,
)
from engagement_ranker.sandbox.ratelimit import DAILY_LIMITS, Policy, RateLimiter


class ManualClock:
    def __init__(self) -> None:
        self.now = 50.0
        self.day = date(2026, 11, 16)

    def __call__(self) -> float:
        return self.now

    def today(self) -> date:
        return self.day


def limiter(tier: str = "free") -> tuple[RateLimiter, ManualClock]:
    clock = ManualClock()
    return RateLimiter(tier, today=clock.today, clock=clock), clock


@pytest.mark.parametrize("tier", sorted(HUBSPOT_TIER_LIMITS))
def test_rolling_window_refuses_past_the_tier_limit_until_the_oldest_request_ages_out(
    tier: str,
) -> None:
    limits, clock = limiter(tier)
    maximum = HUBSPOT_TIER_LIMITS[tier]
    assert limits.admit(search=False) is None
    assert limits.headers()["X-HubSpot-RateLimit-Remaining"] == str(maximum - 1)
    clock.now += 1
    for _ in range(maximum - 1):
        assert limits.admit(search=False) is None
    assert limits.admit(search=False) is Policy.TEN_SECONDLY_ROLLING
    assert limits.headers()["X-HubSpot-RateLimit-Remaining"] == "0"
    clock.now += HUBSPOT_WINDOW_SECONDS - 1  # exactly when the first request leaves the window
    assert limits.headers()["X-HubSpot-RateLimit-Remaining"] == "1"
    assert limits.admit(search=False) is None
    assert limits.admit(search=False) is Policy.TEN_SECONDLY_ROLLING


def test_search_has_its_own_per_second_budget_outside_the_window() -> None:
    limits, clock = limiter()
    for _ in range(HUBSPOT_SEARCH_PER_SECOND):
        assert limits.admit(search=True) is None
    assert limits.admit(search=True) is Policy.SECONDLY
    assert limits.admit(search=False) is None
    assert limits.headers()["X-HubSpot-RateLimit-Remaining"] == str(HUBSPOT_TIER_LIMITS["free"] - 1)
    clock.now += 1
    assert limits.admit(search=True) is None


def test_daily_budget_counts_every_admitted_request_and_resets_at_midnight() -> None:
    limits, clock = limiter()
    for _ in range(3):
        limits.admit(search=True)
    limits.admit(search=False)
    headers = limits.headers()
    assert headers["X-HubSpot-RateLimit-Daily"] == str(DAILY_LIMITS["free"])
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(DAILY_LIMITS["free"] - 4)
    clock.day = date(2026, 11, 17)
    clock.now += HUBSPOT_WINDOW_SECONDS
    limits.admit(search=False)
    assert limits.headers()["X-HubSpot-RateLimit-Daily-Remaining"] == str(DAILY_LIMITS["free"] - 1)


def test_an_unknown_tier_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'enterprise' is unknown: use one of free, pro"):
        RateLimiter("enterprise", today=date.today)
