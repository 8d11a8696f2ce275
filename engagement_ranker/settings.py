"""Every setting the product reads from its environment: one typed model, validated once.

Each field names its environment variable, its default and how its text is parsed; a bad
value fails with one line naming the variable, the value (hidden when it is a secret) and the
fix. Every path builds it before its first HTTP call: a run (the `settings` resource, as the
run starts), the CLI and the spike. An alert must go out even when another setting is bad, so
Slack and e-mail can also be loaded on their own (`notification_channels`).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

import httpx
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from engagement_ranker.clients.http import redact
from engagement_ranker.clients.hubspot import HubSpotClient
from engagement_ranker.clients.yobi_contract import BUILT_IN, YobiContract, load_contract
from engagement_ranker.constants import (
    DEFAULT_ALARM_COUNTER_BAND,
    DEFAULT_ALARM_MAPPED_SHARE_BAND,
    DEFAULT_ALARM_TENANT_JUMP,
    DEFAULT_ALARM_UNIVERSE_BAND,
    DEFAULT_HUBSPOT_API_VERSION,
    DEFAULT_HUBSPOT_BASE_URL,
    DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS,
    DEFAULT_MAPPING_COVERAGE_MIN,
    DEFAULT_OWNER_DIGEST_FALL_PLACES,
    DEFAULT_YOBI_BASE_URL,
    HTTP_TIMEOUT_SECONDS,
    HUBSPOT_TIER_LIMITS,
    TIMEZONE,
    Env,
    HubSpotApiVersion,
    WriteMode,
)
from engagement_ranker.core.alarms import (
    DEFAULT_SEVERITIES,
    AlarmSeverity,
    parse_severities,
)
from engagement_ranker.core.anomalies import AnomalyKind
from engagement_ranker.core.identity import (
    Overrides,
    is_record_id,
    parse_generic_domains,
    parse_internal_domains,
    parse_overrides,
)
from engagement_ranker.core.universe import (
    DEFAULT_EXCLUSION_RULES,
    ExclusionRule,
    parse_exclusion_rules,
)

UI_URL_FIX = "the Dagster UI's address, e.g. http://localhost:3000"
DEFAULT_SMTP_PORT = 587
# How long a run waits for another writer of its week before refusing, and the most it may.
DEFAULT_LEASE_WAIT_SECONDS = 120.0
MAX_WAIT_SECONDS = 3600.0


class SettingError(ValueError):
    """One setting's value cannot be used; the message names the variable and the fix."""


class SettingsError(ValueError):
    """Settings that stop a run before it starts: one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def _shown(variable: str, value: str) -> str:
    return f"{variable}={value!r}"


def _web_url(value: object, variable: str, example: str) -> str:
    """A bare http(s) base URL, without a trailing slash, credentials or query."""
    text = str(value)
    try:
        parsed: httpx.URL | None = httpx.URL(text)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise SettingError(f"{_shown(variable, text)} is not an http(s) URL: set it to {example}")
    if text != text.strip() or any(c.isspace() for c in text):
        raise SettingError(
            f"{_shown(variable, text)} contains spaces or a line break: set it to {example}"
        )
    if parsed.userinfo or parsed.query:
        raise SettingError(
            f"{variable} carries credentials or a query string: set it to the bare base URL, "
            f"{example} (secrets belong in their own variables)"
        )
    return text.rstrip("/")


def _secret_text(value: object, variable: str, what: str) -> str:
    """A secret as pasted: never shown, but a stray space or line break is caught here,
    where it is one clear line, rather than as "unauthorized" after a minute of retries."""
    text = str(value)
    if text != text.strip() or "\n" in text or "\r" in text:
        raise SettingError(
            f"{variable} (value hidden) has a leading or trailing space or a line break: set "
            f"it to {what} alone"
        )
    return text


def _validated(parse: Any, variable: Env, *args: Any) -> BeforeValidator:
    """A field's parser, given the raw text and the variable it came from."""
    return BeforeValidator(lambda value: parse(value, variable.value, *args))


