"""Generic HTTP plumbing shared by every client: timeouts, redaction, rate limiting, retries.

Nothing here knows HubSpot or Yobi; the service clients turn its outcomes into typed errors.
"""

from __future__ import annotations

import functools
import logging
import re
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Self

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
# "scheme://user:password@host": the part before "@" is a credential.
_USERINFO = re.compile(r"(//)[^/@\s]+@")
# Shorter "secrets" would redact ordinary words; real tokens and passwords are longer.
_MIN_SECRET_CHARS = 4
# Shapes of secrets that may reach a message even when the caller did not name them.
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+"), rf"\1 {REDACTED}"),
    (re.compile(r"https?://hooks\.slack\.com/\S+"), REDACTED),
    (re.compile(r"\bpat-[a-z0-9]+-[0-9a-f-]{20,}\b"), REDACTED),
    (
        re.compile(r"(?i)(\b(?:access_token|token|password|secret|sig|signature)=)[^&\s]+"),
        rf"\1{REDACTED}",
    ),
    (
        re.compile(r"(?i)(\"(?:password|token|access_token|secret)\"\s*:\s*)\"[^\"]*\""),
        rf'\1"{REDACTED}"',
    ),
)
# Long upstream messages are cut so an error stays readable and cannot smuggle a payload.
DETAIL_MAX_CHARS = 300


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove known secret values and secret-shaped substrings from `text`."""
    for secret in sorted((s for s in secrets if s and len(s) >= _MIN_SECRET_CHARS), key=len)[::-1]:
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class _LogRedaction(logging.Filter):
    """httpx logs every request URL at INFO, and a Slack webhook URL is itself a secret."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secret: str) -> None:
        self._secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            redacted = redact(message, self._secrets)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


_HTTPX_LOG_REDACTION = _LogRedaction()
logging.getLogger("httpx").addFilter(_HTTPX_LOG_REDACTION)


def keep_out_of_logs(secret: str) -> None:
    """Redact a secret that travels in a URL from httpx's request log lines."""
    _HTTPX_LOG_REDACTION.add(secret)


