"""A stand-in for a Slack incoming webhook that enforces Block Kit's limits as Slack does.

Slack answers a webhook with a plain-text body: "ok" on success, else an error word with a
4xx/5xx status ("invalid_blocks", "no_text", ...). Only the configured webhook path is a
live hook (others get 404 "no_service"); the request log records the route template, never
the secret path. Faults are route faults on "POST /services/{team}/{channel}/{token}".
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from engagement_ranker.sandbox.faults import Action
from engagement_ranker.sandbox.http import (
    Handler,
    HttpError,
    JsonService,
    Request,
    Response,
    Route,
    route,
    text_response,
)

WEBHOOK_ROUTE = "/services/{team}/{channel}/{token}"
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3_000
MAX_FIELD_TEXT = 2_000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_BLOCK_ID = 255
MAX_MESSAGE_TEXT = 40_000
MAX_ATTACHMENTS = 100
BLOCK_TYPES = frozenset(
    {"section", "header", "divider", "context", "image", "actions", "rich_text", "input", "file"}
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
# What Slack says for each status when a fault makes it fail.
FAULT_WORDS: dict[int, str] = {
    400: "invalid_payload",
    401: "invalid_token",
    403: "invalid_token",
    404: "no_service",
    429: "rate_limited",
}
SERVER_ERROR_WORD = "internal_error"


class SlackError(HttpError):
    """A webhook refusal: Slack's error word as the plain-text body."""

    def __init__(self, word: str, status: int = 400) -> None:
        super().__init__(status, word)


class SlackService(JsonService):
    """Receives webhook posts, validates them like Slack and stores the accepted ones."""

    name = "slack"

    def routes(self) -> Iterable[Route]:
        return (route("POST", WEBHOOK_ROUTE, self.post),)

    def handle(self, request: Request, handler: Handler | None) -> Response:
        """Slack errors are plain text, not JSON."""
        try:
            if handler is None:
                raise SlackError("no_service", 404)
            return handler(request)
        except HttpError as exc:
            return text_response(exc.message, exc.status, exc.headers)

    def fault_response(self, action: Action, request: Request) -> Response:
        assert isinstance(action.error, int)
        headers = {} if action.retry_after is None else {"Retry-After": str(action.retry_after)}
        word = FAULT_WORDS.get(action.error, SERVER_ERROR_WORD)
        return text_response(word, action.error, headers)

    def post(self, request: Request) -> Response:
        if not hmac.compare_digest(request.path, self.state.credentials.slack_webhook_path):
            raise SlackError("no_service", 404)
        try:
            payload = request.json()
        except HttpError as exc:
            raise SlackError("invalid_payload") from exc
        validate_message(payload)
        self.state.add_slack_message(payload)
        return text_response("ok")


def validate_message(payload: Any) -> None:
    """Raise `SlackError` with Slack's word for the first way `payload` breaks its rules."""
    if not isinstance(payload, dict):
        raise SlackError("invalid_payload")
    text = payload.get("text")
    blocks = payload.get("blocks")
    if text is not None and not isinstance(text, str):
        raise SlackError("invalid_payload")
    if not text and not blocks:
        raise SlackError("no_text")
    if text is not None and len(text) > MAX_MESSAGE_TEXT:
        raise SlackError("msg_too_long")
    attachments = payload.get("attachments", [])
    if not isinstance(attachments, list):
        raise SlackError("invalid_attachments")
    if len(attachments) > MAX_ATTACHMENTS:
        raise SlackError("too_many_attachments")
    if blocks is None:
        return
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise SlackError("invalid_blocks_format")
    if len(blocks) > MAX_BLOCKS:
        raise SlackError("invalid_blocks")
    for block in blocks:
        _validate_block(block)


def _validate_block(block: dict[str, Any]) -> None:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        raise SlackError("invalid_blocks")
    block_id = block.get("block_id")
    if block_id is not None and (not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID):
        raise SlackError("invalid_blocks")
    if kind == "header":
        _text_object(block.get("text"), MAX_HEADER_TEXT, plain_only=True)
    elif kind == "section":
        fields = block.get("fields")
        if block.get("text") is None and not fields:
            raise SlackError("invalid_blocks")
        if block.get("text") is not None:
            _text_object(block["text"], MAX_SECTION_TEXT)
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > MAX_FIELDS:
                raise SlackError("invalid_blocks")
            for item in fields:
                _text_object(item, MAX_FIELD_TEXT)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
            raise SlackError("invalid_blocks")
        for element in elements:
            if not isinstance(element, dict):
                raise SlackError("invalid_blocks")
            if element.get("type") != "image":
                _text_object(element, MAX_SECTION_TEXT)


def _text_object(value: Any, limit: int, plain_only: bool = False) -> None:
    if not isinstance(value, dict):
        raise SlackError("invalid_blocks")
    kind = value.get("type")
    allowed = {"plain_text"} if plain_only else TEXT_TYPES
    text = value.get("text")
    if kind not in allowed or not isinstance(text, str) or not 1 <= len(text) <= limit:
        raise SlackError("invalid_blocks")
