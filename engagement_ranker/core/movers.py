"""Week-over-week movement: prior rank, rank and percentile deltas, why it moved, biggest
movers, odd activity.

The prior week's stored ranks are the truth when that week was ranked here; otherwise the rank
HubSpot holds (written by the last run, or by a person) is the leading integer of its text, with
N from the text or else from the last stored week; text without one is "new". N changes from
week to week, so movement is also given in percentile points, which compare across different N
(and are unknown when the prior N is). When the prior week is stored, its counters say why a
company moved: each counter's change, its points' change, and the main driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import pandas as pd

from engagement_ranker.constants import (
    METRIC_LABELS,
    METRIC_WEIGHTS,
    METRICS,
    SUMMARY_MOVERS_N,
    Metric,
)
from engagement_ranker.core.anomalies import Anomaly, AnomalyKind, company_label
from engagement_ranker.core.frames import Cell, require_columns
from engagement_ranker.core.scoring import PriorRank, check_fallback_n, parse_rank_text

PRIOR_HISTORY, PRIOR_HUBSPOT, PRIOR_NEW = "history", "hubspot", "new"
# A swing worth a human's look: at least this many places and a quarter of the field.
LARGE_SWING_MIN_RANKS = 10
LARGE_SWING_SHARE = Fraction(1, 4)
_PERCENT = 100
MINUS = "\u2212"  # a real minus sign: "−102 pts" reads as a number, "-102" as a dash
CHANGE_COLUMNS: dict[str, str] = {m.value: f"{m.value}_change" for m in METRICS}
POINTS_CHANGE_COLUMNS: dict[str, str] = {m.value: f"points_{m.value}_change" for m in METRICS}
# What attach_prior adds to explain a move; NA where the prior week's counters are unknown.
DRIVER_COLUMNS: tuple[str, ...] = (
    "score_change",
    *CHANGE_COLUMNS.values(),
    *POINTS_CHANGE_COLUMNS.values(),
    "driver_metric",
    "driver",
)
NOT_STORED = "prior week not stored (rank read from HubSpot)"


def percentile(rank: int, n: int) -> float:
    """Position as 0..100 (top = 100, bottom = 0; a lone company is 100), comparable across N."""
    return float(_PERCENT) if n == 1 else _PERCENT * (n - rank) / (n - 1)


def _history_ranks(history: pd.DataFrame | None) -> dict[str, PriorRank]:
    if history is None or history.empty:
        return {}
    require_columns(history, ("company_id", "rank", "n"), "prior-week history")
    ids = history["company_id"].map(str)
    if ids.duplicated().any():
        raise ValueError(
            f"prior-week history ranks companies more than once: "
            f"{', '.join(sorted(set(ids[ids.duplicated()]), key=int))}"
        )
    return {
        c: PriorRank(int(r), int(n))
        for c, r, n in zip(ids, history["rank"], history["n"], strict=True)
    }


def signed(value: int) -> str:
    """+12, −102, 0: a change as a person reads it."""
    return f"+{value:,}" if value > 0 else f"{MINUS}{-value:,}" if value < 0 else "0"


def main_driver(points_change: Mapping[Metric, int], direction: int) -> Metric | None:
    """The counter whose points moved furthest in `direction` (+1 up, -1 down): the main
    reason a company rose or fell. Ties go to the spec's metric priority (new patients >
    appointments > tasks > calls); None when no counter moved that way (others moved)."""
    best: Metric | None = None
    for metric in METRICS:
        moved = points_change[metric] * direction
        if moved > 0 and (best is None or moved > points_change[best] * direction):
            best = metric
    return best


def move_direction(delta: Cell, score_change: int) -> int:
    """+1 up, -1 down, 0 neither: the move in places, else (no move) the score's change."""
    if pd.notna(delta) and int(delta) != 0:
        return 1 if int(delta) > 0 else -1
    return (score_change > 0) - (score_change < 0)


def weighted(change: Mapping[Metric, int]) -> dict[Metric, int]:
    """Each counter's change in points (its change times its weight)."""
    return {m: change[m] * METRIC_WEIGHTS[m] for m in METRICS}


