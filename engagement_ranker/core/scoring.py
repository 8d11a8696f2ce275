"""Score, rank, tier and the "X out of N" text: the numbers an account manager sees as fact.

The rules are the spec's, stated once: score = 4·new patients + 3·appointments + 2·tasks +
1·calls (METRIC_WEIGHTS); order by score descending, ties broken by the four counters descending
in METRICS order (the spec's "metric priority"), then by HubSpot company id ascending in *numeric*
order (so "99" ranks before "100"); ranks 1..N; the top and
bottom ceil(30%·N) ranks are the Top and Bottom tiers. Every row carries SCORING_VERSION so a
stored week stays interpretable if the rules change.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from numbers import Integral, Real
from typing import NamedTuple

import pandas as pd

from engagement_ranker.constants import (
    METRIC_WEIGHTS,
    METRICS,
    SCORING_VERSION,
    TIER_BOTTOM,
    TIER_FRACTION,
    TIER_MIDDLE,
    TIER_TOP,
)
from engagement_ranker.core.frames import Cell, require_columns
from engagement_ranker.core.identity import is_record_id

INPUT_COLUMNS: tuple[str, ...] = ("company_id", "name", "tenant_id", "method", *METRICS)
POINTS_COLUMNS: dict[str, str] = {m.value: f"points_{m.value}" for m in METRICS}
RANKED_COLUMNS: tuple[str, ...] = (
    *INPUT_COLUMNS,
    "score",
    *POINTS_COLUMNS.values(),
    "rank",
    "rank_text",
    "tier",
    "scoring_version",
)
# Exact arithmetic: ceil(0.3·N) must not depend on binary floating point.
_TIER_SHARE = Fraction(str(TIER_FRACTION))
# A number with its decimal or thousands separators, so "1.5" is not read as the integer 1.
_NUMBER = r"[0-9]+(?:[.,][0-9]+)*"
_PRIOR_RANK = re.compile(
    rf"(?P<rank>{_NUMBER})(?:\s*(?:/|out\s+of|of)\s*(?P<n>{_NUMBER}))?", re.IGNORECASE
)


def tier_sizes(n: int) -> tuple[int, int, int]:
    """(top, middle, bottom) for N companies; top = bottom = ceil(30%·N).

    The two ends overlap only when N = 1 (1 + 1 > 1): the top wins, so a lone company is
    "Top 30%" rather than both.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"number of ranked companies must be a whole number >= 0, got {n!r}")
    top = math.ceil(_TIER_SHARE * n)
    bottom = min(top, n - top)
    return top, n - top - bottom, bottom


def _check_rank(rank: int, n: int) -> None:
    if not (isinstance(rank, int) and isinstance(n, int) and 1 <= rank <= n):
        raise ValueError(f"rank {rank!r} out of {n!r} is impossible; ranks run from 1 to N")


def tier_for(rank: int, n: int) -> str:
    """The tier label of `rank` among `n` companies."""
    _check_rank(rank, n)
    top, _, bottom = tier_sizes(n)
    if rank <= top:
        return TIER_TOP
    return TIER_BOTTOM if rank > n - bottom else TIER_MIDDLE


def rank_text(rank: int, n: int) -> str:
    """The stored rank, e.g. "26 out of 150"."""
    _check_rank(rank, n)
    return f"{rank} out of {n}"


class PriorRank(NamedTuple):
    """A prior week's place: `n` is None when neither the text nor the stored week gives it."""

    rank: int
    n: int | None


def check_fallback_n(fallback_n: object) -> None:
    """A stand-in N is a number of ranked companies (>= 1), or None for "no stored week"."""
    if fallback_n is not None and (
        isinstance(fallback_n, bool) or not isinstance(fallback_n, int) or fallback_n < 1
    ):
        raise ValueError(
            f"fallback N {fallback_n!r} is not a number of ranked companies; pass the N of the "
            f"stored prior week (a whole number >= 1), or None when no week is stored"
        )


