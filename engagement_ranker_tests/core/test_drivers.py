"""Why a company moved: each counter's change, its points' change, and the main driver, from
the stored prior week; a deterministic driver whatever the order it is asked in."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_ranker.constants import METRIC_WEIGHTS, METRICS, Metric
from engagement_ranker.core.movers import (
    NOT_STORED,
    attach_prior,
    main_driver,
    move_direction,
    why_moved,
)
from engagement_ranker.core.render import email, markdown, ranking_markdown, slack_messages
from engagement_ranker.core.scoring import rank_companies
from engagement_ranker_tests.core.test_summary import summarize

COUNTERS = [m.value for m in METRICS]


def week(counters: dict[str, dict[str, int]]) -> pd.DataFrame:
    """A ranked week: company id -> its four counters."""
    return rank_companies(
        pd.DataFrame(
            [
                {
                    "company_id": cid,
                    "name": f"Practice {cid}",
                    "tenant_id": int(cid) + 500,
                    "method": "domain",
                    **values,
                }
                for cid, values in counters.items()
            ]
        )
    )


def stored(ranked: pd.DataFrame) -> pd.DataFrame:
    """The prior week as ranked_scores hands it over: ranks, N and the counters."""
    return ranked[["company_id", "rank", *COUNTERS]].assign(n=len(ranked))


def counters(new_patients: int = 0, appointments: int = 0, tasks: int = 0, calls: int = 0):
    return {
        "new_patients": new_patients,
        "appointments": appointments,
        "tasks": tasks,
        "calls": calls,
    }


def test_a_faller_names_the_counter_that_cost_it_most_points() -> None:
    before = week({"1": counters(appointments=52, calls=10), "2": counters(appointments=30)})
    now = week({"1": counters(appointments=18, calls=14), "2": counters(appointments=30)})

    out = attach_prior(now, stored(before), {}).set_index("company_id")

    fell = out.loc["1"]
    assert fell["delta"] == -1
    assert fell["appointments_change"] == -34 and fell["points_appointments_change"] == -102
    assert fell["calls_change"] == 4 and fell["points_calls_change"] == 4
    assert fell["score_change"] == -98
    assert fell["driver_metric"] == "appointments"
    assert fell["driver"] == "appointments 52 → 18 (−102 pts)"
    rose = out.loc["2"]
    assert rose["delta"] == 1 and rose["score_change"] == 0
    assert rose["driver"] == "score unchanged; others fell" and pd.isna(rose["driver_metric"])


def test_a_faller_whose_own_score_rose_says_the_others_rose_more() -> None:
    before = week({"1": counters(calls=10), "2": counters(calls=5)})
    now = week({"1": counters(calls=12), "2": counters(calls=40)})

    out = attach_prior(now, stored(before), {}).set_index("company_id")

    assert out.loc["1", "driver"] == "score +2 pts, but others rose more"
    assert out.loc["2", "driver"] == "calls 5 → 40 (+35 pts)"


def test_new_companies_and_hubspot_priors_have_no_counter_changes() -> None:
    now = week({"1": counters(calls=3), "2": counters(calls=2)})

    new = attach_prior(now, stored(week({"2": counters(calls=1)})), {}).set_index("company_id")
    assert new.loc["1", "prior_source"] == "new"
    assert pd.isna(new.loc["1", "driver"]) and pd.isna(new.loc["1", "score_change"])
    assert new.loc["2", "calls_change"] == 1

    from_hubspot = attach_prior(now, None, {"1": "2 out of 2"}).set_index("company_id")
    assert from_hubspot.loc["1", "driver"] == NOT_STORED
    assert pd.isna(from_hubspot.loc["1", "calls_change"])
    assert pd.isna(from_hubspot.loc["2", "driver"])  # no prior rank at all: no move


def test_history_with_some_counters_is_refused() -> None:
    now = week({"1": counters(calls=3)})
    partial = stored(now).drop(columns=["tasks"])
    with pytest.raises(ValueError, match="lacks column"):
        attach_prior(now, partial, {})


def test_a_move_without_places_is_explained_by_the_score() -> None:
    assert move_direction(pd.NA, 5) == 1
    assert move_direction(0, -3) == -1
    assert move_direction(-2, 50) == -1
    assert why_moved(counters(), counters(), 0) == (None, None)


points = st.integers(min_value=-500, max_value=500)
changes = st.fixed_dictionaries({m: points for m in METRICS})


@given(changes, st.sampled_from([1, -1]))
def test_the_driver_moved_furthest_in_the_move_s_direction_ties_by_metric_priority(
    change: dict[Metric, int], direction: int
) -> None:
    driver = main_driver(change, direction)
    moved = {m: change[m] * direction for m in METRICS}
    if driver is None:
        assert all(value <= 0 for value in moved.values())
        return
    assert moved[driver] > 0
    assert moved[driver] == max(moved.values())
    # Of the counters moved as far, the one first in the spec's priority.
    assert driver == next(m for m in METRICS if moved[m] == moved[driver])


@given(changes, st.sampled_from([1, -1]), st.permutations(list(METRICS)))
def test_the_driver_does_not_depend_on_the_order_it_is_given(
    change: dict[Metric, int], direction: int, order: list[Metric]
) -> None:
    shuffled = {m: change[m] for m in order}
    assert main_driver(shuffled, direction) == main_driver(change, direction)


@given(
    st.fixed_dictionaries({m: st.integers(0, 300) for m in METRICS}),
    st.fixed_dictionaries({m: st.integers(0, 300) for m in METRICS}),
)
def test_the_driver_s_words_give_its_counters_and_points(
    before: dict[Metric, int], now: dict[Metric, int]
) -> None:
    change = {m: now[m] - before[m] for m in METRICS}
    score = sum(change[m] * METRIC_WEIGHTS[m] for m in METRICS)
    direction = move_direction(pd.NA, score)
    driver, words = why_moved(now, change, direction)
    if direction == 0:
        assert (driver, words) == (None, None)
        return
    assert driver is not None and words is not None  # the score moved: some counter did too
    points = change[driver] * METRIC_WEIGHTS[driver]
    assert f"{before[driver]:,} → {now[driver]:,}" in words
    assert words.endswith(f"{'+' if points > 0 else '−'}{abs(points):,} pts)")


def test_every_mover_in_the_summary_names_its_driver_in_every_format() -> None:
    before = week({"1": counters(appointments=52), "2": counters(appointments=20)})
    now = week({"1": counters(appointments=18), "2": counters(appointments=20, calls=7)})
    summary = summarize(attach_prior(now, stored(before), {}))

    assert list(summary.movers_down["driver"]) == ["appointments 52 → 18 (−102 pts)"]
    assert list(summary.movers_up["driver"]) == ["calls 0 → 7 (+7 pts)"]
    [message] = slack_messages(summary)
    _, text, page = email(summary)
    for rendered in (message["text"], text, page, markdown(summary)):
        assert "appointments 52 → 18 (−102 pts)" in rendered
        assert "calls 0 → 7 (+7 pts)" in rendered


def test_the_ranking_for_the_ui_shows_rank_company_score_tier_move_and_why() -> None:
    before = week({"1": counters(appointments=52), "2": counters(appointments=20)})
    now = week({"1": counters(appointments=18), "2": counters(appointments=20, calls=7)})
    ranked = attach_prior(now, stored(before), {})

    lines = ranking_markdown(ranked).splitlines()
    assert lines[0] == "| Rank | Company | Score | Tier | Move | Why |"
    assert lines[2] == "| 1 | Practice 2 | 67 | Top 30% | ▲1 | calls 0 → 7 (+7 pts) |"
    assert lines[3] == "| 2 | Practice 1 | 54 | Bottom 30% | ▼1 | appointments 52 → 18 (−102 pts) |"
    first = ranking_markdown(ranked, limit=1).splitlines()
    assert len(first) == 5 and first[-1].startswith("…and 1 more")  # after a blank line
