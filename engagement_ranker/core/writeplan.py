"""What to write to HubSpot, decided entirely before the first write.

HubSpot rejects a batch whole on a bad value but a run of batches is not atomic, so every
decision that can be made in advance is made here, as data: the intended values, the diff
against the before image, what the write mode holds back, the batches, whether the property
definitions accept our values, and afterwards whether HubSpot holds what we sent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import pandas as pd

from engagement_ranker.constants import (
    ENGAGEMENT_PROPERTIES,
    HUBSPOT_BATCH_UPDATE_MAX,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
    TIER_LABELS,
    WriteMode,
)
from engagement_ranker.core.frames import rows

_SETTINGS_PATH = "HubSpot Settings > Properties > Company properties"
# (type, allowed fieldTypes, how to create it) for properties that hold free text or numbers.
_PLAIN_SHAPES: dict[str, tuple[str, frozenset[str], str]] = {
    PROP_SCORE: ("number", frozenset({"number"}), "Number"),
    PROP_RANK: ("string", frozenset({"text", "textarea"}), "Single-line text"),
    PROP_TIER: ("string", frozenset({"text"}), "Single-line text (or a dropdown)"),
}
_ENUMERATION = "enumeration"


class CompanyOutcome(StrEnum):
    """What a run did with one ranked company (the audit's `outcome`)."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"
    DRY_RUN = "not written: dry-run"
    NOT_ON_ALLOWLIST = "not written: not on the allowlist"
    HISTORICAL_WEEK = "not written: historical week"
    NOT_SENT = "not written: the write failed"


class WriteOutcome(StrEnum):
    """What a failed write left in HubSpot, for the alert."""

    NOTHING_WRITTEN = "nothing_written"
    RESTORED = "restored"
    RESTORE_INCOMPLETE = "restore_incomplete"


@dataclass(frozen=True)
class CompanyWrite:
    """One company's update: the three properties before, and the values to send."""

    company_id: str
    before: Mapping[str, str | None]
    after: Mapping[str, str]


@dataclass(frozen=True)
class WritePlan:
    """Changed companies to send; ids already up to date; ids the allowlist keeps back."""

    changes: tuple[CompanyWrite, ...]
    unchanged: tuple[str, ...]
    held_back: tuple[str, ...]


def intended_values(ranked: pd.DataFrame) -> dict[str, dict[str, str]]:
    """company_id -> the three properties as HubSpot strings (score as a plain integer)."""
    return {
        str(row.company_id): {
            PROP_SCORE: str(int(row.score)),
            PROP_RANK: str(row.rank_text),
            PROP_TIER: str(row.tier),
        }
        for row in rows(ranked)
    }


def _as_number(value: str | None) -> Decimal | None:
    try:
        return None if value is None else Decimal(value.strip())
    except InvalidOperation:
        return None


def same_value(prop: str, ours: str | None, theirs: str | None) -> bool:
    """HubSpot-style equality: numbers compare numerically ("37" == "37.0"), text exactly."""
    if prop == PROP_SCORE:
        ours_n, theirs_n = _as_number(ours), _as_number(theirs)
        if ours_n is not None and theirs_n is not None:
            return ours_n == theirs_n
    return ours == theirs


def _unchanged(after: Mapping[str, str], before: Mapping[str, str | None]) -> bool:
    return all(same_value(p, v, before.get(p)) for p, v in after.items())


def plan_writes(
    intended: Mapping[str, Mapping[str, str]],
    before_image: Mapping[str, Mapping[str, str | None]],
    mode: WriteMode,
    allowlist: Collection[str],
) -> WritePlan:
    """Diff intended values against HubSpot's current ones, in numeric company-id order.

    Only changed companies are sent. In allowlist mode, changed companies not on the list are
    held back; dry-run plans the full set of changes (what would be written) and the caller
    sends nothing.
    """
    allowed = frozenset(allowlist)
    changes: list[CompanyWrite] = []
    unchanged: list[str] = []
    held_back: list[str] = []
    for company_id in sorted(intended, key=int):
        after = dict(intended[company_id])
        current = before_image.get(company_id, {})
        before = {p: current.get(p) for p in after}
        if _unchanged(after, before):
            unchanged.append(company_id)
        elif mode is WriteMode.ALLOWLIST and company_id not in allowed:
            held_back.append(company_id)
        else:
            changes.append(CompanyWrite(company_id, before, after))
    return WritePlan(tuple(changes), tuple(unchanged), tuple(held_back))


def batches(
    changes: Sequence[CompanyWrite], size: int = HUBSPOT_BATCH_UPDATE_MAX
) -> list[tuple[CompanyWrite, ...]]:
    """Consecutive groups of at most `size` (HubSpot's batch update takes 100)."""
    if not 1 <= size <= HUBSPOT_BATCH_UPDATE_MAX:
        raise ValueError(
            f"batch size {size} is outside 1..{HUBSPOT_BATCH_UPDATE_MAX} (HubSpot's limit)"
        )
    return [tuple(changes[i : i + size]) for i in range(0, len(changes), size)]


def _shape_problem(name: str, definition: Mapping) -> str | None:
    kind, field = definition.get("type"), definition.get("fieldType")
    expected_type, fields, create_as = _PLAIN_SHAPES[name]
    if name == PROP_TIER and kind == _ENUMERATION:
        values = {o.get("value") for o in definition.get("options") or ()}
        missing = [label for label in TIER_LABELS if label not in values]
        if missing:
            return (
                f"{name} is a dropdown whose option values lack {', '.join(map(repr, missing))} "
                f"(internal values must match exactly, labels do not count); add options with "
                f"exactly these values in {_SETTINGS_PATH}"
            )
        return None
    if kind != expected_type or field not in fields:
        return (
            f"{name} is type {kind!r} / field type {field!r}, which cannot hold our values; "
            f"recreate it in {_SETTINGS_PATH} as {create_as}"
        )
    return None


def property_problems(definitions: Mapping[str, Mapping | None]) -> list[str]:
    """Why HubSpot would refuse our values, one message per problem ([] = safe to write)."""
    problems: list[str] = []
    for name in ENGAGEMENT_PROPERTIES:
        definition = definitions.get(name)
        if definition is None:
            _, _, create_as = _PLAIN_SHAPES[name]
            problems.append(
                f"{name} does not exist in HubSpot; create it in {_SETTINGS_PATH} as {create_as} "
                f"with exactly this internal name"
            )
            continue
        metadata = definition.get("modificationMetadata") or {}
        if metadata.get("readOnlyValue") is True:
            problems.append(
                f"{name} is read-only (readOnlyValue: true, e.g. a calculated property); "
                f"replace it in {_SETTINGS_PATH} with a plain property of the same name"
            )
        if definition.get("hasUniqueValue") is True:
            problems.append(
                f"{name} requires unique values, but companies share scores and tiers; turn "
                f"off 'unique values' for it in {_SETTINGS_PATH}"
            )
        if (shape := _shape_problem(name, definition)) is not None:
            problems.append(shape)
    return problems


def readback_mismatches(
    intended: Mapping[str, Mapping[str, str]],
    actual: Mapping[str, Mapping[str, str | None]],
) -> list[str]:
    """Every property HubSpot does not hold as we sent it, in numeric company-id order."""
    mismatches: list[str] = []
    for company_id in sorted(intended, key=int):
        held = actual.get(company_id)
        if held is None:
            mismatches.append(f"company {company_id}: missing when read back")
            continue
        for prop, value in intended[company_id].items():
            if not same_value(prop, value, held.get(prop)):
                mismatches.append(
                    f"company {company_id}: {prop} reads back {held.get(prop)!r}, sent {value!r}"
                )
    return mismatches


def unwritten_allowlist(
    allowlist: Collection[str],
    ranked_ids: Collection[str],
    universe: pd.DataFrame,
    mapping: pd.DataFrame,
) -> list[tuple[str, str]]:
    """(company id, why) for each allowlisted company that is not ranked this week, so none
    is left out silently: not a customer company, excluded (and why), or without a tenant."""
    excluded = dict(zip(universe["company_id"], universe["excluded_reason"], strict=True))
    status = dict(zip(mapping["company_id"], mapping["status"], strict=True))
    reasons = []
    for company_id in sorted(set(allowlist) - set(ranked_ids), key=int):
        if company_id not in excluded:
            why = "it is not a customer company this week (no customer contact, or no such id)"
        elif isinstance(excluded[company_id], str):
            why = f"it is excluded: {excluded[company_id]}"
        else:
            why = (
                f"it has no Yobi tenant ({status.get(company_id, 'unmapped')}): see tenant_mapping"
            )
        reasons.append((company_id, why))
    return reasons
