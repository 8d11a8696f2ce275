"""Broken data never ranks: data alarms on a real run against the sandbox. A counter Yobi sends
as 0 for every tenant stops the week before anything is written, naming the counter and the
fix; a counter whose total falls 60% below its trailing median warns in the checks and the
summary, and the write goes ahead."""

from __future__ import annotations

import dagster as dg

from engagement_ranker.core.week import parse_week_key
from engagement_ranker.defs.partitions import latest_week_key
from engagement_ranker_tests.defs.conftest import Harness, check_results

APPOINTMENTS = "GET /admin/pms/stats/appointments-by-location"
NEW_PATIENTS_ALWAYS_ZERO = {
    "corrupt": [
        {"route": APPOINTMENTS, "path": f"results.locations.*.{where}new_patients", "value": 0}
        for where in ("stats.", "trend.*.")
    ]
}
CALLS_DOWN_60 = {"yobi": {"scale": {"calls": 0.4}}}


def _evaluation(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def _weeks_before(count: int) -> list[str]:
    week = parse_week_key(latest_week_key())
    keys = []
    for _ in range(count):
        week = week.previous()
        keys.append(week.key)
    return keys[::-1]


def test_a_counter_zero_for_every_tenant_stops_the_week_before_anything_ranks(
    harness: Harness,
) -> None:
    harness.control.set_faults(NEW_PATIENTS_ALWAYS_ZERO)

    result = harness.run(mode="full")

    assert not result.success
    zero = _evaluation(result, "counters_not_all_zero")
    assert not zero.passed and zero.severity is dg.AssetCheckSeverity.ERROR
    assert zero.description.startswith("new_patients is 0 for every one of the")
    assert "engagement-ranker spike" in zero.description  # the fix
    materialized = {
        event.asset_key.to_user_string() for event in result.get_asset_materialization_events()
    }
    assert "weekly_metrics" in materialized
    assert not materialized & {"ranked_scores", "hubspot_writeback", "slack_summary"}
    assert harness.control.writes() == []
    assert harness.ranked() is None


def test_a_counter_total_down_60_percent_warns_and_the_write_goes_ahead(
    harness: Harness,
) -> None:
    for week in _weeks_before(2):  # the stored weeks the median is taken over
        assert harness.run(week, mode=None).success
    harness.control.set_faults(CALLS_DOWN_60)

    result = harness.run(mode="full")

    assert result.success
    shift = _evaluation(result, "counter_totals_near_median")
    assert not shift.passed and shift.severity is dg.AssetCheckSeverity.WARN
    assert shift.description.startswith("calls totals ")
    assert (
        "below its median of" in shift.description
        and "over the 2 stored weeks" in shift.description
    )
    passed = check_results(result)
    assert passed["counter_totals_near_median"] is False
    assert all(passed[name] for name in passed if name != "counter_totals_near_median")
    assert len(passed) > 1  # every other check ran, and passed
    ranked = harness.ranked()
    assert len(harness.control.writes()) == len(ranked) > 0
    [materialization] = result.asset_materializations_for_node("slack_summary")
    page = materialization.metadata["summary"].value
    assert "Counter total far from its usual level: 1" in page
    assert "calls totals " in page
    [mail] = harness.control.emails()
    assert "calls totals " in mail["text"]
