"""Scoring, ranking and tiering: the spec's rules, for every N, under every input order."""

from __future__ import annotations

import itertools
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_ranker.constants import (
    METRICS,
    SCORING_VERSION,
    TIER_BOTTOM,
    TIER_LABELS,
    TIER_MIDDLE,
    TIER_TOP,
)
from engagement_ranker.core.scoring import (
    RANKED_COLUMNS,
    parse_rank_text,
    rank_companies,
    rank_text,
    tier_for,
    tier_sizes,
)

COUNTERS = [m.value for m in METRICS]  # new_patients, appointments, tasks, calls


def ceil_30_percent(n: int) -> int:
    """ceil(0.3·n) in integers only, independent of the implementation."""
    return (3 * n + 9) // 10


def frame(rows: list[tuple[str, int, int, int, int]]) -> pd.DataFrame:
    """(company_id, new_patients, appointments, tasks, calls) -> a ranking input."""
    return pd.DataFrame(
        {
            "company_id": [r[0] for r in rows],
            "name": [f"Practice {r[0]}" for r in rows],
            "tenant_id": pd.array([int(r[0]) + 1000 for r in rows], dtype="Int64"),
            "method": ["domain"] * len(rows),
            **{c: [r[i + 1] for r in rows] for i, c in enumerate(COUNTERS)},
        }
    )


def score_of(row: tuple[str, int, int, int, int]) -> int:
    return 4 * row[1] + 3 * row[2] + 2 * row[3] + row[4]


def oracle_order(rows: list[tuple[str, int, int, int, int]]) -> list[str]:
    return [
        r[0] for r in sorted(rows, key=lambda r: (-score_of(r), *(-v for v in r[1:]), int(r[0])))
    ]


counter = st.integers(0, 6)  # small values make ties (and tie-breaks) common
rows_strategy = st.lists(
    st.tuples(st.integers(1, 10**12).map(str), counter, counter, counter, counter),
    min_size=1,
    max_size=60,
    unique_by=lambda r: r[0],
)


# --- the spec's examples --------------------------------------------------------------------
def test_score_is_4_3_2_1_with_a_per_metric_breakdown():
    ranked = rank_companies(frame([("1", 2, 5, 7, 11)]))
    row = ranked.iloc[0]
    assert row["score"] == 4 * 2 + 3 * 5 + 2 * 7 + 11 == 48
    assert [row[f"points_{c}"] for c in COUNTERS] == [8, 15, 14, 11]
    assert row["scoring_version"] == SCORING_VERSION
    assert tuple(ranked.columns) == RANKED_COLUMNS


def test_rank_text_example():
    assert rank_text(26, 150) == "26 out of 150"


@pytest.mark.parametrize(
    ("rank", "tier"),
    [(1, TIER_TOP), (45, TIER_TOP), (46, TIER_MIDDLE), (105, TIER_MIDDLE), (106, TIER_BOTTOM),
     (150, TIER_BOTTOM)],
)  # fmt: skip
def test_tiers_for_150(rank, tier):
    assert tier_for(rank, 150) == tier


@pytest.mark.parametrize(
    ("n", "sizes", "tiers"),
    [
        (1, (1, 0, 0), [TIER_TOP]),
        (2, (1, 0, 1), [TIER_TOP, TIER_BOTTOM]),
        (3, (1, 1, 1), [TIER_TOP, TIER_MIDDLE, TIER_BOTTOM]),
        (4, (2, 0, 2), [TIER_TOP] * 2 + [TIER_BOTTOM] * 2),
        (10, (3, 4, 3), [TIER_TOP] * 3 + [TIER_MIDDLE] * 4 + [TIER_BOTTOM] * 3),
        (150, (45, 60, 45), [TIER_TOP] * 45 + [TIER_MIDDLE] * 60 + [TIER_BOTTOM] * 45),
    ],
)
def test_table_of_n(n, sizes, tiers):
    assert tier_sizes(n) == sizes
    rows = [(str(i), 0, 0, 0, n - i) for i in range(1, n + 1)]
    ranked = rank_companies(frame(rows))
    assert list(ranked["company_id"]) == [str(i) for i in range(1, n + 1)]
    assert list(ranked["rank"]) == list(range(1, n + 1))
    assert list(ranked["tier"]) == tiers
    assert list(ranked["rank_text"]) == [f"{r} out of {n}" for r in range(1, n + 1)]


def test_score_ranks_and_metric_priority_then_numeric_company_id_break_ties():
    rows = [
        ("100", 1, 0, 0, 0),  # score 4, same counters as 99: id 99 < 100 numerically
        ("99", 1, 0, 0, 0),
        ("5", 0, 9, 9, 9),  # score 54: fewer new patients, but the score ranks first
        ("6", 0, 1, 0, 1),  # score 4: ties broken by appointments, then tasks, then calls
        ("7", 0, 0, 2, 0),
        ("8", 0, 0, 1, 2),
        ("9", 0, 0, 0, 4),
    ]
    ranked = rank_companies(frame(rows))
    assert list(ranked["company_id"]) == ["5", "99", "100", "6", "7", "8", "9"]


