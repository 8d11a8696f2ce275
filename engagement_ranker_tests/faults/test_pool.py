"""The matrix's pool: the baseline runs first, and a row is not blamed for the rows ahead of it."""

from __future__ import annotations

from engagement_ranker_tests.faults.matrix import COLLECT_MARGIN_SECONDS, _deadlines, queue
from engagement_ranker_tests.faults.rows import BASELINE, ROWS
from engagement_ranker_tests.faults.worker import ROW_TIMEOUT_SECONDS

TURN = ROW_TIMEOUT_SECONDS + COLLECT_MARGIN_SECONDS


def test_the_baseline_runs_first_then_the_slow_rows() -> None:
    order = queue(ROWS)

    assert order[0].name == BASELINE
    slow = [row.slow for row in order[1:]]
    assert slow == sorted(slow, reverse=True)
    assert sorted(row.name for row in order) == sorted(row.name for row in ROWS)


def test_a_queued_row_has_a_turn_for_each_pool_width_ahead_of_it() -> None:
    """Three workers, seven rows: rows 0-2 may take one turn, 3-5 two, the seventh three."""
    deadlines = _deadlines(queue(ROWS)[:7], workers=3, started=1000.0)

    assert sorted(deadlines.values()) == [1000.0 + TURN * n for n in (1, 1, 1, 2, 2, 2, 3)]
