"""The write protocol: gate, mode, before image, diff, batches, restore on failure, read-back.

HubSpot applies one batch all-or-nothing, but a run of batches is not atomic, so "no partial
writes" comes from here: validate everything first, write only what changed, and when batch k
fails, put batches 1..k back to their before image and fail loudly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd
from pydantic import Field

from engagement_ranker.clients.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    ScopeError,
    ValidationError,
)
from engagement_ranker.clients.hubspot import HubSpotClient
from engagement_ranker.constants import (
    ENGAGEMENT_PROPERTIES,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
    WriteMode,
)
from engagement_ranker.core.anomalies import Anomaly
from engagement_ranker.core.settings import SettingError, parse_company_ids, parse_write_mode
from engagement_ranker.core.writeplan import (
    CompanyWrite,
    WritePlan,
    batches,
    intended_values,
    plan_writes,
    property_problems,
    readback_mismatches,
)
from engagement_ranker.defs.anomaly_metadata import warnings_as_anomalies
from engagement_ranker.defs.checks import GATING_CHECK_KEYS
from engagement_ranker.defs.gate import stale_assets, unmet_checks
from engagement_ranker.defs.metadata import markdown_table
from engagement_ranker.defs.partitions import latest_week_key, week_of
from engagement_ranker.defs.resources import HubSpotResource, RankerSettings

SHORT_NAMES: dict[str, str] = {PROP_SCORE: "score", PROP_RANK: "rank", PROP_TIER: "tier"}
AUDIT_COLUMNS: tuple[str, ...] = (
    "mode",
    "company_id",
    "name",
    "outcome",
    "batch",
    *(
        f"{stage}_{short}"
        for stage in ("before", "after", "readback")
        for short in SHORT_NAMES.values()
    ),
    "readback_ok",
)
# Errors after which HubSpot is known not to have applied the batch (so it needs no restore).
NOT_APPLIED = (ValidationError, AuthError, ScopeError)
# Batch updates in flight at once after the first. One at a time, each waits a round trip for
# the previous; HubSpot's rolling window is the real bound, and the limiter keeps to it.
UPDATES_IN_FLIGHT = 4


class WritebackConfig(dg.Config):
    """How far this run may write; unset fields fall back to the environment."""

    mode: str | None = Field(
        default=None,
        description="dry-run | allowlist | full. Unset: ENGAGEMENT_WRITE_MODE, else dry-run.",
    )
    allowlist: list[str] | None = Field(
        default=None,
        description="Company ids for allowlist mode. Unset: ENGAGEMENT_WRITE_ALLOWLIST.",
    )
    write_historical_week: bool = Field(
        default=False,
        description="HubSpot holds the current week; set true to write an older week anyway.",
    )


@dataclass
class WritebackResult:
    audit: pd.DataFrame
    anomalies: list[Anomaly] = field(default_factory=list)
    metadata: dict[str, object] = field(default_factory=dict)


class WriteRefused(dg.Failure):
    """The gate or a preflight said no; nothing was written (and the alert says so)."""

    def __init__(self, description: str, metadata: Mapping[str, object] | None = None) -> None:
        super().__init__(description=description, metadata={**(metadata or {}), "written": 0})


def _audit(
    plan: WritePlan,
    intended: Mapping[str, Mapping[str, str]],
    before: Mapping[str, Mapping[str, str | None]],
    names: Mapping[str, str],
    batch_of: Mapping[str, int],
    readback: Mapping[str, Mapping[str, str | None]],
    not_written: str,
) -> pd.DataFrame:
    """One row per ranked company: what it held, what it should hold, what happened."""
    outcomes = (
        {company_id: "unchanged" for company_id in plan.unchanged}
        | {company_id: "not written: not on the allowlist" for company_id in plan.held_back}
        | {
            w.company_id: "written" if w.company_id in batch_of else f"not written: {not_written}"
            for w in plan.changes
        }
    )
    rows = []
    for company_id, outcome in outcomes.items():
        actual = readback.get(company_id)
        row: dict[str, object] = {
            "company_id": company_id,
            "name": names.get(company_id, ""),
            "outcome": outcome,
            "batch": batch_of.get(company_id),
        }
        for prop, short in SHORT_NAMES.items():
            row[f"before_{short}"] = before.get(company_id, {}).get(prop)
            row[f"after_{short}"] = intended[company_id][prop]
            row[f"readback_{short}"] = None if actual is None else actual.get(prop)
        row["readback_ok"] = (
            not readback_mismatches({company_id: intended[company_id]}, {company_id: actual or {}})
            if company_id in batch_of
            else None
        )
        rows.append(row)
    audit = pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))
    return (
        audit.astype({"batch": "Int64", "readback_ok": "boolean"})
        .sort_values("company_id", key=lambda ids: ids.astype("int64"), kind="stable")
        .reset_index(drop=True)
    )


def _resolve_mode(
    config: WritebackConfig, settings: RankerSettings
) -> tuple[WriteMode, tuple[str, ...]]:
    mode = (
        parse_write_mode(config.mode, "hubspot_writeback config 'mode'")
        if config.mode
        else settings.default_mode()
    )
    allowlist = (
        parse_company_ids(config.allowlist, "hubspot_writeback config 'allowlist'")
        if config.allowlist is not None
        else settings.default_allowlist()
    )
    if mode is WriteMode.ALLOWLIST and not allowlist:
        raise SettingError(
            "write mode is allowlist but no company ids are listed: set "
            "ENGAGEMENT_WRITE_ALLOWLIST or the run config 'allowlist'"
        )
    return mode, allowlist


def _restore(
    client: HubSpotClient, written: Sequence[Sequence[CompanyWrite]], log: dg.DagsterLogManager
) -> tuple[int, list[str]]:
    """Put companies back to their before image; HubSpot clears a property given ""."""
    restored, failures = 0, []
    for batch in written:
        try:
            client.update_companies(
                [(w.company_id, {p: (w.before.get(p) or "") for p in w.after}) for w in batch]
            )
            restored += len(batch)
        except NotFoundError as error:
            # HubSpot applied the rest of the batch; records deleted meanwhile hold nothing.
            gone = set(error.ids)
            restored += len(batch) - len(gone)
            log.warning(f"companies {', '.join(sorted(gone))} no longer exist; nothing to restore")
        except ApiError as error:
            ids = ", ".join(w.company_id for w in batch)
            failures.append(f"could not restore companies {ids}: {error}")
            log.error(failures[-1])
    return restored, failures


@dataclass
class _Sent:
    """What the batch updates of one run did, batch by batch (numbers from 1).

    The sending threads record each batch as it starts and as it ends, so that what may have
    been applied is known whatever the run's own thread was doing when interrupted.
    """

    started: set[int] = field(default_factory=set)
    applied: set[int] = field(default_factory=set)
    failed: dict[int, BaseException] = field(default_factory=dict)
    # The interruption (a terminated run) met by the run's thread, if any.
    interrupted: BaseException | None = None

    @property
    def stopped(self) -> bool:
        """Whether sending must stop: a batch failed or the run was interrupted."""
        return bool(self.failed) or self.interrupted is not None

    def suspect(self) -> list[int]:
        """Batches HubSpot may have applied: every one started, but those it refused."""
        return sorted(n for n in self.started if not isinstance(self.failed.get(n), NOT_APPLIED))


def _send(
    client: HubSpotClient, planned: Sequence[Sequence[CompanyWrite]], log: dg.DagsterLogManager
) -> _Sent:
    """Send the batches: the first alone, then up to UPDATES_IN_FLIGHT at a time.

    The first batch alone finds values HubSpot refuses while nothing else is written. After a
    failure or an interruption nothing more is sent, and every batch in flight is let finish
    (its own timeouts bound it) so that the restore knows all that may have been applied and
    cannot race it.
    """
    sent = _Sent()

    def update(number: int) -> int:
        sent.started.add(number)
        try:
            client.update_companies([(w.company_id, dict(w.after)) for w in planned[number - 1]])
        except BaseException as error:
            sent.failed[number] = error
            raise
        sent.applied.add(number)
        return number

    queue = list(range(1, len(planned) + 1))
    in_flight: set[Future[int]] = set()
    with ThreadPoolExecutor(UPDATES_IN_FLIGHT) as pool:
        while (queue and not sent.stopped) or in_flight:
            try:
                room = 1 if not sent.applied else UPDATES_IN_FLIGHT
                while queue and len(in_flight) < room and not sent.stopped:
                    in_flight.add(pool.submit(update, queue.pop(0)))
                finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for number in sorted(f.result() for f in finished if f.exception() is None):
                    log.info(
                        f"batch {number}/{len(planned)}: "
                        f"{len(planned[number - 1])} companies written"
                    )
            except BaseException as error:  # an interruption stays one, after the restore
                sent.interrupted = sent.interrupted or error
                in_flight = {future for future in in_flight if not future.done()}
    return sent


def _apply(
    client: HubSpotClient,
    changes: Sequence[CompanyWrite],
    log: dg.DagsterLogManager,
) -> dict[str, int]:
    """Write every batch; on any failure restore what may have been applied, then raise."""
    planned = batches(changes)
    sent = _send(client, planned, log)
    if not sent.stopped:
        return {w.company_id: n for n in sorted(sent.applied) for w in planned[n - 1]}
    restored, failures = _restore(client, [planned[n - 1] for n in sent.suspect()], log)
    outcome = (
        f"restored {restored} companies to their values before the run"
        if not failures
        else f"restored {restored} companies; RESTORE INCOMPLETE: {'; '.join(failures)}"
    )
    if sent.interrupted is not None:
        log.error(f"HubSpot batch updates interrupted. {outcome}")
        raise sent.interrupted
    number, error = min(sent.failed.items())
    what = f"HubSpot batch update {number} of {len(planned)} failed: {error}."
    log.error(f"{what} {outcome}")
    raise dg.Failure(
        description=f"{what} Nothing is left half-written: {outcome}."
        if not failures
        else f"{what} {outcome}",
        metadata={
            "failed_batch": number,
            "batches": len(planned),
            "restored": restored,
            "restore_failures": dg.MetadataValue.json(failures),
        },
    ) from error


def _preflight(
    hubspot: HubSpotResource,
    client: HubSpotClient,
    intended: Mapping[str, Mapping[str, str]],
    mode: WriteMode,
    allowlist: Sequence[str],
) -> tuple[dict[str, dict[str, str | None]], WritePlan]:
    """Everything checked before the first write: existence, the before image, definitions.

    The before image goes first: at scale it is a hundred calls, and HubSpot's rolling window
    still holds the universe's reads; the definitions after it find room sooner than its last
    pages would behind them (and when this run's check read them, they are not read again).
    """
    before, missing = client.read_companies(list(intended), ENGAGEMENT_PROPERTIES)
    if missing:
        raise WriteRefused(
            description=f"Nothing written: companies {', '.join(missing)} are ranked but "
            "HubSpot no longer has them (deleted or merged since the universe was read); "
            "re-materialize customer_companies and rerun."
        )
    problems = property_problems(hubspot.engagement_definitions(client))
    if problems:
        raise WriteRefused(
            description="Nothing written: HubSpot property definitions do not accept our "
            f"values: {'; '.join(problems)}",
            metadata={"problems": dg.MetadataValue.json(problems)},
        )
    return before, plan_writes(intended, before, mode, allowlist)


def write_week(
    context: dg.AssetExecutionContext,
    config: WritebackConfig,
    hubspot: HubSpotResource,
    settings: RankerSettings,
    ranked: pd.DataFrame,
) -> WritebackResult:
    """The whole protocol for one week; see the module docstring."""
    week = week_of(context)
    try:
        mode, allowlist = _resolve_mode(config, settings)
    except SettingError as error:
        raise WriteRefused(description=f"Nothing written: {error}") from error
    unmet = unmet_checks(context.instance, GATING_CHECK_KEYS, context.partition_key)
    stale = stale_assets(
        context.instance,
        context.job_def.asset_layer.asset_graph,
        context.asset_key,
        context.partition_key,
    )
    if unmet or stale:
        raise WriteRefused(
            description="Refusing to write to HubSpot: for week "
            f"{week.key}, {'; '.join([*unmet, *stale])}. Re-materialize the upstream assets "
            "for this week (their checks run with them).",
            metadata={"unmet_checks": dg.MetadataValue.json([*unmet, *stale])},
        )
    historical = week.key != latest_week_key() and not config.write_historical_week
    # HubSpot holds the current week: an older one is planned like a dry run, never written.
    effective = WriteMode.DRY_RUN if historical else mode
    intended = intended_values(ranked)
    names = dict(zip(ranked["company_id"], ranked["name"].fillna(""), strict=True))

    with hubspot.client() as client:
        try:
            before, plan = _preflight(hubspot, client, intended, effective, allowlist)
        except ApiError as error:
            raise WriteRefused(description=f"Nothing written: {error}") from error
        writing = effective is not WriteMode.DRY_RUN and plan.changes
        batch_of = _apply(client, plan.changes, context.log) if writing else {}
        readback: Mapping[str, Mapping[str, str | None]] = {}
        if batch_of:
            try:
                readback, _ = client.read_companies(list(batch_of), ENGAGEMENT_PROPERTIES)
            except ApiError as error:
                # The write went out; an unreadable result fails `readback_matches`, not this.
                context.log.error(f"read-back after writing failed: {error}")
        warnings = list(client.warnings)

    not_written = "historical week" if historical else str(mode.value)
    audit = _audit(plan, intended, before, names, batch_of, readback, not_written).assign(
        mode=effective.value
    )[list(AUDIT_COLUMNS)]
    written = int((audit["outcome"] == "written").sum())
    return WritebackResult(
        audit=audit,
        anomalies=warnings_as_anomalies("HubSpot", warnings),
        metadata={
            "mode": "historical week (not written)" if historical else mode.value,
            "written": written,
            "unchanged": len(plan.unchanged),
            "would_write": len(plan.changes) - written,
            "batches": len(set(batch_of.values())),
            "changes": markdown_table(audit[audit["outcome"] != "unchanged"].head(20)),
        },
    )
