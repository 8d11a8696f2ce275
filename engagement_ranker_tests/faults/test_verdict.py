"""The matrix's own judgement, on hand-made observations: HubSpot's state, the outcome, the
alert, and the secret search, so a broken judge cannot wave a broken product through."""

from __future__ import annotations

from typing import Any

import pytest

from engagement_ranker.constants import PROP_RANK, PROP_SCORE, PROP_TIER
from engagement_ranker.core.render import PRODUCT
from engagement_ranker_tests.faults.canaries import CREDENTIALS, MARKER, YOBI_TOKEN_HEADER, leaks
from engagement_ranker_tests.faults.model import (
    HubSpotState,
    Observation,
    Outcome,
    Properties,
    Row,
    RunRecord,
)
from engagement_ranker_tests.faults.verdict import (
    alert_problems,
    crash_problems,
    hubspot_state,
    judge,
    observed_outcome,
)

OLD: Properties = {PROP_SCORE: "5", PROP_RANK: "2 out of 2", PROP_TIER: "Bottom 30%"}
RANKED = [
    {"company_id": "1", "score": 9, "rank": 1, "tier": "Top 30%"},
    {"company_id": "2", "score": 4, "rank": 2, "tier": "Bottom 30%"},
]
NEW = {
    "1": {PROP_SCORE: "9", PROP_RANK: "1 out of 2", PROP_TIER: "Top 30%"},
    "2": {PROP_SCORE: "4", PROP_RANK: "2 out of 2", PROP_TIER: "Bottom 30%"},
}
WRITE = {"company_id": "1", "before": {}, "after": {}}


def observe(
    after: dict[str, Properties],
    *,
    success: bool = True,
    writes: tuple[dict[str, Any], ...] = (),
    report: dict[str, Any] | None = None,
    slack: tuple[str, ...] = (),
    statuses: dict[str, int] | None = None,
) -> Observation:
    run = RunRecord(
        success=success,
        report={"ranked": RANKED, "anomalies": [], **(report or {})},
        writes=list(writes),
        status="SUCCESS" if success else "FAILURE",
        failures=[],
    )
    return Observation(
        runs=[run],
        before={"1": OLD, "2": OLD, "3": OLD},
        after={"3": OLD, **after},
        writes=list(writes),
        requests={"statuses": statuses or {"200": 10}},
        slack=[{"text": text} for text in slack],
        emails=[],
        truth={},
        leaks=[],
    )


@pytest.mark.parametrize(
    ("after", "writes", "state"),
    [
        ({"1": OLD, "2": OLD}, (), HubSpotState.UNCHANGED),
        ({"1": OLD, "2": OLD}, (WRITE,), HubSpotState.RESTORED),
        (NEW, (WRITE,), HubSpotState.COMPLETE),
        ({"1": NEW["1"], "2": OLD}, (WRITE,), HubSpotState.PARTIAL),
        ({"1": {**OLD, PROP_SCORE: "9"}, "2": OLD}, (WRITE,), HubSpotState.CORRUPT),
    ],
)
def test_hubspot_state_is_old_or_new_per_company_and_all_or_nothing_overall(
    after: dict[str, Properties], writes: tuple[dict[str, Any], ...], state: HubSpotState
) -> None:
    assert hubspot_state(observe(after, writes=writes))[0] is state


def test_a_company_that_is_not_ranked_must_keep_its_values() -> None:
    touched = {**NEW, "3": NEW["1"]}

    state, detail = hubspot_state(observe(touched, writes=(WRITE,)))

    assert state is HubSpotState.CORRUPT and "company 3" in detail


@pytest.mark.parametrize(
    ("success", "writes", "after", "statuses", "outcome"),
    [
        (True, (WRITE,), NEW, None, Outcome.COMPLETES),
        (True, (WRITE,), NEW, {"200": 9, "429": 1}, Outcome.COMPLETES_AFTER_RETRIES),
        (True, (WRITE,), NEW, {"200": 9, "0": 1}, Outcome.COMPLETES_AFTER_RETRIES),
        (False, (), {"1": OLD, "2": OLD}, None, Outcome.FAILS_BEFORE_WRITE),
        (False, (WRITE,), {"1": OLD, "2": OLD}, None, Outcome.FAILS_AND_RESTORES),
        (False, (WRITE,), NEW, None, Outcome.FAILS_AFTER_WRITE),
        (False, (WRITE,), {"1": NEW["1"], "2": OLD}, None, Outcome.RESTORE_INCOMPLETE),
    ],
)
def test_observed_outcome(
    success: bool,
    writes: tuple[dict[str, Any], ...],
    after: dict[str, Properties],
    statuses: dict[str, int] | None,
    outcome: Outcome,
) -> None:
    obs = observe(after, success=success, writes=writes, statuses=statuses)

    assert observed_outcome(obs, hubspot_state(obs)[0]) == outcome


