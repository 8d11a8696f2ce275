"""The write gate: blocking checks stop downstream steps only inside one run, so the writeback
asks the instance itself whether each one passed for this week on the latest materialization."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
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
