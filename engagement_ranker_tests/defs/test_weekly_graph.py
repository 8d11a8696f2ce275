"""The weekly graph end to end against the sandbox: writes, modes, history, and the gate."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from engagement_ranker.constants import (
    DEFAULT_HUBSPOT_API_VERSION,
    ENGAGEMENT_PROPERTIES,
    HUBSPOT_BATCH_UPDATE_MAX,
    HUBSPOT_ROUTES,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
    Env,
    HubSpotOperation,
)
from engagement_ranker.definitions import code_location
from engagement_ranker.defs.alerts import error_text
from engagement_ranker.defs.checks import ALL_CHECKS
from engagement_ranker.defs.gate import guarding_checks
from engagement_ranker.defs.keys import HUBSPOT_WRITEBACK
from engagement_ranker.defs.partitions import weekly_partitions
from engagement_ranker.settings import run_url
from engagement_ranker_tests.defs.conftest import Harness, check_results

PREVIOUS_WEEK = weekly_partitions.get_partition_keys()[-2]
# Enough companies for five update batches, so that several are in flight at once.
MANY_BATCH_COMPANIES = 560


def _written_ids(harness: Harness) -> list[str]:
    return [w["company_id"] for w in harness.control.writes()]


def test_full_week_writes_each_ranked_company_once_and_reads_back(harness: Harness) -> None:
    result = harness.run(mode="full")

    assert result.success
    checks = check_results(result)
    assert len(checks) == sum(len(c.check_specs) for c in ALL_CHECKS)
    assert all(checks.values()), checks
    ranked = harness.ranked()
    written = _written_ids(harness)
    assert sorted(written, key=int) == sorted(ranked["company_id"], key=int)
    companies = harness.control.companies()
    for row in ranked.itertuples(index=False):
        properties = companies[row.company_id]
        assert properties[PROP_SCORE] == str(row.score)
        assert properties[PROP_RANK] == f"{row.rank} out of {len(ranked)}"
        assert properties[PROP_TIER] == row.tier


def _failure_when_batch_refused(harness: Harness, nth: int) -> dict[str, dg.MetadataValue]:
    """Run a full week with HubSpot refusing batch update `nth`; the writeback's failure."""
    rejection = {"nth": nth, "code": "INVALID_INTEGER", "property": PROP_SCORE}
    harness.control.set_faults({"hubspot": {"batch_update_rejections": [rejection]}})
    result = harness.run(mode="full")
    assert not result.success
    [failure] = result.get_step_failure_events()
    return dict(failure.step_failure_data.user_failure_data.metadata)


@pytest.mark.parametrize("harness", [MANY_BATCH_COMPANIES], indirect=True)
def test_a_batch_refused_while_later_ones_are_in_flight_leaves_every_company_as_before(
    harness: Harness,
) -> None:
    seeded = harness.control.companies()
    failure = _failure_when_batch_refused(harness, 3)  # the third to arrive: batch 2, 3 or 4
    assert failure["failed_batch"].value >= 2 and failure["batches"].value >= 5
    # The first batch went alone, four more at once and one refused: all the others went back.
    assert len(set(_written_ids(harness))) > 2 * HUBSPOT_BATCH_UPDATE_MAX
    companies = harness.control.companies()
    for company_id, before in seeded.items():
        now = companies[company_id]
        assert {p: now[p] or None for p in ENGAGEMENT_PROPERTIES} == {
            p: before[p] or None for p in ENGAGEMENT_PROPERTIES
        }, company_id


@pytest.mark.parametrize("harness", [MANY_BATCH_COMPANIES], indirect=True)
def test_the_first_batch_goes_alone_so_a_refused_value_leaves_nothing_written(
    harness: Harness,
) -> None:
    failure = _failure_when_batch_refused(harness, 1)
    assert failure["failed_batch"].value == 1 and failure["restored"].value == 0
    assert harness.control.writes() == []  # no later batch was ever sent, so none was undone


