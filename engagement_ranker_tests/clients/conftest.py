"""Helpers for the client tests: clients wired to a sandbox, a fast retry policy, log capture."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any

import pytest

from engagement_ranker.clients.http import RetryPolicy
from engagement_ranker.clients.hubspot import HubSpotClient
from engagement_ranker.clients.yobi import YobiClient
from engagement_ranker.constants import (
    DEFAULT_HUBSPOT_API_VERSION,
    HUBSPOT_ROUTES,
    HubSpotApiVersion,
    HubSpotOperation,
)
from engagement_ranker.sandbox import Sandbox


@dataclass(frozen=True)
class Routes:
    """The sandbox's request-log keys ("METHOD /template") of one HubSpot path family."""

    search: str
    associations: str
    read: str
    update: str
    property: str
    validations: str


def routes(version: HubSpotApiVersion = DEFAULT_HUBSPOT_API_VERSION) -> Routes:
    table = HUBSPOT_ROUTES[version]
    return Routes(
        search=table[HubSpotOperation.CONTACTS_SEARCH],
        associations=table[HubSpotOperation.CONTACT_COMPANIES],
        read=table[HubSpotOperation.COMPANIES_READ],
        update=table[HubSpotOperation.COMPANIES_UPDATE],
        property=table[HubSpotOperation.COMPANY_PROPERTY],
        validations=table[HubSpotOperation.PROPERTY_VALIDATIONS],
    )


def path(route: str, **params: str) -> str:
    """The path a route template ("METHOD /template") has with `params` filled in."""
    return route.split(" ", 1)[1].format(**params)


# The default family's keys, for tests of behaviour no version changes.
SEARCH, ASSOCIATIONS, READ, UPDATE, PROPERTY, VALIDATIONS = astuple(routes())
# Same shape as the default policy, waits in milliseconds: the tests prove behaviour, not patience.
FAST_RETRY = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05, max_total=10.0)


@pytest.fixture(params=list(HubSpotApiVersion), ids=str)
def api_version(request: pytest.FixtureRequest) -> HubSpotApiVersion:
    """Each HubSpot path family in turn, for tests whose behaviour must not depend on it."""
    return request.param


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
