"""Independent re-verification of a ranked week before anything is written.

It restates the spec's rules as checks on the output, rather than re-running the ranking code,
so a bug in `scoring` cannot vouch for itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from engagement_ranker.constants import (
    METRIC_WEIGHTS,
    METRICS,
    TIER_BOTTOM,
    TIER_FRACTION,
    TIER_MIDDLE,
    TIER_TOP,
)

MAX_EXAMPLES = 5


def listed(values: Sequence[object], limit: int = MAX_EXAMPLES) -> str:
    """The first few values, then how many more: "7, 9, 12 and 40 more"."""
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _examples(frame: pd.DataFrame) -> str:
    return listed(list(frame["company_id"]))


def ranking_problems(ranked: pd.DataFrame) -> list[str]:
    """Every way the frame breaks the spec's score, rank, tier and rank-text rules ([] if none)."""
    n = len(ranked)
    if n == 0:
        return ["no ranked companies"]
    problems: list[str] = []
    counters = ranked[[m.value for m in METRICS]]
    if counters.isna().any().any():
        problems.append(
            f"counters missing for companies {_examples(ranked[counters.isna().any(axis=1)])}"
        )
        return problems
    if (counters < 0).any().any():
        problems.append(
            f"negative counters for companies {_examples(ranked[(counters < 0).any(axis=1)])}"
        )
    expected_score = sum(counters[m.value].astype("int64") * w for m, w in METRIC_WEIGHTS.items())
    wrong_score = ranked[ranked["score"].astype("int64") != expected_score]
    if not wrong_score.empty:
        problems.append(
            f"score is not 4·new patients + 3·appointments + 2·tasks + 1·calls for {_examples(wrong_score)}"
        )
    if ranked["company_id"].duplicated().any():
        problems.append(
            f"company ranked twice: {_examples(ranked[ranked['company_id'].duplicated()])}"
        )
    if sorted(ranked["rank"].astype("int64")) != list(range(1, n + 1)):
        problems.append(f"ranks are not exactly 1..{n}")
        return problems
    ordered = ranked.sort_values("rank")
    keys = [
        (-int(row["score"]), *(-int(row[m.value]) for m in METRICS), int(row["company_id"]))
        for _, row in ordered.iterrows()
    ]
    if keys != sorted(keys):
        problems.append(
            "rank order does not follow score, then new patients > appointments > tasks > "
            "calls, then company id"
        )
    top = bottom = math.ceil(TIER_FRACTION * n)
    expected_tier = ordered["rank"].map(
        lambda r: TIER_TOP if r <= top else TIER_BOTTOM if r > n - bottom else TIER_MIDDLE
    )
    wrong_tier = ordered[ordered["tier"] != expected_tier]
    if not wrong_tier.empty:
        problems.append(f"tier does not follow ceil(30% of {n}) for {_examples(wrong_tier)}")
    expected_text = ordered["rank"].map(lambda r: f"{int(r)} out of {n}")
    wrong_text = ordered[ordered["rank_text"] != expected_text]
    if not wrong_text.empty:
        problems.append(f"rank text is not '<rank> out of {n}' for {_examples(wrong_text)}")
    return problems
