"""Backfill: the last W weeks at N companies, launched as a user launches it from the UI.

`dagster dev` (webserver, daemon, schedule and failure sensor) runs on the repo's workspace
and dagster.yaml with a fresh home; once the daemons are healthy, one job backfill of the
weekly job is launched through the GraphQL API (what the UI's "Launch backfill" sends). The
daemon queues one run per week, `max_concurrent_runs` at a time, each in its own process.
Wall time runs from the launch until every week's run has ended; per-run times and failures
come from the instance afterwards. CPU time is that of every process of `dagster dev`'s session
(webserver, daemon, code server and the week runs it starts), read from /proc at the launch and
at the end.

Yobi's trends reach 90 days back from "now" (the product's clock, not Yobi's), and the
partitions are only the weeks within that reach, so the last W weeks are at most those: their
backfill measures the pace of weeks that do the whole job, and the W-week time is projected
from it (labelled as a projection). A second backfill, of the weeks within reach, runs only
when the first held weeks beyond it (a code location loaded long ago).
"""

from __future__ import annotations

import socket
import statistics
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import httpx

from engagement_ranker.clients.errors import PeriodError
from engagement_ranker.clients.yobi import period_for
from engagement_ranker.constants import TIMEZONE
from engagement_ranker.core.week import parse_week_key
from engagement_ranker.defs.alerts import alert_for_run
from engagement_ranker.defs.jobs import WEEKLY_JOB_NAME
from engagement_ranker.defs.partitions import weekly_partitions
from engagement_ranker_tests.bench.processes import (
    BIN,
    dagster_home,
    product_env,
    sandbox,
    service,
    session_cpu_seconds,
)
from engagement_ranker_tests.e2e.dagster_api import DagsterApi

DEFAULT_WEEKS = 52
DEFAULT_COMPANIES = 250
TARGET_SECONDS = 5 * 60
LOCATION = "engagement_ranker"  # workspace.yaml
REPOSITORY = "__repository__"  # a code location's single Definitions
BACKFILL_TAG = "dagster/backfill"
READY_DEADLINE_SECONDS = 180.0
BACKFILL_DEADLINE_SECONDS = 3600.0
POLL_SECONDS = 1.0
ERROR_CHARS = 240
TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCELED"})

DAEMONS_QUERY = """
{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
  workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
LAUNCH_MUTATION = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""
RUNS_QUERY = """
query Runs($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
    __typename ... on Runs { results { runId status } } ... on Error { message }
  }
}
"""


@dataclass(frozen=True)
class WeekRun:
    """One week's run as the instance recorded it; times in seconds after the launch."""

    week: str
    status: str
    created: float  # the daemon submitted it (queued)
    started: float  # its process began executing
    ended: float
    step: str | None  # the failed step(s), None on success
    error: str | None  # the first line of the innermost error


@dataclass(frozen=True)
class BackfillOutcome:
    """What one backfill measured."""

    label: str
    weeks: list[str]
    ready_seconds: float  # `dagster dev` start until the daemons are healthy
    wall_seconds: float  # launch until the last week's run ended
    cpu_seconds: float  # every process of `dagster dev` (the week runs too), launch to end
    runs: list[WeekRun]

    @property
    def pickup_seconds(self) -> float:
        """Launch until the daemon submitted the first run."""
        return min((r.created for r in self.runs), default=0.0)

    @property
    def seconds_per_week(self) -> float:
        """Steady pace once runs flow: the wall time after pickup, per week."""
        return (self.wall_seconds - self.pickup_seconds) / len(self.weeks)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _until(what: str, deadline_seconds: float, probe: Callable[[], object]) -> object:
    """Call `probe` every POLL_SECONDS until it returns something truthy, within the deadline."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"{what} did not happen within {deadline_seconds:.0f} s")


def _ready(ui: DagsterApi) -> bool:
    """The code location is loaded and every required daemon reports healthy."""
    try:
        data = ui.query(DAEMONS_QUERY)
    except httpx.HTTPError:  # not listening yet, or answering 5xx while it starts
        return False
    entries = data["workspaceOrError"].get("locationEntries", [])
    for entry in entries:
        error = entry.get("locationOrLoadError") or {}
        if error.get("__typename") == "PythonError":
            raise SystemExit(f"the code location failed to load: {error['message']}")
    daemons = data["instance"]["daemonHealth"]["allDaemonStatuses"]
    loaded = any(e["name"] == LOCATION and e["loadStatus"] == "LOADED" for e in entries)
    return loaded and all(d["healthy"] for d in daemons if d["required"])


def _launch(ui: DagsterApi, weeks: list[str]) -> str:
    params = {
        "selector": {
            "partitionSetName": f"{WEEKLY_JOB_NAME}_partition_set",
            "repositorySelector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": REPOSITORY,
            },
        },
        "partitionNames": weeks,
    }
    result = ui.query(LAUNCH_MUTATION, params=params)["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise SystemExit(f"the backfill was refused: {result}")
    return str(result["backfillId"])


def _finished(ui: DagsterApi, backfill_id: str, expected: int) -> bool:
    runs = ui.query(RUNS_QUERY, key=BACKFILL_TAG, value=backfill_id)["runsOrError"]["results"]
    return len(runs) == expected and all(run["status"] in TERMINAL for run in runs)


def _out_of_reach(weeks: list[str]) -> list[str]:
    """Weeks whose first day Yobi's longest period does not reach from today (TIMEZONE)."""
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    beyond = []
    for key in weeks:
        try:
            period_for(parse_week_key(key).first_day, today)
        except PeriodError:
            beyond.append(key)
    return beyond


