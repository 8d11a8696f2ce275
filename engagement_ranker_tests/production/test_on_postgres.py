"""The production profile on a real PostgreSQL, its processes started as deploy/ starts them:
the daemon launches runs that write HubSpot, backfills complete, the write gate holds across
runs, and the instance's history outlives every process."""

from __future__ import annotations

from dataclasses import dataclass

from engagement_ranker.constants import (
    DEFAULT_HUBSPOT_API_VERSION,
    HUBSPOT_ROUTES,
    Env,
    HubSpotOperation,
    WriteMode,
)
from engagement_ranker.defs.assets import customer_companies
from engagement_ranker.defs.jobs import WEEKLY_JOB_NAME
from engagement_ranker.defs.partitions import latest_week_key, weekly_partitions
from engagement_ranker_tests.e2e.dagster_api import CheckExecution
from engagement_ranker_tests.e2e.product import (
    ASSET_GROUPS,
    CHECKS,
    RANKED,
    WRITEBACK,
    writeback_config,
)
from engagement_ranker_tests.e2e.stack import finish, spawn
from engagement_ranker_tests.e2e.test_failed_check import FAILING_CHECK, TIER_OPTION_DROPPED
from engagement_ranker_tests.e2e.waiting import wait_until
from engagement_ranker_tests.production.stack import ProductionStack

RUN_SECONDS = 180.0
BACKFILL_SECONDS = 300.0
PAST_WEEKS = 2
FULL = writeback_config(WriteMode.FULL)
# A queued run's start in its event log: the webserver enqueues it; only the daemon takes runs
# off the queue, and it reports "starting" as it launches one; then the run's process starts.
QUEUED_AND_LAUNCHED = ("RunEnqueuedEvent", "RunStartingEvent", "RunStartEvent")
STEP_FAILED = "ExecutionStepFailureEvent"


def _launch_week(production: ProductionStack, config: dict, assets: list[str] | None = None) -> str:
    return production.api.launch_run(
        production.location, WEEKLY_JOB_NAME, latest_week_key(), config, assets
    )


def test_a_daemon_launched_run_writes_the_latest_week_to_hubspot(
    production: ProductionStack,
) -> None:
    week = latest_week_key()

    run_id = _launch_week(production, FULL)

    assert production.api.finished_run(run_id, RUN_SECONDS).status == "SUCCESS"
    events = production.api.run_events(run_id)
    kinds = [event["__typename"] for event in events if event["__typename"] in QUEUED_AND_LAUNCHED]
    assert kinds == list(QUEUED_AND_LAUNCHED)
    # The run executed beside the code server; the webserver shows what it printed.
    (file_key,) = {event["fileKey"] for event in events if "fileKey" in event}
    assert WRITEBACK in production.api.captured_stderr(run_id, file_key)
    ranked = production.api.materialization_in_run(RANKED, week, run_id).metadata["ranked"]
    writes = production.control.writes()
    assert len({write["company_id"] for write in writes}) == len(writes) == ranked > 0
    # HubSpot now holds what was written.
    for write in writes:
        record = production.control.company(write["company_id"])
        assert {name: record[name] for name in write["after"]} == write["after"]


def test_a_backfill_of_past_weeks_completes_and_stores_each_week(
    production: ProductionStack,
) -> None:
    weeks = weekly_partitions.get_partition_keys()[-PAST_WEEKS - 1 : -1]

    backfill_id = production.api.launch_backfill(sorted(ASSET_GROUPS), weeks, FULL)

    backfill = production.api.finished_backfill(backfill_id, BACKFILL_SECONDS)
    assert backfill["status"] == "COMPLETED_SUCCESS"
    runs = {run["runId"]: run["status"] for run in backfill["runs"]}
    # At least a run per week: the previous week's ranking is an input, so Dagster runs each
    # week's ranking after the week before's, in runs of their own.
    assert len(runs) >= len(weeks)
    assert set(runs.values()) == {"SUCCESS"}
    for asset in ASSET_GROUPS:
        stored = production.api.materializations(asset, weeks)
        assert sorted(m.partition for m in stored) == weeks, asset
        assert {m.run_id for m in stored} <= runs.keys(), asset
    # Past weeks are history: planned, never written to HubSpot.
    assert production.control.writes() == []


