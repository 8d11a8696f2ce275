"""Movers: where the prior rank comes from, the deltas, the top movers and odd activity."""

from __future__ import annotations

import pandas as pd
import pytest

from engagement_ranker.core.anomalies import AnomalyKind
from engagement_ranker.core.movers import (
    activity_anomalies,
    attach_prior,
    biggest_movers,
    percentile,
)
from engagement_ranker.core.scoring import rank_companies


def ranked_by_calls(calls: dict[str, int]) -> pd.DataFrame:
    """Companies ranked purely by calls (other counters 0), so the order is obvious."""
    ids = list(calls)
    return rank_companies(
        pd.DataFrame(
            {
                "company_id": ids,
                "name": [f"Practice {c}" for c in ids],
                "tenant_id": pd.array([int(c) + 500 for c in ids], dtype="Int64"),
                "method": "domain",
                "new_patients": 0,
                "appointments": 0,
                "tasks": 0,
                "calls": [calls[c] for c in ids],
            }
        )
    )


def history(ranks: dict[str, int], n: int | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {"company_id": list(ranks), "rank": list(ranks.values()), "n": n or len(ranks)}
    )


def by_company(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("company_id")


# Ranks this week: 1 -> 1, 2 -> 2, 3 -> 3, 4 -> 4.
WEEK = ranked_by_calls({"1": 40, "2": 30, "3": 20, "4": 10})


def test_history_wins_and_absent_companies_are_new_even_with_a_hubspot_value():
    out = by_company(
        attach_prior(
            WEEK,
            history({"1": 3, "2": 1, "3": 2}),
            {"1": "1 out of 9", "4": "2 out of 9"},
        )
    )
    assert out.loc["1", ["prior_rank", "prior_n", "prior_source"]].tolist() == [3, 3, "history"]
    assert out.loc["1", "delta"] == 2  # 3rd -> 1st: moved up two places
    assert out.loc["2", "delta"] == -1
    assert out.loc["4", "prior_source"] == "new"
    assert pd.isna(out.loc["4", "prior_rank"]) and pd.isna(out.loc["4", "delta"])
    assert pd.isna(out.loc["4", "percentile_delta"])


def test_without_history_the_leading_integer_of_hubspot_text_is_the_prior_rank():
    out = by_company(
        attach_prior(WEEK, None, {"1": " 4 out of 4 ", "2": "n/a", "3": "1 of 9", "4": None})
    )
    assert out.loc["1", ["prior_rank", "prior_n", "prior_source", "delta"]].tolist() == [
        4,
        4,
        "hubspot",
        3,
    ]
    assert out.loc["3", ["prior_rank", "prior_n", "delta"]].tolist() == [1, 9, -2]
    assert out.loc[["2", "4"], "prior_source"].tolist() == ["new"] * 2
    # An empty history frame is "no history", not "everyone is new".
    empty = attach_prior(WEEK, history({}), {"1": "4 out of 4"})
    assert by_company(empty).loc["1", "prior_source"] == "hubspot"


def test_a_rank_without_n_takes_the_stored_n_and_still_moves_without_one():
    text = {"1": "4", "2": "7/8", "3": "9"}
    out = by_company(attach_prior(WEEK, None, text, fallback_n=8))
    assert out.loc["1", ["prior_rank", "prior_n", "prior_source", "delta"]].tolist() == [
        4,
        8,
        "hubspot",
        3,
    ]
    # 4th of 8 (42.9 points) to 1st of 4 (100 points).
    assert out.loc["1", "percentile_delta"] == pytest.approx(100 - 100 * 4 / 7)
    assert out.loc["2", ["prior_rank", "prior_n"]].tolist() == [7, 8]
    # 9th cannot be out of 8: the rank stands, its N is unknown.
    assert out.loc["3", "prior_rank"] == 9 and pd.isna(out.loc["3", "prior_n"])
    assert out.loc["3", "delta"] == 6 and pd.isna(out.loc["3", "percentile_delta"])
    unknown_n = by_company(attach_prior(WEEK, None, text))
    assert unknown_n.loc["1", ["prior_rank", "delta", "prior_source"]].tolist() == [4, 3, "hubspot"]
    assert unknown_n.loc[["1"], ["prior_n", "percentile_delta"]].isna().all(axis=None)


def test_history_ignores_the_fallback_n():
    out = by_company(attach_prior(WEEK, history({"1": 2}, n=5), {"2": "3"}, fallback_n=5))
    assert out.loc["1", ["prior_rank", "prior_n", "prior_source"]].tolist() == [2, 5, "history"]
    assert out.loc["2", "prior_source"] == "new"


@pytest.mark.parametrize("fallback_n", [0, 2.5, "4"])
def test_a_bad_fallback_n_is_refused(fallback_n):
    with pytest.raises(ValueError, match=f"fallback N {fallback_n!r}"):
        attach_prior(WEEK, None, {"1": "4"}, fallback_n=fallback_n)


def test_a_large_swing_from_a_rank_without_n_says_so():
    week = ranked_by_calls({str(i): 1000 - i for i in range(1, 21)})  # company i is rank i
    (anomaly,) = [
        a for a in activity_anomalies(attach_prior(week, None, {"1": "15"}))
        if a.kind is AnomalyKind.LARGE_SWING
    ]  # fmt: skip
    assert "moved up 14 places, from 15 (N unknown, hubspot) to 1 out of 20" in anomaly.message


def test_percentile_delta_compares_across_different_n():
    # 5th of 9 last week (the median) to 1st of 4 this week: median -> top = +50 points,
    # though the rank delta is +4.
    out = by_company(attach_prior(WEEK, history({"1": 5}, n=9), {}))
    assert out.loc["1", "delta"] == 4
    assert out.loc["1", "percentile_delta"] == pytest.approx(50.0)
    assert str(out["percentile_delta"].dtype) == "Float64"
    assert str(out["delta"].dtype) == str(out["prior_rank"].dtype) == "Int64"


@pytest.mark.parametrize(
    ("rank", "n", "expected"), [(1, 1, 100), (1, 5, 100), (3, 5, 50), (5, 5, 0), (2, 3, 50)]
)
def test_percentile(rank, n, expected):
    assert percentile(rank, n) == expected


def test_prior_columns_keep_the_ranked_rows_and_order():
    out = attach_prior(WEEK, None, {})
    assert list(out["company_id"]) == list(WEEK["company_id"])
    assert list(out.columns[: len(WEEK.columns)]) == list(WEEK.columns)


def test_duplicated_history_is_refused():
    bad = pd.DataFrame({"company_id": ["1", "1"], "rank": [1, 2], "n": 2})
    with pytest.raises(ValueError, match="more than once: 1"):
        attach_prior(WEEK, bad, {})


def test_history_without_its_columns_names_what_it_lacks_and_has():
    bad = pd.DataFrame({"company_id": ["1"], "rank_text": ["1 out of 1"]})
    with pytest.raises(ValueError) as caught:
        attach_prior(WEEK, bad, {})
    assert str(caught.value) == (
        "prior-week history lacks column(s) rank, n; it has company_id, rank_text"
    )


def test_biggest_movers_up_and_down():
    week = ranked_by_calls({str(i): 100 - i for i in range(1, 11)})  # company i is rank i
    prior = history({"1": 1, "2": 9, "3": 2, "4": 10, "5": 6, "6": 3, "7": 4, "8": 8, "9": 5})
    out = attach_prior(week, prior, {})
    up, down = biggest_movers(out, k=2)
    # deltas: 2:+7, 4:+6, 5:+1, 3:-1, 6:-3, 7:-3, 9:-4; 8 and 1 unchanged; 10 is new.
    assert list(up["company_id"]) == ["2", "4"]
    assert list(down["company_id"]) == ["9", "6"]  # 6 and 7 tie on -3: the better rank first
    everyone_up, everyone_down = biggest_movers(out, k=10)
    assert list(everyone_up["company_id"]) == ["2", "4", "5"]
    assert list(everyone_down["company_id"]) == ["9", "6", "7", "3"]
    assert "10" not in set(everyone_up["company_id"]) | set(everyone_down["company_id"])


def test_no_movers_without_a_prior():
    up, down = biggest_movers(attach_prior(WEEK, None, {}))
    assert up.empty and down.empty


def test_zero_activity_is_reported():
    week = attach_prior(ranked_by_calls({"1": 5, "2": 0}), None, {})
    (anomaly,) = activity_anomalies(week)
    assert anomaly.kind is AnomalyKind.ZERO_ACTIVITY
    assert (anomaly.company_id, anomaly.tenant_id) == ("2", 502)
    assert "Practice 2 (2)" in anomaly.message and "2 out of 2" in anomaly.message


@pytest.mark.parametrize(
    ("n", "moved", "reported"),
    [
        (20, 9, False),  # below the 10-place floor
        (20, 10, True),  # 10 >= max(10, 5)
        (60, 14, False),  # below 25% of 60 = 15
        (60, 15, True),
        (60, -15, True),
    ],
)
def test_large_swing_threshold_is_max_of_10_and_a_quarter_of_n(n, moved, reported):
    week = ranked_by_calls({str(i): 1000 - i for i in range(1, n + 1)})  # company i is rank i
    mover = 1 if moved > 0 else n
    prior = {str(mover): mover + moved}
    found = [
        a for a in activity_anomalies(attach_prior(week, history(prior, n=n), {}))
        if a.kind is AnomalyKind.LARGE_SWING
    ]  # fmt: skip
    assert [a.company_id for a in found] == ([str(mover)] if reported else [])
    if reported:
        direction = "up" if moved > 0 else "down"
        assert f"moved {direction} {abs(moved)} places" in found[0].message


def test_movers_are_ranked_by_places_even_when_n_changed():
    # Company 2: 4th of 100 -> 2nd of 4 is up two places (though down in percentile);
    # company 3: 4th of 4 -> 3rd of 4 is up one place.
    out = attach_prior(WEEK, None, {"2": "4 out of 100", "3": "4 out of 4"})
    assert by_company(out).loc["2", "percentile_delta"] < 0
    up, down = biggest_movers(out)
    assert list(up["company_id"]) == ["2", "3"]
    assert down.empty


def test_anomalies_for_a_company_without_a_name():
    week = ranked_by_calls({"1": 0}).assign(name=[float("nan")])
    (anomaly,) = activity_anomalies(attach_prior(week, None, {}))
    assert anomaly.company_name is None
    assert anomaly.message.startswith("(no name) (1): no calls")
