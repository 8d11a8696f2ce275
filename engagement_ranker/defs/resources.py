"""Resources: the environment as a run sees it, parsed once, and the services built from it.

Every variable reaches a run as a `dg.EnvVar`, so the UI shows its name and never its value.
`SettingsResource` parses them all into the one `Settings` model as the run starts: a bad value
fails the run there, in one line per problem, before the first HTTP call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

from engagement_ranker.clients.hubspot import HubSpotClient
from engagement_ranker.clients.notify import EmailSender, NotifyError, SlackWebhook
from engagement_ranker.clients.yobi import WeeklyCounters, YobiClient
from engagement_ranker.constants import (
    ENGAGEMENT_PROPERTIES,
    HTTP_TIMEOUT_SECONDS,
    Env,
)
from engagement_ranker.core.owners import OwnerDigest
from engagement_ranker.core.render import InlineImage, slack_messages
from engagement_ranker.core.render import email as email_parts
from engagement_ranker.core.summary import Alert, Summary
from engagement_ranker.core.tenants import tenant_frame, tenant_ids
from engagement_ranker.core.week import InvalidWeekKey
from engagement_ranker.defs.keys import WEEKLY_METRICS, YOBI_TENANTS
from engagement_ranker.defs.partitions import WeekCalendar, run_week
from engagement_ranker.defs.warehouse import SCHEMA, WarehouseIOManager
from engagement_ranker.settings import (
    EmailSettings,
    Settings,
    SlackSettings,
    StorageSettings,
)

T = TypeVar("T")


class SettingsResource(dg.ConfigurableResource):
    """Every environment variable the product reads (Env), as the run sees it."""

    hubspot_access_token: str | None = None
    hubspot_base_url: str | None = None
    hubspot_tier: str | None = None
    hubspot_api_version: str | None = None
    yobi_email: str | None = None
    yobi_password: str | None = None
    yobi_base_url: str | None = None
    yobi_contract_file: str | None = None
    slack_webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: str | None = None
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    smtp_starttls: str | None = None
    summary_email_to: str | None = None
    job_timezone: str | None = None
    tenant_mapping_overrides_json: str | None = None
    tenant_mapping_overrides_file: str | None = None
    hubspot_company_exclude_filters_json: str | None = None
    internal_yobi_user_email_domains: str | None = None
    generic_email_domains: str | None = None
    engagement_write_mode: str | None = None
    engagement_write_allowlist: str | None = None
    engagement_write_lease_wait_seconds: str | None = None
    mapping_coverage_min: str | None = None
    engagement_duckdb_path: str | None = None
    dagster_ui_url: str | None = None
    alarm_counter_band: str | None = None
    alarm_universe_band: str | None = None
    alarm_mapped_share_band: str | None = None
    alarm_tenant_jump: str | None = None
    alarm_severities: str | None = None
    owner_digests: str | None = None
    owner_digest_fall_places: str | None = None

    _settings: Settings | None = PrivateAttr(default=None)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> SettingsResource:
        """One `EnvVar` per variable set in `environ` (the UI shows names, never values)."""
        return cls(**{name.lower(): dg.EnvVar(name) for name in Env if environ.get(name)})

    def environ(self) -> dict[str, str]:
        """The variables as the run resolved them."""
        return {name: value for name in Env if (value := getattr(self, name.lower())) is not None}

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._settings = Settings.from_env(self.environ())

    @property
    def value(self) -> Settings:
        """The parsed settings (parsed on first use outside a run, e.g. in a test)."""
        if self._settings is None:
            self._settings = Settings.from_env(self.environ())
        return self._settings


class HubSpotResource(dg.ConfigurableResource):
    """HubSpot CRM through the private app token in HUBSPOT_ACCESS_TOKEN."""

    settings: SettingsResource
    timeout_seconds: float = HTTP_TIMEOUT_SECONDS

    _definitions: dict[str, dict[str, Any] | None] | None = PrivateAttr(default=None)

    @contextmanager
    def client(self) -> Iterator[HubSpotClient]:
        with self.settings.value.hubspot.client(self.timeout_seconds) as client:
            yield client

    def engagement_definitions(self, client: HubSpotClient) -> dict[str, dict[str, Any] | None]:
        """Our three properties' definitions, read once per run.

        The definitions check reads them and the writer checks them again before its first
        write, seconds apart in one run. A definition changed in between still stops the write:
        the first batch goes alone, and HubSpot refuses a batch whole.
        """
        if self._definitions is None:
            self._definitions = client.property_definitions(ENGAGEMENT_PROPERTIES)
        return self._definitions


def _tenants(client: YobiClient) -> pd.DataFrame:
    """Yobi's tenants with their locations, as `yobi_tenants` stores them."""
    return tenant_frame(client.tenants(), client.locations())


