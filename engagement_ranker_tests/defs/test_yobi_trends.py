"""Yobi's contract in a whole run: sparse trends rank with zeros, UTC buckets fail fast."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest

from engagement_ranker.clients.yobi_contract import BUILT_IN
from engagement_ranker.constants import HTTP_TIMEOUT_SECONDS, METRICS, Env
from engagement_ranker.defs.alerts import error_text
from engagement_ranker.sandbox import SandboxConfig
from engagement_ranker_tests.defs.conftest import COMPANIES, Harness


@pytest.mark.parametrize(
    "harness", [SandboxConfig(companies=COMPANIES, yobi_sparse=True)], indirect=True
)
def test_a_sparse_week_ranks_with_zeros_for_the_days_and_tenants_yobi_left_out(
    harness: Harness,
) -> None:
    result = harness.run(mode="dry-run")

    assert result.success
    metrics = result.asset_value("weekly_metrics")
    table = metrics.table
    assert (table["missing_days"] == "").all()
    absent = table[table["absent_from"] != ""]
    assert len(absent), "the sparse sandbox left no tenant out"
    assert (absent[[m.value for m in METRICS]].fillna(-1) >= 0).all().all()
    notes = [a.message for a in metrics.anomalies if "counted as zero" in a.message]
    assert len(notes) == len(absent)
    ranked = harness.ranked()
    mapped_absent = ranked[ranked["tenant_id"].isin(absent["tenant_id"])]
    assert len(mapped_absent), "no ranked company's tenant was absent from an endpoint"


@pytest.mark.parametrize(
    "harness", [SandboxConfig(companies=COMPANIES, yobi_bucket_timezone="UTC")], indirect=True
)
def test_utc_day_buckets_fail_the_week_before_anything_is_ranked(
    harness: Harness, tmp_path: Path
) -> None:
    """The spike found Yobi's days are UTC days and the contract says so: the exact ET week
    cannot be summed from them, so the week fails fast with that reason."""
    contract = tmp_path / "yobi-contract.json"
    contract.write_text(replace(BUILT_IN, bucket_timezone="UTC").to_json(), encoding="utf-8")
    harness.setenv(Env.YOBI_CONTRACT_FILE, str(contract))

    result = harness.run(mode="full")

    assert not result.success
    assert harness.control.writes() == []
    failure = result.failure_data_for_node("weekly_metrics")
    assert failure is not None
    assert "bucket_timezone" in error_text(failure.error)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey("ranked_scores") not in materialized


def _step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Each step's time from its start to its success, from the run's event log."""
    started: dict[str, float] = {}
    took: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            took[entry.step_key] = entry.timestamp - started[entry.step_key]
    return took


def test_yobi_is_read_while_hubspot_reads_the_universe(harness: Harness) -> None:
    """Every Yobi call answers 2 s late, every HubSpot call 5 s late (the universe takes
    longer than all of Yobi's reads): each Yobi step takes less than one Yobi call, its data
    already read. Read in the steps, yobi_tenants would wait for its login, tenants and
    locations (6 s). (At 1 s, a loaded CI machine spent 1.01 s on weekly_metrics' own
    loading and storing.)"""
    yobi_late = 2.0
    harness.control.set_faults(
        {"routes": {"hubspot *": {"latency_ms": 5000}, "yobi *": {"latency_ms": yobi_late * 1000}}}
    )

    result = harness.run(
        mode=None, selection=["customer_companies", "yobi_tenants", "weekly_metrics"]
    )

    assert result.success
    took = _step_seconds(harness.instance, result.run_id)
    assert took["customer_companies"] > 6 * yobi_late, took  # room for every Yobi read
    assert took["yobi_tenants"] < yobi_late, took
    assert took["weekly_metrics"] < yobi_late, took


def test_a_yobi_refusal_read_ahead_fails_the_run_at_once(harness: Harness) -> None:
    """The login refused on the read-ahead thread: yobi_tenants fails with Yobi's words, and
    nothing waits on the counters that will never be read (a client timeout, 30 s, did)."""
    harness.control.set_faults({"yobi": {"login_fails": True}})

    result = harness.run(mode=None)

    assert not result.success
    failure = result.failure_data_for_node("yobi_tenants")
    assert failure is not None and "YOBI_PASSWORD" in error_text(failure.error)
    records = harness.instance.all_logs(result.run_id)
    assert records[-1].timestamp - records[0].timestamp < HTTP_TIMEOUT_SECONDS / 2
