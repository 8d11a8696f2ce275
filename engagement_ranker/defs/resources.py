"""Resources: every external system and every setting, configured from the environment.

Secrets travel as `dg.EnvVar`, so the UI shows the variable's name and never its value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.tags import PARTITION_NAME_TAG
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from engagement_ranker.clients.hubspot import HubSpotClient
from engagement_ranker.clients.notify import EmailSender, NotifyError, SlackWebhook
from engagement_ranker.clients.yobi import YobiClient
from engagement_ranker.clients.yobi_session import (
    CountersFetch,
    TenantsFetch,
    YobiLogin,
    YobiSession,
    read_counters,
    read_tenants,
)
from engagement_ranker.constants import (
    DEFAULT_HUBSPOT_BASE_URL,
    DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS,
    DEFAULT_MAPPING_COVERAGE_MIN,
    DEFAULT_YOBI_BASE_URL,
    ENGAGEMENT_PROPERTIES,
    HTTP_TIMEOUT_SECONDS,
    TIMEZONE,
    Env,
    WriteMode,
)
from engagement_ranker.core.identity import (
    Overrides,
    parse_generic_domains,
    parse_internal_domains,
    parse_overrides,
)
from engagement_ranker.core.render import email as email_parts
from engagement_ranker.core.render import slack_messages
from engagement_ranker.core.settings import (
    SettingError,
    overrides_text,
    parse_company_ids,
    parse_fraction,
    parse_ui_url,
    parse_write_mode,
)
from engagement_ranker.core.summary import Alert, Summary
from engagement_ranker.core.universe import ExclusionRule, parse_exclusion_rules
from engagement_ranker.core.week import InvalidWeekKey, Week, parse_week_key
from engagement_ranker.defs.warehouse import WarehouseIOManager

WAREHOUSE_SCHEMA = "engagement"
WEEKLY_METRICS_STEP = "weekly_metrics"
YOBI_TENANTS_STEP = "yobi_tenants"


class HubSpotResource(dg.ConfigurableResource):
    """HubSpot CRM through a private app token (HUBSPOT_ACCESS_TOKEN)."""

    access_token: str = Field(description="Private app token; set HUBSPOT_ACCESS_TOKEN.")
    base_url: str = Field(default=DEFAULT_HUBSPOT_BASE_URL, description="HUBSPOT_BASE_URL")
    tier: str = Field(default="free", description="Rate-limit tier: free or pro (HUBSPOT_TIER).")
    timeout_seconds: float = HTTP_TIMEOUT_SECONDS

    _definitions: dict[str, dict[str, Any] | None] | None = PrivateAttr(default=None)

    @contextmanager
    def client(self) -> Iterator[HubSpotClient]:
        with HubSpotClient(
            access_token=self.access_token,
            base_url=self.base_url,
            tier=self.tier,
            timeout=self.timeout_seconds,
        ) as client:
            yield client

    def engagement_definitions(self, client: HubSpotClient) -> dict[str, dict[str, Any] | None]:
        """Our three properties' definitions, read once per run.

        The definitions check reads them and the writer checks them again before its first
        write, seconds apart in one run: three calls of the hundred in HubSpot's window that
        the write needs. A definition changed in between still stops the write: the first
        batch goes alone, and HubSpot refuses a batch whole. A later run reads them afresh.
        """
        if self._definitions is None:
            self._definitions = client.property_definitions(ENGAGEMENT_PROPERTIES)
        return self._definitions


class YobiResource(dg.ConfigurableResource):
    """Yobi's admin API, logged in as YOBI_EMAIL / YOBI_PASSWORD."""

    email: str = Field(description="Admin account; set YOBI_EMAIL.")
    password: str = Field(description="Set YOBI_PASSWORD.")
    base_url: str = Field(default=DEFAULT_YOBI_BASE_URL, description="YOBI_BASE_URL")
    internal_email_domains: str = Field(
        default=",".join(DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS),
        description="Staff e-mail domains whose tasks are not customer activity "
        "(INTERNAL_YOBI_USER_EMAIL_DOMAINS, comma-separated).",
    )
    timeout_seconds: float = HTTP_TIMEOUT_SECONDS

    _session: YobiSession | None = PrivateAttr(default=None)

    def login(self) -> YobiLogin:
        return YobiLogin(
            email=self.email,
            password=self.password,
            base_url=self.base_url,
            timeout=self.timeout_seconds,
            internal_email_domains=parse_internal_domains(self.internal_email_domains),
        )

    def client(self) -> YobiClient:
        return self.login().client()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Start the run's Yobi reads as the run starts, in one session: tenants and
        locations, then the week's counters, each only if the run executes its asset.

        Steps run one at a time in the run's process, and the Yobi assets (seconds of download
        and parsing at scale) need nothing HubSpot reads, so they would otherwise wait for
        HubSpot's paced contact search. The session is a process of its own (see
        clients.yobi_session); the assets take the results, or the errors, as if they had
        read them.
        """
        run = context.dagster_run
        if run is None:
            return
        week = _run_week(run) if runs_step(run, WEEKLY_METRICS_STEP) else None
        tenants = runs_step(run, YOBI_TENANTS_STEP)
        if week is None and not tenants:
            return
        self._session = YobiSession(
            self.login(), tenants=tenants, dates=None if week is None else week.dates
        )

    def tenants(self) -> TenantsFetch:
        """Yobi's tenants and locations (read as the run began, when it did)."""
        started = self._session.take_tenants() if self._session is not None else None
        if started is not None:
            return started.result()
        with self.client() as client:
            return read_tenants(client)

    def weekly_counters(self, week: Week) -> CountersFetch:
        """The week's counters (read as the run began, when it did)."""
        session = self._session
        started = session.take_counters(week.dates) if session is not None else None
        if started is not None:
            return started.result()
        with self.client() as client:
            return read_counters(client, week.dates)


