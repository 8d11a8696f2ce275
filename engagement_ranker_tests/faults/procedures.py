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

import dagster as dg
import pandas as pd

from engagement_ranker.clients.http import DEFAULT_RETRY
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


# --- issue 16: writes that survive anything ---------------------------------------------------
# A hanging batch 2 keeps a run inside its write long enough for an edit, a changed definition
# or a revoked token to meet it there.
ACTION_STALL_SECONDS = 5
# The tier options left when "Bottom 30%" is dropped mid-write.
TIERS_LEFT = ("Top 30%", "Middle 40%")


def _wait_for_first_write(trial: Trial, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not trial.control.writes() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)


def _finish(trial: Trial, name: str, process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        _kill(process)
    trial.cli_finish(name, process)


def while_writing(action: Callable[[Trial], None]) -> Callable[[Trial, Row], None]:
    """The fault in place; batch 2's first attempt hangs unanswered (not applied) for a few
    seconds, and meanwhile `action` (an edit, a changed definition, a revoked token) meets
    the run inside its write: batch 2's retry and the restore see it."""

    def procedure(trial: Trial, row: Row) -> None:
        row.setup(trial)
        _stall_batch_2(trial, ACTION_STALL_SECONDS)
        process = trial.cli_start("writer")
        _wait_for_first_write(trial, process)
        action(trial)
        _finish(trial, "writer", process)

    return procedure


def _stall_batch_2(trial: Trial, seconds: float) -> None:
    faults = trial.control_faults()
    faults["timeout_seconds"] = seconds
    trial.set_faults(faults)
    _update_faults(trial, {"bursts": [{"nth": 2, "error": "timeout"}]})


def _update_faults(trial: Trial, rule: dict[str, object] | None) -> None:
    """The batch updates' route rule set to `rule` (None: removed), other faults kept."""
    faults = trial.control_faults()
    routes = faults.setdefault("routes", {})
    if rule is None:
        routes.pop(UPDATE_ROUTE, None)
    else:
        routes[UPDATE_ROUTE] = rule
    trial.set_faults(faults)


# A second writer waiting this long outlasts what is left of the first's write once released.
OUTWAITS_THE_FIRST_SECONDS = 60.0
# What a writer that finds the week held says while it waits (defs/journal.write_lease).
WAITING = "waiting up to"
# Batch 2 is answered 503 (so the first writer retries, however the race goes), then held: the
# client gives up on a held call after its timeout and retries (each retry held too) within its
# retry budget, so the first writer holds the week for up to about two minutes.
HOLD = {
    "bursts": [
        {"nth": 2, "error": 503},
        {"nth": 3, "count": DEFAULT_RETRY.attempts, "error": "hold"},
    ]
}


def second_writer(wait_seconds: float) -> Callable[[Trial, Row], None]:
    """Two `engagement-ranker run` processes for one week: the second starts while the first is
    writing and waits for its lease up to `wait_seconds`.

    The first's batch 2 is held until the second has met the week held (said it waits and,
    when its wait is the shorter, been refused), however long a busy machine takes the second
    to get there, up to the first's retry budget: a fixed stall lost that race in CI."""

    def procedure(trial: Trial, row: Row) -> None:
        row.setup(trial)
        _update_faults(trial, HOLD)
        first = trial.cli_start("first")
        _wait_for_first_write(trial, first)
        second = trial.cli_start(
            "second",
            env={"ENGAGEMENT_WRITE_LEASE_WAIT_SECONDS": str(wait_seconds)},
        )

        def met() -> bool:
            if second.poll() is not None or first.poll() is not None:
                return True
            return wait_seconds >= OUTWAITS_THE_FIRST_SECONDS and trial.said("second", WAITING)

        deadline = time.monotonic() + DEFAULT_RETRY.max_total
        while not met() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        trial.control.release()  # batch 2 goes on (or, faulted, fails and restores)
        _finish(trial, "first", first)
        # Both processes share the sandbox's log: what came after the first ended is the
        # second's (while the first held the week, the second may not have written at all).
        first_done = len(trial.control.writes())
        _finish(trial, "second", second)
        first_run, second_run = trial.runs[-2:]
        second_run.writes = trial.control.writes()[first_done:]
        trial.notes["first_run_id"] = first_run.run_id
        trial.notes["second_said"] = trial.said("second", WAITING)

    return procedure


def second_writer_named_the_first(obs: Observation) -> list[str]:
    """The refused writer named the one that held the week, and wrote nothing."""
    second = obs.runs[-1]
    error = ((second.report or {}).get("alert") or {}).get("error", "")
    problems = []
    if second.writes:
        problems.append(f"the second writer wrote {len(second.writes)} companies")
    if obs.notes["first_run_id"] not in " ".join(error.split()):
        problems.append(f"the refusal does not name the first run: {error!r}")
    return problems


def second_writer_waited_for_the_first(obs: Observation) -> list[str]:
    """The second writer said it waited for the week held, then found it written whole."""
    problems = []
    if not obs.notes["second_said"]:
        problems.append(f"the second writer never said {WAITING!r} for the held week")
    if obs.runs[-1].writes:
        problems.append(f"the second writer rewrote {len(obs.runs[-1].writes)} companies")
    return problems


def person_edits_a_written_company(trial: Trial) -> None:
    """A person changes a written company's score in HubSpot while the run still writes."""
    company_id = trial.control.writes()[0]["company_id"]
    trial.control.edit_company(company_id, {"customer_engagement_score": "4242"})
    trial.notes["person"] = {company_id: {"customer_engagement_score": "4242"}}


def the_persons_edit_stands(obs: Observation) -> list[str]:
    [(company_id, edit)] = obs.notes["person"].items()
    problems = []
    if obs.after[company_id]["customer_engagement_score"] != edit["customer_engagement_score"]:
        problems.append(f"the restore overwrote the person's edit of company {company_id}")
    error = " ".join(((obs.report.get("alert") or {}).get("error", "")).split())
    if "changed by someone else during the run" not in error:
        problems.append("the alert does not say a company was changed by someone else")
    return problems


def tier_loses_bottom_option(trial: Trial) -> None:
    """The tier property becomes a dropdown without "Bottom 30%" in the middle of the write."""
    faults = trial.control_faults()
    options = [{"label": t, "value": t} for t in TIERS_LEFT]
    faults.setdefault("hubspot", {})["properties"] = {
        "customer_engagement_tier": {
            "type": "enumeration",
            "fieldType": "select",
            "options": options,
        }
    }
    trial.set_faults(faults)


def only_refused_before_values_stay(obs: Observation) -> list[str]:
    """Every company still holding the run's values is one whose before tier HubSpot now
    refuses, every other company batch 1 wrote is back, and the alert counts exactly them."""
    tier, allowed = "customer_engagement_tier", (None, *TIERS_LEFT)
    first = {w["company_id"] for w in obs.runs[-1].writes[:100]}
    stuck = {c for c, now in obs.after.items() if now != obs.before[c]}
    problems = []
    if not stuck:
        problems.append("every company went back: the row proves nothing")
    wrongly = sorted(c for c in stuck if obs.before[c][tier] in allowed)
    if wrongly or not stuck <= first:
        problems.append(
            f"companies whose before values HubSpot accepts were not put back: {wrongly}"
        )
    error = " ".join(((obs.report.get("alert") or {}).get("error", "")).split())
    if f"refuses the before values of {len(stuck)} companies" not in error:
        problems.append(f"the alert does not count the {len(stuck)} refused companies: {error!r}")
    return problems


def revoke_token(trial: Trial) -> None:
    """The app's token is revoked while the run writes (so its restore cannot write either)."""
    faults = trial.control_faults()
    faults.setdefault("hubspot", {})["auth"] = "revoked"
    trial.set_faults(faults)


def revoked_mid_write_then_rerun(trial: Trial, row: Row) -> None:
    """The token is revoked mid-write: the run cannot put batch 1 back and says so; the token
    is restored and the next run of the week reads the journal, puts batch 1 back, and then
    writes the week whole."""
    while_writing(revoke_token)(trial, row)
    trial.notes["after_revoked_run"] = trial.hubspot()
    trial.notes["earlier_run_failed"] = True
    trial.set_faults({})
    trial.run()


def the_rerun_converged_from_the_journal(obs: Observation) -> list[str]:
    revoked, _ = obs.runs
    problems = []
    stuck = {c for c, v in obs.notes["after_revoked_run"].items() if v != obs.before[c]}
    if not stuck:
        problems.append("the revoked run left nothing to converge: the row proves nothing")
    error = " ".join(((revoked.report or {}).get("alert") or {}).get("error", "").split())
    if "RESTORE INCOMPLETE" not in error or "recover" not in error:
        problems.append(f"the revoked run's alert does not say what is left: {error!r}")
    said = [a for a in obs.anomalies if "unfinished write of run" in a["message"]]
    if not said:
        problems.append("the re-run does not report the unfinished write it put back")
    return problems


def killed_then_recovered(trial: Trial, row: Row) -> None:
    """`engagement-ranker run` is SIGKILLed mid-write; `engagement-ranker recover` puts
    HubSpot back to exactly its values before the run."""
    killed_while_writing_only(trial)
    process = trial.cli_start("recover", "recover", "--week", trial.week.key)
    process.wait(timeout=DEADLINE_SECONDS)
    text = (trial.workdir / "recover.stdout").read_text(encoding="utf-8")
    trial.outputs["CLI stdout (recover)"] = text
    trial.notes["recovered"] = {"exit": process.returncode, "stdout": text}


def killed_while_writing_only(trial: Trial) -> None:
    """The killed half of `killed_while_writing`: batch 1 written, batch 2 hanging, SIGKILL
    (the killed run stays STARTED in Dagster: nothing told it otherwise)."""
    trial.set_faults(
        {
            "timeout_seconds": DEADLINE_SECONDS,
            "routes": {UPDATE_ROUTE: {"bursts": [{"nth": 2, "error": "timeout"}]}},
        }
    )
    process = trial.cli_start("killed")
    _wait_for_first_write(trial, process)
    _kill(process)
    trial.cli_finish("killed", process)
    trial.notes["killed_writes"] = len(trial.control.writes())
    trial.notes["killed"] = {"writes_before_kill": trial.notes["killed_writes"]}
    trial.set_faults({})


def recover_said_so(obs: Observation) -> list[str]:
    recovered = obs.notes["recovered"]
    problems = []
    if not obs.notes["killed_writes"]:
        problems.append("the kill landed before any write: the row proves nothing")
    if "HubSpot holds exactly its values before those runs" not in recovered["stdout"]:
        problems.append(f"recover did not say HubSpot is back: {recovered['stdout']!r}")
    alerts = [m for m in obs.slack if "recover" in str(m.get("text", ""))]
    if not alerts:
        problems.append("recover sent no alert")
    return problems


def narrowed_writeback_after_the_universe_changed(trial: Trial, row: Row) -> None:
    """The week is written; then the top company churns and `customer_companies` alone is
    materialized again; then the writeback is materialized with its upstream as source
    assets (the narrowest selection Dagster allows): the gate must still see the whole graph,
    and refuse to write the stale ranking."""
    from engagement_ranker.cli import week_outcome
    from engagement_ranker.definitions import build_definitions
    from engagement_ranker.defs.keys import (
        CUSTOMER_COMPANIES,
        HUBSPOT_WRITEBACK,
        RANKED_SCORES,
        TENANT_MAPPING,
    )
    from engagement_ranker.defs.partitions import weekly_partitions

    trial.run()
    top = min(trial.runs[-1].report["ranked"], key=lambda row: row["rank"])["company_id"]
    trial.control.edit_company(top, {"customer_status": "churned"})
    definitions = build_definitions()
    assets = {asset.key: asset for asset in definitions.assets}
    checks = list(definitions.asset_checks)
    common = {
        "partition_key": trial.week.key,
        "instance": trial.instance,
        "resources": definitions.resources,
        "raise_on_error": False,
    }
    assert dg.materialize(
        [assets[CUSTOMER_COMPANIES], *checks], **common, selection=[CUSTOMER_COMPANIES]
    ).success
    written, known = len(trial.control.writes()), {r.run_id for r in trial.instance.get_runs()}
    stored = {
        "io_manager_key": "warehouse_io",
        "partitions_def": weekly_partitions,
        "metadata": assets[RANKED_SCORES].metadata_by_key[RANKED_SCORES],
    }
    result = dg.materialize(
        [
            assets[HUBSPOT_WRITEBACK],
            *(
                dg.SourceAsset(key, **stored)
                for key in (CUSTOMER_COMPANIES, TENANT_MAPPING, RANKED_SCORES)
            ),
        ],
        run_config={"ops": {"hubspot_writeback": {"config": {"mode": "full"}}}},
        **common,
    )
    report = week_outcome(
        definitions, trial.instance, result.dagster_run, trial.week.key, result.success
    )
    # The narrowed run ranked nothing itself: HubSpot is judged against the week's ranking.
    report["ranked"] = trial.runs[-1].report["ranked"]
    trial.record(result.success, report, written, known)
    trial.notes["churned"] = top


def the_churned_company_kept_its_values(obs: Observation) -> list[str]:
    churned = obs.notes["churned"]
    if obs.last.writes:
        return [
            f"the narrowed writeback wrote {len(obs.last.writes)} companies (churned: {churned})"
        ]
    return []
