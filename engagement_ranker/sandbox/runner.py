"""Start and stop the four stand-ins together: a context manager for tests, `serve` for a shell.

`Sandbox(config)` builds the dataset, starts HubSpot (with the `/_sandbox/` control API),
Yobi, Slack and SMTP on 127.0.0.1, and exposes `.env` (exactly what a job needs to point at
them) and `.control`. `serve` does the same in the foreground and prints `export` lines.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engagement_ranker.clients.yobi_contract import BUILT_IN, Trends
from engagement_ranker.constants import HUBSPOT_TIER_LIMITS, TIMEZONE, Env
from engagement_ranker.sandbox.control import SandboxControl
from engagement_ranker.sandbox.dataset import MAX_COMPANIES, build_dataset
from engagement_ranker.sandbox.faults import Faults
from engagement_ranker.sandbox.http import RunningServer, start_server
from engagement_ranker.sandbox.hubspot import start_hubspot_server
from engagement_ranker.sandbox.slack import SlackService
from engagement_ranker.sandbox.smtp import SmtpServer, start_smtp_server
from engagement_ranker.sandbox.state import Credentials, SandboxState
from engagement_ranker.sandbox.yobi import YobiService

SANDBOX_CONTROL_URL = "SANDBOX_CONTROL_URL"
MAX_PORT = 65_535


@dataclass(frozen=True)
class SandboxConfig:
    """How to start the sandbox; `now=None` runs on the real clock, port 0 picks a free port."""

    seed: int = 7
    companies: int = 150
    latency_ms: int = 0
    hubspot_tier: str = "free"
    now: datetime | None = None
    host: str = "127.0.0.1"
    hubspot_port: int = 0
    yobi_port: int = 0
    slack_port: int = 0
    smtp_port: int = 0
    faults: Mapping[str, Any] | None = None  # the fault document (sandbox/faults.py) at start
    # Yobi leaves out days and tenants without activity; `env` then names a contract file
    # (YOBI_CONTRACT_FILE) whose trends are sparse.
    yobi_sparse: bool = False
    yobi_bucket_timezone: str = TIMEZONE  # the zone whose days Yobi's trend buckets are
    credentials: Credentials = field(default_factory=Credentials)
    smtp_from: str = "engagement-ranker@sandbox.test"
    summary_email_to: str = "customer-success@sandbox.test"

    def __post_init__(self) -> None:
        if self.hubspot_tier not in HUBSPOT_TIER_LIMITS:
            raise ValueError(
                f"hubspot_tier is {self.hubspot_tier!r}; use one of {sorted(HUBSPOT_TIER_LIMITS)}"
            )
        if isinstance(self.latency_ms, bool) or not (
            isinstance(self.latency_ms, int) and self.latency_ms >= 0
        ):
            raise ValueError(f"latency_ms is {self.latency_ms!r}; use an integer >= 0")
        if not 1 <= self.companies <= MAX_COMPANIES:
            raise ValueError(f"companies is {self.companies}; use 1 to {MAX_COMPANIES}")
        for name in ("hubspot_port", "yobi_port", "slack_port", "smtp_port"):
            port = getattr(self, name)
            if not 0 <= port <= MAX_PORT:
                raise ValueError(f"{name} is {port}; use 0 (a free port) to {MAX_PORT}")
        try:
            ZoneInfo(self.yobi_bucket_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"yobi_bucket_timezone is {self.yobi_bucket_timezone!r}; use an IANA time "
                f"zone name such as {TIMEZONE} or UTC"
            ) from None
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError(f"now is {self.now.isoformat()}; give a UTC offset, e.g. -05:00")

    def start_faults(self) -> dict[str, Any]:
        """The fault document at start: `faults`, with `latency_ms` unless it sets its own."""
        spec = dict(self.faults or {})
        if self.latency_ms:
            spec.setdefault("latency_ms", self.latency_ms)
        Faults(spec)  # validate before any server starts
        return spec


class Sandbox:
    """The four servers over one dataset and state; use as a context manager."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        now = self.config.now or datetime.now(UTC)
        self.state = SandboxState(
            build_dataset(self.config.seed, self.config.companies, now),
            now=self.config.now,
            faults=self.config.start_faults(),
            credentials=self.config.credentials,
        )
        self.hubspot: RunningServer | None = None
        self.yobi: RunningServer | None = None
        self.slack: RunningServer | None = None
        self.smtp: SmtpServer | None = None
        self._control: SandboxControl | None = None
        self._contract_file: Path | None = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start every server; if one fails, stop the ones already running."""
        config, state = self.config, self.state
        try:
            self.hubspot = start_hubspot_server(
                state, config.host, config.hubspot_port, config.hubspot_tier
            )
            self.yobi = start_server(
                YobiService(state, config.yobi_sparse, config.yobi_bucket_timezone),
                config.host,
                config.yobi_port,
            )
            if config.yobi_sparse:
                self._contract_file = _sparse_contract_file()
            self.slack = start_server(SlackService(state), config.host, config.slack_port)
            self.smtp = start_smtp_server(state, config.host, config.smtp_port)
        except BaseException:
            self.stop()
            raise
        self._control = SandboxControl(self.hubspot.url)

    def stop(self) -> None:
        """Stop every running server (idempotent)."""
        if self._control is not None:
            self._control.close()
            self._control = None
        for server in (self.smtp, self.slack, self.yobi, self.hubspot):
            if server is not None:
                server.shutdown()
        self.hubspot = self.yobi = self.slack = None
        self.smtp = None
        if self._contract_file is not None:
            self._contract_file.unlink(missing_ok=True)
            self._contract_file = None

    @property
    def control(self) -> SandboxControl:
        """The `/_sandbox/` client."""
        if self._control is None:
            raise RuntimeError("the sandbox is not running; use it inside `with Sandbox(...)`")
        return self._control

    @property
    def env(self) -> dict[str, str]:
        """The environment a job needs to run against this sandbox."""
        if self.hubspot is None or self.yobi is None or self.slack is None or self.smtp is None:
            raise RuntimeError("the sandbox is not running; use it inside `with Sandbox(...)`")
        credentials = self.config.credentials
        env = {
            Env.HUBSPOT_BASE_URL: self.hubspot.url,
            Env.HUBSPOT_ACCESS_TOKEN: credentials.hubspot_token,
            Env.HUBSPOT_TIER: self.config.hubspot_tier,
            Env.YOBI_BASE_URL: self.yobi.url,
            Env.YOBI_EMAIL: credentials.yobi_email,
            Env.YOBI_PASSWORD: credentials.yobi_password,
            Env.SLACK_WEBHOOK_URL: self.slack.url + credentials.slack_webhook_path,
            Env.SMTP_HOST: self.smtp.host,
            Env.SMTP_PORT: str(self.smtp.port),
            Env.SMTP_FROM: self.config.smtp_from,
            Env.SMTP_STARTTLS: "false",
            Env.SUMMARY_EMAIL_TO: self.config.summary_email_to,
            Env.TENANT_MAPPING_OVERRIDES_JSON: self.state.dataset.overrides_json,
            SANDBOX_CONTROL_URL: self.hubspot.url,
        }
        if self._contract_file is not None:
            env[Env.YOBI_CONTRACT_FILE] = str(self._contract_file)
        if credentials.smtp_username:
            env[Env.SMTP_USERNAME] = credentials.smtp_username
            env[Env.SMTP_PASSWORD] = credentials.smtp_password or ""
        return {str(key): value for key, value in env.items()}


def _sparse_contract_file() -> Path:
    """A file holding the built-in Yobi contract with every stats endpoint's trends sparse."""
    contract = replace(
        BUILT_IN, stats=tuple(replace(stats, trends=Trends.SPARSE) for stats in BUILT_IN.stats)
    )
    handle, name = tempfile.mkstemp(prefix="sandbox-yobi-contract-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(contract.to_json())
    return Path(name)


def export_lines(env: Mapping[str, str]) -> list[str]:
    """`export KEY=VALUE` lines, shell-quoted, for `eval "$(...)"` or copy-paste."""
    return [f"export {key}={shlex.quote(value)}" for key, value in env.items()]


def serve(config: SandboxConfig, out: TextIO = sys.stdout) -> None:
    """Run the sandbox in the foreground: print the environment, then a blank line, and serve
    until SIGTERM or SIGINT (default handlers restored: they may be inherited as ignored)."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda _signum, _frame: stop.set())
    try:
        with Sandbox(config) as box:
            for line in export_lines(box.env):
                print(line, file=out)
            print("", file=out, flush=True)
            while not stop.wait(1.0):
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
