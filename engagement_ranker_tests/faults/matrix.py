"""`make faults`: each row in a process of its own (a fresh sandbox, environment and Dagster
instance), a few at a time; then the table, the problems of failed rows, and the last line
`faults: N passed, M failed`.

Processes are forked from a server that imported everything once (a row spends its time on
the product, not on imports). Every row that ranked is compared with the baseline's ranking:
no fault may change a rank.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.pool import AsyncResult, Pool

from engagement_ranker_tests.faults.model import Row
from engagement_ranker_tests.faults.rows import BASELINE, BY_NAME, ROWS
from engagement_ranker_tests.faults.verdict import Verdict
from engagement_ranker_tests.faults.worker import ROW_TIMEOUT_SECONDS, run_captured

# Rows mostly wait (retries, timeouts, servers); three keep two cores busy.
DEFAULT_WORKERS = 3
PRELOAD_MODULE = "engagement_ranker_tests.faults.preload"
# A row's own alarm ends it; past this margin its process is gone without a word.
COLLECT_MARGIN_SECONDS = 60
COLUMNS = (
    "fault",
    "expected outcome",
    "observed outcome",
    "HubSpot",
    "alert sent",
    "secret leaks",
    "seconds",
)


def _collect(row: Row, pending: AsyncResult, deadline: float) -> Verdict:
    try:
        return Verdict(**pending.get(timeout=max(0.0, deadline - time.monotonic())))
    except multiprocessing.TimeoutError:
        problem = "no verdict by its deadline (the rows queued before it, then its own run)"
    except Exception as error:  # the row's process broke: report it, keep the others
        problem = f"the row's process failed: {error!r}"
    return Verdict(row.name, row.expect.value, observed="no verdict", problems=[problem])


def _deadlines(order: Sequence[Row], workers: int, started: float) -> dict[str, float]:
    """When each row's verdict is overdue: a row waits for the rows queued before it, a pool's
    width at a time, each ended by its own alarm; a deadline from when asked would blame a row
    still in the queue for the ones ahead of it."""
    turn = ROW_TIMEOUT_SECONDS + COLLECT_MARGIN_SECONDS
    return {row.name: started + (i // workers + 1) * turn for i, row in enumerate(order)}


def baseline_problems(verdict: Verdict, baseline: Verdict | None) -> list[str]:
    """A row that ranked (and may not change ranks) must rank exactly as the baseline."""
    if verdict.name == BASELINE or not verdict.ranking or not BY_NAME[verdict.name].same_ranking:
        return []
    if baseline is None or not baseline.passed:
        return ["no passing baseline to compare the ranking with"]
    differing = [
        f"{mine} vs {theirs}"
        for mine, theirs in zip(verdict.ranking, baseline.ranking, strict=False)
        if mine != theirs
    ]
    if differing or len(verdict.ranking) != len(baseline.ranking):
        return [
            f"the ranking differs from the baseline ({len(verdict.ranking)} vs "
            f"{len(baseline.ranking)} ranked; first differences: {differing[:3]})"
        ]
    return []


def compare_with_baseline(verdicts: dict[str, Verdict]) -> None:
    """Every row that ranked (and may not change ranks) ranked exactly as the baseline."""
    baseline = verdicts.get(BASELINE)
    for verdict in verdicts.values():
        verdict.problems += baseline_problems(verdict, baseline)


def _cells(verdict: Verdict) -> tuple[str, ...]:
    return (
        verdict.name,
        verdict.expected,
        verdict.observed,
        verdict.hubspot,
        verdict.alert,
        f"{len(verdict.leaks)} LEAKED" if verdict.leaks else "none",
        f"{verdict.seconds:.0f}",
    )


def table(verdicts: Iterable[Verdict]) -> list[str]:
    """One aligned line per row, with PASS or FAIL at the end."""
    rows = [(*_cells(v), "PASS" if v.passed else "FAIL") for v in verdicts]
    header = (*COLUMNS, "result")
    widths = [max(len(line[i]) for line in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(header), line(["-" * width for width in widths]), *map(line, rows)]


def queue(rows: Sequence[Row]) -> list[Row]:
    """The baseline first (every other row is compared with it), then the slow rows (so the
    pool ends together), then the rest."""
    return sorted(rows, key=lambda row: (row.name != BASELINE, not row.slow))


def row_pool(workers: int) -> Pool:
    """`workers` processes at a time, one per row, forked from a server that imported the
    product and the worker once, with SIGTERM at its default (`preload`)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD_MODULE])
    return context.Pool(workers, maxtasksperchild=1)


@contextmanager
def trials(
    rows: Sequence[Row], workers: int = DEFAULT_WORKERS
) -> Iterator[Callable[[str], Verdict]]:
    """Start every row at once in `queue` order, each in a process of its own; yields the
    verdict of a row by name, waiting for it (until its deadline) when asked."""
    order = queue(rows)
    with row_pool(workers) as pool:
        deadlines = _deadlines(order, workers, time.monotonic())
        pending = {row.name: pool.apply_async(run_captured, (row.name,)) for row in order}
        found: dict[str, Verdict] = {}

        def verdict(name: str) -> Verdict:
            if name not in found:
                found[name] = _collect(BY_NAME[name], pending[name], deadlines[name])
            return found[name]

        yield verdict


def run(rows: Sequence[Row], workers: int = DEFAULT_WORKERS) -> int:
    """Run `rows`, print the table, and return the exit code."""
    started = time.monotonic()
    with trials(rows, workers) as verdict:
        verdicts = {row.name: verdict(row.name) for row in rows}
    compare_with_baseline(verdicts)
    for line in table(verdicts.values()):
        print(line)
    failed = [v for v in verdicts.values() if not v.passed]
    for verdict in failed:
        print(f"\nFAIL {verdict.name} ({verdict.seconds} s):")
        for problem in verdict.problems:
            print(f"  - {problem}")
    print(f"\n{len(rows)} rows in {time.monotonic() - started:.0f} s on {workers} workers")
    print(f"faults: {len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def select(patterns: Sequence[str]) -> list[Row]:
    """The rows whose names contain any pattern (all when none), with the baseline to compare
    with; none when nothing matches."""
    chosen = [row for row in ROWS if not patterns or any(p in row.name for p in patterns)]
    return [row for row in ROWS if row in chosen or (chosen and row.name == BASELINE)]
