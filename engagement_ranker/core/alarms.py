"""Alarms on a week's data before it ranks: broken data must stop the write, odd data must be seen.

A renamed Yobi field reads as zero for every tenant; a sync that half ran reads as a week with
fewer calls; a bulk edit in HubSpot reads as a smaller customer universe. Each is compared
with the trailing weeks the warehouse holds (their median, so one odd week in the history does
not move the yardstick) and reported as an `Anomaly` whose message carries the reason and the
fix. How severe each kind is (stop the write, or only warn) is a setting (ALARM_SEVERITIES).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

import pandas as pd

from engagement_ranker.constants import (
    ALARM_HISTORY_WEEKS,
    METRICS,
    Env,
)
from engagement_ranker.core.anomalies import Anomaly, AnomalyKind
from engagement_ranker.core.frames import require_columns
from engagement_ranker.core.identity import weekly_activity

# Fewer stored weeks than this make no yardstick: the trend alarms stay silent.
MIN_HISTORY_WEEKS = 2
# The universe at or below this share of its median is "halved": a severe alarm of its own.
UNIVERSE_HALVED_SHARE = Fraction(1, 2)
WEEK_COLUMN = "week"


class AlarmSeverity(StrEnum):
    """What a data alarm does: stop the write (error) or show and let it go ahead (warn)."""

    ERROR = "error"
    WARN = "warn"


ALARM_KINDS: tuple[AnomalyKind, ...] = (
    AnomalyKind.COUNTER_ALL_ZERO,
    AnomalyKind.COUNTER_SHIFT,
    AnomalyKind.UNIVERSE_HALVED,
    AnomalyKind.UNIVERSE_SHIFT,
    AnomalyKind.MAPPED_SHARE_SHIFT,
    AnomalyKind.TENANT_JUMP,
)
# A counter all zero and a halved universe are broken data; the rest may be real life.
DEFAULT_SEVERITIES: Mapping[AnomalyKind, AlarmSeverity] = {
    kind: AlarmSeverity.ERROR
    if kind in (AnomalyKind.COUNTER_ALL_ZERO, AnomalyKind.UNIVERSE_HALVED)
    else AlarmSeverity.WARN
    for kind in ALARM_KINDS
}
_SEVERITIES_EXAMPLE = "counter_shift=error,tenant_jump=warn"


def parse_severities(text: str | None) -> dict[AnomalyKind, AlarmSeverity]:
    """Every alarm's severity: the defaults, with `text`'s "kind=error|warn" pairs over them.

    ValueError (one line, naming the variable, the entry and the fix) for an unknown kind, an
    unknown severity or an entry without "=".
    """
    severities = dict(DEFAULT_SEVERITIES)
    kinds = ", ".join(kind.value for kind in ALARM_KINDS)
    for entry in filter(None, (part.strip() for part in (text or "").split(","))):
        name, equals, level = (part.strip().lower() for part in entry.partition("="))
        if not equals:
            raise ValueError(
                f"{Env.ALARM_SEVERITIES} entry {entry!r} is not kind=severity: write e.g. "
                f"{_SEVERITIES_EXAMPLE}"
            )
        if name not in {kind.value for kind in ALARM_KINDS}:
            raise ValueError(
                f"{Env.ALARM_SEVERITIES} entry {entry!r} names no alarm: use one of {kinds}"
            )
        if level not in {severity.value for severity in AlarmSeverity}:
            raise ValueError(
                f"{Env.ALARM_SEVERITIES} entry {entry!r} has no severity error or warn: "
                f"write e.g. {_SEVERITIES_EXAMPLE}"
            )
        severities[AnomalyKind(name)] = AlarmSeverity(level)
    return severities


@dataclass(frozen=True)
class Shift:
    """A figure outside its band: this week's value, the trailing median, the weeks behind it."""

    now: float
    median: float
    weeks: int

    @property
    def change(self) -> float:
        """Relative to the median: -0.6 is 60% below it."""
        return (self.now - self.median) / self.median

    def words(self, shown: Callable[[float], str] | None = None) -> str:
        """How a message says it: "60% below its median of 3,085 over the 4 stored weeks
        before" (the median as `shown` writes it; a count by default)."""
        direction = "below" if self.change < 0 else "above"
        return (
            f"{abs(self.change):.0%} {direction} its median of "
            f"{(shown or figure)(self.median)} over the {self.weeks} stored weeks before"
        )


