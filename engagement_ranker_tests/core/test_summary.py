"""The summary model built from real `rank_companies` + `attach_prior` output."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from engagement_ranker.constants import (
    SUMMARY_MOVERS_N,
    SUMMARY_TOP_N,
    TIER_LABELS,
    WriteMode,
)
from engagement_ranker.core.anomalies import Anomaly, AnomalyKind
from engagement_ranker.core.movers import attach_prior
from engagement_ranker.core.scoring import rank_companies, tier_sizes
from engagement_ranker.core.summary import ROW_COLUMNS, Alert, Summary, build_summary
from engagement_ranker.core.universe import (
    DEFAULT_EXCLUSION_RULES,
    describe_exclusion_rules,
    parse_exclusion_rules,
)
from engagement_ranker.core.week import parse_week_key

WEEK = parse_week_key("2026-11-15")


def ranked_frame(n: int, seed: int = 7, prior_every: int | None = 2) -> pd.DataFrame:
    """n companies with seeded counters; every `prior_every`-th one (None: none) has a prior
    HubSpot rank."""
    rng = random.Random(seed)
    rows = [
        {
            "company_id": str(1000 + i),
            "name": f"Practice {i}",
            "tenant_id": 500 + i,
            "method": "domain",
            "new_patients": rng.randint(0, 9),
            "appointments": rng.randint(0, 60),
            "tasks": rng.randint(0, 40),
            "calls": rng.randint(0, 90),
        }
        for i in range(n)
    ]
    listed = range(0, n, prior_every) if prior_every else ()
    prior = {str(1000 + i): f"{rng.randint(1, n)} out of {n}" for i in listed}
    return attach_prior(rank_companies(pd.DataFrame(rows)), None, prior)


def summarize(ranked: pd.DataFrame, **overrides: object) -> Summary:
    """A summary whose counts agree: every ranked company written (a dry run: none) but three
    unchanged and any held back, two excluded, one mapped without metrics, and a company that
    lost its tenant for each DUPLICATE_CLAIM anomaly given."""
    anomalies = tuple(overrides.pop("anomalies", ()))  # type: ignore[call-overload]
    claimed = sum(a.kind is AnomalyKind.DUPLICATE_CLAIM for a in anomalies)
    n = len(ranked)
    mode = WriteMode(overrides.get("mode", WriteMode.FULL))  # type: ignore[arg-type]
    unchanged = overrides.get("unchanged", min(n, 3))
    held_back = overrides.get("held_back", 0)
    options: dict = {
        "week": WEEK,
        "mode": mode,
        "universe": n + 6 + claimed,
        "excluded": 2,
        "mapped": n + 1,
        "written": 0 if mode is WriteMode.DRY_RUN else n - unchanged - held_back,  # type: ignore[operator]
        "unchanged": unchanged,
        "held_back": held_back,
        "anomalies": anomalies,
        "run_url": None,
        "exclusion_rules": DEFAULT_EXCLUSION_RULES,
    }
    return build_summary(ranked, **(options | overrides))


@pytest.mark.parametrize("n", [1, 2, 3, 10, 15, 20, 150])
def test_top_and_bottom_are_the_ends_of_the_ranking_without_overlap(n: int) -> None:
    summary = summarize(ranked_frame(n))
    top, bottom = list(summary.top["rank"]), list(summary.bottom["rank"])
    assert top == list(range(1, min(n, SUMMARY_TOP_N) + 1))
    assert bottom == list(range(max(n - SUMMARY_TOP_N, len(top)) + 1, n + 1))
    assert not set(top) & set(bottom)
    assert list(summary.top.columns) == list(ROW_COLUMNS) == list(summary.bottom.columns)


def test_rows_carry_name_score_tier_and_move() -> None:
    ranked = ranked_frame(150)
    summary = summarize(ranked)
    first = ranked.set_index("company_id").loc[summary.top.loc[0, "company_id"]]
    assert summary.top.loc[0, "name"] == first["name"]
    assert summary.top.loc[0, "score"] == first["score"]
    assert summary.top.loc[0, "tier"] == TIER_LABELS[0]
    assert summary.bottom.iloc[-1]["tier"] == TIER_LABELS[-1]
    assert summary.top["delta"].dtype == "Int64"


def test_movers_are_the_largest_moves_each_way() -> None:
    ranked = ranked_frame(150)
    summary = summarize(ranked)
    assert 0 < len(summary.movers_up) <= SUMMARY_MOVERS_N
    assert 0 < len(summary.movers_down) <= SUMMARY_MOVERS_N
    assert (summary.movers_up["delta"] > 0).all()
    assert (summary.movers_down["delta"] < 0).all()
    # Same N both weeks here, so the largest percentile move is the largest move in places.
    assert summary.movers_up["delta"].iloc[0] == ranked["delta"].max()
    assert summary.movers_down["delta"].iloc[0] == ranked["delta"].min()


def test_counts() -> None:
    ranked = ranked_frame(150, prior_every=3)
    summary = summarize(
        ranked, universe=170, excluded=4, mapped=152, written=90, unchanged=60, held_back=0
    )
    assert (summary.universe, summary.ranked, summary.excluded) == (170, 150, 4)
    assert summary.unmapped == 170 - 4 - 152
    assert summary.mapped_pct == pytest.approx(100 * 152 / 166)
    assert (summary.written, summary.unchanged, summary.held_back) == (90, 60, 0)
    assert summary.new_or_unknown == int(ranked["prior_rank"].isna().sum()) == 100


def test_counts_are_parts_that_add_up() -> None:
    """Customer companies = excluded + unmapped + claimed twice + mapped without metrics +
    ranked; ranked = written + unchanged + held back + would write."""
    claims = [Anomaly(AnomalyKind.DUPLICATE_CLAIM, f"{i}", company_id=str(i)) for i in range(2)]
    unmapped = [Anomaly(AnomalyKind.UNMAPPED, f"{i}", company_id=str(i)) for i in range(5, 8)]
    ranked = ranked_frame(40)
    summary = summarize(
        ranked, universe=50, excluded=4, mapped=41, anomalies=[*unmapped, *claims], held_back=7
    )
    assert (summary.unmapped, summary.claimed_twice, summary.mapped_unranked) == (3, 2, 1)
    parts = (summary.excluded, summary.unmapped, summary.claimed_twice, summary.mapped_unranked)
    assert sum(parts) + summary.ranked == summary.universe
    outcomes = (summary.written, summary.unchanged, summary.held_back, summary.would_write)
    assert sum(outcomes) == summary.ranked == 40
    assert summary.would_write == 0


def test_a_dry_run_counts_what_it_would_write() -> None:
    summary = summarize(ranked_frame(140), mode=WriteMode.DRY_RUN, unchanged=12)
    assert (summary.written, summary.unchanged, summary.would_write) == (0, 12, 128)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 150])
def test_score_by_tier_covers_every_company_and_point(n: int) -> None:
    ranked = ranked_frame(n)
    frame = summarize(ranked).score_by_tier
    assert list(frame["tier"]) == list(TIER_LABELS)
    assert tuple(frame["companies"]) == tier_sizes(n)
    assert frame["points"].sum() == ranked["score"].sum()
    assert frame["share"].sum() == pytest.approx(1.0)
    top = ranked[ranked["tier"] == TIER_LABELS[0]]["score"]
    assert (frame.loc[0, "min_score"], frame.loc[0, "max_score"]) == (top.min(), top.max())


def test_all_zero_scores_give_zero_shares_not_a_division_error() -> None:
    ranked = ranked_frame(4)
    for column in ("new_patients", "appointments", "tasks", "calls"):
        ranked[column] = 0
    ranked["score"] = 0
    frame = summarize(ranked).score_by_tier
    assert list(frame["share"]) == [0.0, 0.0, 0.0]


def test_anomalies_keep_their_order() -> None:
    anomalies = [
        Anomaly(AnomalyKind.LARGE_SWING, "b"),
        Anomaly(AnomalyKind.UNMAPPED, "a", company_id="9", suggestions=("4 Foo (88)",)),
    ]
    assert summarize(ranked_frame(5), anomalies=iter(anomalies)).anomalies == tuple(anomalies)


def test_same_inputs_same_summary_whatever_the_row_order() -> None:
    ranked = ranked_frame(150)
    shuffled = ranked.sample(frac=1, random_state=3)
    one, two = summarize(ranked), summarize(shuffled)
    for field in ("top", "bottom", "movers_up", "movers_down", "score_by_tier"):
        pd.testing.assert_frame_equal(getattr(one, field), getattr(two, field))


def test_missing_columns_are_named() -> None:
    ranked = ranked_frame(5).drop(columns=["delta", "percentile_delta"])
    with pytest.raises(ValueError, match=r"lacks columns \['delta', 'percentile_delta'\]"):
        summarize(ranked)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"written": -1}, r"written=-1 must be a non-negative integer"),
        ({"excluded": True}, r"excluded=True must be"),
        ({"mapped": 3}, r"ranked 5 <= mapped 3"),
        ({"universe": 6, "excluded": 2}, r"mapped 6 <= universe 6 - excluded 2"),
        (
            {"anomalies": [Anomaly(AnomalyKind.DUPLICATE_CLAIM, "x")] * 5},
            r"5 companies lost their tenant to another but only 4 are without one",
        ),
        ({"written": 1, "unchanged": 1}, r"full run with 5 ranked, 1 written, 1 unchanged"),
        ({"written": 5, "unchanged": 1}, r"full run with 5 ranked, 5 written, 1 unchanged"),
        ({"mode": WriteMode.DRY_RUN, "written": 2}, r"dry-run run with 5 ranked, 2 written"),
    ],
)
def test_inconsistent_counts_are_refused(overrides: dict, message: str) -> None:
    ranked = ranked_frame(5)
    with pytest.raises(ValueError, match=message):
        summarize(ranked, **({"universe": 10, "excluded": 0, "mapped": 6} | overrides))


@pytest.mark.parametrize("url", ["javascript:alert(1)", "localhost:3000/runs/x", ""])
def test_run_link_must_be_a_web_link(url: str) -> None:
    with pytest.raises(ValueError, match="DAGSTER_UI_URL"):
        summarize(ranked_frame(3), run_url=url)
    with pytest.raises(ValueError, match="DAGSTER_UI_URL"):
        Alert("2026-11-15", "ranked_scores", "boom", "nothing was written", url)


def test_run_link_and_mode_are_kept() -> None:
    url = "https://dagster.example.com/runs/abc"
    summary = summarize(ranked_frame(3), run_url=url, mode="allowlist")
    assert summary.run_url == url
    assert summary.mode is WriteMode.ALLOWLIST


def test_the_exclusion_rules_in_effect_are_described() -> None:
    assert summarize(ranked_frame(3)).exclusion_rules == (
        'is_internal_test is "true": internal test company (default)',
        'customer_status is "churned": churned (default)',
    )
    rules = parse_exclusion_rules(
        '{"replace_defaults": true, "rules": [{"property": "customer_status", "value": "paused"}]}'
    )
    summary = summarize(ranked_frame(3), exclusion_rules=rules)
    assert summary.exclusion_rules == describe_exclusion_rules(rules)
    assert summary.exclusion_rules[0] == 'customer_status is "paused" (custom)'
