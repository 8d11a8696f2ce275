"""The summary and the failure alerts through Dagster, to the sandbox's Slack receiver (which
enforces Block Kit's limits) and its SMTP server: week and mode in every channel, hostile
names escaped, the real `failure_alert` sensor on real failed runs, and a notification outage
that fails only `slack_summary`, which then resends alone without touching HubSpot."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import dagster as dg
import pytest

from engagement_ranker.clients.notify import SlackWebhook
from engagement_ranker.constants import (
    ENGAGEMENT_PROPERTIES,
    HUBSPOT_BATCH_UPDATE_MAX,
    PROP_SCORE,
    Env,
    MatchMethod,
)
from engagement_ranker.core.render import slack_messages
from engagement_ranker.core.week import Week, parse_week_key
from engagement_ranker.definitions import build_definitions
from engagement_ranker.defs.alerts import WRITEBACK_STEP, failure_alert
from engagement_ranker.defs.partitions import latest_week_key
from engagement_ranker.sandbox import Sandbox
from engagement_ranker.sandbox.slack import WEBHOOK_ROUTE
from engagement_ranker_tests.core.test_render import HOSTILE, huge_summary, texts
from engagement_ranker_tests.defs.conftest import Harness
from engagement_ranker_tests.examples import OUTPUT, alert_failed_run, render_examples

UI_URL = "http://dagster.test:3000"
# HOSTILE as the formats must carry it: Slack mrkdwn and HTML escape alike (&, <, >).
ENTITY_ESCAPED = "&lt;!channel&gt; Dental &amp; Co &lt;b&gt;"
MARKDOWN_ESCAPED = r"\<\!channel\> Dental \& Co \<b\>"
# More ranked companies than one HubSpot batch holds, so a write can fail after a batch.
# Enough ranked companies for two HubSpot batches.
MULTI_BATCH_COMPANIES = 150
SUMMARY_STEP = "slack_summary"
CHANNELS = ("slack", "emails")  # SandboxControl's readers of what each channel received
# outage -> (the fault document, the channel it takes down)
OUTAGES = {
    "slack answers 500": (
        {"routes": {f"POST {WEBHOOK_ROUTE}": {"error_rate": 1.0, "error_statuses": [500]}}},
        "slack",
    ),
    "smtp is down": ({"smtp": {"down": True}}, "emails"),
}


def _latest_week() -> Week:
    return parse_week_key(latest_week_key())


def _mrkdwn(message: dict[str, Any]) -> str:
    return "\n".join(texts([message]))


def _rename_domain_matched(harness: Harness) -> set[str]:
    """Give every company matched by its domain the hostile name in the sandbox's HubSpot
    (the domain keeps each one mapped, and ranked, whatever its name)."""
    chosen = {
        company_id
        for company_id, truth in harness.control.truth().items()
        if truth["expected"] == "mapped" and truth["method"] == MatchMethod.DOMAIN
    }
    for company_id in chosen:
        assert harness.control.edit_company(company_id, {"name": HOSTILE})["name"] == HOSTILE
    return chosen


def _failed_steps(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.step_key for event in result.get_step_failure_events()}


# --- the weekly summary ------------------------------------------------------------------


def test_summary_reaches_slack_email_and_the_ui_with_week_mode_and_inert_names(
    harness: Harness,
) -> None:
    harness.setenv(Env.DAGSTER_UI_URL, UI_URL)
    renamed = _rename_domain_matched(harness)

    result = harness.run(mode="full")

    assert result.success
    ranked = harness.ranked()
    assert set(ranked.loc[ranked["name"] == HOSTILE, "company_id"]) == renamed
    week, run_link = _latest_week(), f"{UI_URL}/runs/{result.run_id}"
    written = len(harness.control.writes())
    assert written == len(ranked)

    [message] = harness.control.slack()
    assert week.label in message["blocks"][0]["text"]["text"]
    assert message["blocks"][1]["elements"][0]["text"].startswith("*FULL*")
    slack = _mrkdwn(message)
    assert ENTITY_ESCAPED in slack
    assert "<!" not in slack and "<@" not in slack and HOSTILE not in slack  # pings nobody
    assert f"<{run_link}|" in slack

    [mail] = harness.control.emails()
    assert mail["to"] == [harness.sandbox.env[Env.SUMMARY_EMAIL_TO]]
    assert week.label in mail["subject"] and mail["subject"].endswith("[FULL]")
    assert HOSTILE in mail["text"]  # plain text shows the name as it is
    assert ENTITY_ESCAPED in mail["html"] and HOSTILE not in mail["html"]
    assert f'href="{run_link}"' in mail["html"]

    [materialization] = result.asset_materializations_for_node(SUMMARY_STEP)
    page = materialization.metadata["summary"].value
    assert week.label in page and "**FULL**" in page
    assert f"- **Ranked**: {len(ranked)}" in page and f"- **Written**: {written}" in page
    assert MARKDOWN_ESCAPED in page and HOSTILE not in page


def test_ten_thousand_company_summary_passes_the_slack_receivers_limits(sandbox: Sandbox) -> None:
    messages = slack_messages(huge_summary())

    SlackWebhook(sandbox.env[Env.SLACK_WEBHOOK_URL], timeout=10).post(messages)

    assert sandbox.control.slack() == messages
    assert sandbox.control.requests()["by_service"]["slack"]["statuses"]["200"] == len(messages)


# --- failure alerts ----------------------------------------------------------------------


def test_failure_alert_is_part_of_the_code_location_and_on_by_default() -> None:
    sensor = build_definitions().resolve_sensor_def(failure_alert.name)
    assert isinstance(sensor, dg.RunStatusSensorDefinition)
    assert sensor.default_status is dg.DefaultSensorStatus.RUNNING


# case -> (how the run is made to fail, the failed step, what the alert names as failed (a
# failed check itself, not its asset's check step), a phrase of the error it must quote)
FAILURES = {
    "yobi refuses the login": (
        lambda h: h.control.set_faults({"yobi": {"login_fails": True}}),
        "yobi_tenants",
        "yobi_tenants",
        "check YOBI_EMAIL and YOBI_PASSWORD",
    ),
    "a blocking check blocks the write": (
        lambda h: h.setenv(Env.MAPPING_COVERAGE_MIN, "1.0"),
        "tenant_mapping_checks",
        "tenant_mapping:mapping_coverage",
        "blocking check tenant_mapping:mapping_coverage failed: only",
    ),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_failure_alert_names_week_step_and_that_nothing_was_written(
    harness: Harness, case: str
) -> None:
    make_fail, step, failed, phrase = FAILURES[case]
    harness.setenv(Env.DAGSTER_UI_URL, UI_URL)
    make_fail(harness)
    result = harness.run(mode="full")
    assert not result.success
    assert _failed_steps(result) == {step}
    assert harness.control.slack() == [] and harness.control.emails() == []

    alert_failed_run(harness.instance, result.run_id)

    week, run_link = _latest_week(), f"{UI_URL}/runs/{result.run_id}"
    [message] = harness.control.slack()
    assert message["blocks"][0]["text"]["text"].endswith(f"failed · {week.label}")
    slack = _mrkdwn(message)
    for expected in (f"*Week*\n{week.key}", f"*Step*\n{failed}", phrase, f"<{run_link}|"):
        assert expected in slack
    assert "nothing was written to HubSpot" in slack
    [mail] = harness.control.emails()
    assert week.label in mail["subject"] and mail["subject"].endswith("[FAILED]")
    assert failed in mail["text"] and phrase in mail["text"]
    assert "nothing was written to HubSpot" in mail["text"]
    assert harness.control.writes() == []
    for secret in (Env.YOBI_PASSWORD, Env.HUBSPOT_ACCESS_TOKEN, Env.SLACK_WEBHOOK_URL):
        assert harness.sandbox.env[secret] not in json.dumps([message, mail])


@pytest.mark.parametrize("harness", [MULTI_BATCH_COMPANIES], indirect=True)
def test_failure_alert_says_the_batches_written_were_restored(harness: Harness) -> None:
    seeded = harness.control.companies()
    rejection = {"nth": 2, "code": "INVALID_INTEGER", "property": PROP_SCORE}
    harness.control.set_faults({"hubspot": {"batch_update_rejections": [rejection]}})
    result = harness.run(mode="full")
    assert not result.success
    assert _failed_steps(result) == {WRITEBACK_STEP}
    writes = harness.control.writes()
    batch = [w["company_id"] for w in writes[:HUBSPOT_BATCH_UPDATE_MAX]]
    assert len(set(batch)) == HUBSPOT_BATCH_UPDATE_MAX
    assert [w["company_id"] for w in writes[HUBSPOT_BATCH_UPDATE_MAX:]] == batch  # put back
    companies = harness.control.companies()
    for company_id in batch:  # as before the run (a property cleared by the restore reads "")
        now = companies[company_id]
        assert {p: now[p] or None for p in ENGAGEMENT_PROPERTIES} == {
            p: seeded[company_id][p] or None for p in ENGAGEMENT_PROPERTIES
        }

    alert_failed_run(harness.instance, result.run_id)

    [message] = harness.control.slack()
    slack = _mrkdwn(message)
    assert f"*Step*\n{WRITEBACK_STEP}" in slack
    assert "HubSpot batch update 2 of 2 failed" in slack and "INVALID_INTEGER" in slack
    restored = f"the {HUBSPOT_BATCH_UPDATE_MAX} companies written were restored to their values"
    assert restored in slack
    [mail] = harness.control.emails()
    assert restored in mail["text"]


# --- a notification outage ---------------------------------------------------------------


@pytest.mark.parametrize("outage", sorted(OUTAGES))
def test_notification_outage_fails_only_the_summary_which_resends_alone(
    harness: Harness, outage: str
) -> None:
    fault, down = OUTAGES[outage]
    harness.control.set_faults(fault)

    result = harness.run(mode="full")

    assert not result.success
    assert _failed_steps(result) == {SUMMARY_STEP}
    assert result.asset_materializations_for_node(WRITEBACK_STEP)
    writes = harness.control.writes()
    ranked_ids = harness.ranked()["company_id"]
    assert Counter(w["company_id"] for w in writes) == Counter(ranked_ids)  # each once
    failure = result.failure_data_for_node(SUMMARY_STEP)
    description = failure.user_failure_data.description
    assert "HubSpot was written; re-materialize slack_summary" in description
    assert harness.sandbox.env[Env.SLACK_WEBHOOK_URL] not in description
    received = {channel: getattr(harness.control, channel)() for channel in CHANNELS}
    assert {channel: len(messages) for channel, messages in received.items()} == {
        channel: 0 if channel == down else 1 for channel in CHANNELS
    }  # the other channel still got the summary

    harness.control.set_faults({})
    hubspot_calls = harness.control.requests()["by_service"]["hubspot"]
    retry = harness.run(selection=[SUMMARY_STEP])

    assert retry.success
    assert harness.control.writes() == writes
    assert harness.control.requests()["by_service"]["hubspot"] == hubspot_calls  # not one call
    [resent] = getattr(harness.control, down)()
    assert _latest_week().label in json.dumps(resent, ensure_ascii=False)


# --- the committed examples ----------------------------------------------------------------


def test_committed_examples_are_what_the_product_sends_now() -> None:
    fresh = render_examples()

    committed = {
        path.name: path.read_bytes() if path.suffix == ".png" else path.read_text(encoding="utf-8")
        for path in OUTPUT.iterdir()
    }
    stale = sorted(
        name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name)
    )
    assert not stale, f"docs/examples/ is out of date ({', '.join(stale)}): run `make examples`"
