"""Rows that need more than one run: a stale search index after a write, the same week run
again and again, and a process killed while writing and then run again."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable

import pandas as pd

from engagement_ranker.constants import (
    DEFAULT_HUBSPOT_API_VERSION,
    HUBSPOT_ROUTES,
    HubSpotOperation,
)
from engagement_ranker_tests.faults.model import Observation, Row
from engagement_ranker_tests.faults.trial import Trial

# A route fault applies to its operation whichever path family the job speaks.
UPDATE_ROUTE = HUBSPOT_ROUTES[DEFAULT_HUBSPOT_API_VERSION][HubSpotOperation.COMPANIES_UPDATE]
# Tables every run stores for the week; the writeback's audit says what that run wrote.
INPUT_TABLES = ("customer_companies", "yobi_tenants", "weekly_metrics", "tenant_mapping")
DERIVED_TABLES = ("ranked_scores",)
ALL_TABLES = (*INPUT_TABLES, *DERIVED_TABLES, "hubspot_writeback", "slack_summary")
# Read from HubSpot, so the first run's write changes them for the second: by design.
HUBSPOT_PRIOR_COLUMNS = ("prior_score", "prior_rank_text", "prior_tier")
DEADLINE_SECONDS = 120.0  # for the first write to appear, and for the re-run to end
POLL_SECONDS = 0.05


def single_run(trial: Trial, row: Row) -> None:
    """The fault in place, one run of the latest week."""
    row.setup(trial)
    trial.run()


def after_a_clean_write(trial: Trial, row: Row) -> None:
    """A clean run writes the week; then the fault, and the same week again."""
    trial.run()
    row.setup(trial)
    trial.run()


def _outputs(trial: Trial) -> dict[str, str]:
    """The week's stored tables (as CSV) and its report (as JSON)."""
    outputs = {table: trial.warehouse_week(table) for table in ALL_TABLES}
    outputs["report"] = json.dumps(trial.runs[-1].report, sort_keys=True)
    return outputs


def _frame(csv: str, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    frame = pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)
    return frame.drop(columns=list(drop), errors="ignore")


def _difference(first: str, second: str, ignore: tuple[str, ...] = ()) -> str | None:
    """None when two outputs match byte for byte (bar the `ignore`d columns), else how not."""
    if first == second:
        return None
    if first.startswith("{"):  # the report
        return "the report"
    a, b = _frame(first, ignore), _frame(second, ignore)
    if a.shape != b.shape or list(a.columns) != list(b.columns):
        return f"{a.shape} vs {b.shape}"
    columns = [column for column in a.columns if not a[column].equals(b[column])]
    return f"columns {columns}" if columns else None


def same_week_three_times(prior_week_stored: bool) -> Callable[[Trial, Row], None]:
    """The latest week three times (after storing the week before, if asked): the first run
    writes, the later ones must write nothing and store byte-identical outputs; the first and
    the second may differ only in what HubSpot held (the first run's write)."""

    def procedure(trial: Trial, row: Row) -> None:
        if prior_week_stored:
            trial.run(trial.week.previous().key)
        runs = []
        for _ in range(3):
            trial.run()
            runs.append(_outputs(trial))
        first, second, third = runs
        trial.notes["differ"] = {
            f"runs 1 and 2, {name}": _difference(first[name], second[name], HUBSPOT_PRIOR_COLUMNS)
            for name in (*INPUT_TABLES, *DERIVED_TABLES)
        } | {f"runs 2 and 3, {name}": _difference(second[name], third[name]) for name in second}
        trial.notes["rewrites"] = sum(len(run.writes) for run in trial.runs[-2:])

    return procedure


def same_outputs_no_rewrite(obs: Observation) -> list[str]:
    """What differed between runs that had to agree, and any write after the first run."""
    problems = [f"{where} differ: {how}" for where, how in obs.notes["differ"].items() if how]
    if obs.notes["rewrites"]:
        problems.append(f"runs 2 and 3 wrote {obs.notes['rewrites']} companies again")
    return problems


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and everything in its session, if it still runs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def killed_while_writing(trial: Trial, row: Row) -> None:
    """`engagement-ranker run` is SIGKILLed once batch 1 is written while batch 2 hangs
    unanswered (so it is never applied); a second `engagement-ranker run` must finish the job.
    """
    trial.set_faults(
        {
            "timeout_seconds": DEADLINE_SECONDS,
            "routes": {UPDATE_ROUTE: {"bursts": [{"nth": 2, "error": "timeout"}]}},
        }
    )
    process = trial.cli_start("killed")
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not trial.control.writes() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    _kill(process)
    killed = trial.cli_finish("killed", process)
    changed = [c for c, values in trial.hubspot().items() if values != trial.before[c]]
    trial.notes["killed"] = {
        "writes_before_kill": len(killed.writes),
        "companies_changed": len(changed),
        "dagster_status_after_kill": killed.status,
    }
    trial.set_faults({})
    rerun = trial.cli_start("rerun")
    try:
        rerun.wait(timeout=DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        _kill(rerun)
    trial.cli_finish("rerun", rerun)


def rerun_finished_the_job(obs: Observation) -> list[str]:
    """The kill left batch 1 written and batch 2 not, and the journal said so: the re-run put
    the killed run's companies back to their values before it (HubSpot exactly "before"),
    said so, then wrote the whole week (exactly "intended")."""
    killed = obs.notes["killed"]
    first, rerun = obs.runs
    problems = []
    if not first.writes or killed["companies_changed"] == 0:
        problems.append(f"the kill did not land after a write: {killed}")
    ranked = {row["company_id"] for row in obs.ranked}
    done = {w["company_id"] for w in first.writes}
    needed = {c for c in ranked if obs.before[c] != obs.after[c]}
    restored = {
        w["company_id"]
        for w in rerun.writes
        if all((obs.before[w["company_id"]][p] or "") == (v or "") for p, v in w["after"].items())
    }
    if restored != done:
        problems.append(
            f"the re-run put back {len(restored)} companies; the killed run had written {len(done)}"
        )
    last = {w["company_id"] for w in rerun.writes}
    if not needed <= last:
        problems.append(f"the re-run left {len(needed - last)} companies unwritten")
    report = rerun.report or {}
    said = [a["message"] for a in report.get("anomalies", []) if "unfinished write" in a["message"]]
    if not said:
        problems.append("the re-run did not report the killed run's unfinished write")
    return problems