def test_extra_columns_pass_through():
    data = frame([("1", 1, 1, 1, 1), ("2", 2, 2, 2, 2)]).assign(prior_rank_text=["x", "y"])
    ranked = rank_companies(data)
    assert list(ranked["prior_rank_text"]) == ["y", "x"]
    assert list(ranked.columns) == [*RANKED_COLUMNS, "prior_rank_text"]


def test_empty_week_ranks_nobody():
    ranked = rank_companies(frame([]))
    assert ranked.empty and tuple(ranked.columns) == RANKED_COLUMNS


# --- properties -----------------------------------------------------------------------------
@given(st.integers(1, 5000))
def test_tier_counts_equal_the_ceil_formula_for_every_n(n):
    top, middle, bottom = tier_sizes(n)
    edge = ceil_30_percent(n)
    assert top == edge
    assert bottom == (edge if n > 1 else 0)  # N = 1: the top wins the overlap
    assert top + middle + bottom == n and middle >= 0
    tiers = [tier_for(r, n) for r in range(1, n + 1)]
    assert [tiers.count(label) for label in TIER_LABELS] == [top, middle, bottom]
    # Tiers are contiguous: Top, then Middle, then Bottom.
    assert tiers == sorted(tiers, key=TIER_LABELS.index)


@settings(max_examples=150)
@given(rows_strategy, st.randoms(use_true_random=False))
def test_ranks_are_a_permutation_in_a_total_order_independent_of_input_order(rows, rnd):
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    ranked = rank_companies(frame(rows))
    again = rank_companies(frame(shuffled))
    pd.testing.assert_frame_equal(ranked, again)
    n = len(rows)
    assert sorted(ranked["rank"]) == list(range(1, n + 1))
    assert list(ranked["company_id"]) == oracle_order(rows)
    keys = [
        (-int(row["score"]), *(-int(row[c]) for c in COUNTERS), int(row["company_id"]))
        for _, row in ranked.iterrows()
    ]
    assert all(a < b for a, b in itertools.pairwise(keys))  # strictly: total order
    scores = {r[0]: score_of(r) for r in rows}
    assert dict(zip(ranked["company_id"], ranked["score"], strict=True)) == scores
    assert [parse_rank_text(t) for t in ranked["rank_text"]] == [(r, n) for r in range(1, n + 1)]


@given(st.integers(1, 10**6).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_rank_text_round_trips(pair):
    assert parse_rank_text(rank_text(*pair)) == pair
    assert parse_rank_text(f"  {rank_text(*pair)}\t") == pair


# --- the prior-value parser -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("3 out of 7", (3, 7)),
        ("  3 out of 7 ", (3, 7)),
        ("26 out of 150", (26, 150)),
        ("1 out of 1", (1, 1)),
        ("7 out of 7", (7, 7)),
        # The spec: the leading integer is the rank; N is read where the text gives one.
        ("7/12", (7, 12)),
        ("7 / 12", (7, 12)),
        ("7  out of 12", (7, 12)),
        ("7 Out Of 12", (7, 12)),
        ("3 OUT OF 7", (3, 7)),
        ("07 out of 12", (7, 12)),
        ("26 of 150", (26, 150)),
        ("3 out of 7 (last week)", (3, 7)),
        ("7", (7, None)),
        ("7.", (7, None)),
        ("12th", (12, None)),
        ("7 out of", (7, None)),
        # No leading positive integer: new/unknown.
        ("", None),
        ("   ", None),
        ("n/a", None),
        ("TBD", None),
        ("#12", None),
        ("rank 3 out of 7", None),
        ("0 out of 5", None),
        ("0", None),
        ("-1 out of 3", None),
        ("+3 out of 7", None),
        ("1.5 out of 3", None),
        ("1,234 out of 2,000", None),
        ("٣ out of ٧", None),
        # Impossible text: a rank beyond the N it states.
        ("6 out of 5", None),
        ("3 out of 0", None),
        ("3/2", None),
        ("3 out of 7.5", None),
        (None, None),
        (float("nan"), None),
        (pd.NA, None),
        (3, None),
    ],
)
def test_parse_rank_text_reads_the_leading_integer(value, parsed):
    assert parse_rank_text(value) == parsed


@pytest.mark.parametrize(
    ("value", "fallback_n", "parsed"),
    [
        ("7", 12, (7, 12)),  # N from the stored prior week
        ("7 out of", 12, (7, 12)),
        ("12", 12, (12, 12)),
        ("13", 12, (13, None)),  # that N cannot be the one this rank was out of
        ("7 out of 9", 12, (7, 9)),  # the text's own N wins
        ("6 out of 5", 12, None),
        ("n/a", 12, None),
    ],
)
def test_parse_rank_text_takes_n_from_the_prior_week_when_the_text_has_none(
    value, fallback_n, parsed
):
    assert parse_rank_text(value, fallback_n) == parsed


