"""The write gate: blocking checks stop downstream steps only inside one run, so the writeback
asks the instance itself whether each one passed for this week on the latest materialization,
and whether what it writes was computed from the latest of everything upstream."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus


def _name(key: dg.AssetCheckKey) -> str:
    return f"{key.asset_key.to_user_string()}:{key.name}"


def unmet_checks(
    instance: dg.DagsterInstance, check_keys: Sequence[dg.AssetCheckKey], partition_key: str
) -> list[str]:
    """Why each check does not vouch for this week ([] when all passed on current data)."""
    infos = {
        info.check_key: info
        for info in instance.event_log_storage.get_asset_check_partition_info(
            list(check_keys), partition_keys=[partition_key]
        )
        if info.partition_key == partition_key
    }
    unmet = []
    for key in check_keys:
        info = infos.get(key)
        if info is None:
            unmet.append(f"{_name(key)} never ran for this week")
        elif info.latest_execution_status is not AssetCheckExecutionRecordStatus.SUCCEEDED:
            unmet.append(f"{_name(key)} is {info.latest_execution_status.value.lower()}")
        elif info.latest_materialization_storage_id is None:
            unmet.append(f"{_name(key)} passed but its asset was never materialized for this week")
        elif not info.is_current:
            unmet.append(f"{_name(key)} passed on an older materialization than the latest")
    return unmet


def _latest_storage_id(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition_key: str
) -> int | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition_key]), limit=1
    ).records
    return records[0].storage_id if records else None


def stale_assets(
    instance: dg.DagsterInstance,
    asset_graph: BaseAssetGraph,
    target: dg.AssetKey,
    partition_key: str,
) -> list[str]:
    """Upstream assets of `target` materialized before one of their own parents, this week.

    A re-materialized `customer_companies` (a company just churned) must not be written through
    a `ranked_scores` computed from the older universe.
    """
    ancestors = asset_graph.get_ancestor_asset_keys(target)
    latest = {key: _latest_storage_id(instance, key, partition_key) for key in ancestors}
    stale = []
    for key in sorted(ancestors, key=lambda k: k.to_user_string()):
        for parent in sorted(asset_graph.get(key).parent_keys, key=lambda k: k.to_user_string()):
            mine, theirs = latest[key], latest.get(parent)
            if mine is not None and theirs is not None and theirs > mine:
                stale.append(
                    f"{key.to_user_string()} is older than the latest {parent.to_user_string()}"
                )
    return stale
