"""Helpers for the client tests: clients wired to a sandbox, a fast retry policy, log capture."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from engagement_ranker.clients.http import RetryPolicy
from engagement_ranker.clients.hubspot import (
    ASSOCIATIONS_PATH,
    COMPANIES_READ_PATH,
    COMPANIES_UPDATE_PATH,
    SEARCH_PATH,
    HubSpotClient,
)
from engagement_ranker.clients.yobi import YobiClient
from engagement_ranker.sandbox import Sandbox

# Request-log keys of the sandbox ("METHOD /template").
SEARCH = f"POST {SEARCH_PATH}"
ASSOCIATIONS = f"POST {ASSOCIATIONS_PATH}"
READ = f"POST {COMPANIES_READ_PATH}"
UPDATE = f"POST {COMPANIES_UPDATE_PATH}"
PROPERTY = "GET /crm/v3/properties/companies/{propertyName}"
# Same shape as the default policy, waits in milliseconds: the tests prove behaviour, not patience.
FAST_RETRY = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05, max_total=10.0)


def hubspot_client(sandbox: Sandbox, **overrides: Any) -> HubSpotClient:
    """A HubSpot client pointed at `sandbox` as the resource layer would build it."""
    env = sandbox.env
    options: dict[str, Any] = {
        "access_token": env["HUBSPOT_ACCESS_TOKEN"],
        "base_url": env["HUBSPOT_BASE_URL"],
        "tier": env["HUBSPOT_TIER"],
        "retry": FAST_RETRY,
    }
    return HubSpotClient(**(options | overrides))


def yobi_client(sandbox: Sandbox, **overrides: Any) -> YobiClient:
    """A Yobi client pointed at `sandbox`, on the sandbox's clock."""
    env = sandbox.env
    clock: Callable[[], datetime] = sandbox.state.clock
    options: dict[str, Any] = {
        "email": env["YOBI_EMAIL"],
        "password": env["YOBI_PASSWORD"],
        "base_url": env["YOBI_BASE_URL"],
        "retry": FAST_RETRY,
        "clock": clock,
    }
    return YobiClient(**(options | overrides))


def calls(sandbox: Sandbox, route: str) -> int:
    """How many requests `route` ("METHOD /template") received since the last reset."""
    return sandbox.control.requests()["counts"].get(route, 0)


def statuses(sandbox: Sandbox) -> dict[str, int]:
    """Responses by status since the last reset ("0" = no response: dropped or stalled)."""
    return sandbox.control.requests()["statuses"]


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of every logger at DEBUG, httpx and httpcore included."""
    with caplog.at_level(logging.DEBUG):
        yield caplog
