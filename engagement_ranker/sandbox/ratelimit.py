"""HubSpot's request limits for one private-app account, enforced as HubSpot does.

Three budgets: a rolling 10-second window (100 requests on the free tier, 190 on pro), the
search endpoints' 5 requests a second (separate from the window: HubSpot limits search on its
own), and a daily count (reset at the sandbox's local midnight). Refused requests use up
nothing. Non-search responses carry the X-HubSpot-RateLimit-* headers; search responses none.
The 429 bodies are HubSpot's, with no Retry-After, so a client has to pace itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import date
from enum import StrEnum

from engagement_ranker.constants import (
    HUBSPOT_SEARCH_PER_SECOND,
    HUBSPOT_SEARCH_WINDOW_SECONDS,
    HUBSPOT_TIER_LIMITS,
    HUBSPOT_WINDOW_SECONDS,
)

# Private-app daily request allowances by tier (Free/Starter, Professional).
DAILY_LIMITS: dict[str, int] = {"free": 250_000, "pro": 650_000}


class Policy(StrEnum):
    """HubSpot's names for the limit a 429 reports."""

    TEN_SECONDLY_ROLLING = "TEN_SECONDLY_ROLLING"
    SECONDLY = "SECONDLY"
    DAILY = "DAILY"


_MESSAGES: dict[Policy, str] = {
    Policy.TEN_SECONDLY_ROLLING: "You have reached your ten_secondly_rolling limit.",
    Policy.SECONDLY: "You have reached your secondly limit.",
    Policy.DAILY: "You have reached your daily limit.",
}


def rate_limit_body(policy: Policy, correlation_id: str) -> dict[str, str]:
    """The JSON body of HubSpot's 429 for `policy`."""
    return {
        "status": "error",
        "message": _MESSAGES[policy],
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id,
        "policyName": policy.value,
    }


class RateLimiter:
    """The account's budgets; thread-safe. `admit` counts the requests it lets through."""

    def __init__(
        self,
        tier: str,
        today: Callable[[], date],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if tier not in HUBSPOT_TIER_LIMITS:
            raise ValueError(
                f"HubSpot tier {tier!r} is unknown: use one of {', '.join(HUBSPOT_TIER_LIMITS)}."
            )
        self.tier = tier
        self.window_max = HUBSPOT_TIER_LIMITS[tier]
        self.daily_max = DAILY_LIMITS[tier]
        self._today = today
        self._clock = clock
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._search: deque[float] = deque()
        self._day: date | None = None
        self._daily_used = 0

    def reset(self) -> None:
        """Start every budget afresh."""
        with self._lock:
            self._window.clear()
            self._search.clear()
            self._day = None
            self._daily_used = 0

    def admit(self, *, search: bool) -> Policy | None:
        """Count one request if every budget allows it (None); otherwise the limit it hit."""
        with self._lock:
            now = self._clock()
            today = self._today()
            if today != self._day:
                self._day, self._daily_used = today, 0
            budget = self._search if search else self._window
            span = HUBSPOT_SEARCH_WINDOW_SECONDS if search else HUBSPOT_WINDOW_SECONDS
            limit = HUBSPOT_SEARCH_PER_SECOND if search else self.window_max
            while budget and budget[0] <= now - span:
                budget.popleft()
            if self._daily_used >= self.daily_max:
                return Policy.DAILY
            if len(budget) >= limit:
                return Policy.SECONDLY if search else Policy.TEN_SECONDLY_ROLLING
            budget.append(now)
            self._daily_used += 1
            return None

    def headers(self) -> dict[str, str]:
        """HubSpot's rate-limit headers for a non-search response, as the budgets stand now."""
        with self._lock:
            now = self._clock()
            in_window = sum(1 for at in self._window if at > now - HUBSPOT_WINDOW_SECONDS)
            return {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(HUBSPOT_WINDOW_SECONDS * 1000),
                "X-HubSpot-RateLimit-Max": str(self.window_max),
                "X-HubSpot-RateLimit-Remaining": str(max(0, self.window_max - in_window)),
                "X-HubSpot-RateLimit-Daily": str(self.daily_max),
                "X-HubSpot-RateLimit-Daily-Remaining": str(
                    max(0, self.daily_max - self._daily_used)
                ),
            }
