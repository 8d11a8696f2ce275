"""The JSON report of one week, for cron/CI runners: what was ranked, left out and written."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from engagement_ranker.constants import METRICS
from engagement_ranker.core.anomalies import anomalies_to_frame
from engagement_ranker.core.week import parse_week_key
from engagement_ranker.defs.anomaly_metadata import (
    REPORTING_ASSETS,
    latest_metadata,
    stored_anomalies,
)
from engagement_ranker.defs.history import stored_week

RANKED_FIELDS: tuple[str, ...] = (
    "company_id",
    "name",
    "tenant_id",
    "method",
    *(m.value for m in METRICS),
    "score",
    "rank",
    "tier",
    "prior_rank",
    "delta",
)


def _records(frame: pd.DataFrame | None, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """JSON-safe rows (NA -> null), in the frame's order."""
    if frame is None:
        return []
    selected = frame[columns] if columns else frame.drop(columns=["week"], errors="ignore")
    return json.loads(selected.to_json(orient="records"))


def _materialized_in(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    return {
        r.asset_materialization.asset_key.to_user_string()
        for r in records
        if r.asset_materialization is not None
    }


def week_report(
    instance: dg.DagsterInstance, warehouse: DuckDBResource, week_key: str, run: dg.DagsterRun
) -> dict[str, Any]:
    """What this run produced for the week (a failed run reports only the steps it finished,
    never an earlier run's tables)."""
    week = parse_week_key(week_key)
    produced = _materialized_in(instance, run.run_id)

    def stored(asset: str) -> pd.DataFrame | None:
        return stored_week(warehouse, asset, week_key) if asset in produced else None

    ranked = stored("ranked_scores")
    mapping = stored("tenant_mapping")
    universe = stored("customer_companies")
    audit = stored("hubspot_writeback")
    mode = (
        latest_metadata(instance, "hubspot_writeback", week_key).get("mode")
        if "hubspot_writeback" in produced
        else None
    )
    status = "success" if run.status == dg.DagsterRunStatus.SUCCESS else "failure"
    unmapped = None if mapping is None else mapping[mapping["tenant_id"].isna()]
    excluded = None if universe is None else universe[universe["excluded_reason"].notna()]
    anomalies = [
        a
        for asset in REPORTING_ASSETS
        if asset in produced
        for a in stored_anomalies(instance, asset, week_key)
    ]
    return {
        "week": week.key,
        "week_start": week.start.isoformat(),
        "week_end": week.end.isoformat(),
        "status": status,
        "mode": mode.value if mode is not None else None,
        "ranked": _records(ranked, list(RANKED_FIELDS)),
        "unmapped": _records(unmapped, ["company_id", "name", "status", "suggestions"]),
        "excluded": _records(excluded, ["company_id", "name", "excluded_reason"]),
        "anomalies": json.loads(anomalies_to_frame(anomalies).to_json(orient="records")),
        "writes": _records(audit),
    }