def test_rerun_of_the_same_week_writes_nothing(harness: Harness) -> None:
    assert harness.run(mode="full").success
    first = len(harness.control.writes())

    rerun = harness.run(mode="full")

    assert rerun.success
    assert len(harness.control.writes()) == first
    audit = rerun.asset_value("hubspot_writeback").table
    assert set(audit["outcome"]) == {"unchanged"}


def test_dry_run_writes_nothing_but_shows_what_would_change(harness: Harness) -> None:
    result = harness.run(mode="dry-run")

    assert result.success
    assert harness.control.writes() == []
    audit = result.asset_value("hubspot_writeback").table
    assert (audit["outcome"] == "not written: dry-run").sum() == len(harness.ranked())


def test_dry_run_is_the_default_when_nothing_says_otherwise(harness: Harness) -> None:
    assert harness.run(mode=None).success
    assert harness.control.writes() == []


def test_write_mode_comes_from_the_environment(harness: Harness) -> None:
    harness.setenv(Env.ENGAGEMENT_WRITE_MODE, "full")
    assert harness.run(mode=None).success
    assert len(harness.control.writes()) == len(harness.ranked())


def test_allowlist_writes_only_the_listed_companies(harness: Harness) -> None:
    assert harness.run(mode="dry-run").success
    chosen = sorted(harness.ranked()["company_id"], key=int)[:3]

    result = harness.run(mode="allowlist", allowlist=chosen)

    assert result.success
    assert sorted(_written_ids(harness), key=int) == chosen


def test_allowlist_without_ids_is_refused_before_anything_is_written(harness: Harness) -> None:
    result = harness.run(mode="allowlist", allowlist=[])

    assert not result.success
    assert harness.control.writes() == []
    failure = result.failure_data_for_node("hubspot_writeback")
    assert "ENGAGEMENT_WRITE_ALLOWLIST" in error_text(failure.error)


def test_historical_week_is_stored_but_not_written(harness: Harness) -> None:
    result = harness.run(PREVIOUS_WEEK, mode="full")

    assert result.success
    assert harness.control.writes() == []
    assert harness.ranked(PREVIOUS_WEEK) is not None
    audit = result.asset_value("hubspot_writeback").table
    assert len(audit) == len(harness.ranked(PREVIOUS_WEEK))
    assert set(audit["outcome"]) <= {"not written: historical week", "unchanged"}


def test_week_without_stored_prior_week_takes_prior_rank_from_hubspot(harness: Harness) -> None:
    assert harness.run(mode="dry-run").success

    ranked = harness.ranked()
    assert set(ranked["prior_source"]) <= {"hubspot", "new"}
    assert (ranked["prior_source"] == "hubspot").any()
    assert ranked.loc[ranked["prior_source"] == "new", "prior_rank"].isna().all()


def test_movers_come_from_the_stored_prior_week(harness: Harness) -> None:
    assert harness.run(PREVIOUS_WEEK, mode="full").success
    previous = harness.ranked(PREVIOUS_WEEK).set_index("company_id")["rank"]

    assert harness.run(mode="dry-run").success

    ranked = harness.ranked().set_index("company_id")
    both = ranked.index.intersection(previous.index)
    assert len(both) > 0
    assert (ranked.loc[both, "prior_source"] == "history").all()
    assert (ranked.loc[both, "prior_rank"] == previous.loc[both]).all()
    assert (ranked.loc[both, "delta"] == previous.loc[both] - ranked.loc[both, "rank"]).all()


def test_gate_covers_every_check_upstream_of_the_writeback_from_the_whole_graph() -> None:
    upstream = {
        spec.key
        for checks in ALL_CHECKS
        for spec in checks.check_specs
        if spec.asset_key != HUBSPOT_WRITEBACK
    }
    assert set(guarding_checks(code_location(), HUBSPOT_WRITEBACK)) == upstream
    assert len(upstream) == 14  # the spec's nine, and the five data alarms