def _parse_tier(value: object, variable: str) -> str:
    if value not in HUBSPOT_TIER_LIMITS:
        tiers = ", ".join(f"{t} ({n} requests/10 s)" for t, n in HUBSPOT_TIER_LIMITS.items())
        raise SettingError(f"{_shown(variable, str(value))} is not a HubSpot tier: use {tiers}")
    return str(value)


def _parse_api_version(value: object, variable: str) -> HubSpotApiVersion:
    try:
        return HubSpotApiVersion(str(value).strip().lower())
    except ValueError:
        versions = ", ".join(v.value for v in HubSpotApiVersion)
        raise SettingError(
            f"{_shown(variable, str(value))} is not an API version this job speaks: use one of "
            f"{versions} (legacy: HubSpot's /crm/v3 paths, supported until September 2027)"
        ) from None


def _parse_email(value: object, variable: str) -> str:
    text = str(value)
    if "@" not in text or any(c.isspace() for c in text):
        raise SettingError(
            f"{_shown(variable, text)} is not an e-mail address: set it to e.g. ranker@example.com"
        )
    return text


def _parse_port(value: object, variable: str) -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**16:
        raise SettingError(
            f"{_shown(variable, str(value))} is not a TCP port: set it to the SMTP server's "
            f"port, e.g. {DEFAULT_SMTP_PORT} (STARTTLS) or 465"
        )
    return int(text)


StartTls = bool | Literal["auto"]


# The words a yes/no setting takes (STARTTLS adds "auto").
TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})


def _parse_starttls(value: object, variable: str) -> StartTls:
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise SettingError(
        f"{_shown(variable, str(value))} is not one of auto, true, false: use auto unless "
        "the server needs otherwise"
    )


def _parse_recipients(value: object, variable: str) -> tuple[str, ...]:
    recipients = tuple(r.strip() for r in str(value).split(",") if r.strip())
    bad = [r for r in recipients if "@" not in r or any(c.isspace() for c in r)]
    if bad or not recipients:
        raise SettingError(
            f"{_shown(variable, str(value))} must list e-mail addresses, comma-separated, "
            "e.g. revops@example.com,cs@example.com"
        )
    return recipients


def _parse_domains(value: object, variable: str) -> frozenset[str]:
    parse = (
        parse_generic_domains if variable == Env.GENERIC_EMAIL_DOMAINS else parse_internal_domains
    )
    try:
        return parse(str(value))
    except ValueError as error:
        raise SettingError(str(error)) from None


def _parse_fraction(value: object, variable: str) -> float:
    try:
        fraction = float(str(value))
    except ValueError:
        raise SettingError(
            f"{_shown(variable, str(value))} is not a number: use a share between 0 and 1, e.g. 0.8"
        ) from None
    if not 0.0 <= fraction <= 1.0:
        raise SettingError(f"{_shown(variable, str(value))} is outside 0..1: use e.g. 0.8")
    return fraction


def _parse_seconds(value: object, variable: str) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise SettingError(
            f"{_shown(variable, str(value))} is not a number of seconds between 0 and "
            f"{MAX_WAIT_SECONDS:.0f}: use e.g. {DEFAULT_LEASE_WAIT_SECONDS:.0f}"
        )
    return seconds


def _above(value: object, variable: str, floor: float, what: str) -> float:
    """A finite number above `floor`, else one line naming the variable and `what` to use."""
    try:
        number = float(str(value))
    except ValueError:
        number = float("nan")
    if not floor < number < float("inf"):
        raise SettingError(f"{_shown(variable, str(value))} is not {what}")
    return number


def _parse_band(value: object, variable: str) -> float:
    """A band around a trailing median, as a share of it (0.5 = ±50%)."""
    return _above(
        value, variable, 0, "a share above 0: use e.g. 0.5 for ±50% of the trailing median"
    )


def _parse_factor(value: object, variable: str) -> float:
    """How many times its own median a tenant's activity may reach."""
    return _above(
        value, variable, 1, "a factor above 1: use e.g. 10 (ten times the tenant's own median)"
    )


