"""One row of the matrix in a process of its own (the matrix forks one per row from a server
that has imported everything once): the trial, its verdict, and the search of everything the
process wrote to stdout and stderr while it ran."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import dagster as dg

from engagement_ranker_tests.faults.canaries import leaks
from engagement_ranker_tests.faults.procedures import single_run
from engagement_ranker_tests.faults.rows import BY_NAME
from engagement_ranker_tests.faults.trial import Trial
from engagement_ranker_tests.faults.verdict import Verdict, judge

# Far above the slowest row (~60 s alone); a row still running then is stuck.
ROW_TIMEOUT_SECONDS = 300


class RowTimeout(Exception):
    """The row ran past ROW_TIMEOUT_SECONDS."""


def _give_up(signum: int, frame: FrameType | None) -> None:
    raise RowTimeout(f"the row ran past {ROW_TIMEOUT_SECONDS} s")


def verdict_for(name: str) -> Verdict:
    """Run the row in a fresh world and judge what it left behind."""
    row = BY_NAME[name]
    started = time.monotonic()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="fault-row-") as workdir,
            Trial(Path(workdir)) as trial,
        ):
            (row.procedure or single_run)(trial, row)
            observation = trial.observe()
        verdict = judge(row, observation)
    except Exception:  # the harness itself broke: a failed row with the reason, not a hang
        verdict = Verdict(name, row.expect.value, observed="trial error")
        verdict.problems.append(f"the trial raised:\n{traceback.format_exc()}")
    verdict.seconds = round(time.monotonic() - started, 1)
    return verdict


def run_captured(name: str, verdict_of: Callable[[str], Verdict] = verdict_for) -> dict[str, Any]:
    """The row's verdict (as JSON data), with this process's stdout and stderr searched.

    Only for a process of its own: file descriptors 1 and 2 are pointed at files for good.
    """
    # Per-week asset checks are a Dagster preview feature; the warning is expected (DESIGN.md).
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    signal.signal(signal.SIGALRM, _give_up)
    signal.alarm(ROW_TIMEOUT_SECONDS)
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        for stream, file in ((sys.stdout, stdout), (sys.stderr, stderr)):
            stream.flush()
            os.dup2(file.fileno(), stream.fileno())
        verdict = verdict_of(name)
        signal.alarm(0)
        for stream, file in ((sys.stdout, stdout), (sys.stderr, stderr)):
            stream.flush()
            file.seek(0)
            found = leaks(stream.name.strip("<>"), file.read())
            verdict.leaks += found
            verdict.problems += [f"secret leaked to {leak}" for leak in found]
    return verdict.to_json()