def figure(value: float) -> str:
    """A count as a person reads it: 3,085, or 3,085.5 for a median between two weeks."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def shift(now: float, history: Sequence[float], band: float) -> Shift | None:
    """`now` against the median of `history` (the trailing weeks), when it moved further than
    `band` (a share of the median); None inside the band, with too few weeks or a median of 0
    (nothing to be a share of)."""
    if len(history) < MIN_HISTORY_WEEKS:
        return None
    median = float(statistics.median(history))
    if median == 0 or abs(now - median) <= band * median:
        return None
    return Shift(float(now), median, len(history))


def _by_week(history: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The trailing weeks of a stored table, oldest first, at most ALARM_HISTORY_WEEKS."""
    if history.empty:
        return []
    require_columns(history, (WEEK_COLUMN,), "stored history")
    weeks = sorted(history[WEEK_COLUMN].astype(str).unique())[-ALARM_HISTORY_WEEKS:]
    keys = history[WEEK_COLUMN].astype(str)
    return [(week, history[keys == week]) for week in weeks]


def counter_alarms(metrics: pd.DataFrame, history: pd.DataFrame, band: float) -> list[Anomaly]:
    """A counter zero for every tenant (a renamed or dropped field), and a counter whose
    total moved beyond `band` from its trailing median."""
    require_columns(metrics, ("tenant_id", *METRICS), "weekly metrics")
    if metrics.empty:
        return []
    weeks = _by_week(history)
    found: list[Anomaly] = []
    for metric in METRICS:
        total = int(metrics[metric.value].fillna(0).sum())
        if total == 0:
            found.append(
                Anomaly(
                    AnomalyKind.COUNTER_ALL_ZERO,
                    f"{metric.value} is 0 for every one of the {len(metrics):,} Yobi tenants "
                    f"this week: Yobi has most likely renamed or stopped sending the field. "
                    f"Run `engagement-ranker spike` to see what Yobi sends now, correct the "
                    f"contract ({Env.YOBI_CONTRACT_FILE}), then re-materialize weekly_metrics; "
                    "the week is not ranked or written until then",
                )
            )
            continue
        totals = [float(week[metric.value].fillna(0).sum()) for _, week in weeks]
        moved = shift(total, totals, band)
        if moved is not None:
            found.append(
                Anomaly(
                    AnomalyKind.COUNTER_SHIFT,
                    f"{metric.value} totals {total:,} this week, {moved.words()} (band "
                    f"±{band:.0%}, {Env.ALARM_COUNTER_BAND}): check Yobi for an outage or a "
                    "partial sync of this week before trusting its ranking",
                )
            )
    return found


def tenant_jump_alarms(
    metrics: pd.DataFrame, history: pd.DataFrame, factor: float
) -> list[Anomaly]:
    """Tenants whose activity (calls + tasks + appointments) is more than `factor` times their
    own trailing median (a median of 0 counts as 1, so a dormant tenant bursting shows too)."""
    if metrics.empty:
        return []
    now = weekly_activity(metrics)
    past: dict[int, list[int]] = {}
    for _, week in _by_week(history):
        for tenant_id, activity in weekly_activity(week).items():
            past.setdefault(tenant_id, []).append(activity)
    found = []
    for tenant_id in sorted(now):
        weeks = past.get(tenant_id, [])
        if len(weeks) < MIN_HISTORY_WEEKS:
            continue
        median = float(statistics.median(weeks))
        if now[tenant_id] > factor * max(median, 1.0):
            found.append(
                Anomaly(
                    AnomalyKind.TENANT_JUMP,
                    f"Yobi tenant {tenant_id}: activity {now[tenant_id]:,} this week, "
                    f"{now[tenant_id] / max(median, 1.0):,.0f}× its median of {figure(median)} over "
                    f"the {len(weeks)} stored weeks before ({Env.ALARM_TENANT_JUMP}={factor:g}): "
                    "check the tenant in Yobi (an import, a duplicated location) before its "
                    "company's rank is trusted",
                    tenant_id=tenant_id,
                )
            )
    return found