@pytest.mark.parametrize("fallback_n", [0, -3, 1.5, True, "12"])
def test_a_fallback_n_that_is_not_a_count_is_refused(fallback_n):
    with pytest.raises(ValueError, match=f"fallback N {fallback_n!r}"):
        parse_rank_text("7", fallback_n)


def _spelled(text: str, upper: list[bool]) -> str:
    return "".join(c.upper() if u else c for c, u in zip(text, upper, strict=False))


@given(
    st.integers(1, 10**6).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))),
    st.sampled_from(["out of", "of", "/"]),
    st.lists(st.booleans(), min_size=6, max_size=6),
    st.tuples(*(st.text(" \t", max_size=3) for _ in range(4))),
    st.integers(0, 2),
    st.none() | st.integers(1, 10**6),
)
def test_every_spelling_of_x_out_of_n_parses_to_x_and_n(
    pair, separator, upper, spaces, zeros, fallback_n
):
    rank, n = pair
    word_gap = " " + spaces[1] if separator != "/" else spaces[1]
    text = (
        f"{spaces[0]}{'0' * zeros}{rank}{word_gap}"
        f"{_spelled(separator, upper).replace(' ', ' ' + spaces[2])}{word_gap}{n}{spaces[3]}"
    )
    assert parse_rank_text(text, fallback_n) == (rank, n)


@given(st.text(), st.none() | st.integers(1, 10**6))
def test_a_parsed_prior_is_a_possible_rank_and_only_text_leading_with_digits_parses(
    text, fallback_n
):
    parsed = parse_rank_text(text, fallback_n)
    if not text.strip()[:1].isascii() or not text.strip()[:1].isdigit():
        assert parsed is None
    if parsed is not None:
        rank, n = parsed
        assert rank >= 1 and (n is None or rank <= n)
        assert int(re.match(r"\d+", text.strip(), re.ASCII)[0]) == rank


@given(st.integers(1, 10**6), st.none() | st.integers(1, 10**6))
def test_a_bare_rank_takes_the_fallback_n_only_when_it_fits(rank, fallback_n):
    fits = fallback_n is not None and rank <= fallback_n
    assert parse_rank_text(str(rank), fallback_n) == (rank, fallback_n if fits else None)


# --- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metric", "value"),
    [
        ("calls", -1),
        ("tasks", 1.5),
        ("appointments", "7"),
        ("new_patients", None),
        ("new_patients", float("nan")),
        ("calls", float("inf")),
        ("tasks", True),
    ],
)
def test_bad_counters_name_the_company_and_the_metric(metric, value):
    data = frame([("41", 1, 1, 1, 1), ("42", 1, 1, 1, 1)]).astype(object)
    data.loc[1, metric] = value
    with pytest.raises(ValueError) as excinfo:
        rank_companies(data)
    assert f"company 42: {metric} is {value!r}" in str(excinfo.value)
    assert "whole numbers >= 0" in str(excinfo.value)


def test_missing_counter_in_a_nullable_column_is_refused():
    data = frame([("41", 1, 1, 1, 1)])
    data["calls"] = pd.array([None], dtype="Int64")
    with pytest.raises(ValueError, match="company 41: calls is <NA>"):
        rank_companies(data)


def test_whole_floats_are_accepted_as_counts():
    data = frame([("41", 1, 1, 1, 1)]).astype({"calls": "float64"})
    assert rank_companies(data)["score"].tolist() == [10]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (frame([("1", 0, 0, 0, 0)]).drop(columns="calls"), "lacks column(s) calls"),
        (frame([("1", 0, 0, 0, 0), ("1", 1, 1, 1, 1)]), "companies listed more than once: 1"),
        (frame([("1", 0, 0, 0, 0)]).assign(company_id=[1]), "strings of digits"),
        (frame([("1", 0, 0, 0, 0)]).assign(company_id=["١"]), "strings of digits"),
    ],
)
def test_bad_frames_are_refused(data, message):
    with pytest.raises(ValueError) as excinfo:
        rank_companies(data)
    assert message in str(excinfo.value)


@pytest.mark.parametrize(("rank", "n"), [(0, 5), (6, 5), (1, 0), (-1, 3)])
def test_impossible_ranks_are_refused(rank, n):
    with pytest.raises(ValueError, match="impossible"):
        tier_for(rank, n)
    with pytest.raises(ValueError, match="impossible"):
        rank_text(rank, n)


@pytest.mark.parametrize("n", [-1, 1.5, True, "3"])
def test_tier_sizes_refuses_non_counts(n):
    with pytest.raises(ValueError, match="whole number"):
        tier_sizes(n)