class ClosingClient:
    """Context-manager plumbing for a client that owns an `httpx.Client` as `_http`."""

    _http: httpx.Client

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def shorten(text: str, limit: int = DETAIL_MAX_CHARS) -> str:
    """Cut `text` to `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.cache
def tls() -> ssl.SSLContext:
    """The TLS settings every client of this process shares: httpx's defaults (certifi's CA
    bundle, or SSL_CERT_FILE / SSL_CERT_DIR), built once. Building them loads the CA bundle,
    ~16 ms of CPU that each `httpx.Client()` would spend again (a week's run makes several)."""
    return httpx.create_ssl_context()


def make_timeout(seconds: float) -> httpx.Timeout:
    """One explicit budget for connect, read, write and pool wait; rejects nonsense early."""
    if not seconds > 0:
        raise ValueError(f"HTTP timeout {seconds!r} s is not positive: pass seconds > 0")
    return httpx.Timeout(seconds)


def check_base_url(url: str, variable: str) -> str:
    """Validate a base URL read from `variable`, returning it without a trailing slash."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        shown = _USERINFO.sub(r"\1[redacted]@", redact(str(url)))
        raise ValueError(
            f"{variable}={shown!r} is not an http(s) URL: "
            f"set {variable} to e.g. https://host[:port][/path]"
        )
    if parsed.userinfo:
        raise ValueError(
            f"{variable} carries credentials (user:password@): set {variable} to the bare base "
            "URL (secrets belong in their own variables)"
        )
    if parsed.query:
        raise ValueError(
            f"{variable} carries a query string: set {variable} to the bare base URL "
            "(secrets belong in their own variables)"
        )
    return url.rstrip("/")


class SlidingWindowLimiter:
    """Thread-safe limiter: at most `budget` requests per rolling `window` seconds.

    A slot is held from send until the response arrives and then counts for `window` seconds
    from that moment. The server sees each request somewhere between the two, so no server
    window of `window` seconds can ever hold more than `budget` of ours, whatever the latency.
    Calls made by others on the same budget count once the server's word reveals them
    (`observe_remaining`).
    """

    def __init__(self, budget: int, window: float) -> None:
        if budget < 1 or window <= 0:
            raise ValueError(f"limiter budget {budget} / window {window} s must both be positive")
        self.budget = budget
        self.window = window
        self._done: deque[float] = deque()
        self._others: deque[float] = deque()
        self._raised_at = float("-inf")  # when an answer last raised the others' count
        self._in_flight = 0
        self._ready = threading.Condition()
        self._granted = threading.local()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Wait for room in the window, hold a slot for the duration of one request."""
        with self._ready:
            while True:
                now = time.monotonic()
                self._expire(now)
                if self._in_flight + len(self._done) + len(self._others) < self.budget:
                    break
                # Nothing may free sooner than the oldest completion expires, unless a request
                # in flight ends and expires first: wake on either.
                oldest = [spent[0] for spent in (self._done, self._others) if spent]
                self._ready.wait(min(oldest) + self.window - now if oldest else None)
            self._in_flight += 1
            self._granted.at = time.monotonic()
        try:
            yield
        finally:
            with self._ready:
                self._in_flight -= 1
                self._done.append(time.monotonic())
                self._ready.notify_all()

    def granted_at(self) -> float:
        """When this thread's latest slot was granted: no later than its request was sent, so
        every call of ours that had ended by then was counted before it (`observe_remaining`)."""
        at: float = self._granted.at
        return at

    def observe_remaining(self, remaining: int, sent_at: float) -> None:
        """Take the server's word that a call sent at `sent_at` left `remaining` in its window.

        The server had counted at least that call and ours completed before it was sent;
        whatever else it counted was spent by someone else (another process, another app)
        and counts here as spent just now, so the next calls wait instead of drawing 429s.
        Our calls in flight beside this one may have been counted too, and pass for someone
        else's until an answer counted later shows fewer: a call sent after the answer that
        raised the count bounds the others anew (the newest are kept: they leave last).
        """
        with self._ready:
            now = time.monotonic()
            self._expire(now)
            ours = 1 + sum(1 for done in self._done if done <= sent_at)
            others = max(self.budget - max(remaining, 0) - ours, 0)
            if others > len(self._others):
                self._others.extend([now] * (others - len(self._others)))
                self._raised_at = now
            elif sent_at >= self._raised_at:  # counted after the answer that raised it
                while len(self._others) > others:
                    self._others.popleft()
                self._ready.notify_all()

    def _expire(self, now: float) -> None:
        for spent in (self._done, self._others):
            while spent and spent[0] <= now - self.window:
                spent.popleft()


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for retrying a transient failure: exponential backoff with jitter."""

    attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 10.0
    max_total: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or min(self.initial_wait, self.max_wait, self.max_total) < 0:
            raise ValueError(f"{self!r}: attempts must be >= 1 and the waits >= 0")


DEFAULT_RETRY = RetryPolicy()
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryLog:
    """Counts retries per endpoint and reason, for `client.warnings` (never holds secrets)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def record(self, endpoint: str, reason: str) -> None:
        with self._lock:
            self._counts[endpoint, reason] += 1
        logger.warning("%s %s: %s, retrying", self.service, endpoint, reason)

    def lines(self) -> list[str]:
        """One sorted line per endpoint, e.g. "HubSpot POST /x: 3 retries (HTTP 429 x2, ...)"."""
        with self._lock:
            counts = dict(self._counts)
        by_endpoint: dict[str, list[tuple[str, int]]] = {}
        for (endpoint, reason), n in sorted(counts.items()):
            by_endpoint.setdefault(endpoint, []).append((reason, n))
        return [
            f"{self.service} {endpoint}: {sum(n for _, n in reasons)} retries ("
            + ", ".join(f"{reason} x{n}" for reason, n in reasons)
            + ")"
            for endpoint, reasons in by_endpoint.items()
        ]


class Transient(Exception):
    """One attempt failed in a way worth retrying: a retryable status or a transport error."""

    def __init__(self, reason: str, response: httpx.Response | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.response = response


class RetriesExhausted(Exception):
    """Every allowed attempt failed transiently; `last` is the final failure."""

    def __init__(self, last: Transient, attempts: int, elapsed: float) -> None:
        super().__init__(f"{last.reason} after {attempts} attempts in {elapsed:.1f} s")
        self.last = last
        self.attempts = attempts
        self.elapsed = elapsed

    @property
    def status(self) -> int | None:
        return None if self.last.response is None else self.last.response.status_code


def send_with_retries(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    endpoint: str,
    policy: RetryPolicy,
    log: RetryLog,
    slot: Callable[[], AbstractContextManager[Any]] = nullcontext,
    **request: Any,
) -> httpx.Response:
    """Send one request, retrying timeouts, dropped connections and retryable responses.

    Only for idempotent calls. Each attempt takes its own `slot` (the rate limiter). Returns
    the first non-retryable response; raises `RetriesExhausted` when the policy gives up.
    """

    def attempt() -> httpx.Response:
        with slot():
            try:
                response = client.request(method, path, **request)
            except httpx.TransportError as exc:
                raise Transient(type(exc).__name__) from exc
        if response.status_code in RETRYABLE_STATUSES:
            raise Transient(f"HTTP {response.status_code}", response)
        return response

    def before_sleep(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        log.record(endpoint, failure.reason if isinstance(failure, Transient) else "unknown")

    retrying = Retrying(
        retry=retry_if_exception_type(Transient),
        wait=wait_exponential_jitter(
            initial=policy.initial_wait, max=policy.max_wait, jitter=policy.initial_wait
        ),
        stop=stop_after_attempt(policy.attempts) | stop_before_delay(policy.max_total),
        before_sleep=before_sleep,
        reraise=True,
    )
    started = time.monotonic()
    try:
        return retrying(attempt)
    except Transient as last:
        attempts = retrying.statistics.get("attempt_number", policy.attempts)
        raise RetriesExhausted(last, attempts, time.monotonic() - started) from last