def _week_runs(home: str, backfill_id: str, launched: float) -> list[WeekRun]:
    """Each week's run, in week order, read from the instance once Dagster has stopped."""
    runs = []
    with dg.DagsterInstance.from_config(home) as instance:
        for record in instance.get_run_records(
            filters=dg.RunsFilter(tags={BACKFILL_TAG: backfill_id})
        ):
            run = record.dagster_run
            created = record.create_timestamp.timestamp()
            started = record.start_time or created
            alert = None
            if run.status != dg.DagsterRunStatus.SUCCESS:
                alert = alert_for_run(instance, run, run.tags.get("dagster/partition"), None)
            runs.append(
                WeekRun(
                    week=run.tags["dagster/partition"],
                    status=run.status.value,
                    created=created - launched,
                    started=started - launched,
                    ended=(record.end_time or started) - launched,
                    step=alert.step if alert else None,
                    error=alert.error.splitlines()[0] if alert else None,
                )
            )
    return sorted(runs, key=lambda r: r.week)


def measure(
    label: str,
    keys: list[str],
    *,
    companies: int,
    latency_ms: int,
    tier: str,
    seed: int,
    root: Path,
    config: Path,
) -> BackfillOutcome:
    """Start the sandbox and `dagster dev` on the instance `config`, backfill the weeks `keys`,
    read their runs."""
    root.mkdir(parents=True)
    home_env = dagster_home(root, config)
    port = _free_port()
    with sandbox(companies, latency_ms, tier, seed) as box:
        command = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml"]
        command += ["-h", "127.0.0.1", "-p", str(port)]
        env = product_env(box.env, home_env, {"DAGSTER_UI_URL": f"http://127.0.0.1:{port}"})
        began = time.perf_counter()
        with (
            service(command, env, root / "dagster-dev.log") as dagster_dev,
            closing(DagsterApi(f"http://127.0.0.1:{port}")) as ui,
        ):
            _until("dagster dev ready", READY_DEADLINE_SECONDS, lambda: _ready(ui))
            ready = time.perf_counter() - began
            launched, launched_at = time.perf_counter(), time.time()
            cpu_before = session_cpu_seconds(dagster_dev.pid)
            backfill_id = _launch(ui, keys)
            _until(
                f"the backfill of {len(keys)} weeks",
                BACKFILL_DEADLINE_SECONDS,
                lambda: _finished(ui, backfill_id, len(keys)),
            )
            wall = time.perf_counter() - launched
            cpu = session_cpu_seconds(dagster_dev.pid) - cpu_before
    return BackfillOutcome(
        label=label,
        weeks=keys,
        ready_seconds=ready,
        wall_seconds=wall,
        cpu_seconds=cpu,
        runs=_week_runs(home_env["DAGSTER_HOME"], backfill_id, launched_at),
    )


def last_weeks(count: int) -> tuple[list[str], list[str]]:
    """The `count` most recent weeks, and those of them Yobi's trends reach from today."""
    keys = weekly_partitions.get_partition_keys()[-count:]
    beyond = set(_out_of_reach(keys))
    return keys, [key for key in keys if key not in beyond]


def tables(outcomes: list[BackfillOutcome], projected_weeks: int) -> list[str]:
    """The backfills as Markdown, a projection for `projected_weeks` at the in-reach pace, and
    the failures grouped by step."""
    lines = [
        "| backfill | weeks | wall s (launch to last run end) | s per week | succeeded | failed "
        "| daemon pickup s | steady s per week | median run s | median queued s "
        "| CPU s per week (all of `dagster dev`) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        n = len(o.weeks)
        succeeded = sum(r.status == "SUCCESS" for r in o.runs)
        lines.append(
            f"| {o.label}: {o.weeks[0]} .. {o.weeks[-1]} | {n} | {o.wall_seconds:.1f} "
            f"| {o.wall_seconds / n:.2f} | {succeeded} | {n - succeeded} "
            f"| {o.pickup_seconds:.1f} | {o.seconds_per_week:.2f} "
            f"| {_median([r.ended - r.started for r in o.runs])} "
            f"| {_median([r.started - r.created for r in o.runs])} "
            f"| {o.cpu_seconds / n:.2f} |"
        )
    pace = outcomes[-1]
    projection = pace.pickup_seconds + projected_weeks * pace.seconds_per_week
    verdict = "ok" if projection <= TARGET_SECONDS else "MISSED"
    lines += [
        "",
        f"Projected {projected_weeks} weeks that all succeed, at the pace of "
        f"'{pace.label}': {pace.pickup_seconds:.1f} s pickup + {projected_weeks} x "
        f"{pace.seconds_per_week:.2f} s = {projection:.0f} s "
        f"(target <= {TARGET_SECONDS} s: {verdict}). `dagster dev` was ready in "
        + ", ".join(f"{o.ready_seconds:.1f} s" for o in outcomes)
        + " (not in the wall times).",
    ]
    failed = [r for o in outcomes for r in o.runs if r.step]
    if failed:
        steps = Counter(r.step for r in failed)
        lines += ["", "| failed step | weeks | first week's error |", "|---|---:|---|"]
        for step, count in steps.most_common():
            first = next(r for r in failed if r.step == step)
            lines.append(f"| {step} | {count} | {first.week}: {first.error[:ERROR_CHARS]} |")
    return lines


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "-"
