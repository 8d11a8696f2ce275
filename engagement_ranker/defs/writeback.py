"""The parts of the write protocol that belong to Dagster: the run's write options, the mode
the run resolves once, the refusals, and the audit table the writeback stores.

The protocol itself reads in `hubspot_writeback` (defs/assets.py); what to write is decided in
core/writeplan.py and how batches go out and come back in clients/hubspot_writes.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg
import pandas as pd
from pydantic import Field

from engagement_ranker.clients.hubspot_writes import WriteFailed
from engagement_ranker.constants import PROP_RANK, PROP_SCORE, PROP_TIER, WriteMode
from engagement_ranker.core.week import WeekRole
from engagement_ranker.core.writeplan import (
    CompanyOutcome,
    WriteOutcome,
    WritePlan,
    readback_mismatches,
)
from engagement_ranker.defs.metadata import MetadataEntry
from engagement_ranker.settings import (
    SettingError,
    WriteSettings,
    parse_company_ids,
    parse_write_mode,
)

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
# The failure metadata key carrying a failed write's WriteOutcome, for the alert.
OUTCOME_KEY = "write_outcome"


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


@dataclass(frozen=True)
class WriteIntent:
    """The mode a run asked for, the mode it writes with (a historical week is a dry run),
    and the companies an allowlist lets through."""

    mode: WriteMode
    effective: WriteMode
    allowlist: tuple[str, ...]
    held: CompanyOutcome  # the outcome of a change the effective mode does not send

    @property
    def writes(self) -> bool:
        return self.effective is not WriteMode.DRY_RUN


def resolve_intent(config: WritebackConfig, settings: WriteSettings, role: WeekRole) -> WriteIntent:
    """The run's write options against the environment's, decided once for the run."""
    mode = (
        parse_write_mode(config.mode, "hubspot_writeback config 'mode'")
        if config.mode
        else settings.mode
    )
    allowlist = (
        parse_company_ids(config.allowlist, "hubspot_writeback config 'allowlist'")
        if config.allowlist is not None
        else settings.allowlist
    )
    if config.allowlist and mode is not WriteMode.ALLOWLIST:
        raise SettingError(
            f"an allowlist was given but the write mode is {mode.value}: use mode allowlist to "
            "write only the listed companies, or drop the allowlist to write them all"
        )
    if mode is WriteMode.ALLOWLIST and not allowlist:
        raise SettingError(
            "write mode is allowlist but no company ids are listed: set "
            "ENGAGEMENT_WRITE_ALLOWLIST or the run config 'allowlist'"
        )
    historical = role is WeekRole.HISTORICAL and not config.write_historical_week
    return WriteIntent(
        mode=mode,
        effective=WriteMode.DRY_RUN if historical else mode,
        allowlist=allowlist,
        held=CompanyOutcome.HISTORICAL_WEEK if historical else CompanyOutcome.DRY_RUN,
    )


class WriteRefused(dg.Failure):
    """The gate or a preflight said no; nothing was written (and the alert says so)."""

    def __init__(
        self, description: str, metadata: Mapping[str, MetadataEntry] | None = None
    ) -> None:
        super().__init__(
            description=description,
            metadata={**(metadata or {}), OUTCOME_KEY: WriteOutcome.NOTHING_WRITTEN.value},
        )


def audited_mode(audit: pd.DataFrame) -> WriteMode:
    """The mode a week's writeback ran in, from its audit (dry-run when it audited nothing)."""
    return WriteMode(audit["mode"].iloc[0]) if len(audit) else WriteMode.DRY_RUN


def audit_frame(
    intent: WriteIntent,
    plan: WritePlan,
    intended: Mapping[str, Mapping[str, str]],
    before: Mapping[str, Mapping[str, str | None]],
    names: Mapping[str, str],
    batch_of: Mapping[str, int],
    readback: Mapping[str, Mapping[str, str | None]],
) -> pd.DataFrame:
    """One row per ranked company: what it held, what it should hold, what happened."""
    outcomes = (
        dict.fromkeys(plan.unchanged, CompanyOutcome.UNCHANGED)
        | dict.fromkeys(plan.held_back, CompanyOutcome.NOT_ON_ALLOWLIST)
        | {
            w.company_id: CompanyOutcome.WRITTEN if w.company_id in batch_of else intent.held
            for w in plan.changes
        }
    )
    rows = []
    for company_id, outcome in outcomes.items():
        actual = readback.get(company_id)
        row: dict[str, object] = {
            "mode": intent.effective.value,
            "company_id": company_id,
            "name": names.get(company_id, ""),
            "outcome": outcome.value,
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


def write_failure(failure: WriteFailed) -> dg.Failure:
    """The writeback's failure after a failed batch: its words, and what HubSpot now holds
    (read back) for the alert."""
    restored = failure.restored
    outcome = (
        WriteOutcome.RESTORE_INCOMPLETE
        if not restored.complete
        else WriteOutcome.RESTORED
        if restored.restored
        else WriteOutcome.NOTHING_WRITTEN
    )
    return dg.Failure(
        description=str(failure),
        metadata={
            OUTCOME_KEY: outcome.value,
            "failed_batch": failure.failed_batch,
            "batches": failure.batches,
            "restored": len(restored.restored),
            "changed_by_others": dg.MetadataValue.json(restored.changed_by_others),
            "restore_refused": dg.MetadataValue.json(restored.refused),
            "unverified": dg.MetadataValue.json(restored.unverified),
        },
    )