def why_moved(
    now: Mapping[Metric, int], change: Mapping[Metric, int], direction: int
) -> tuple[Metric | None, str | None]:
    """The main driver and the move in words: "appointments 52 → 18 (−102 pts)"; or, when
    none of the company's own counters moved its way, that the others did. (None, None) when
    it did not move at all."""
    if direction == 0:
        return None, None
    points = weighted(change)
    metric = main_driver(points, direction)
    if metric is not None:
        before = now[metric] - change[metric]
        words = (
            f"{METRIC_LABELS[metric]} {before:,} → {now[metric]:,} ({signed(points[metric])} pts)"
        )
        return metric, words
    score = sum(points.values())
    others = "others rose" if direction < 0 else "others fell"
    if score == 0:
        return None, f"score unchanged; {others}"
    return None, f"score {signed(score)} pts, but {others} more"


def _history_counters(history: pd.DataFrame | None) -> dict[str, dict[Metric, int]]:
    """The prior week's counters per company, when the stored history carries them."""
    if history is None or history.empty:
        return {}
    present = [m for m in METRICS if m.value in history.columns]
    if not present:
        return {}
    require_columns(history, [m.value for m in METRICS], "prior-week history with counters")
    counts = zip(*(history[m.value] for m in METRICS), strict=True)
    return {
        str(company_id): {m: int(v) for m, v in zip(METRICS, values, strict=True)}
        for company_id, values in zip(history["company_id"], counts, strict=True)
    }


def _changes(frame: pd.DataFrame, before: Mapping[str, Mapping[Metric, int]]) -> pd.DataFrame:
    """DRIVER_COLUMNS for each company: changes against the prior week's counters, the
    driver; NA where they are unknown (new, or a prior rank from HubSpot)."""
    rows: list[dict[str, object]] = []
    columns = ("company_id", "prior_source", "delta", *(m.value for m in METRICS))
    for company_id, source, delta, *counts in zip(*(frame[c] for c in columns), strict=True):
        now = {m: int(v) for m, v in zip(METRICS, counts, strict=True)}
        was = before.get(company_id) if source == PRIOR_HISTORY else None
        if was is None:
            rows.append({"driver": NOT_STORED if pd.notna(delta) else None})
            continue
        change = {m: now[m] - was[m] for m in METRICS}
        points = weighted(change)
        score = sum(points.values())
        driver, words = why_moved(now, change, move_direction(delta, score))
        rows.append(
            {
                "score_change": score,
                **{CHANGE_COLUMNS[m.value]: change[m] for m in METRICS},
                **{POINTS_CHANGE_COLUMNS[m.value]: points[m] for m in METRICS},
                "driver_metric": None if driver is None else driver.value,
                "driver": words,
            }
        )
    changes = pd.DataFrame(rows, columns=list(DRIVER_COLUMNS), index=frame.index)
    integers = [c for c in DRIVER_COLUMNS if c not in ("driver_metric", "driver")]
    return changes.astype(dict.fromkeys(integers, "Int64")).astype(
        {"driver_metric": "string", "driver": "string"}
    )