def _run_week(run: dg.DagsterRun) -> Week | None:
    """The week a partitioned run is for; None for a run without one."""
    try:
        return parse_week_key(run.tags.get(PARTITION_NAME_TAG, ""))
    except InvalidWeekKey:
        return None


def runs_step(run: dg.DagsterRun, step_key: str) -> bool:
    """Whether `run` executes the asset's step: its step keys say so when Dagster narrowed
    them down, else its asset selection (empty: the whole job)."""
    if run.step_keys_to_execute is not None:
        return step_key in run.step_keys_to_execute
    return not run.asset_selection or dg.AssetKey(step_key) in run.asset_selection


class RankerSettings(dg.ConfigurableResource):
    """The product's own settings: identity overrides, exclusions, thresholds, write mode."""

    overrides_json: str | None = Field(
        default=None, description="TENANT_MAPPING_OVERRIDES_JSON: {company id or domain: tenant id}"
    )
    overrides_file: str | None = Field(
        default=None, description="TENANT_MAPPING_OVERRIDES_FILE: a file holding that JSON"
    )
    exclude_filters_json: str | None = Field(
        default=None, description="HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON"
    )
    generic_email_domains: str | None = Field(default=None, description="GENERIC_EMAIL_DOMAINS")
    mapping_coverage_min: str | None = Field(default=None, description="MAPPING_COVERAGE_MIN")
    write_mode: str | None = Field(default=None, description="ENGAGEMENT_WRITE_MODE")
    write_allowlist: str | None = Field(default=None, description="ENGAGEMENT_WRITE_ALLOWLIST")
    dagster_ui_url: str | None = Field(default=None, description="DAGSTER_UI_URL, for run links")
    job_timezone: str | None = Field(
        default=None, description="JOB_TIMEZONE: only America/New_York (the partitions') is valid"
    )

    def problems(self) -> list[str]:
        """Every unusable setting at once, so one run start reports them all."""
        checks = (
            self.overrides,
            self.exclusion_rules,
            self.generic_domains,
            self.coverage_min,
            self.default_mode,
            self.default_allowlist,
            self.ui_url,
        )
        found = []
        for check in checks:
            try:
                check()
            except ValueError as error:
                found.append(str(error))
        if self.job_timezone and self.job_timezone.strip() != TIMEZONE:
            found.append(
                f"{Env.JOB_TIMEZONE}={self.job_timezone!r} is not supported: the weeks (Dagster "
                f"partitions and schedule) are defined in {TIMEZONE}; unset it or set {TIMEZONE}"
            )
        return found

    def overrides(self, known_tenant_ids: set[int] | None = None) -> Overrides:
        return parse_overrides(
            overrides_text(self.overrides_json, self.overrides_file), known_tenant_ids
        )

    def exclusion_rules(self) -> tuple[ExclusionRule, ...]:
        return parse_exclusion_rules(self.exclude_filters_json)

    def generic_domains(self) -> frozenset[str]:
        return parse_generic_domains(self.generic_email_domains)

    def coverage_min(self) -> float:
        return parse_fraction(
            self.mapping_coverage_min, DEFAULT_MAPPING_COVERAGE_MIN, Env.MAPPING_COVERAGE_MIN
        )

    def default_mode(self) -> WriteMode:
        return parse_write_mode(self.write_mode)

    def default_allowlist(self) -> tuple[str, ...]:
        return parse_company_ids(self.write_allowlist)

    def ui_url(self) -> str | None:
        return parse_ui_url(self.dagster_ui_url)

    def run_url(self, run_id: str) -> str | None:
        """The run's page in the UI; None without a usable DAGSTER_UI_URL (a bad one fails
        the run at its start, and that run's alert must still go out, without a link)."""
        try:
            ui_url = self.ui_url()
        except SettingError:
            return None
        return None if ui_url is None else f"{ui_url.rstrip('/')}/runs/{run_id}"


