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


def week_report(
    instance: dg.DagsterInstance, warehouse: DuckDBResource, week_key: str, status: str
) -> dict[str, Any]:
    """Everything stored for the week, as of the latest materializations."""
    week = parse_week_key(week_key)
    ranked = stored_week(warehouse, "ranked_scores", week_key)
    mapping = stored_week(warehouse, "tenant_mapping", week_key)
    universe = stored_week(warehouse, "customer_companies", week_key)
    audit = stored_week(warehouse, "hubspot_writeback", week_key)
    mode = latest_metadata(instance, "hubspot_writeback", week_key).get("mode")
    unmapped = None if mapping is None else mapping[mapping["tenant_id"].isna()]
    excluded = None if universe is None else universe[universe["excluded_reason"].notna()]
    anomalies = [
        a for asset in REPORTING_ASSETS for a in stored_anomalies(instance, asset, week_key)
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
