"""The independent re-verification catches every kind of broken ranking."""

from __future__ import annotations

import pandas as pd
import pytest

from engagement_ranker.core.integrity import ranking_problems
from engagement_ranker.core.scoring import rank_companies


def ranked(n: int = 10) -> pd.DataFrame:
    return rank_companies(
        pd.DataFrame(
            {
                "company_id": [str(100 + i) for i in range(n)],
                "name": [f"Practice {i}" for i in range(n)],
                "tenant_id": pd.array(range(n), dtype="Int64"),
                "method": ["domain"] * n,
                "new_patients": [i % 3 for i in range(n)],
                "appointments": [i % 5 for i in range(n)],
                "tasks": [i % 2 for i in range(n)],
                "calls": [7] * n,
            }
        )
    )


@pytest.mark.parametrize("n", [1, 2, 3, 10, 150])
def test_a_correct_ranking_has_no_problems(n: int) -> None:
    assert ranking_problems(ranked(n)) == []


def _swap_ranks(frame: pd.DataFrame) -> pd.DataFrame:
    swapped = frame.copy()
    swapped.loc[[0, 1], "rank"] = swapped.loc[[1, 0], "rank"].to_numpy()
    return swapped


@pytest.mark.parametrize(
    ("break_it", "fragment"),
    [
        (lambda f: f.assign(score=f["score"] + 1), "score is not"),
        (lambda f: f.assign(rank=[1] * len(f)), "ranks are not exactly 1.."),
        (_swap_ranks, "rank order"),
        (lambda f: f.assign(tier="Top 30%"), "tier does not follow"),
        (lambda f: f.assign(rank_text="1 of 10"), "rank text"),
        (lambda f: f.assign(calls=-1), "negative counters"),
        (lambda f: f.assign(tasks=None), "counters missing"),
        (lambda f: f.head(0), "no ranked companies"),
    ],
)
def test_each_broken_rule_is_reported(break_it, fragment: str) -> None:
    problems = ranking_problems(break_it(ranked()))
    assert any(fragment in p for p in problems), problems