def _counters(
    dates: tuple[date, ...], tenants: frozenset[int]
) -> Callable[[YobiClient], WeeklyCounters]:
    """The read of one week's counters for exactly `tenants`."""
    return lambda client: client.weekly_counters(dates, tenants=tenants)


@dataclass(frozen=True)
class YobiReads:
    """One run's Yobi reads, started as the run starts: the tenants, then the week's counters
    for exactly those tenants. Each settles with its result (and the warnings seen reading it)
    or with the error that stopped it, which the asset taking it raises as its own."""

    week: tuple[date, ...]
    tenants: Future[tuple[pd.DataFrame, list[str]]] = field(default_factory=Future)
    counters: Future[tuple[frozenset[int], WeeklyCounters, list[str]]] = field(
        default_factory=Future
    )

    def read(self, resource: YobiResource) -> None:
        """Both reads in turn, on a thread of their own (the caller's)."""
        try:
            tenants = resource.read(_tenants)
        except BaseException as error:  # the counters are read for these tenants: none either
            self.tenants.set_exception(error)
            self.counters.set_exception(error)
            return
        self.tenants.set_result(tenants)
        ids = tenant_ids(tenants[0])
        try:
            counters, warnings = resource.read(_counters(self.week, ids))
        except BaseException as error:
            self.counters.set_exception(error)
            return
        self.counters.set_result((ids, counters, warnings))


def _runs_step(run: dg.DagsterRun, key: dg.AssetKey) -> bool:
    """Whether `run` executes the asset's step: its step keys say so when Dagster narrowed
    them down, else its asset selection (none: the whole job)."""
    if run.step_keys_to_execute is not None:
        return key.to_python_identifier() in run.step_keys_to_execute
    return not run.asset_selection or key in run.asset_selection


class YobiResource(dg.ConfigurableResource):
    """Yobi's admin API, logged in as YOBI_EMAIL / YOBI_PASSWORD, once per run.

    A run that materializes both Yobi assets starts reading them as it starts, on a thread of
    its own, while HubSpot's search (paced by its rate limit, mostly waiting) reads the
    universe: at N = 10,000 that is about 9 s of Yobi that would otherwise follow the universe's
    27 s (docs/benchmarks.md). The assets take what was read, as if they had read it.
    """

    settings: SettingsResource
    timeout_seconds: float = HTTP_TIMEOUT_SECONDS

    _client: YobiClient | None = PrivateAttr(default=None)
    _ahead: YobiReads | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.dagster_run
        if run is None or not (_runs_step(run, YOBI_TENANTS) and _runs_step(run, WEEKLY_METRICS)):
            return
        try:
            week = run_week(run)
        except InvalidWeekKey:
            return  # the week's own asset says so, in its words
        if week is None:
            return
        self._ahead = YobiReads(week.dates)
        threading.Thread(
            target=self._ahead.read, args=(self,), name="yobi-reads", daemon=True
        ).start()

    def read(self, what: Callable[[YobiClient], T]) -> tuple[T, list[str]]:
        """What `what` reads through the run's Yobi client (one login serves every Yobi asset
        of the run), and the retries or oddities seen while it read."""
        if self._client is None:
            self._client = self.client()
        before = set(self._client.warnings)
        result = what(self._client)
        return result, [line for line in self._client.warnings if line not in before]

    def tenant_frame(self) -> tuple[pd.DataFrame, list[str]]:
        """Yobi's tenants with their locations (core.tenants.tenant_frame), and the warnings."""
        if self._ahead is not None:
            return self._ahead.tenants.result()
        return self.read(_tenants)

    def weekly_counters(
        self, dates: tuple[date, ...], tenants: frozenset[int]
    ) -> tuple[WeeklyCounters, list[str]]:
        """The week's counters of `tenants`, and the warnings: read ahead when the run read
        these same tenants for this same week, else now."""
        ahead = self._ahead
        if ahead is not None and ahead.week == dates:
            read_for, counters, warnings = ahead.counters.result()
            if read_for == tenants:
                return counters, warnings
        return self.read(_counters(dates, tenants))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        # A run that failed before its Yobi steps does not wait for their reads: the thread
        # is a daemon, and what it still reads is dropped with the client.
        if self._client is not None:
            self._client.close()

    def client(self) -> YobiClient:
        """A new client (the caller closes it)."""
        yobi = self.settings.value.yobi
        return YobiClient(
            email=yobi.email,
            password=yobi.password.get_secret_value(),
            base_url=yobi.base_url,
            timeout=self.timeout_seconds,
            internal_email_domains=sorted(yobi.internal_email_domains),
            contract=yobi.contract,
        )