def test_the_write_gate_refuses_after_a_failed_blocking_check(
    production: ProductionStack,
) -> None:
    week = latest_week_key()
    production.control.set_faults(TIER_OPTION_DROPPED)

    failed_id = _launch_week(production, FULL)

    assert production.api.finished_run(failed_id, RUN_SECONDS).status == "FAILURE"
    execution = production.api.check_execution(RANKED, FAILING_CHECK, week)
    assert execution is not None and execution.status == "FAILED", execution
    assert execution.run_id == failed_id
    assert all(m.run_id != failed_id for m in production.api.materializations(WRITEBACK, [week]))

    # HubSpot is well again, but the failed check still stands for this week in the
    # instance: the writeback launched on its own must refuse.
    production.control.set_faults({})
    bypass_id = _launch_week(production, FULL, [WRITEBACK])

    assert production.api.finished_run(bypass_id, RUN_SECONDS).status == "FAILURE"
    failures = {
        event["stepKey"]: event["error"]["message"]
        for event in production.api.run_events(bypass_id)
        if event["__typename"] == STEP_FAILED
    }
    assert set(failures) == {WRITEBACK}
    assert "Refusing to write" in failures[WRITEBACK]
    assert FAILING_CHECK in failures[WRITEBACK]
    assert production.control.writes() == []


@dataclass(frozen=True)
class History:
    """What the instance remembers: every run's status, every check execution."""

    runs: dict[str, str]
    checks: dict[tuple[str, str], list[CheckExecution]]


def _history(production: ProductionStack) -> History:
    return History(
        runs=production.api.runs(),
        checks={key: production.api.check_executions(*key) for key in sorted(CHECKS)},
    )


def test_run_history_and_check_results_survive_restarting_every_process(
    production: ProductionStack,
) -> None:
    # At least one run with check results of its own, whatever ran before it.
    run_id = _launch_week(production, {}, [customer_companies.key.to_user_string()])
    assert production.api.finished_run(run_id, RUN_SECONDS).status == "SUCCESS"
    before = _history(production)
    assert before.runs[run_id] == "SUCCESS"
    assert any(e.run_id == run_id for executions in before.checks.values() for e in executions)

    production.restart()

    assert _history(production) == before


def test_one_writer_per_week_holds_between_a_daemon_run_and_a_cli_run(
    production: ProductionStack,
) -> None:
    """The daemon's run holds the week; a CLI run of the same week in another process, on the
    same PostgreSQL instance, reaching its own write meanwhile, refuses naming it; HubSpot ends
    holding the daemon's write whole, and a later CLI run finds nothing left to write.

    The daemon's first batch update is refused (429, each answer 19 s late) until the CLI run
    has ended, so the week stays held for as long as the CLI takes to reach its write, up to
    the client's retry budget (about 110 s), however busy the machine: a fixed delay lost
    that race on a loaded CI machine."""
    week = latest_week_key()
    update = HUBSPOT_ROUTES[DEFAULT_HUBSPOT_API_VERSION][HubSpotOperation.COMPANIES_UPDATE]
    held = {"latency_ms": 19_000, "error_rate": 1.0, "error_statuses": [429]}
    production.control.set_faults({"routes": {update: held}})
    daemon_run = _launch_week(production, FULL)

    def writing() -> bool:
        events = production.api.run_events(daemon_run)
        return any(event.get("stepKey") == WRITEBACK for event in events)

    wait_until(writing, timeout=RUN_SECONDS, what="the daemon run's writeback to start")
    log = production.logs / "cli-writer.log"
    cli = [
        "engagement-ranker",
        *("run", "--week", week, "--mode", "full"),
    ]
    env = production.environment("code-server")
    second = spawn(cli, {**env, str(Env.ENGAGEMENT_WRITE_LEASE_WAIT_SECONDS): "1"}, log)
    refused = second.wait(timeout=RUN_SECONDS)
    production.control.set_faults({})  # the daemon's next attempt goes through
    refusal = " ".join(log.read_text(encoding="utf-8").split())
    assert refused == 1, refusal
    assert f"is being written to HubSpot by run {daemon_run}" in refusal

    assert production.api.finished_run(daemon_run, RUN_SECONDS).status == "SUCCESS"
    writes = production.control.writes()
    assert len({w["company_id"] for w in writes}) == len(writes) > 0  # each written once
    for write in writes:
        record = production.control.company(write["company_id"])
        assert {name: record[name] for name in write["after"]} == write["after"]

    later = spawn(cli, env, production.logs / "cli-later.log")
    finish(later, "the later CLI run", production.logs / "cli-later.log", RUN_SECONDS)
    assert production.control.writes() == writes  # the week was whole: nothing left to write
