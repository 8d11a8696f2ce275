"""The JSON report of one week, for cron/CI runners: what was ranked, left out and written.

It reads the assets' stored outputs as the warehouse's IO manager loads them, and only those
this run materialized: a failed run reports the steps it finished, never an earlier run's.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from engagement_ranker.constants import METRICS
from engagement_ranker.core.anomalies import anomalies_to_frame
from engagement_ranker.core.week import parse_week_key
from engagement_ranker.defs.keys import (
    CUSTOMER_COMPANIES,
    HUBSPOT_WRITEBACK,
    OWNER_DIGESTS,
    RANKED_SCORES,
    TENANT_MAPPING,
    WEEK_TABLES,
)
from engagement_ranker.defs.warehouse import Reported, stored_reports

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
# The assets whose anomalies the report lists, in the order the graph produces them (the
# owner digests name the account managers HubSpot gives no e-mail address).
REPORTING_ASSETS: tuple[dg.AssetKey, ...] = (*WEEK_TABLES, OWNER_DIGESTS)


def _records(frame: pd.DataFrame | None, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """JSON-safe rows (NA -> null), in the frame's order."""
    if frame is None:
        return []
    selected = frame[columns] if columns else frame.drop(columns=["week"], errors="ignore")
    return json.loads(selected.to_json(orient="records"))


def _materialized_in(instance: dg.DagsterInstance, run_id: str) -> set[dg.AssetKey]:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    return {r.asset_materialization.asset_key for r in records if r.asset_materialization}


def run_outputs(
    warehouse: DuckDBResource, instance: dg.DagsterInstance, run: dg.DagsterRun, week_key: str
) -> dict[dg.AssetKey, Reported]:
    """The week's stored outputs of the assets `run` materialized."""
    produced = _materialized_in(instance, run.run_id)
    return stored_reports(warehouse, [key for key in REPORTING_ASSETS if key in produced], week_key)


def week_report(
    outputs: dict[dg.AssetKey, Reported], week_key: str, succeeded: bool
) -> dict[str, Any]:
    """The report of one run's week from the outputs it produced."""
    week = parse_week_key(week_key)

    def table(key: dg.AssetKey) -> pd.DataFrame | None:
        return outputs[key].table if key in outputs else None

    mapping, universe, audit = (
        table(TENANT_MAPPING),
        table(CUSTOMER_COMPANIES),
        table(HUBSPOT_WRITEBACK),
    )
    unmapped = None if mapping is None else mapping[mapping["tenant_id"].isna()]
    excluded = None if universe is None else universe[universe["excluded_reason"].notna()]
    anomalies = [a for key in REPORTING_ASSETS if key in outputs for a in outputs[key].anomalies]
    return {
        "week": week.key,
        "week_start": week.start.isoformat(),
        "week_end": week.end.isoformat(),
        "status": "success" if succeeded else "failure",
        "mode": None if audit is None or audit.empty else str(audit["mode"].iloc[0]),
        "ranked": _records(table(RANKED_SCORES), list(RANKED_FIELDS)),
        "unmapped": _records(unmapped, ["company_id", "name", "status", "suggestions"]),
        "excluded": _records(excluded, ["company_id", "name", "excluded_reason"]),
        "anomalies": json.loads(anomalies_to_frame(anomalies).to_json(orient="records")),
        "writes": _records(audit),
    }
