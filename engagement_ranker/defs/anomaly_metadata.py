"""Anomalies travel as materialization metadata, so each asset page shows its own findings and
the summary gathers every upstream asset's list for the same week."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import dagster as dg
import pandas as pd

from engagement_ranker.core.anomalies import (
    Anomaly,
    AnomalyKind,
    anomalies_from_frame,
    anomalies_to_frame,
)

ANOMALIES_KEY = "anomalies"
# Upstream assets whose anomalies the summary reports, in the order the graph produces them.
REPORTING_ASSETS: tuple[str, ...] = (
    "customer_companies",
    "yobi_tenants",
    "weekly_metrics",
    "tenant_mapping",
    "ranked_scores",
    "hubspot_writeback",
)


def anomalies_metadata(anomalies: Iterable[Anomaly]) -> dg.MetadataValue:
    return dg.MetadataValue.json(
        json.loads(anomalies_to_frame(anomalies).to_json(orient="records"))
    )


def warnings_as_anomalies(service: str, warnings: Sequence[str]) -> list[Anomaly]:
    """Client retries and oddities, reported rather than hidden (they are already secret-free)."""
    return [Anomaly(AnomalyKind.API_WARNING, f"{service}: {w}") for w in warnings]


def latest_metadata(
    instance: dg.DagsterInstance, asset: str, partition_key: str
) -> dict[str, dg.MetadataValue]:
    """The metadata of an asset's latest materialization for one week ({} if never)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition_key]),
        limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return {}
    return dict(records[0].asset_materialization.metadata)


def stored_anomalies(instance: dg.DagsterInstance, asset: str, partition_key: str) -> list[Anomaly]:
    value = latest_metadata(instance, asset, partition_key).get(ANOMALIES_KEY)
    if value is None or not value.value:
        return []
    return anomalies_from_frame(pd.DataFrame.from_records(value.value))


def collect_anomalies(context: dg.AssetExecutionContext) -> list[Anomaly]:
    """Every upstream asset's anomalies for this week, in graph order."""
    return [
        anomaly
        for asset in REPORTING_ASSETS
        for anomaly in stored_anomalies(context.instance, asset, context.partition_key)
    ]
