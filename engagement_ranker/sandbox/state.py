"""The sandbox's shared, mutable world: records, clock, faults and every log the tests read.

All four servers read and write one `SandboxState` under one re-entrant lock, so a test sees
a consistent picture (a write and its log entry appear together) and `reset()` restores the
seeded world between tests without restarting servers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from engagement_ranker.sandbox.dataset import Dataset, hubspot_timestamp
from engagement_ranker.sandbox.faults import Faults

# Status recorded for requests that got no HTTP response (dropped or stalled on purpose).
NO_RESPONSE = 0
ALWAYS_REPORTED_STATUSES: tuple[str, ...] = ("200", "429")


@dataclass(frozen=True)
class Credentials:
    """The secrets the sandbox accepts: fixed, recognizable defaults, overridable per test."""

    hubspot_token: str = "pat-sandbox-na1-5a7d0c1e-0000-4000-8000-sandbox00001"
    yobi_email: str = "ranker@sandbox-customer.test"
    yobi_password: str = "yobi-sandbox-password-7f3c"
    slack_webhook_path: str = "/services/TSANDBOX00/BSANDBOX00/sandboxWebhookSecret00"
    # SMTP AUTH is required (before MAIL) only when a username is set.
    smtp_username: str | None = None
    smtp_password: str | None = None


class SandboxState:
    """Everything the sandbox servers share; every method is thread-safe."""

    def __init__(
        self,
        dataset: Dataset,
        now: datetime | None = None,
        faults: Mapping[str, Any] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        if now is not None and now.tzinfo is None:
            raise ValueError(f"sandbox now {now!r} is naive; give a timezone-aware datetime")
        self.lock = threading.RLock()
        self.dataset = dataset
        self.credentials = credentials or Credentials()
        self._initial_faults = dict(faults or {})
        self.faults = Faults(self._initial_faults)
        self._start = now
        self._started = time.monotonic()
        self._reset_hooks: list[Callable[[], None]] = []
        self.companies: dict[str, dict[str, str | None]] = {}
        self.contacts: dict[str, dict[str, str | None]] = {}
        self.writes: list[dict[str, Any]] = []
        self.slack_messages: list[dict[str, Any]] = []
        self.emails: list[dict[str, Any]] = []
        self._counts: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._by_service: dict[str, tuple[Counter[str], Counter[str]]] = {}
        # Wall-clock (epoch) times of the first request's arrival and the last answer, so a
        # benchmark can tell a run's fixed cost before and after its HTTP traffic.
        self._first_request_at: float | None = None
        self._last_response_at: float | None = None
        self._restore()

    def clock(self) -> datetime:
        """The sandbox's "now": the configured instant ticking in real time, else real now."""
        if self._start is None:
            return datetime.now(UTC)
        return self._start + timedelta(seconds=time.monotonic() - self._started)

    def set_faults(self, spec: Mapping[str, Any] | None) -> None:
        """Replace the whole fault document (None or {} clears); counters start afresh."""
        faults = Faults(spec)
        with self.lock:
            self.faults = faults

    def on_reset(self, hook: Callable[[], None]) -> None:
        """Let a server drop its own derived state (caches, index lag) when the world resets."""
        with self.lock:
            self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Back to the seeded world: records restored, logs and messages cleared, and the
        faults back to those given at start (none, unless the sandbox started with some)."""
        with self.lock:
            self.faults = Faults(self._initial_faults)
            self._restore()
            for hook in self._reset_hooks:
                hook()

    def _restore(self) -> None:
        self.companies = {cid: dict(p) for cid, p in self.dataset.companies.items()}
        self.contacts = {cid: dict(p) for cid, p in self.dataset.contacts.items()}
        self.writes = []
        self.slack_messages = []
        self.emails = []
        self._counts = Counter()
        self._statuses = Counter()
        self._by_service = {}
        self._first_request_at = None
        self._last_response_at = None

    def arrived(self) -> None:
        """Note a request's arrival (the first one's time is kept)."""
        with self.lock:
            if self._first_request_at is None:
                self._first_request_at = time.time()

    def record(self, service: str, route: str, status: int) -> None:
        """Log one request: `route` is "METHOD /path/template"; status 0 = no response sent."""
        with self.lock:
            self._last_response_at = time.time()
            counts, statuses = self._by_service.setdefault(service, (Counter(), Counter()))
            for by_route, by_status in ((self._counts, self._statuses), (counts, statuses)):
                by_route[route] += 1
                by_status[str(status)] += 1

    def requests_summary(self) -> dict[str, Any]:
        """Request counts by route and by status, overall and per service."""
        with self.lock:
            return {
                "counts": dict(sorted(self._counts.items())),
                "statuses": _statuses(self._statuses),
                "first_request_at": self._first_request_at,
                "last_response_at": self._last_response_at,
                "by_service": {
                    service: {"counts": dict(sorted(c.items())), "statuses": _statuses(s)}
                    for service, (c, s) in sorted(self._by_service.items())
                },
            }

    def record_write(
        self,
        company_id: str,
        before: Mapping[str, str | None],
        after: Mapping[str, str | None],
    ) -> None:
        """Log one applied HubSpot company write with the values it replaced."""
        with self.lock:
            self.writes.append(
                {
                    "company_id": company_id,
                    "before": dict(before),
                    "after": dict(after),
                    "at": hubspot_timestamp(self.clock()),
                }
            )

    def add_slack_message(self, message: Mapping[str, Any]) -> None:
        """Store one accepted Slack webhook payload."""
        with self.lock:
            self.slack_messages.append(dict(message))

    def add_email(self, email: Mapping[str, Any]) -> None:
        """Store one accepted e-mail: to, from, subject, text, html."""
        with self.lock:
            self.emails.append(dict(email))

    def property_definition(self, name: str) -> dict[str, Any] | None:
        """A company property definition as HubSpot would serve it now (faults applied)."""
        with self.lock:
            faults = self.faults
        return faults.property_definition(name, self.dataset.company_property_definitions.get(name))


def _statuses(counter: Counter[str]) -> dict[str, int]:
    result = {status: 0 for status in ALWAYS_REPORTED_STATUSES}
    result.update(counter)
    return dict(sorted(result.items()))