class NotifierResource(dg.ConfigurableResource):
    """Slack incoming webhook and SMTP e-mail; either may be unset, both may be set."""

    slack_webhook_url: str | None = Field(default=None, description="SLACK_WEBHOOK_URL")
    smtp_host: str | None = Field(default=None, description="SMTP_HOST")
    smtp_port: int = Field(default=587, description="SMTP_PORT")
    smtp_username: str | None = Field(default=None, description="SMTP_USERNAME")
    smtp_password: str | None = Field(default=None, description="SMTP_PASSWORD")
    smtp_from: str | None = Field(default=None, description="SMTP_FROM")
    smtp_starttls: str = Field(default="auto", description="SMTP_STARTTLS: auto, true or false")
    email_to: str | None = Field(default=None, description="SUMMARY_EMAIL_TO, comma-separated")
    timeout_seconds: float = HTTP_TIMEOUT_SECONDS

    def slack(self) -> SlackWebhook | None:
        if not self.slack_webhook_url:
            return None
        return SlackWebhook(self.slack_webhook_url, timeout=self.timeout_seconds)

    def email(self) -> EmailSender | None:
        recipients = [r.strip() for r in (self.email_to or "").split(",") if r.strip()]
        if not self.smtp_host or not recipients:
            return None
        starttls = self.smtp_starttls.strip().lower()
        return EmailSender(
            host=self.smtp_host,
            port=self.smtp_port,
            username=self.smtp_username,
            password=self.smtp_password,
            sender=self.smtp_from or f"engagement-ranker@{self.smtp_host}",
            recipients=recipients,
            starttls=starttls if starttls == "auto" else starttls in {"1", "true", "yes"},
            timeout=self.timeout_seconds,
        )

    def deliver(self, message: Summary | Alert) -> tuple[list[str], list[str]]:
        """Send to every configured channel; one failing does not stop the other.

        Returns the channels delivered and the errors (secret-free) of those that failed.
        """
        delivered, errors = [], []
        slack, mailer = self.slack(), self.email()
        if slack is not None:
            try:
                slack.post(slack_messages(message))
                delivered.append("slack")
            except NotifyError as error:
                errors.append(f"slack: {error}")
        if mailer is not None:
            try:
                mailer.send(*email_parts(message))
                delivered.append("email")
            except NotifyError as error:
                errors.append(f"email: {error}")
        return delivered, errors


def _env(name: str, default: str | None = None) -> str | dg.EnvVar | None:
    """An EnvVar when the variable is set, else the default, so optional settings stay optional."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def warehouse_path() -> str:
    """The embedded DuckDB file holding every week's tables (ENGAGEMENT_DUCKDB_PATH)."""
    explicit = os.environ.get(Env.ENGAGEMENT_DUCKDB_PATH)
    if explicit:
        return explicit
    home = Path(os.environ.get("DAGSTER_HOME") or ".dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    # Not "engagement.duckdb": DuckDB names the catalog after the file, clashing with the schema.
    return str(home / "warehouse.duckdb")


def build_resources() -> dict[str, object]:
    """Resources wired to the environment; called when the code location loads."""
    database = warehouse_path()
    return {
        "hubspot": HubSpotResource(
            access_token=dg.EnvVar(Env.HUBSPOT_ACCESS_TOKEN),
            base_url=_env(Env.HUBSPOT_BASE_URL, DEFAULT_HUBSPOT_BASE_URL),
            tier=_env(Env.HUBSPOT_TIER, "free"),
        ),
        "yobi": YobiResource(
            email=dg.EnvVar(Env.YOBI_EMAIL),
            password=dg.EnvVar(Env.YOBI_PASSWORD),
            base_url=_env(Env.YOBI_BASE_URL, DEFAULT_YOBI_BASE_URL),
            internal_email_domains=_env(
                Env.INTERNAL_YOBI_USER_EMAIL_DOMAINS, ",".join(DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS)
            ),
        ),
        "settings": RankerSettings(
            overrides_json=_env(Env.TENANT_MAPPING_OVERRIDES_JSON),
            overrides_file=_env(Env.TENANT_MAPPING_OVERRIDES_FILE),
            exclude_filters_json=_env(Env.HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON),
            generic_email_domains=_env(Env.GENERIC_EMAIL_DOMAINS),
            mapping_coverage_min=_env(Env.MAPPING_COVERAGE_MIN),
            write_mode=_env(Env.ENGAGEMENT_WRITE_MODE),
            write_allowlist=_env(Env.ENGAGEMENT_WRITE_ALLOWLIST),
            dagster_ui_url=_env(Env.DAGSTER_UI_URL),
            job_timezone=_env(Env.JOB_TIMEZONE),
        ),
        "notifier": NotifierResource(
            slack_webhook_url=_env(Env.SLACK_WEBHOOK_URL),
            smtp_host=_env(Env.SMTP_HOST),
            smtp_port=dg.EnvVar.int(Env.SMTP_PORT) if os.environ.get(Env.SMTP_PORT) else 587,
            smtp_username=_env(Env.SMTP_USERNAME),
            smtp_password=_env(Env.SMTP_PASSWORD),
            smtp_from=_env(Env.SMTP_FROM),
            smtp_starttls=_env(Env.SMTP_STARTTLS, "auto"),
            email_to=_env(Env.SUMMARY_EMAIL_TO),
        ),
        "warehouse_io": WarehouseIOManager(database=database, schema=WAREHOUSE_SCHEMA),
        "warehouse": DuckDBResource(database=database),
    }
