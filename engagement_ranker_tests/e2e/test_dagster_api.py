"""The GraphQL client the journeys read the UI's records with."""

from __future__ import annotations

import inspect

import uvicorn

from engagement_ranker_tests.e2e.dagster_api import KEEPALIVE_EXPIRY_SECONDS, DagsterApi


def test_idle_connections_are_dropped_before_the_webserver_drops_them() -> None:
    """A connection both ends keep idle for the same 5 s races: the query sent as uvicorn
    hangs up fails ("Server disconnected without sending a response", seen in CI)."""
    webserver_keeps = inspect.signature(uvicorn.Config).parameters["timeout_keep_alive"].default
    api = DagsterApi("http://127.0.0.1:1")
    try:
        pool = api._http._transport._pool  # type: ignore[attr-defined]
        assert pool._keepalive_expiry == KEEPALIVE_EXPIRY_SECONDS <= webserver_keeps / 2
    finally:
        api.close()