def _some_company_id(harness: Harness) -> str:
    return sorted(harness.control.truth(), key=int)[0]


# Each case makes one blocking check fail: (check, how), where `how` mutates the environment.
BLOCKING_FAILURES = {
    "mapping_coverage": lambda h: h.setenv(Env.MAPPING_COVERAGE_MIN, "1.0"),
    "overrides_valid": lambda h: h.setenv(
        Env.TENANT_MAPPING_OVERRIDES_JSON, json.dumps({_some_company_id(h): 987654321})
    ),
    "week_covered_by_trends": lambda h: h.control.set_faults({"yobi": {"trend_short_days": 12}}),
    "hubspot_properties_writable": lambda h: h.control.set_faults(
        {"hubspot": {"properties": {PROP_TIER: {"drop_options": ["Bottom 30%"]}}}}
    ),
}


@pytest.mark.parametrize("check", sorted(BLOCKING_FAILURES))
def test_failed_blocking_check_stops_the_write_in_this_run_and_any_later_run(
    harness: Harness, check: str
) -> None:
    assert harness.run(mode="dry-run").success  # every asset exists and passed once
    restore = dict(harness.sandbox.env)
    BLOCKING_FAILURES[check](harness)

    failed = harness.run(mode="full")

    assert not failed.success
    assert check_results(failed)[check] is False
    assert harness.control.writes() == []
    materialized = {e.asset_key.path[-1] for e in failed.get_asset_materialization_events()}
    assert "hubspot_writeback" not in materialized

    # The fault is gone, but the failed check still stands for this week: a run of the
    # writeback alone (as a split backfill or a manual materialization would do) must refuse.
    harness.control.set_faults({})
    for name in (Env.MAPPING_COVERAGE_MIN, Env.TENANT_MAPPING_OVERRIDES_JSON):
        if name in restore:
            harness.setenv(name, restore[name])
        else:
            harness.monkeypatch.delenv(name, raising=False)
    bypass = harness.run(mode="full", selection=["hubspot_writeback"])

    assert not bypass.success
    assert harness.control.writes() == []
    message = error_text(bypass.failure_data_for_node("hubspot_writeback").error)
    assert "Refusing to write" in message and check in message

    # Once the upstream assets are re-materialized and their checks pass, the write goes out.
    assert harness.run(mode="full").success
    assert len(harness.control.writes()) == len(harness.ranked())


def test_writeback_refuses_a_ranking_older_than_its_inputs(harness: Harness) -> None:
    assert harness.run(mode="dry-run").success
    # The universe is read again (a company may have churned) but nothing downstream reran.
    assert harness.run(mode=None, selection=["customer_companies"]).success

    stale = harness.run(mode="full", selection=["hubspot_writeback"])

    assert not stale.success
    assert harness.control.writes() == []
    message = error_text(stale.failure_data_for_node("hubspot_writeback").error)
    assert "ranked_scores is older than the latest customer_companies" in message


def test_writeback_refuses_when_the_checks_never_ran_for_the_week(harness: Harness) -> None:
    upstream = dg.AssetSelection.assets(
        "customer_companies", "yobi_tenants", "weekly_metrics", "tenant_mapping", "ranked_scores"
    ).without_checks()
    assert harness.run(mode=None, selection=upstream).success

    unchecked = harness.run(mode="full", selection=["hubspot_writeback"])

    assert not unchecked.success
    assert harness.control.writes() == []
    message = error_text(unchecked.failure_data_for_node("hubspot_writeback").error)
    assert "ranked_scores:ranking_integrity never ran for this week" in message


def test_historical_week_has_no_hubspot_prior_and_sends_no_summary(harness: Harness) -> None:
    result = harness.run(PREVIOUS_WEEK, mode="full")

    assert result.success
    ranked = harness.ranked(PREVIOUS_WEEK)
    assert set(ranked["prior_source"]) == {"new"}  # HubSpot holds this week's successor
    audit = result.asset_value("hubspot_writeback").table
    assert len(audit) == len(ranked)
    assert harness.control.slack() == [] and harness.control.emails() == []


