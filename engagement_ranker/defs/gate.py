"""The write gate: Dagster's blocking checks stop downstream steps only inside one run, so the
writeback asks the instance itself whether every check that guards it passed for this week
on the latest materialization (a failure of WARN severity is shown, not stopped on, as
Dagster's blocking does), and whether what it writes was computed from the latest of
everything upstream.

The checks and assets come from the code location's whole graph, never from the run's: a run
that materializes the writeback with a narrowed selection (its upstream as source assets)
must still meet every check and every fresher upstream table.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

# The per-partition check status is not in Dagster's public API; this module is its one user.
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus


def _name(key: dg.AssetCheckKey) -> str:
    return f"{key.asset_key.to_user_string()}:{key.name}"


def guarding_checks(definitions: dg.Definitions, target: dg.AssetKey) -> list[dg.AssetCheckKey]:
    """Every blocking check of an asset upstream of `target`, in a stable order."""
    graph = definitions.get_repository_def().asset_graph
    upstream = dg.AssetSelection.assets(target).upstream().resolve(graph) - {target}
    keys = []
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        if spec.asset_key in upstream and spec.blocking:
            keys.append(key)
    return sorted(keys, key=_name)


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
        elif info.latest_execution_status is not AssetCheckExecutionRecordStatus.SUCCEEDED and not (
            info.latest_execution_status is AssetCheckExecutionRecordStatus.FAILED
            and _only_warned(instance, key, partition_key)
        ):
            unmet.append(f"{_name(key)} is {info.latest_execution_status.value.lower()}")
        elif info.latest_materialization_storage_id is None:
            unmet.append(f"{_name(key)} passed but its asset was never materialized for this week")
        elif not info.is_current:
            unmet.append(f"{_name(key)} passed on an older materialization than the latest")
    return unmet


def _only_warned(instance: dg.DagsterInstance, key: dg.AssetCheckKey, partition_key: str) -> bool:
    """Whether the check's latest execution this week failed with WARN severity only."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, partition_filter=PartitionKeyFilter(key=partition_key)
    )
    evaluation = history[0].evaluation if history else None
    return (
        isinstance(evaluation, dg.AssetCheckEvaluation)
        and not evaluation.passed
        and evaluation.severity is dg.AssetCheckSeverity.WARN
    )


def _latest_storage_id(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition_key: str
) -> int | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition_key]), limit=1
    ).records
    return records[0].storage_id if records else None


def stale_assets(
    instance: dg.DagsterInstance,
    definitions: dg.Definitions,
    target: dg.AssetKey,
    partition_key: str,
) -> list[str]:
    """Upstream assets of `target` materialized before one of their own parents, this week.

    A re-materialized `customer_companies` (a company just churned) must not be written through
    a `ranked_scores` computed from the older universe. A self-dependency (the previous week)
    is another partition and never makes a week stale.
    """
    graph = definitions.get_repository_def().asset_graph
    ancestors = dg.AssetSelection.assets(target).upstream().resolve(graph) - {target}
    latest = {key: _latest_storage_id(instance, key, partition_key) for key in ancestors}
    stale = []
    for key in sorted(ancestors, key=lambda k: k.to_user_string()):
        parents = graph.get(key).parent_keys - {key}
        for parent in sorted(parents, key=lambda k: k.to_user_string()):
            mine, theirs = latest[key], latest.get(parent)
            if mine is not None and theirs is not None and theirs > mine:
                stale.append(
                    f"{key.to_user_string()} is older than the latest {parent.to_user_string()}"
                )
    return stale


def refusals(instance: dg.DagsterInstance, target: dg.AssetKey, partition_key: str) -> list[str]:
    """Every reason `target` must not run for this week, read against the code location's
    whole graph ([] when it may)."""
    # The code location imports the assets that call this: import it when first needed.
    from engagement_ranker.definitions import code_location

    definitions = code_location()
    return [
        *unmet_checks(instance, guarding_checks(definitions, target), partition_key),
        *stale_assets(instance, definitions, target, partition_key),
    ]