def _parse_severities(value: object, variable: str) -> dict[AnomalyKind, AlarmSeverity]:
    try:
        return parse_severities(str(value))
    except ValueError as error:
        raise SettingError(str(error)) from None


def _parse_switch(value: object, variable: str) -> bool:
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise SettingError(f"{_shown(variable, str(value))} is not on or off: use true or false")


def _parse_places(value: object, variable: str) -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise SettingError(
            f"{_shown(variable, str(value))} is not a number of places: use a whole number "
            f">= 1, e.g. {DEFAULT_OWNER_DIGEST_FALL_PLACES}"
        )
    return int(text)


def _parse_timezone(value: object, variable: str) -> str:
    if str(value).strip() != TIMEZONE:
        raise SettingError(
            f"{_shown(variable, str(value))} is not supported: the weeks (Dagster partitions "
            f"and schedule) are defined in {TIMEZONE}; unset it or set {TIMEZONE}"
        )
    return TIMEZONE


def parse_write_mode(value: object, variable: str) -> WriteMode:
    """`dry-run` until someone asks for more: nothing is written by default."""
    try:
        return WriteMode(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(mode.value for mode in WriteMode)
        raise SettingError(
            f"{_shown(variable, str(value))} is not a write mode: use one of {allowed}"
        ) from None


def parse_company_ids(value: object, variable: str) -> tuple[str, ...]:
    """HubSpot company ids from a comma-separated string or a list; each ASCII digits."""
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    ids = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if not is_record_id(text):
            raise SettingError(
                f"{variable} entry {text!r} is not a HubSpot company id: list the numeric "
                "record ids, comma-separated (e.g. 5790939450,5790939451)"
            )
        ids.append(text)
    return tuple(dict.fromkeys(ids))


def _parse_rules(value: object, variable: str) -> tuple[ExclusionRule, ...]:
    try:
        return parse_exclusion_rules(str(value))
    except ValueError as error:
        raise SettingError(str(error)) from None


def _parse_overrides(value: object, variable: str) -> Overrides:
    try:
        return parse_overrides(str(value))
    except ValueError as error:
        raise SettingError(str(error)) from None


def _read_overrides(value: object, variable: str) -> Overrides:
    """The overrides JSON from the file the variable names."""
    path = Path(str(value))
    if not path.is_file():
        raise SettingError(
            f"{_shown(variable, str(value))} is not a readable file: point it at a JSON file "
            "or unset it"
        )
    return _parse_overrides(path.read_text(encoding="utf-8"), variable)


def _parse_ui_url(value: object, variable: str) -> str:
    return _web_url(value, variable, UI_URL_FIX)


class SettingsGroup(BaseModel):
    """Settings for one concern, read from environment variables (the fields' aliases)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, arbitrary_types_allowed=True)
    # The settings whose values are secrets: never shown, and hidden from every message.
    SECRETS: ClassVar[tuple[Env, ...]] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        """The group from `environ`; a variable set to blank counts as unset."""
        aliases = {field.alias for field in cls.model_fields.values()}
        given = {k: v for k, v in environ.items() if k in aliases and v.strip()}
        try:
            return cls.model_validate(given)
        except ValidationError as error:
            raise SettingsError(_problems(cls, error, environ)) from None


def _problems(
    group: type[SettingsGroup], error: ValidationError, environ: Mapping[str, str]
) -> list[str]:
    """Our own one-line messages from pydantic's errors, every secret value hidden."""
    secrets = secret_values(environ)
    by_alias = {field.alias: field for field in group.model_fields.values()}
    lines = []
    for item in error.errors():
        cause = (item.get("ctx") or {}).get("error")
        alias = str(item["loc"][0]) if item["loc"] else ""
        if isinstance(cause, SettingError | ValueError) and str(cause):
            line = str(cause)
        elif item["type"] == "missing" and alias in by_alias:
            line = f"{alias} is not set: set it to {by_alias[alias].description}"
        else:
            line = f"{alias or group.__name__}: {item['msg']}"
        lines.append(redact(line, secrets))
    return lines


class HubSpotSettings(SettingsGroup):
    SECRETS = (Env.HUBSPOT_ACCESS_TOKEN,)

    access_token: Annotated[
        SecretStr, _validated(_secret_text, Env.HUBSPOT_ACCESS_TOKEN, "the private app token")
    ] = Field(
        alias=Env.HUBSPOT_ACCESS_TOKEN,
        description="the HubSpot private app's access token (Settings > Integrations > Private "
        "Apps)",
    )
    base_url: Annotated[
        str, _validated(_web_url, Env.HUBSPOT_BASE_URL, DEFAULT_HUBSPOT_BASE_URL)
    ] = Field(DEFAULT_HUBSPOT_BASE_URL, alias=Env.HUBSPOT_BASE_URL)
    tier: Annotated[str, _validated(_parse_tier, Env.HUBSPOT_TIER)] = Field(
        "free", alias=Env.HUBSPOT_TIER
    )
    api_version: Annotated[
        HubSpotApiVersion, _validated(_parse_api_version, Env.HUBSPOT_API_VERSION)
    ] = Field(DEFAULT_HUBSPOT_API_VERSION, alias=Env.HUBSPOT_API_VERSION)

    def client(self, timeout: float = HTTP_TIMEOUT_SECONDS) -> HubSpotClient:
        """A client as these settings describe it (the caller closes it)."""
        return HubSpotClient(
            access_token=self.access_token.get_secret_value(),
            base_url=self.base_url,
            tier=self.tier,
            api_version=self.api_version,
            timeout=timeout,
        )


def _read_contract(value: object, variable: str) -> YobiContract:
    """The Yobi contract in the file the variable names (a spike finding, saved)."""
    try:
        return load_contract(str(value))
    except ValueError as error:
        raise SettingError(f"{variable}: {error}") from None


class YobiSettings(SettingsGroup):
    SECRETS = (Env.YOBI_PASSWORD,)

    email: Annotated[str, _validated(_parse_email, Env.YOBI_EMAIL)] = Field(
        alias=Env.YOBI_EMAIL, description="the Yobi admin account's e-mail address"
    )
    password: Annotated[
        SecretStr, _validated(_secret_text, Env.YOBI_PASSWORD, "the Yobi admin password")
    ] = Field(alias=Env.YOBI_PASSWORD, description="the Yobi admin account's password")
    base_url: Annotated[str, _validated(_web_url, Env.YOBI_BASE_URL, DEFAULT_YOBI_BASE_URL)] = (
        Field(DEFAULT_YOBI_BASE_URL, alias=Env.YOBI_BASE_URL)
    )
    internal_email_domains: Annotated[
        frozenset[str], _validated(_parse_domains, Env.INTERNAL_YOBI_USER_EMAIL_DOMAINS)
    ] = Field(
        frozenset(DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS), alias=Env.INTERNAL_YOBI_USER_EMAIL_DOMAINS
    )
    contract: Annotated[YobiContract, _validated(_read_contract, Env.YOBI_CONTRACT_FILE)] = Field(
        BUILT_IN, alias=Env.YOBI_CONTRACT_FILE
    )


class SlackSettings(SettingsGroup):
    SECRETS = (Env.SLACK_WEBHOOK_URL,)

    webhook_url: Annotated[
        SecretStr | None,
        _validated(_secret_text, Env.SLACK_WEBHOOK_URL, "the incoming webhook URL"),
    ] = Field(None, alias=Env.SLACK_WEBHOOK_URL)

    @model_validator(mode="after")
    def _a_web_url(self) -> Self:
        url = self.webhook_url.get_secret_value() if self.webhook_url else None
        if url is not None and not url.startswith(("https://", "http://")):
            raise SettingError(
                f"{Env.SLACK_WEBHOOK_URL} (value hidden) is not an http(s) URL: set it to the "
                "incoming webhook URL from Slack (https://hooks.slack.com/services/...)"
            )
        return self


class EmailSettings(SettingsGroup):
    SECRETS = (Env.SMTP_PASSWORD,)

    host: str | None = Field(None, alias=Env.SMTP_HOST)
    port: Annotated[int, _validated(_parse_port, Env.SMTP_PORT)] = Field(
        DEFAULT_SMTP_PORT, alias=Env.SMTP_PORT
    )
    username: str | None = Field(None, alias=Env.SMTP_USERNAME)
    password: Annotated[
        SecretStr | None, _validated(_secret_text, Env.SMTP_PASSWORD, "the SMTP password")
    ] = Field(None, alias=Env.SMTP_PASSWORD)
    sender: Annotated[str | None, _validated(_parse_email, Env.SMTP_FROM)] = Field(
        None, alias=Env.SMTP_FROM
    )
    starttls: Annotated[StartTls, _validated(_parse_starttls, Env.SMTP_STARTTLS)] = Field(
        "auto", alias=Env.SMTP_STARTTLS
    )
    recipients: Annotated[tuple[str, ...], _validated(_parse_recipients, Env.SUMMARY_EMAIL_TO)] = (
        Field((), alias=Env.SUMMARY_EMAIL_TO)
    )
    # Opt-in: each account manager (HubSpot owner) gets their own accounts by e-mail.
    owner_digests: Annotated[bool, _validated(_parse_switch, Env.OWNER_DIGESTS)] = Field(
        False, alias=Env.OWNER_DIGESTS
    )
    owner_digest_fall_places: Annotated[
        int, _validated(_parse_places, Env.OWNER_DIGEST_FALL_PLACES)
    ] = Field(DEFAULT_OWNER_DIGEST_FALL_PLACES, alias=Env.OWNER_DIGEST_FALL_PLACES)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.owner_digests and not self.host:
            raise SettingError(
                f"{Env.OWNER_DIGESTS} is on but {Env.SMTP_HOST} is not set: the digests go out "
                f"by e-mail, so set the SMTP variables, or turn {Env.OWNER_DIGESTS} off"
            )
        if bool(self.host) != bool(self.recipients):
            given, missing = (
                (Env.SMTP_HOST, Env.SUMMARY_EMAIL_TO)
                if self.host
                else (Env.SUMMARY_EMAIL_TO, Env.SMTP_HOST)
            )
            raise SettingError(
                f"{given} is set but {missing} is not: set both to send e-mail, or neither"
            )
        if self.username and self.password is None:
            raise SettingError(
                f"{Env.SMTP_USERNAME} is set but {Env.SMTP_PASSWORD} is not: set both or neither"
            )
        return self

    @property
    def configured(self) -> bool:
        return bool(self.host)

    @property
    def from_address(self) -> str:
        return self.sender or f"engagement-ranker@{self.host}"


class RankingSettings(SettingsGroup):
    """Who is ranked and how companies find their tenants."""

    overrides_json: Annotated[
        Overrides | None, _validated(_parse_overrides, Env.TENANT_MAPPING_OVERRIDES_JSON)
    ] = Field(None, alias=Env.TENANT_MAPPING_OVERRIDES_JSON)
    overrides_file: Annotated[
        Overrides | None, _validated(_read_overrides, Env.TENANT_MAPPING_OVERRIDES_FILE)
    ] = Field(None, alias=Env.TENANT_MAPPING_OVERRIDES_FILE)
    exclusion_rules: Annotated[
        tuple[ExclusionRule, ...],
        _validated(_parse_rules, Env.HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON),
    ] = Field(DEFAULT_EXCLUSION_RULES, alias=Env.HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON)
    generic_email_domains: Annotated[
        frozenset[str], _validated(_parse_domains, Env.GENERIC_EMAIL_DOMAINS)
    ] = Field(default_factory=lambda: parse_generic_domains(None), alias=Env.GENERIC_EMAIL_DOMAINS)
    mapping_coverage_min: Annotated[
        float, _validated(_parse_fraction, Env.MAPPING_COVERAGE_MIN)
    ] = Field(DEFAULT_MAPPING_COVERAGE_MIN, alias=Env.MAPPING_COVERAGE_MIN)
    job_timezone: Annotated[str, _validated(_parse_timezone, Env.JOB_TIMEZONE)] = Field(
        TIMEZONE, alias=Env.JOB_TIMEZONE
    )

    @property
    def overrides(self) -> Overrides:
        """TENANT_MAPPING_OVERRIDES_JSON when set, else the file's, else none."""
        return self.overrides_json or self.overrides_file or Overrides.none()

    def unknown_tenants(self, known_tenant_ids: AbstractSet[int]) -> list[str]:
        """One problem per override naming a tenant Yobi does not list (a stale override
        would map to nothing); [] when every override names a known tenant."""
        overrides = (*self.overrides.by_company.items(), *self.overrides.by_domain.items())
        return [
            f"{Env.TENANT_MAPPING_OVERRIDES_JSON} entry {key!r}: tenant id {tenant} is not in "
            "Yobi's tenant list; check the id in Yobi admin or remove the entry"
            for key, tenant in overrides
            if tenant not in known_tenant_ids
        ]


class AlarmSettings(SettingsGroup):
    """How far a week's data may stray from the weeks before it, and which alarms stop the
    write (ALARM_SEVERITIES) rather than warn."""

    counter_band: Annotated[float, _validated(_parse_band, Env.ALARM_COUNTER_BAND)] = Field(
        DEFAULT_ALARM_COUNTER_BAND, alias=Env.ALARM_COUNTER_BAND
    )
    universe_band: Annotated[float, _validated(_parse_band, Env.ALARM_UNIVERSE_BAND)] = Field(
        DEFAULT_ALARM_UNIVERSE_BAND, alias=Env.ALARM_UNIVERSE_BAND
    )
    mapped_share_band: Annotated[float, _validated(_parse_band, Env.ALARM_MAPPED_SHARE_BAND)] = (
        Field(DEFAULT_ALARM_MAPPED_SHARE_BAND, alias=Env.ALARM_MAPPED_SHARE_BAND)
    )
    tenant_jump: Annotated[float, _validated(_parse_factor, Env.ALARM_TENANT_JUMP)] = Field(
        DEFAULT_ALARM_TENANT_JUMP, alias=Env.ALARM_TENANT_JUMP
    )
    severities: Annotated[
        dict[AnomalyKind, AlarmSeverity], _validated(_parse_severities, Env.ALARM_SEVERITIES)
    ] = Field(default_factory=lambda: dict(DEFAULT_SEVERITIES), alias=Env.ALARM_SEVERITIES)


class WriteSettings(SettingsGroup):
    """How far a run may write unless its own config says otherwise."""

    mode: Annotated[WriteMode, _validated(parse_write_mode, Env.ENGAGEMENT_WRITE_MODE)] = Field(
        WriteMode.DRY_RUN, alias=Env.ENGAGEMENT_WRITE_MODE
    )
    allowlist: Annotated[
        tuple[str, ...], _validated(parse_company_ids, Env.ENGAGEMENT_WRITE_ALLOWLIST)
    ] = Field((), alias=Env.ENGAGEMENT_WRITE_ALLOWLIST)
    lease_wait_seconds: Annotated[
        float, _validated(_parse_seconds, Env.ENGAGEMENT_WRITE_LEASE_WAIT_SECONDS)
    ] = Field(DEFAULT_LEASE_WAIT_SECONDS, alias=Env.ENGAGEMENT_WRITE_LEASE_WAIT_SECONDS)


class LinkSettings(SettingsGroup):
    """Where people follow a message to: the run's page in the Dagster UI."""

    dagster_ui_url: Annotated[str | None, _validated(_parse_ui_url, Env.DAGSTER_UI_URL)] = Field(
        None, alias=Env.DAGSTER_UI_URL
    )

    def run_url(self, run_id: str) -> str | None:
        return None if self.dagster_ui_url is None else f"{self.dagster_ui_url}/runs/{run_id}"


class StorageSettings(SettingsGroup):
    """Where the warehouse keeps every week's tables (read when the code location loads)."""

    duckdb_path: Path | None = Field(None, alias=Env.ENGAGEMENT_DUCKDB_PATH)


GROUPS: tuple[type[SettingsGroup], ...] = (
    HubSpotSettings,
    YobiSettings,
    SlackSettings,
    EmailSettings,
    RankingSettings,
    AlarmSettings,
    WriteSettings,
    LinkSettings,
    StorageSettings,
)
SECRET_VARIABLES: tuple[Env, ...] = tuple(name for group in GROUPS for name in group.SECRETS)


class Settings(BaseModel):
    """Every setting, parsed: built once per run, CLI command or spike."""

    model_config = ConfigDict(frozen=True)

    hubspot: HubSpotSettings
    yobi: YobiSettings
    slack: SlackSettings
    email: EmailSettings
    ranking: RankingSettings
    alarms: AlarmSettings
    write: WriteSettings
    links: LinkSettings
    storage: StorageSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """All groups from `environ`; SettingsError lists every problem, one line each."""
        groups: dict[str, SettingsGroup] = {}
        problems = misplaced_secrets(environ)
        for name, field in cls.model_fields.items():
            group = field.annotation
            assert isinstance(group, type) and issubclass(group, SettingsGroup)
            try:
                groups[name] = group.from_env(environ)
            except SettingsError as error:
                problems += error.problems
        if problems:
            raise SettingsError(problems)
        return cls(**groups)

    def secrets(self) -> tuple[str, ...]:
        """Every configured secret value, for redacting text that might quote one."""
        values = (
            self.hubspot.access_token,
            self.yobi.password,
            self.slack.webhook_url,
            self.email.password,
        )
        return tuple(v.get_secret_value() for v in values if v is not None)


def notification_channels(
    environ: Mapping[str, str],
) -> tuple[SlackSettings | None, EmailSettings | None, list[str]]:
    """Slack and e-mail, each on its own: a bad value in one (or anywhere else) never
    silences the other. Returns the usable channels and the problems of the others (a
    channel whose variable holds another's secret is never contacted)."""
    misplaced = misplaced_secrets(environ)
    problems: list[str] = []
    channels: list[SettingsGroup | None] = []
    for group in (SlackSettings, EmailSettings):
        aliases = {field.alias for field in group.model_fields.values()}
        own = [line for line in misplaced if line.split(" ", 1)[0] in aliases]
        try:
            channels.append(None if own else group.from_env(environ))
        except SettingsError as error:
            problems += error.problems
            channels.append(None)
        problems += own
    slack, email = channels
    assert slack is None or isinstance(slack, SlackSettings)
    assert email is None or isinstance(email, EmailSettings)
    return slack, email, problems


def run_url(environ: Mapping[str, str], run_id: str) -> str | None:
    """The run's page for an alert; no link when DAGSTER_UI_URL is unset or unusable."""
    try:
        return LinkSettings.from_env(environ).run_url(run_id)
    except SettingsError:
        return None


# Shorter values could occur in ordinary settings by chance; real secrets are longer.
SECRET_MIN_CHARS = 8


def misplaced_secrets(environ: Mapping[str, str]) -> list[str]:
    """A secret's value pasted into another variable (a URL, a host) would be shown wherever
    that variable is: refuse it, naming both variables but neither value."""
    problems = []
    for name in Env:
        value = environ.get(name) or ""
        if name in SECRET_VARIABLES or not value:
            continue
        for secret in SECRET_VARIABLES:
            held = (environ.get(secret) or "").strip()
            if len(held) >= SECRET_MIN_CHARS and held in value:
                problems.append(
                    f"{name} (value hidden) holds the value of {secret}, a secret: set {name} "
                    "to its own value and keep the secret in its own variable"
                )
    return problems


def secret_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The configured secrets' values, to hide from any text that might quote one."""
    return tuple(value for name in SECRET_VARIABLES if (value := environ.get(name)))