def test_historical_week_is_written_only_when_explicitly_asked(harness: Harness) -> None:
    result = harness.run(PREVIOUS_WEEK, mode="full", write_historical_week=True)

    assert result.success
    assert len(harness.control.writes()) == len(harness.ranked(PREVIOUS_WEEK))


def test_bad_settings_are_all_named_at_the_start_and_nothing_is_written(harness: Harness) -> None:
    harness.setenv(Env.MAPPING_COVERAGE_MIN, "most")
    harness.setenv(Env.ENGAGEMENT_WRITE_MODE, "yolo")
    harness.setenv(Env.JOB_TIMEZONE, "Europe/Paris")
    harness.setenv(Env.TENANT_MAPPING_OVERRIDES_JSON, "{not json")
    harness.setenv(Env.DAGSTER_UI_URL, "localhost:3000")

    result = harness.run(mode=None)

    assert not result.success
    assert harness.control.requests()["counts"] == {}  # before the first HTTP call
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE]
    message = error_text(failure.event_specific_data.error)
    for variable in (
        "MAPPING_COVERAGE_MIN='most'",
        "ENGAGEMENT_WRITE_MODE='yolo'",
        "JOB_TIMEZONE='Europe/Paris'",
        "TENANT_MAPPING_OVERRIDES_JSON",
        "DAGSTER_UI_URL='localhost:3000'",
    ):
        assert variable in message
    assert len(message.splitlines()) == 5  # one line each
    # The failure alert still goes out, without a link.
    assert run_url({Env.DAGSTER_UI_URL: "localhost:3000"}, result.run_id) is None
    assert run_url({Env.DAGSTER_UI_URL: "http://ui:3000/"}, "r1") == "http://ui:3000/runs/r1"


HUBSPOT = HUBSPOT_ROUTES[DEFAULT_HUBSPOT_API_VERSION]  # the path family a run speaks by default
PROPERTY_DEFINITION = HUBSPOT[HubSpotOperation.COMPANY_PROPERTY]
YOBI_LOGIN = "POST /users/login"
YOBI_TENANTS = "GET /admin/dental-tenants/list"
YOBI_STATS = (
    "GET /admin/pms/stats/calls-by-tenant",
    "GET /admin/dental-tenants/tasks/created",
    "GET /admin/pms/stats/appointments-by-location",
)


def test_a_week_logs_in_to_yobi_once_and_reads_each_endpoint_once(harness: Harness) -> None:
    assert harness.run().success
    counts = harness.control.requests()["counts"]
    assert [counts.get(route) for route in (YOBI_LOGIN, YOBI_TENANTS, *YOBI_STATS)] == [1] * 5


def test_the_check_and_the_writer_share_one_read_of_the_definitions_per_run(
    harness: Harness,
) -> None:
    assert harness.run(mode="full").success
    assert _definition_reads(harness) == len(ENGAGEMENT_PROPERTIES)
    # A later run of the writeback alone does not trust the earlier run's read.
    assert harness.run(mode="full", selection=["hubspot_writeback"]).success
    assert _definition_reads(harness) == 2 * len(ENGAGEMENT_PROPERTIES)


def _definition_reads(harness: Harness) -> int:
    return harness.control.requests()["counts"].get(PROPERTY_DEFINITION, 0)


def test_a_run_without_weekly_metrics_downloads_no_week_of_counters(harness: Harness) -> None:
    result = harness.run(selection=["yobi_tenants"])
    assert result.success
    counts = harness.control.requests()["counts"]
    assert counts.get(YOBI_TENANTS) == 1, "yobi_tenants did not run"
    assert not any(counts.get(route) for route in YOBI_STATS), counts
