"""What a run tells people: the weekly summary and the failure alert, as plain data.

Built once from the ranked frame and the run's figures, then rendered for Slack, e-mail and the
Dagster UI by `core/render.py`, so every channel says the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from engagement_ranker.constants import (
    SUMMARY_MOVERS_N,
    SUMMARY_TOP_N,
    TIER_LABELS,
    Env,
    WriteMode,
)
from engagement_ranker.core.anomalies import Anomaly, AnomalyKind
from engagement_ranker.core.movers import biggest_movers
from engagement_ranker.core.universe import ExclusionRule, describe_exclusion_rules
from engagement_ranker.core.week import Week

# The columns every company row in a summary table carries.
ROW_COLUMNS: tuple[str, ...] = (
    "company_id",
    "name",
    "rank",
    "score",
    "tier",
    "prior_rank",
    "delta",
    "driver",  # why it moved (core/movers.py), NA when it did not or the prior week is unknown
)
SCORE_BY_TIER_COLUMNS: tuple[str, ...] = (
    "tier",
    "companies",
    "min_score",
    "max_score",
    "points",
    "share",
)


def check_run_url(run_url: str | None) -> str | None:
    """A run link goes into e-mail HTML and Slack: only plain web links are allowed."""
    if run_url is not None and not run_url.startswith(("http://", "https://")):
        raise ValueError(
            f"run link {run_url!r} is not an http(s) URL; set {Env.DAGSTER_UI_URL} to the "
            "Dagster UI's address, e.g. http://localhost:3000"
        )
    return run_url


@dataclass(frozen=True, eq=False)
class Summary:
    """One week's outcome. The counts add up, so every rendering can show them as parts:

    - `universe` (customer companies found) = `excluded` + `unmapped` (no tenant matched) +
      `claimed_twice` (its tenant went to another company) + `mapped_unranked` + `ranked`;
    - `ranked` = `written` + `unchanged` + `held_back` (allowlist mode: not listed) +
      `would_write` (a dry run's changes; 0 unless the run wrote nothing by mode);
    - `mapped_pct` = mapped / not excluded.
    """

    week: Week
    mode: WriteMode
    universe: int
    ranked: int
    mapped_pct: float
    unmapped: int
    claimed_twice: int
    mapped_unranked: int
    excluded: int
    written: int
    unchanged: int
    held_back: int
    would_write: int
    new_or_unknown: int  # ranked companies without a usable prior rank
    top: pd.DataFrame  # ROW_COLUMNS, rank order
    bottom: pd.DataFrame  # ROW_COLUMNS, rank order, never overlapping `top`
    movers_up: pd.DataFrame  # ROW_COLUMNS, biggest rise first
    movers_down: pd.DataFrame  # ROW_COLUMNS, biggest fall first
    score_by_tier: pd.DataFrame  # SCORE_BY_TIER_COLUMNS, one row per tier label
    anomalies: tuple[Anomaly, ...]
    run_url: str | None
    exclusion_rules: tuple[str, ...]  # the rules in effect in words (describe_exclusion_rules)


@dataclass(frozen=True)
class Alert:
    """A failed run: `error` is its first lines, already redacted by the caller; `written`
    says what reached HubSpot ("nothing was written", "120 companies written, restored")."""

    week_key: str
    step: str
    error: str
    written: str
    run_url: str | None = None

    def __post_init__(self) -> None:
        check_run_url(self.run_url)


def _require_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"summary count {name}={value!r} must be a non-negative integer")


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[:, list(ROW_COLUMNS)].reset_index(drop=True)


def score_by_tier(ranked: pd.DataFrame) -> pd.DataFrame:
    """Per tier: how many companies, their score range, and their share of all points."""
    total = int(ranked["score"].sum())
    rows = []
    for tier in TIER_LABELS:
        scores = ranked.loc[ranked["tier"] == tier, "score"]
        points = int(scores.sum())
        rows.append(
            {
                "tier": tier,
                "companies": len(scores),
                "min_score": int(scores.min()) if len(scores) else pd.NA,
                "max_score": int(scores.max()) if len(scores) else pd.NA,
                "points": points,
                "share": points / total if total else 0.0,
            }
        )
    frame = pd.DataFrame(rows, columns=list(SCORE_BY_TIER_COLUMNS))
    return frame.astype({"min_score": "Int64", "max_score": "Int64"})


def build_summary(
    ranked: pd.DataFrame,
    *,
    week: Week,
    mode: WriteMode,
    universe: int,
    excluded: int,
    mapped: int,
    written: int,
    unchanged: int,
    exclusion_rules: Sequence[ExclusionRule],
    held_back: int = 0,
    anomalies: Iterable[Anomaly] = (),
    run_url: str | None = None,
) -> Summary:
    """The summary of one week from `rank_companies` + `attach_prior` output and run figures.

    `mapped` counts companies that kept a tenant (some may still lack metrics, so
    `len(ranked) <= mapped`); of the others, those that lost their tenant to another company
    are the DUPLICATE_CLAIM anomalies, the rest found none. `written`, `unchanged` and
    `held_back` are the writeback's outcomes; every other ranked company is one the mode held
    back (a dry run's "would write"). `exclusion_rules` are the rules the week's universe
    applied (required: a reader of `excluded` must see what it counts). Small N: `bottom`
    holds only ranks not already in `top`.
    """
    missing = [c for c in (*ROW_COLUMNS, "percentile_delta") if c not in ranked.columns]
    if missing:
        raise ValueError(
            f"ranked frame lacks columns {missing}; pass rank_companies() output after "
            "attach_prior()"
        )
    _require_counts(
        universe=universe,
        excluded=excluded,
        mapped=mapped,
        written=written,
        unchanged=unchanged,
        held_back=held_back,
    )
    eligible = universe - excluded
    if not len(ranked) <= mapped <= eligible:
        raise ValueError(
            f"summary counts disagree: ranked {len(ranked)} <= mapped {mapped} <= universe "
            f"{universe} - excluded {excluded} must hold; count companies before exclusions"
        )
    listed = tuple(anomalies)
    claimed_twice = sum(a.kind is AnomalyKind.DUPLICATE_CLAIM for a in listed)
    if claimed_twice > eligible - mapped:
        raise ValueError(
            f"summary counts disagree: {claimed_twice} companies lost their tenant to another "
            f"but only {eligible - mapped} are without one"
        )
    would_write = len(ranked) - written - unchanged - held_back
    mode = WriteMode(mode)
    dry = mode is WriteMode.DRY_RUN
    if would_write < 0 or (would_write and not dry) or (written and dry):
        raise ValueError(
            f"summary counts disagree: {mode.value} run with {len(ranked)} ranked, {written} "
            f"written, {unchanged} unchanged, {held_back} held back; the writeback's outcomes "
            "must cover each ranked company once"
        )
    ordered = ranked.sort_values("rank", kind="stable")
    top = ordered.head(SUMMARY_TOP_N)
    bottom = ordered.tail(min(SUMMARY_TOP_N, len(ordered) - len(top)))
    up, down = biggest_movers(ordered, SUMMARY_MOVERS_N)
    return Summary(
        week=week,
        mode=mode,
        universe=universe,
        ranked=len(ordered),
        mapped_pct=100.0 * mapped / eligible if eligible else 0.0,
        unmapped=eligible - mapped - claimed_twice,
        claimed_twice=claimed_twice,
        mapped_unranked=mapped - len(ordered),
        excluded=excluded,
        written=written,
        unchanged=unchanged,
        held_back=held_back,
        would_write=would_write,
        new_or_unknown=int(ordered["prior_rank"].isna().sum()),
        top=_rows(top),
        bottom=_rows(bottom),
        movers_up=_rows(up),
        movers_down=_rows(down),
        score_by_tier=score_by_tier(ordered),
        anomalies=listed,
        run_url=check_run_url(run_url),
        exclusion_rules=describe_exclusion_rules(exclusion_rules),
    )
