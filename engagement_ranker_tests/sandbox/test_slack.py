"""The Slack webhook stand-in over real sockets: Block Kit limits as Slack enforces them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from engagement_ranker.sandbox import Sandbox

TIMEOUT = 5.0
ROUTE = "POST /services/{team}/{channel}/{token}"


def _post(box: Sandbox, payload: Any = None, content: bytes | None = None) -> httpx.Response:
    url = box.env["SLACK_WEBHOOK_URL"]
    if content is not None:
        return httpx.post(url, content=content, timeout=TIMEOUT)
    return httpx.post(url, json=payload, timeout=TIMEOUT)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _header(text: str, kind: str = "plain_text") -> dict[str, Any]:
    return {"type": "header", "text": {"type": kind, "text": text}}


def test_a_valid_message_is_stored(sandbox: Sandbox) -> None:
    message = {
        "text": "Weekly engagement",
        "blocks": [
            _header("x" * 150),
            {"type": "divider"},
            _section("y" * 3_000),
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 10},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "run link"}]},
            *[_section("more")] * 45,
        ],
    }
    assert len(message["blocks"]) == 50
    response = _post(sandbox, message)
    assert (response.status_code, response.text) == (200, "ok")
    assert sandbox.control.slack() == [message]


@pytest.mark.parametrize(
    ("payload", "word"),
    [
        ({}, "no_text"),
        ({"text": ""}, "no_text"),
        ({"blocks": [_section("a")] * 51}, "invalid_blocks"),
        ({"blocks": [_section("a" * 3_001)]}, "invalid_blocks"),
        ({"blocks": [_section("")]}, "invalid_blocks"),
        ({"blocks": [_header("h" * 151)]}, "invalid_blocks"),
        ({"blocks": [_header("bold", kind="mrkdwn")]}, "invalid_blocks"),
        ({"blocks": [{"type": "table"}]}, "invalid_blocks"),
        ({"blocks": [{"type": "section"}]}, "invalid_blocks"),
        (
            {"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}]},
            "invalid_blocks",
        ),
        ({"blocks": [{"type": "context", "elements": []}]}, "invalid_blocks"),
        ({"blocks": [{**_section("a"), "block_id": "b" * 256}]}, "invalid_blocks"),
        ({"blocks": "not a list"}, "invalid_blocks_format"),
        ({"text": "t" * 40_001}, "msg_too_long"),
        ({"text": "t", "attachments": [{}] * 101}, "too_many_attachments"),
        (["not", "an", "object"], "invalid_payload"),
    ],
)
def test_slack_refuses_what_slack_refuses(sandbox: Sandbox, payload: Any, word: str) -> None:
    response = _post(sandbox, payload)
    assert (response.status_code, response.text) == (400, word)
    assert response.headers["content-type"].startswith("text/plain")
    assert sandbox.control.slack() == []


def test_body_that_is_not_json(sandbox: Sandbox) -> None:
    response = _post(sandbox, content=b"payload={not json")
    assert (response.status_code, response.text) == (400, "invalid_payload")


def test_only_the_configured_hook_is_live(sandbox: Sandbox) -> None:
    url = sandbox.env["SLACK_WEBHOOK_URL"].rsplit("/", 1)[0] + "/wrongSecret"
    response = httpx.post(url, json={"text": "hi"}, timeout=TIMEOUT)
    assert (response.status_code, response.text) == (404, "no_service")
    assert sandbox.control.slack() == []


def test_the_request_log_never_holds_the_webhook_secret(sandbox: Sandbox) -> None:
    _post(sandbox, {"text": "hi"})
    summary = sandbox.control.requests()
    secret = sandbox.env["SLACK_WEBHOOK_URL"].rsplit("/", 1)[1]
    assert summary["by_service"]["slack"]["counts"] == {ROUTE: 1}
    assert secret not in str(summary)


def test_rate_limited_with_retry_after_then_accepted(sandbox: Sandbox) -> None:
    burst = {"nth": 1, "count": 2, "error": 429, "retry_after": 7}
    sandbox.control.set_faults({"routes": {ROUTE: {"bursts": [burst]}}})
    for _ in range(2):
        response = _post(sandbox, {"text": "hi"})
        assert (response.status_code, response.text) == (429, "rate_limited")
        assert response.headers["Retry-After"] == "7"
    assert _post(sandbox, {"text": "hi"}).status_code == 200
    assert sandbox.control.slack() == [{"text": "hi"}]


def test_server_error_fault(sandbox: Sandbox) -> None:
    sandbox.control.set_faults({"routes": {ROUTE: {"bursts": [{"error": 500}]}}})
    response = _post(sandbox, {"text": "hi"})
    assert (response.status_code, response.text) == (500, "internal_error")
    assert sandbox.control.slack() == []
