"""Delivery of rendered messages: a Slack incoming webhook and an SMTP sender.

Rendering lives in `core/render.py`; these two only deliver, so a failed delivery can be retried
without rebuilding anything. Every failure is a `NotifyError` whose text is safe to log: the
webhook URL (a secret: whoever holds it can post to the channel) and the SMTP password never
appear in it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
)

from engagement_ranker.clients.http import keep_out_of_logs, redact, tls
from engagement_ranker.constants import HTTP_TIMEOUT_SECONDS, Env
from engagement_ranker.core.render import InlineImage

# Slack asks for a pause with 429 + Retry-After (seconds); waiting longer than this in total
# would hold the run for nothing, so the post fails and `slack_summary` can be retried later.
SLACK_MAX_RETRY_WAIT_SECONDS = 60.0
SLACK_DEFAULT_RETRY_AFTER_SECONDS = 1.0
# 5xx and refused connections mean the message was not posted: safe to try again.
SLACK_ATTEMPTS = 3
SLACK_BACKOFF_SECONDS = 0.5
# Slack's error bodies are short codes ("invalid_blocks"); cap what we quote of anything else.
ERROR_BODY_MAX_CHARS = 300

StartTls = bool | Literal["auto"]


class NotifyError(Exception):
    """A summary or alert could not be delivered; the text names the channel and the fix."""


class _Retryable(Exception):
    """A post that did not land and may be repeated, after `delay` seconds if Slack said so."""

    def __init__(self, reason: str, delay: float | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


def _retry_after(response: httpx.Response) -> float:
    raw = response.headers.get("Retry-After", "").strip()
    return float(raw) if raw.isdigit() else SLACK_DEFAULT_RETRY_AFTER_SECONDS


def _backoff(state: RetryCallState) -> float:
    """Slack's Retry-After when it gave one, else exponential backoff."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, _Retryable) and error.delay is not None:
        return error.delay
    return SLACK_BACKOFF_SECONDS * 2 ** (state.attempt_number - 1)


class SlackWebhook:
    """Posts Block Kit messages to a Slack incoming webhook, in order, one request each."""

    def __init__(
        self,
        url: str,
        timeout: float = HTTP_TIMEOUT_SECONDS,
        max_retry_wait: float = SLACK_MAX_RETRY_WAIT_SECONDS,
    ) -> None:
        parsed = httpx.URL(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            # The value is a secret: say what is wrong with it, never what it is.
            raise NotifyError(
                f"{Env.SLACK_WEBHOOK_URL} is not an http(s) URL; set it to the incoming "
                "webhook URL from Slack (https://hooks.slack.com/services/...)"
            )
        if timeout <= 0:
            raise NotifyError(f"Slack timeout {timeout!r} must be a positive number of seconds")
        keep_out_of_logs(url)
        self._url = url
        # The path is the secret part, so it is hidden even where the URL is quoted in pieces.
        self._secrets = (url, parsed.raw_path.decode("ascii", "replace"))
        self._timeout = timeout
        self._max_retry_wait = max_retry_wait

    def __repr__(self) -> str:
        return "SlackWebhook(url=<redacted>)"

    def post(self, messages: Sequence[Mapping[str, object]]) -> None:
        """Post every message; on failure say which one and how many were already posted."""
        with httpx.Client(timeout=self._timeout, verify=tls()) as client:
            for index, message in enumerate(messages):
                try:
                    self._post_one(client, message)
                except NotifyError as error:
                    raise NotifyError(
                        f"Slack message {index + 1} of {len(messages)} was not posted "
                        f"({index} posted before it): {error}"
                    ) from None

    def _post_one(self, client: httpx.Client, message: Mapping[str, object]) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            wait=_backoff,
            stop=stop_after_attempt(SLACK_ATTEMPTS) | stop_before_delay(self._max_retry_wait),
            reraise=True,
        )
        try:
            retrying(self._attempt, client, message)
        except _Retryable as error:
            raise NotifyError(
                f"{error.reason}; gave up after {retrying.statistics.get('attempt_number', 1)} "
                f"attempt(s) within the {self._max_retry_wait:g} s retry budget - "
                "check Slack's status and retry the slack_summary step"
            ) from None

    def _attempt(self, client: httpx.Client, message: Mapping[str, object]) -> None:
        try:
            response = client.post(self._url, json=message)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            # The request never reached Slack, so repeating it cannot post twice.
            raise _Retryable(f"could not connect to Slack: {self._redact(error)}", None) from None
        except httpx.HTTPError as error:
            # The request may have arrived (e.g. a read timeout): repeating could post twice.
            raise NotifyError(
                f"Slack did not answer ({type(error).__name__}: {self._redact(error)}); the "
                f"message may or may not have been posted - check the channel before retrying"
            ) from None
        if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
            raise _Retryable("Slack rate-limited the webhook (429)", _retry_after(response))
        if response.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
            raise _Retryable(f"Slack answered {response.status_code}", None)
        if response.status_code != httpx.codes.OK:
            raise NotifyError(
                f"Slack rejected the message with {response.status_code} "
                f"{self._body(response)!r} (404/403/410 mean the webhook was revoked or "
                f"mistyped: check {Env.SLACK_WEBHOOK_URL}; invalid_* means the message broke "
                "a Block Kit rule)"
            )

    def _body(self, response: httpx.Response) -> str:
        return self._redact(response.text.strip()[:ERROR_BODY_MAX_CHARS])

    def _redact(self, text: object) -> str:
        return redact(str(text), self._secrets)


