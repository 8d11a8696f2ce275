"""Yobi's contract in a whole run: sparse trends rank with zeros, UTC buckets fail fast."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest

from engagement_ranker.clients.yobi_contract import BUILT_IN
from engagement_ranker.constants import (
    DEFAULT_HUBSPOT_API_VERSION,
    HTTP_TIMEOUT_SECONDS,
    HUBSPOT_ROUTES,
    METRICS,
    Env,
    HubSpotOperation,
)
from engagement_ranker.defs.alerts import error_text
from engagement_ranker.sandbox import SandboxConfig
from engagement_ranker_tests.defs.conftest import COMPANIES, Harness
from engagement_ranker_tests.e2e.waiting import wait_until


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


# Every read of Yobi a week's run makes, as the sandbox logs them.
YOBI_READS = frozenset(
    {
        "POST /users/login",
        "GET /admin/dental-tenants/list",
        "GET /admin/pms/locations",
        "GET /admin/pms/stats/calls-by-tenant",
        "GET /admin/dental-tenants/tasks/created",
        "GET /admin/pms/stats/appointments-by-location",
    }
)
UNIVERSE_SEARCH = HUBSPOT_ROUTES[DEFAULT_HUBSPOT_API_VERSION][HubSpotOperation.CONTACTS_SEARCH]
# Far more than Yobi's reads take on a loaded machine, and less than a HubSpot call's timeout.
YOBI_READ_SECONDS = HTTP_TIMEOUT_SECONDS / 2


def _yobi_calls(harness: Harness) -> dict[str, int]:
    return dict(harness.control.requests()["by_service"].get("yobi", {}).get("counts", {}))


def test_yobi_is_read_while_hubspot_reads_the_universe(harness: Harness) -> None:
    """HubSpot's first universe search is held until Yobi has answered every read: the reads
    start with the run. Read in their steps, they would wait behind customer_companies (steps
    run one after another here) and never come. Released, the Yobi steps call Yobi no more."""
    hold = {"bursts": [{"nth": 1, "error": "hold"}]}
    harness.control.set_faults(
        {"timeout_seconds": HTTP_TIMEOUT_SECONDS, "routes": {UNIVERSE_SEARCH: hold}}
    )
    read_while_held: dict[str, int] = {}

    def every_read_answered() -> dict[str, int] | None:
        calls = _yobi_calls(harness)
        return calls if calls.keys() >= YOBI_READS else None

    def release_once_yobi_is_read() -> None:
        try:
            read_while_held.update(
                wait_until(
                    every_read_answered,
                    timeout=YOBI_READ_SECONDS,
                    what="every Yobi read while HubSpot's first search is held",
                )
            )
        finally:
            harness.control.release()

    with ThreadPoolExecutor(1) as pool:
        released = pool.submit(release_once_yobi_is_read)
        result = harness.run(
            mode=None, selection=["customer_companies", "yobi_tenants", "weekly_metrics"]
        )
        released.result()

    assert result.success
    assert _yobi_calls(harness) == read_while_held


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
