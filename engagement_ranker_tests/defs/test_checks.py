"""Each blocking check, invoked directly on small frames: it passes on good data and names what
is wrong on bad data (the integration tests prove the wiring; these prove every rule bites)."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pytest

from engagement_ranker.core.anomalies import Anomaly, AnomalyKind
from engagement_ranker.core.scoring import rank_companies
from engagement_ranker.definitions import build_definitions
from engagement_ranker.defs.alerts import alert_for_run
from engagement_ranker.defs.checks import (
    ALL_CHECKS,
    _check,
    _checks_on,
    _Pending,
    company_ids_unique,
    counter_totals_near_median,
    counters_not_all_zero,
    hubspot_properties_writable,
    mapped_tenants_have_counters,
    mapping_coverage,
    one_company_per_tenant,
    overrides_valid,
    ranking_integrity,
    readback_matches,
    tenant_activity_near_median,
    universe_not_empty,
    week_covered_by_trends,
)
from engagement_ranker.defs.keys import RANKED_SCORES
from engagement_ranker.defs.partitions import latest_week_key, weekly_partitions
from engagement_ranker.defs.resources import SettingsResource
from engagement_ranker.defs.warehouse import Reported
from engagement_ranker_tests.defs.conftest import Harness, check_results


def universe(*rows: tuple[str, str | None]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["company_id", "excluded_reason"])


def mapping(*rows: tuple[str, int | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {"company_id": [r[0] for r in rows], "tenant_id": pd.array([r[1] for r in rows], "Int64")}
    )


def metrics(*rows: tuple[int, int | None, str]) -> pd.DataFrame:
    """(tenant, calls, missing_days) with the other counters at 1."""
    return pd.DataFrame(
        {
            "tenant_id": [r[0] for r in rows],
            "new_patients": [1] * len(rows),
            "appointments": [1] * len(rows),
            "tasks": [1] * len(rows),
            "calls": pd.array([r[1] for r in rows], "Int64"),
            "missing_days": [r[2] for r in rows],
        }
    )


def test_universe_not_empty() -> None:
    assert universe_not_empty(universe(("1", None), ("2", "churned"))).passed
    failed = universe_not_empty(universe(("1", "churned"), ("2", "internal test company")))
    assert not failed.passed and "no customer companies after exclusions" in failed.description


def test_company_ids_unique() -> None:
    assert company_ids_unique(universe(("1", None), ("2", None))).passed
    failed = company_ids_unique(universe(("1", None), ("2", None), ("1", None)))
    assert not failed.passed and "duplicate company ids: 1" in failed.description


def test_one_company_per_tenant() -> None:
    assert one_company_per_tenant(mapping(("1", 10), ("2", 11), ("3", None))).passed
    failed = one_company_per_tenant(mapping(("1", 10), ("2", 10)))
    assert not failed.passed and "claimed by several companies: 10" in failed.description


def settings(**values: str) -> SettingsResource:
    """A settings resource with the required credentials and `values`."""
    return SettingsResource(
        hubspot_access_token="pat-test-token",
        yobi_email="a@b.c",
        yobi_password="secret12",
        **values,
    )


def test_mapping_coverage_against_the_threshold() -> None:
    resource = settings(mapping_coverage_min="0.5")
    companies = universe(("1", None), ("2", None), ("3", "churned"))
    assert mapping_coverage(resource, mapping(("1", 10), ("2", None)), companies).passed
    failed = mapping_coverage(resource, mapping(("1", None), ("2", None)), companies)
    assert not failed.passed and "only 0 of 2 companies" in failed.description


def test_overrides_valid_names_an_unknown_tenant() -> None:
    tenants = pd.DataFrame({"tenant_id": [10, 11]})
    assert overrides_valid(settings(tenant_mapping_overrides_json='{"5": 10}'), tenants).passed
    failed = overrides_valid(settings(tenant_mapping_overrides_json='{"5": 99}'), tenants)
    assert not failed.passed and "'5'" in failed.description and "99" in failed.description


def test_mapped_tenants_have_counters() -> None:
    ok = mapped_tenants_have_counters(
        tenant_mapping=mapping(("1", 10)), weekly_metrics=metrics((10, 3, ""), (11, None, ""))
    )
    assert ok.passed  # tenant 11 is nobody's
    missing = mapped_tenants_have_counters(
        tenant_mapping=mapping(("1", 10), ("2", 12)), weekly_metrics=metrics((10, 3, ""))
    )
    assert not missing.passed and "no counters for mapped tenants 12" in missing.description
    negative = mapped_tenants_have_counters(
        tenant_mapping=mapping(("1", 10)), weekly_metrics=metrics((10, -1, ""))
    )
    assert not negative.passed and "negative counters for tenants 10" in negative.description


def test_week_covered_by_trends_blocks_only_for_mapped_tenants() -> None:
    gaps = metrics((10, 3, ""), (11, 3, "calls:2026-11-21"))
    ok = week_covered_by_trends(weekly_metrics=gaps, tenant_mapping=mapping(("1", 10)))
    assert ok.passed and ok.metadata["unmapped_tenants_short"].value == 1
    failed = week_covered_by_trends(weekly_metrics=gaps, tenant_mapping=mapping(("1", 11)))
    assert not failed.passed and "calls:2026-11-21" in failed.description


def test_ranking_integrity() -> None:
    ranked = rank_companies(
        pd.DataFrame(
            {
                "company_id": ["1", "2", "3"],
                "name": ["a", "b", "c"],
                "tenant_id": pd.array([10, 11, 12], "Int64"),
                "method": ["domain"] * 3,
                "new_patients": [1, 2, 3],
                "appointments": [0, 0, 0],
                "tasks": [0, 0, 0],
                "calls": [0, 0, 0],
            }
        )
    )
    assert ranking_integrity(ranked).passed
    failed = ranking_integrity(ranked.assign(tier="Top 30%"))
    assert not failed.passed and "tier does not follow" in failed.description


def test_readback_matches_fails_on_any_written_company_hubspot_disagrees_with() -> None:
    audit = pd.DataFrame(
        {
            "company_id": ["1", "2", "3"],
            "outcome": ["written", "written", "unchanged"],
            "readback_ok": pd.array([True, False, None], "boolean"),
        }
    )
    failed = readback_matches(audit)
    assert not failed.passed and "companies 2" in failed.description
    assert readback_matches(audit.iloc[[0, 2]]).passed


def test_alarm_checks_report_what_their_asset_found_as_severe_as_the_settings_say() -> None:
    shifted = Anomaly(AnomalyKind.COUNTER_SHIFT, "calls totals 120 this week, 60% below …")
    zero = Anomaly(AnomalyKind.COUNTER_ALL_ZERO, "new_patients is 0 for every one of …")
    week = Reported(pd.DataFrame(), (shifted, zero, Anomaly(AnomalyKind.UNMAPPED, "x")))

    warned = counter_totals_near_median(settings(), week)
    assert not warned.passed and warned.severity is dg.AssetCheckSeverity.WARN
    assert warned.description == shifted.message
    stopped = counters_not_all_zero(settings(), week)
    assert not stopped.passed and stopped.severity is dg.AssetCheckSeverity.ERROR
    assert stopped.description == zero.message
    stricter = counter_totals_near_median(settings(alarm_severities="counter_shift=error"), week)
    assert stricter.severity is dg.AssetCheckSeverity.ERROR
    assert tenant_activity_near_median(settings(), week).passed


def test_every_check_is_blocking_and_reads_only_its_assets_ancestors() -> None:
    """An asset backfill may run each asset of a week in a run of its own (self-dependent
    assets are planned one at a time): a check reading an asset that is not upstream of its
    own would find that input not yet stored, and fail the backfill."""
    graph = build_definitions().resolve_asset_graph()
    for checks in ALL_CHECKS:
        for spec in checks.check_specs:
            own = spec.asset_key
            upstream = graph.get_ancestor_asset_keys(own) | {own}
            read = set(checks.keys_by_input_name.values())
            assert read <= upstream, f"{spec.name} reads {sorted(map(str, read - upstream))}"
            assert spec.blocking, spec.name


def test_each_checked_asset_has_one_step_that_evaluates_all_its_checks() -> None:
    """A step per check cost every run a dozen events and an input load each (defs/checks.py);
    the checks of one asset run in one step, named for it."""
    steps = {
        checks.node_def.name: {spec.asset_key for spec in checks.check_specs}
        for checks in ALL_CHECKS
    }
    assert all(len(assets) == 1 for assets in steps.values()), steps
    assert steps == {
        f"{asset.to_python_identifier()}_checks": {asset} for (asset,) in steps.values()
    }
    assert sum(len(checks.check_specs) for checks in ALL_CHECKS) == 15


def test_a_check_executed_alone_is_evaluated_alone(harness: Harness) -> None:
    """As the UI's "Execute" on one check runs it: the step evaluates that check only, so
    `ranking_integrity` re-run alone does not read HubSpot, and the HubSpot check does."""
    assert harness.run(mode="dry-run").success
    hubspot_calls = harness.control.requests()["by_service"]["hubspot"]["counts"]

    def executed(check: str) -> set[str]:
        job = build_definitions().resolve_implicit_global_asset_job_def()
        alone = job.get_subset(asset_check_selection={dg.AssetCheckKey(RANKED_SCORES, check)})
        result = alone.execute_in_process(
            partition_key=latest_week_key(), instance=harness.instance, raise_on_error=False
        )
        assert result.success, check
        return set(check_results(result))

    assert executed(ranking_integrity.spec.name) == {ranking_integrity.spec.name}
    assert harness.control.requests()["by_service"]["hubspot"]["counts"] == hubspot_calls
    assert executed(hubspot_properties_writable.spec.name) == {
        hubspot_properties_writable.spec.name
    }
    assert harness.control.requests()["by_service"]["hubspot"]["counts"] != hubspot_calls


def test_a_check_wired_into_another_asset_s_step_is_refused_when_the_definitions_load() -> None:
    with pytest.raises(ValueError, match=r"\['universe_not_empty'\] are not on ranked_scores"):
        _checks_on(dg.AssetKey("ranked_scores"), universe_not_empty)


def test_a_check_that_raises_leaves_the_others_in_its_step_evaluated() -> None:
    """Checks share a step; one that raises (a bug, HubSpot unreachable) still lets the checks
    after it give their verdicts, and the step's failure names it and what it raised."""
    asset = dg.AssetKey("practice_week")

    @dg.asset(key=asset, partitions_def=weekly_partitions)
    def practice_week() -> int:
        return 1

    @_check(asset)
    def breaks(practice_week: int) -> dg.AssetCheckResult:
        raise RuntimeError("the rule broke")

    @_check(asset)
    def holds(practice_week: int) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=practice_week == 1)

    @_checks_on(asset, breaks, holds)
    def practice_week_checks(
        context,  # unannotated: annotations here are strings, and Dagster checks the class
        practice_week: int,
    ) -> Iterator[_Pending]:
        yield breaks.on(practice_week)
        yield holds.on(practice_week)

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [practice_week, practice_week_checks],
        partition_key=latest_week_key(),
        instance=instance,
        raise_on_error=False,
    )

    assert check_results(result) == {"holds": True}
    alert = alert_for_run(instance, result.dagster_run, latest_week_key(), link=None)
    assert alert.step == "practice_week_checks"
    assert alert.error == "check practice_week:breaks could not be evaluated: the rule broke"