def _included(universe: pd.DataFrame) -> int:
    return int(universe["excluded_reason"].isna().sum())


def universe_alarms(universe: pd.DataFrame, history: pd.DataFrame, band: float) -> list[Anomaly]:
    """The customer universe (companies not excluded) halved, or beyond `band` from its
    trailing median."""
    require_columns(universe, ("company_id", "excluded_reason"), "customer companies")
    now = _included(universe)
    counts = [float(_included(week)) for _, week in _by_week(history)]
    if len(counts) >= MIN_HISTORY_WEEKS:
        median = float(statistics.median(counts))
        if median and now <= UNIVERSE_HALVED_SHARE * median:
            return [
                Anomaly(
                    AnomalyKind.UNIVERSE_HALVED,
                    f"only {now:,} customer companies this week, half or fewer of the median "
                    f"{figure(median)} over the {len(counts)} stored weeks before: contacts likely "
                    "lost lifecyclestage=customer or their company associations in a bulk edit "
                    f"or import; check them in HubSpot (and {Env.HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON}), "
                    "then re-materialize customer_companies",
                )
            ]
    moved = shift(now, counts, band)
    if moved is None:
        return []
    return [
        Anomaly(
            AnomalyKind.UNIVERSE_SHIFT,
            f"{now:,} customer companies this week, {moved.words()} (band ±{band:.0%}, "
            f"{Env.ALARM_UNIVERSE_BAND}): check that the change in HubSpot's customers is real",
        )
    ]


def _mapped_share(mapping: pd.DataFrame) -> float | None:
    return float(mapping["tenant_id"].notna().mean()) if len(mapping) else None


def mapped_share_alarms(mapping: pd.DataFrame, history: pd.DataFrame, band: float) -> list[Anomaly]:
    """The share of companies that found a tenant, beyond `band` from its trailing median."""
    require_columns(mapping, ("company_id", "tenant_id"), "tenant mapping")
    now = _mapped_share(mapping)
    shares = [s for _, week in _by_week(history) if (s := _mapped_share(week)) is not None]
    moved = None if now is None else shift(now, shares, band)
    if moved is None:
        return []
    return [
        Anomaly(
            AnomalyKind.MAPPED_SHARE_SHIFT,
            f"{moved.now:.0%} of companies map to a Yobi tenant this week, "
            f"{moved.words(lambda share: f'{share:.0%}')} (band ±{band:.0%}, "
            f"{Env.ALARM_MAPPED_SHARE_BAND}): check Yobi's tenant websites and names, and "
            f"{Env.TENANT_MAPPING_OVERRIDES_JSON} (tenant_mapping lists the unmapped companies)",
        )
    ]


def of_kinds(anomalies: Sequence[Anomaly], kinds: Sequence[AnomalyKind]) -> list[Anomaly]:
    """The anomalies of the given kinds, in their order."""
    return [a for a in anomalies if a.kind in kinds]


def severity_of(
    found: Sequence[Anomaly], severities: Mapping[AnomalyKind, AlarmSeverity]
) -> AlarmSeverity:
    """Error when any alarm found is configured as one, else warn."""
    if any(severities[a.kind] is AlarmSeverity.ERROR for a in found):
        return AlarmSeverity.ERROR
    return AlarmSeverity.WARN