def parse_rank_text(value: object, fallback_n: int | None = None) -> PriorRank | None:
    """The prior rank from a HubSpot value: its leading positive integer (the spec's rule).

    N is the text's own when it carries one ("7 out of 12", "7/12", "7 of 12", any case and
    spacing), else `fallback_n` (the stored prior week's N) if the rank fits within it, else
    unknown. None, meaning "new/unknown", for text not led by a positive whole number ("n/a",
    "#12", "0 out of 5", "1.5 out of 3") and for impossible text ("6 out of 5").
    """
    check_fallback_n(fallback_n)
    if not isinstance(value, str):
        return None
    match = _PRIOR_RANK.match(value.strip())
    if match is None or not match["rank"].isdigit() or int(match["rank"]) == 0:
        return None
    rank = int(match["rank"])
    if match["n"] is None:
        fits = fallback_n is not None and rank <= fallback_n
        return PriorRank(rank, fallback_n if fits else None)
    if not match["n"].isdigit() or rank > int(match["n"]):
        return None
    return PriorRank(rank, int(match["n"]))


def _counter(value: Cell, company_id: str, metric: str) -> int:
    """A counter as int; anything but a non-negative whole number is a data error, not a 0."""
    whole = isinstance(value, Integral) or (
        isinstance(value, Real) and math.isfinite(value) and float(value).is_integer()
    )
    if isinstance(value, bool) or not whole or value < 0:
        raise ValueError(
            f"company {company_id}: {metric} is {value!r}; weekly counters must be whole "
            f"numbers >= 0 - check the Yobi metrics of its tenant (missing metrics must be "
            f"resolved or the company excluded before ranking)"
        )
    return int(value)


def _validated(metrics: pd.DataFrame) -> pd.DataFrame:
    require_columns(metrics, INPUT_COLUMNS, "metrics frame")
    frame = metrics.reset_index(drop=True).copy()
    ids = frame["company_id"]
    bad_ids = [c for c in ids if not is_record_id(c)]
    if bad_ids:
        raise ValueError(
            f"company ids must be HubSpot record ids (strings of digits), got {bad_ids[:5]!r}"
        )
    if ids.duplicated().any():
        raise ValueError(
            f"companies listed more than once: {', '.join(sorted(set(ids[ids.duplicated()])))}; "
            f"each company is ranked once"
        )
    for metric in METRICS:
        frame[metric.value] = pd.Series(
            [_counter(v, c, metric.value) for v, c in zip(frame[metric.value], ids, strict=True)],
            dtype="int64",
        )
    return frame


def rank_companies(metrics: pd.DataFrame) -> pd.DataFrame:
    """Score, order, rank and tier one week's companies; returns rows sorted by rank.

    Input: one row per mapped company with the four weekly counters. Extra columns pass
    through untouched.
    """
    frame = _validated(metrics)
    for metric, weight in METRIC_WEIGHTS.items():
        frame[POINTS_COLUMNS[metric.value]] = frame[metric.value] * weight
    frame["score"] = frame[list(POINTS_COLUMNS.values())].sum(axis=1).astype("int64")
    # The spec ranks by the weighted score; its metric priority breaks ties. Sorting by the
    # counters alone would let 1 new patient (score 4) outrank a score of 63.
    order = ["score", *(m.value for m in METRICS)]
    frame = frame.sort_values(
        [*order, "company_id"],
        ascending=[*(False for _ in order), True],
        key=lambda column: column.map(int) if column.name == "company_id" else column,
        kind="mergesort",
    ).reset_index(drop=True)
    n = len(frame)
    frame["rank"] = pd.Series(range(1, n + 1), dtype="int64")
    frame["rank_text"] = [rank_text(r, n) for r in range(1, n + 1)]
    frame["tier"] = [tier_for(r, n) for r in range(1, n + 1)]
    frame["scoring_version"] = SCORING_VERSION
    extra = [c for c in frame.columns if c not in RANKED_COLUMNS]
    return frame[[*RANKED_COLUMNS, *extra]]