FAILING = Row(
    "x",
    expect=Outcome.FAILS_BEFORE_WRITE,
    hubspot=HubSpotState.UNCHANGED,
    step="customer_companies",
    error=("HTTP 401", "check HUBSPOT_ACCESS_TOKEN"),
    channel_down="email",
)
ALERT = {
    "step": "customer_companies",
    "error": "HubSpot failed: HTTP 401. Fix: check\nHUBSPOT_ACCESS_TOKEN",
    "delivered": ["slack"],
}


def test_a_failure_alerts_naming_step_cause_and_fix_on_every_working_channel() -> None:
    obs = observe(
        {"1": OLD, "2": OLD},
        success=False,
        report={"alert": ALERT},
        slack=(f"{PRODUCT} failed · week\nstep customer_companies",),
    )

    assert alert_problems(FAILING, obs) == []


@pytest.mark.parametrize(
    ("alert", "slack", "wanted"),
    [
        ({**ALERT, "error": "HTTP 401"}, True, "lacks ['check HUBSPOT_ACCESS_TOKEN']"),
        ({**ALERT, "step": "weekly_metrics"}, True, "names step 'weekly_metrics'"),
        (ALERT, False, "alerts arrived on []"),
        (None, True, "without an alert"),
    ],
)
def test_an_alert_missing_or_vague_is_a_problem(
    alert: dict[str, Any] | None, slack: bool, wanted: str
) -> None:
    messages = (f"{PRODUCT} failed · week\nstep customer_companies",) if slack else ()
    obs = observe({"1": OLD, "2": OLD}, success=False, report={"alert": alert}, slack=messages)

    assert any(wanted in problem for problem in alert_problems(FAILING, obs))


def test_a_success_sends_the_summary_and_no_alert() -> None:
    row = Row("ok", expect=Outcome.COMPLETES, hubspot=HubSpotState.COMPLETE, channel_down="email")

    assert alert_problems(row, observe(NEW, writes=(WRITE,), slack=(f"{PRODUCT} · week",))) == []
    assert alert_problems(row, observe(NEW, writes=(WRITE,))) == ["no summary arrived on ['slack']"]


def test_a_root_cause_outside_the_product_errors_is_a_crash() -> None:
    obs = observe({"1": OLD, "2": OLD}, success=False)
    obs.last.failures = [("a", ["DagsterExecutionStepExecutionError", "AuthError"])]
    assert crash_problems(obs) == []

    obs.last.failures = [("a", ["DagsterExecutionStepExecutionError", "KeyError"])]
    assert crash_problems(obs) == ["step a failed with KeyError (a crash, not a product error)"]


def test_a_verdict_passes_only_when_every_check_does() -> None:
    row = Row("ok", expect=Outcome.COMPLETES, hubspot=HubSpotState.COMPLETE, channel_down="email")
    obs = observe(NEW, writes=(WRITE,), slack=(f"{PRODUCT} · week",))
    assert judge(row, obs).passed

    obs.leaks = ["stderr: HubSpot token"]
    assert judge(row, obs).problems == ["secret leaked to stderr: HubSpot token"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"Bearer {CREDENTIALS.hubspot_token}", ["log: HubSpot token"]),
        (f"https://hooks{CREDENTIALS.slack_webhook_path}".encode(), ["log: Slack webhook path"]),
        (f"token={YOBI_TOKEN_HEADER}.e30.sig", ["log: Yobi session token"]),
        (f"...{MARKER}-smtp-pass", ["log: a piece of a secret"]),
        ("Authorization: Bearer [redacted]", []),
    ],
)
def test_leaks_find_whole_secrets_and_pieces(text: str | bytes, found: list[str]) -> None:
    assert leaks("log", text) == found