def _email_sender(email: EmailSettings, recipients: Sequence[str], timeout: float) -> EmailSender:
    assert email.host is not None
    return EmailSender(
        host=email.host,
        port=email.port,
        username=email.username,
        password=None if email.password is None else email.password.get_secret_value(),
        sender=email.from_address,
        recipients=recipients,
        starttls=email.starttls,
        timeout=timeout,
    )


def deliver(
    message: Summary | Alert,
    slack: SlackSettings | None,
    email: EmailSettings | None,
    timeout: float = HTTP_TIMEOUT_SECONDS,
    images: Sequence[InlineImage] = (),
) -> tuple[list[str], list[str]]:
    """Send to every configured channel; one failing does not stop the other. `images` go
    inline in the e-mail (Slack's webhooks take no pictures).

    Returns the channels delivered and the errors (secret-free) of those that failed.
    """
    delivered, errors = [], []
    if slack is not None and slack.webhook_url is not None:
        try:
            SlackWebhook(slack.webhook_url.get_secret_value(), timeout=timeout).post(
                slack_messages(message)
            )
            delivered.append("slack")
        except NotifyError as error:
            errors.append(f"slack: {error}")
    if email is not None and email.configured:
        try:
            _email_sender(email, email.recipients, timeout).send(
                *email_parts(message, images), images=images
            )
            delivered.append("email")
        except NotifyError as error:
            errors.append(f"email: {error}")
    return delivered, errors


class NotifierResource(dg.ConfigurableResource):
    """Slack incoming webhook and SMTP e-mail; either may be unset, both may be set."""

    settings: SettingsResource
    timeout_seconds: float = HTTP_TIMEOUT_SECONDS

    def deliver(
        self, message: Summary | Alert, images: Sequence[InlineImage] = ()
    ) -> tuple[list[str], list[str]]:
        settings = self.settings.value
        return deliver(message, settings.slack, settings.email, self.timeout_seconds, images)

    @property
    def emails_configured(self) -> bool:
        return self.settings.value.email.configured

    def send_digest(self, digest: OwnerDigest) -> str | None:
        """One account manager's digest, to them alone; the error (secret-free) if it failed."""
        email = self.settings.value.email
        assert digest.owner.email is not None
        try:
            _email_sender(email, [digest.owner.email], self.timeout_seconds).send(
                *email_parts(digest)
            )
        except NotifyError as error:
            return f"{digest.owner.name} (owner {digest.owner.owner_id}): {error}"
        return None


def warehouse_path(environ: Mapping[str, str] = os.environ) -> str:
    """The embedded DuckDB file holding every week's tables (ENGAGEMENT_DUCKDB_PATH)."""
    explicit = StorageSettings.from_env(environ).duckdb_path
    # Not "engagement.duckdb": DuckDB names the catalog after the file, clashing with the schema.
    path = explicit or Path(environ.get("DAGSTER_HOME") or ".dagster_home") / "warehouse.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)  # DuckDB creates the file, not its folder
    return str(path)


def build_resources() -> dict[str, object]:
    """Resources wired to the environment; called when the code location loads."""
    database = warehouse_path()
    settings = SettingsResource.from_environment()
    return {
        "settings": settings,
        "hubspot": HubSpotResource(settings=settings),
        "yobi": YobiResource(settings=settings),
        "notifier": NotifierResource(settings=settings),
        "calendar": WeekCalendar(),
        "warehouse_io": WarehouseIOManager(database=database, schema=SCHEMA),
        "warehouse": DuckDBResource(database=database),
    }