def attach_prior(
    ranked: pd.DataFrame,
    history: pd.DataFrame | None,
    hubspot_rank_text: Mapping[str, str | None],
    fallback_n: int | None = None,
) -> pd.DataFrame:
    """Add prior_rank, prior_n, prior_source, delta (positive = moved up), percentile_delta,
    and why it moved (DRIVER_COLUMNS).

    When the previous week is in `history`, it alone decides: a company absent from it was not
    ranked last week and is "new", even if HubSpot still holds an older rank for it. Otherwise
    HubSpot's text gives the rank; `fallback_n` (the N of the most recent stored week, if any)
    stands in for an N the text lacks. A prior without N still gives `delta`; its
    `percentile_delta` and `prior_n` are NA. `history` may carry the prior week's four
    counters: then each company ranked in both weeks gets its counters' and points' changes
    and its main driver; otherwise those are NA and a mover's `driver` says the week is not
    stored.
    """
    check_fallback_n(fallback_n)
    stored = _history_ranks(history)
    priors: list[tuple[PriorRank, str] | None] = []
    for company_id in ranked["company_id"]:
        if stored:
            found = stored.get(company_id)
            priors.append(None if found is None else (found, PRIOR_HISTORY))
        else:
            parsed = parse_rank_text(hubspot_rank_text.get(company_id), fallback_n)
            priors.append(None if parsed is None else (parsed, PRIOR_HUBSPOT))
    n = len(ranked)
    frame = ranked.copy()
    frame["prior_rank"] = pd.array(
        [None if p is None else p[0].rank for p in priors], dtype="Int64"
    )
    frame["prior_n"] = pd.array([None if p is None else p[0].n for p in priors], dtype="Int64")
    frame["prior_source"] = [PRIOR_NEW if p is None else p[1] for p in priors]
    frame["delta"] = (frame["prior_rank"] - frame["rank"]).astype("Int64")
    frame["percentile_delta"] = pd.array(
        [
            pd.NA
            if p is None or p[0].n is None
            else percentile(int(rank), n) - percentile(p[0].rank, p[0].n)
            for p, rank in zip(priors, frame["rank"], strict=True)
        ],
        dtype="Float64",
    )
    return pd.concat([frame, _changes(frame, _history_counters(history))], axis=1)


def biggest_movers(
    ranked: pd.DataFrame, k: int = SUMMARY_MOVERS_N
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(up, down): the k largest moves each way in places (the spec's delta), then percentile
    points, then the better current rank."""
    known = ranked[ranked["delta"].notna()]

    def largest(moved: pd.DataFrame, sign: int) -> pd.DataFrame:
        keyed = moved.assign(
            _points=moved["percentile_delta"] * sign, _places=moved["delta"] * sign
        )
        ordered = keyed.sort_values(
            ["_places", "_points", "rank"], ascending=[False, False, True], kind="mergesort"
        )
        return ordered.drop(columns=["_points", "_places"]).head(k).reset_index(drop=True)

    return largest(known[known["delta"] > 0], 1), largest(known[known["delta"] < 0], -1)


def _name(row: pd.Series) -> str | None:
    return row["name"] if isinstance(row["name"], str) and row["name"] else None


def _prior_text(row: pd.Series) -> str:
    """The prior as a message says it: "7 out of 12 (history)" or "7 (N unknown, hubspot)"."""
    if pd.isna(row["prior_n"]):
        return f"{row['prior_rank']} (N unknown, {row['prior_source']})"
    return f"{row['prior_rank']} out of {row['prior_n']} ({row['prior_source']})"


def activity_anomalies(ranked: pd.DataFrame) -> list[Anomaly]:
    """Companies with no activity at all, and swings of >= max(10, 25% of N) places."""
    n = len(ranked)
    anomalies: list[Anomaly] = []
    for _, row in ranked.iterrows():
        tenant_id = None if pd.isna(row["tenant_id"]) else int(row["tenant_id"])
        name = _name(row)
        common = {"company_id": row["company_id"], "company_name": name, "tenant_id": tenant_id}
        label = company_label(name, row["company_id"])
        if all(row[m.value] == 0 for m in METRICS):
            anomalies.append(
                Anomaly(
                    AnomalyKind.ZERO_ACTIVITY,
                    f"{label}: no calls, tasks or appointments in Yobi tenant {tenant_id} "
                    f"this week (ranked {row['rank_text']}); check the tenant mapping, or whether "
                    f"the practice has stopped using Yobi",
                    **common,
                )
            )
        delta = row["delta"]
        if pd.notna(delta) and abs(delta) >= max(LARGE_SWING_MIN_RANKS, LARGE_SWING_SHARE * n):
            direction = "up" if delta > 0 else "down"
            anomalies.append(
                Anomaly(
                    AnomalyKind.LARGE_SWING,
                    f"{label}: moved {direction} {abs(int(delta))} places, from "
                    f"{_prior_text(row)} to {row['rank_text']}; worth a look before it reaches "
                    f"the account manager",
                    **common,
                )
            )
    return anomalies
