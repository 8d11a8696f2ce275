"""The one settings model: every variable, its default, its parse and its one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from engagement_ranker.constants import (
    DEFAULT_HUBSPOT_BASE_URL,
    DEFAULT_MAPPING_COVERAGE_MIN,
    Env,
    WriteMode,
)
from engagement_ranker.core.alarms import AlarmSeverity
from engagement_ranker.core.anomalies import AnomalyKind
from engagement_ranker.core.summary import check_run_url
from engagement_ranker.defs.resources import SettingsResource
from engagement_ranker.settings import (
    GROUPS,
    SECRET_VARIABLES,
    Settings,
    SettingsError,
    notification_channels,
    run_url,
)

TOKEN = "pat-na1-11111111-2222-4333-8444-555555555555"
PASSWORD = "correct horse battery staple"
WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
REQUIRED = {
    Env.HUBSPOT_ACCESS_TOKEN: TOKEN,
    Env.YOBI_EMAIL: "ranker@example.com",
    Env.YOBI_PASSWORD: PASSWORD,
}


def _problems(**changes: str) -> list[str]:
    environ = {**REQUIRED, **changes}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    return list(caught.value.problems)


def test_every_variable_has_its_place_in_the_model_and_in_the_resource() -> None:
    aliases = {field.alias for group in GROUPS for field in group.model_fields.values()}
    assert aliases - {None} == set(Env)
    assert set(SettingsResource.model_fields) == {name.lower() for name in Env}


def test_defaults_when_only_the_credentials_are_set() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.hubspot.base_url == DEFAULT_HUBSPOT_BASE_URL
    assert settings.hubspot.tier == "free"
    assert settings.write.mode is WriteMode.DRY_RUN and settings.write.allowlist == ()
    assert settings.ranking.mapping_coverage_min == DEFAULT_MAPPING_COVERAGE_MIN
    assert settings.ranking.overrides.by_company == {}
    assert settings.slack.webhook_url is None and not settings.email.configured
    assert settings.links.run_url("r1") is None
    assert "pat-" not in repr(settings) and PASSWORD not in repr(settings)


def test_alarm_bands_and_severities_default_and_parse() -> None:
    defaults = Settings.from_env(REQUIRED).alarms
    # The documented defaults (README, "Data alarms"), as literals.
    assert (defaults.counter_band, defaults.universe_band) == (0.5, 0.25)
    assert (defaults.mapped_share_band, defaults.tenant_jump) == (0.15, 10)
    assert defaults.severities[AnomalyKind.COUNTER_ALL_ZERO] is AlarmSeverity.ERROR
    assert defaults.severities[AnomalyKind.UNIVERSE_HALVED] is AlarmSeverity.ERROR
    assert defaults.severities[AnomalyKind.COUNTER_SHIFT] is AlarmSeverity.WARN
    tuned = Settings.from_env(
        {
            **REQUIRED,
            Env.ALARM_COUNTER_BAND: "0.3",
            Env.ALARM_TENANT_JUMP: "20",
            Env.ALARM_SEVERITIES: "counter_shift=error, counter_all_zero=WARN",
        }
    ).alarms
    assert tuned.counter_band == 0.3 and tuned.tenant_jump == 20
    assert tuned.severities[AnomalyKind.COUNTER_SHIFT] is AlarmSeverity.ERROR
    assert tuned.severities[AnomalyKind.COUNTER_ALL_ZERO] is AlarmSeverity.WARN
    assert tuned.severities[AnomalyKind.UNIVERSE_HALVED] is AlarmSeverity.ERROR


def test_owner_digests_are_opt_in_and_need_e_mail() -> None:
    email = Settings.from_env(REQUIRED).email
    assert email.owner_digests is False and email.owner_digest_fall_places == 10
    [problem] = _problems(**{Env.OWNER_DIGESTS: "true"})
    assert problem.startswith("OWNER_DIGESTS is on but SMTP_HOST is not set")
    on = Settings.from_env(
        {
            **REQUIRED,
            Env.OWNER_DIGESTS: "on",
            Env.OWNER_DIGEST_FALL_PLACES: "5",
            Env.SMTP_HOST: "mail",
            Env.SUMMARY_EMAIL_TO: "cs@example.com",
        }
    ).email
    assert on.owner_digests is True and on.owner_digest_fall_places == 5


def test_a_blank_variable_counts_as_unset() -> None:
    settings = Settings.from_env({**REQUIRED, Env.SMTP_PORT: "  ", Env.HUBSPOT_TIER: ""})
    assert settings.email.port == 587 and settings.hubspot.tier == "free"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            Env.SMTP_PORT,
            "abc",
            "SMTP_PORT='abc' is not a TCP port: set it to the SMTP server's port",
        ),
        (Env.HUBSPOT_TIER, "gold", "HUBSPOT_TIER='gold' is not a HubSpot tier: use free"),
        (
            Env.ENGAGEMENT_WRITE_MODE,
            "yolo",
            "ENGAGEMENT_WRITE_MODE='yolo' is not a write mode: use one of dry-run, allowlist, full",
        ),
        (
            Env.ENGAGEMENT_WRITE_ALLOWLIST,
            "12,acme",
            "ENGAGEMENT_WRITE_ALLOWLIST entry 'acme' is not a HubSpot company id",
        ),
        (
            Env.ENGAGEMENT_WRITE_ALLOWLIST,
            "12,١٢٣",
            "ENGAGEMENT_WRITE_ALLOWLIST entry '١٢٣' is not a HubSpot company id",
        ),
        (Env.MAPPING_COVERAGE_MIN, "most", "MAPPING_COVERAGE_MIN='most' is not a number"),
        (Env.MAPPING_COVERAGE_MIN, "1.5", "MAPPING_COVERAGE_MIN='1.5' is outside 0..1"),
        (Env.JOB_TIMEZONE, "Europe/Paris", "JOB_TIMEZONE='Europe/Paris' is not supported"),
        (
            Env.DAGSTER_UI_URL,
            "localhost:3000",
            "DAGSTER_UI_URL='localhost:3000' is not an http(s) URL: set it to the Dagster UI's address",
        ),
        (
            Env.HUBSPOT_BASE_URL,
            "api.hubapi.com",
            "HUBSPOT_BASE_URL='api.hubapi.com' is not an http(s) URL",
        ),
        (
            Env.YOBI_BASE_URL,
            "https://user:pw@yobi.test",
            "YOBI_BASE_URL carries credentials or a query string",
        ),
        (Env.SMTP_STARTTLS, "maybe", "SMTP_STARTTLS='maybe' is not one of auto, true, false"),
        (Env.SUMMARY_EMAIL_TO, "nobody", "SUMMARY_EMAIL_TO='nobody' must list e-mail addresses"),
        (Env.GENERIC_EMAIL_DOMAINS, "gmail.com,not a domain!", "GENERIC_EMAIL_DOMAINS entry"),
        (
            Env.TENANT_MAPPING_OVERRIDES_JSON,
            "{not json",
            "TENANT_MAPPING_OVERRIDES_JSON is not valid JSON",
        ),
        (
            Env.TENANT_MAPPING_OVERRIDES_FILE,
            "/nowhere/overrides.json",
            "TENANT_MAPPING_OVERRIDES_FILE='/nowhere/overrides.json' is not a readable file",
        ),
        (
            Env.HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON,
            "[1]",
            "HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON entry 0",
        ),
        (Env.YOBI_EMAIL, "ranker", "YOBI_EMAIL='ranker' is not an e-mail address"),
        (Env.ALARM_COUNTER_BAND, "half", "ALARM_COUNTER_BAND='half' is not a share above 0"),
        (Env.ALARM_UNIVERSE_BAND, "0", "ALARM_UNIVERSE_BAND='0' is not a share above 0"),
        (Env.ALARM_MAPPED_SHARE_BAND, "-1", "ALARM_MAPPED_SHARE_BAND='-1' is not a share"),
        (Env.ALARM_TENANT_JUMP, "1", "ALARM_TENANT_JUMP='1' is not a factor above 1"),
        (
            Env.ALARM_SEVERITIES,
            "tenant_jump",
            "ALARM_SEVERITIES entry 'tenant_jump' is not kind=severity",
        ),
        (Env.ALARM_SEVERITIES, "nonsense=error", "ALARM_SEVERITIES entry 'nonsense=error' names"),
        (
            Env.ALARM_SEVERITIES,
            "tenant_jump=loud",
            "ALARM_SEVERITIES entry 'tenant_jump=loud' has no severity error or warn",
        ),
        (Env.OWNER_DIGESTS, "maybe", "OWNER_DIGESTS='maybe' is not on or off"),
        (
            Env.OWNER_DIGEST_FALL_PLACES,
            "0",
            "OWNER_DIGEST_FALL_PLACES='0' is not a number of places",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable_the_value_and_the_fix(
    variable: Env, value: str, expected: str
) -> None:
    [problem] = _problems(**{variable: value})
    assert problem.startswith(expected), problem
    assert "\n" not in problem


def test_every_problem_is_listed_at_once() -> None:
    problems = _problems(
        **{Env.SMTP_PORT: "abc", Env.ENGAGEMENT_WRITE_MODE: "yolo", Env.JOB_TIMEZONE: "UTC"}
    )
    assert sorted(p.split("=")[0] for p in problems) == [
        "ENGAGEMENT_WRITE_MODE",
        "JOB_TIMEZONE",
        "SMTP_PORT",
    ]


@pytest.mark.parametrize("variable", [Env.HUBSPOT_ACCESS_TOKEN, Env.YOBI_EMAIL, Env.YOBI_PASSWORD])
def test_a_missing_credential_says_what_to_set(variable: Env) -> None:
    environ = {k: v for k, v in REQUIRED.items() if k != variable}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    [problem] = caught.value.problems
    assert problem.startswith(f"{variable} is not set: set it to ")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (Env.HUBSPOT_ACCESS_TOKEN, TOKEN + "\n"),
        (Env.HUBSPOT_ACCESS_TOKEN, " " + TOKEN),
        (Env.YOBI_PASSWORD, PASSWORD + "\r\n"),
        (Env.SLACK_WEBHOOK_URL, WEBHOOK + "\n"),
        (Env.SMTP_PASSWORD, "hunter22\n"),
    ],
)
def test_whitespace_around_a_secret_is_caught_at_start_without_showing_it(
    variable: Env, value: str
) -> None:
    [problem] = _problems(
        **{variable: value, Env.SMTP_USERNAME: "u"}
        if variable == Env.SMTP_PASSWORD
        else {variable: value}
    )
    assert problem.startswith(f"{variable} (value hidden) has a leading or trailing space")
    assert value.strip() not in problem


@pytest.mark.parametrize("secret", SECRET_VARIABLES)
@pytest.mark.parametrize("carrier", [Env.HUBSPOT_BASE_URL, Env.YOBI_BASE_URL, Env.DAGSTER_UI_URL])
def test_a_secret_pasted_into_another_variable_is_never_shown(secret: Env, carrier: Env) -> None:
    values = {
        Env.HUBSPOT_ACCESS_TOKEN: TOKEN,
        Env.YOBI_PASSWORD: "yobi-password-7f3c",
        Env.SLACK_WEBHOOK_URL: WEBHOOK,
        Env.SMTP_PASSWORD: "smtp-password-9a1b",
    }
    environ = {
        **REQUIRED,
        Env.SMTP_USERNAME: "u",
        Env.SMTP_HOST: "mail",
        Env.SUMMARY_EMAIL_TO: "a@b.c",
    }
    environ |= {name: values[name] for name in SECRET_VARIABLES}
    environ[carrier] = values[secret]
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    assert f"{carrier} (value hidden) holds the value of {secret}" in str(caught.value)
    assert values[secret] not in str(caught.value)


def test_overrides_come_from_the_json_else_the_file(tmp_path: Path) -> None:
    file = tmp_path / "overrides.json"
    file.write_text('{"101": 7}', encoding="utf-8")
    from_file = Settings.from_env({**REQUIRED, Env.TENANT_MAPPING_OVERRIDES_FILE: str(file)})
    assert dict(from_file.ranking.overrides.by_company) == {"101": 7}
    both = Settings.from_env(
        {
            **REQUIRED,
            Env.TENANT_MAPPING_OVERRIDES_FILE: str(file),
            Env.TENANT_MAPPING_OVERRIDES_JSON: '{"102": 8}',
        }
    )
    assert dict(both.ranking.overrides.by_company) == {"102": 8}
    assert both.ranking.unknown_tenants({8}) == []
    [unknown] = both.ranking.unknown_tenants({7})
    assert "entry '102': tenant id 8 is not in Yobi's tenant list" in unknown


def test_e_mail_needs_both_a_host_and_recipients() -> None:
    [problem] = _problems(**{Env.SMTP_HOST: "mail.example.com"})
    assert (
        problem
        == "SMTP_HOST is set but SUMMARY_EMAIL_TO is not: set both to send e-mail, or neither"
    )


def test_a_bad_slack_setting_never_silences_e_mail_and_the_other_way_round() -> None:
    email = {Env.SMTP_HOST: "mail.example.com", Env.SUMMARY_EMAIL_TO: "revops@example.com"}
    slack, mail, problems = notification_channels(
        {Env.SLACK_WEBHOOK_URL: WEBHOOK + "\n", **email, Env.SMTP_PORT: "25"}
    )
    assert slack is None and mail is not None and mail.port == 25
    assert problems[0].startswith("SLACK_WEBHOOK_URL (value hidden)")
    slack, mail, problems = notification_channels(
        {Env.SLACK_WEBHOOK_URL: WEBHOOK, **email, Env.SMTP_PORT: "x"}
    )
    assert slack is not None and mail is None and problems[0].startswith("SMTP_PORT='x'")


def test_run_links_need_a_usable_ui_address() -> None:
    assert run_url({Env.DAGSTER_UI_URL: "http://ui:3000/"}, "r1") == "http://ui:3000/runs/r1"
    assert run_url({Env.DAGSTER_UI_URL: "javascript:alert(1)"}, "r1") is None
    assert run_url({}, "r1") is None
    with pytest.raises(ValueError, match="DAGSTER_UI_URL"):
        check_run_url("javascript:alert(1)/runs/abc")