class EmailSender:
    """Sends one multipart/alternative (plain text + HTML) e-mail over SMTP; pictures the HTML
    shows go inline with it (multipart/related, each found by its Content-ID).

    `starttls`: True requires STARTTLS (fails if the server does not offer it), "auto" upgrades
    whenever the server offers it, False never upgrades. Login happens only with a username.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        sender: str,
        recipients: Sequence[str],
        starttls: StartTls = "auto",
        timeout: float = HTTP_TIMEOUT_SECONDS,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if not host:
            raise NotifyError(f"{Env.SMTP_HOST} is empty; set it to the SMTP server's host name")
        if not 0 < port < 2**16:
            raise NotifyError(f"{Env.SMTP_PORT}={port!r} is not a TCP port; use e.g. 587 or 25")
        if "@" not in sender:
            raise NotifyError(
                f"{Env.SMTP_FROM}={sender!r} is not an e-mail address; use e.g. ranker@example.com"
            )
        if not recipients or any("@" not in r for r in recipients):
            raise NotifyError(
                f"{Env.SUMMARY_EMAIL_TO}={','.join(recipients)!r} must list one or more e-mail "
                "addresses, comma-separated"
            )
        if username and not password:
            raise NotifyError(
                f"{Env.SMTP_USERNAME} is set but {Env.SMTP_PASSWORD} is empty; set both or neither"
            )
        if starttls not in (True, False, "auto"):
            raise NotifyError(
                f"{Env.SMTP_STARTTLS}={starttls!r} is not one of true, false, auto; "
                "use auto unless the server needs otherwise"
            )
        self._host = host
        self._port = port
        self._username = username or None
        self._password = password
        self._sender = sender
        self._recipients = tuple(recipients)
        self._starttls = starttls
        self._timeout = timeout
        self._tls_context = tls_context or ssl.create_default_context()

    def __repr__(self) -> str:
        return f"EmailSender(host={self._host!r}, port={self._port}, password=<redacted>)"

    def message(
        self, subject: str, text: str, html: str, images: Sequence[InlineImage] = ()
    ) -> EmailMessage:
        """The e-mail as it will be sent (plain first, so plain-only readers see it)."""
        message = EmailMessage()
        message["Subject"] = " ".join(subject.split())
        message["From"] = self._sender
        message["To"] = ", ".join(self._recipients)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=self._sender.rpartition("@")[2])
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        if images:
            html_part = message.get_body(("html",))
            assert html_part is not None  # the alternative added above
            for image in images:
                html_part.add_related(
                    image.png,
                    maintype="image",
                    subtype="png",
                    cid=f"<{image.cid}>",
                    filename=f"{image.cid.partition('@')[0]}.png",
                    disposition="inline",
                )
        return message

    def send(self, subject: str, text: str, html: str, images: Sequence[InlineImage] = ()) -> None:
        """Deliver to every recipient or raise `NotifyError` saying which step failed."""
        message = self.message(subject, text, html, images)
        where = f"SMTP server {self._host}:{self._port}"
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                smtp.ehlo()
                self._upgrade(smtp, where)
                if self._username:
                    smtp.login(self._username, self._password or "")
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as error:
            raise NotifyError(
                f"{where} refused the login of {self._username!r} "
                f"({error.smtp_code} {self._redact(error.smtp_error)}); check "
                f"{Env.SMTP_USERNAME} and {Env.SMTP_PASSWORD}"
            ) from None
        except smtplib.SMTPRecipientsRefused as error:
            raise NotifyError(
                f"{where} refused every recipient ({', '.join(sorted(error.recipients))}); "
                f"check {Env.SUMMARY_EMAIL_TO}"
            ) from None
        except ssl.SSLError as error:
            raise NotifyError(
                f"TLS with {where} failed ({self._redact(error)}); check the server's "
                f"certificate, or {Env.SMTP_STARTTLS}"
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise NotifyError(
                f"e-mail not sent via {where}: {type(error).__name__}: {self._redact(error)}; "
                f"check {Env.SMTP_HOST}/{Env.SMTP_PORT} and that the server is up"
            ) from None
        if refused:
            raise NotifyError(
                f"{where} accepted the e-mail but refused {', '.join(sorted(refused))}; "
                f"check {Env.SUMMARY_EMAIL_TO}"
            )

    def _upgrade(self, smtp: smtplib.SMTP, where: str) -> None:
        offered = smtp.has_extn("starttls")
        if self._starttls is True and not offered:
            raise NotifyError(
                f"{where} does not offer STARTTLS but {Env.SMTP_STARTTLS} requires it; "
                f"use the server's submission port (usually 587) or set {Env.SMTP_STARTTLS}=auto"
            )
        if offered and self._starttls in (True, "auto"):
            smtp.starttls(context=self._tls_context)
            smtp.ehlo()

    def _redact(self, text: object) -> str:
        cleaned = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return cleaned.replace(self._password, "<redacted>") if self._password else cleaned
