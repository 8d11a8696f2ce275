"""One row's world: a fresh sandbox with canary secrets, the job's environment, a Dagster
instance on disk, and the week runs the row makes, recorded for the verdict.

A trial changes the process environment (the product reads it when its definitions are built),
so it runs alone in its own process: the matrix gives every row a fresh one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import dagster as dg
import duckdb

from engagement_ranker.cli import run_week
from engagement_ranker.constants import ENGAGEMENT_PROPERTIES, Env, WriteMode
from engagement_ranker.core.week import Week, parse_week_key
from engagement_ranker.defs.partitions import latest_week_key
from engagement_ranker.defs.warehouse import SCHEMA as WAREHOUSE_SCHEMA
from engagement_ranker.sandbox.control import SandboxControl
from engagement_ranker.sandbox.runner import Sandbox, SandboxConfig
from engagement_ranker_tests.bench.processes import dagster_home
from engagement_ranker_tests.faults.canaries import CREDENTIALS, leaks
from engagement_ranker_tests.faults.model import Observation, Properties, RunRecord

# More than 100 ranked companies, so a full write takes two batches and "batch k of m" exists.
COMPANIES = 150
MODE = WriteMode.FULL.value
# The most the product logs: every secret that reaches a log line gets its chance to show.
LOG_LEVEL = "DEBUG"
CLI = Path(sys.executable).with_name("engagement-ranker")


class Trial:
    """Use as a context manager; `run()` runs the latest week like `engagement-ranker run`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.runs: list[RunRecord] = []
        self.notes: dict[str, Any] = {}
        self.outputs: dict[str, str] = {}  # sink -> text, from CLI subprocesses
        self._started: dict[str, tuple[int, set[str]]] = {}  # CLI run -> (writes, run ids)
        self._faults: dict[str, Any] = {}  # the fault document in place
        self._stack = ExitStack()

    def __enter__(self) -> Trial:
        self.sandbox = self._stack.enter_context(
            Sandbox(SandboxConfig(companies=COMPANIES, credentials=CREDENTIALS))
        )
        for variable in Env:
            os.environ.pop(variable.value, None)
        os.environ.update(self.sandbox.env)
        # The home `make` sets up (the repo's dagster.yaml: no telemetry log, among others).
        home = dagster_home(self.workdir)
        os.environ.update(home)
        self.home = Path(home["DAGSTER_HOME"])
        self.warehouse = Path(home[Env.ENGAGEMENT_DUCKDB_PATH])
        self.instance = self._stack.enter_context(dg.DagsterInstance.from_config(str(self.home)))
        self.truth = self.control.truth()
        self.week: Week = parse_week_key(latest_week_key())
        self.before = self.hubspot()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    @property
    def control(self) -> SandboxControl:
        return self.sandbox.control

    # --- steering ----------------------------------------------------------------------------

    def set_faults(self, faults: Mapping[str, Any]) -> None:
        self.control.set_faults(dict(faults))
        self._faults = json.loads(json.dumps(dict(faults)))

    def control_faults(self) -> dict[str, Any]:
        """A copy of the fault document in place, to add to."""
        return json.loads(json.dumps(self._faults))

    def set_env(self, name: str, value: str | None) -> None:
        """Set or (None) unset one variable the product reads."""
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def mapped(self, method: str | None = None) -> list[dict[str, Any]]:
        """The dataset's companies meant to map (by `method`), in id order."""
        return [
            self.truth[company_id]
            for company_id in sorted(self.truth, key=int)
            if self.truth[company_id]["expected"] == "mapped"
            and method in (None, self.truth[company_id]["method"])
        ]

    # --- running -----------------------------------------------------------------------------

    def run(
        self, week_key: str | None = None, mode: str = MODE, allow: tuple[str, ...] | None = None
    ) -> RunRecord:
        """One week in-process through Dagster, alerting on failure, as `engagement-ranker run`."""
        written, known = len(self.control.writes()), self._run_ids()
        crash = None
        try:
            success, report = run_week(
                self.instance, week_key or self.week.key, mode, allow, LOG_LEVEL
            )
        except Exception:  # a crash is a finding to report, never the end of the matrix
            success, report, crash = False, None, traceback.format_exc()
        return self._record(success, report, written, known, crash)

    def cli_start(
        self, name: str, *command: str, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """`engagement-ranker run` for the latest week (or `command`) in its own session (so it
        can be killed); its output goes to files the leak search reads."""
        self._started[name] = (len(self.control.writes()), self._run_ids())
        command = command or (
            "run",
            *("--week", self.week.key, "--mode", MODE, "--log-level", LOG_LEVEL),
            *("--report", str(self.workdir / f"{name}.report.json")),
        )
        with (
            (self.workdir / f"{name}.stdout").open("wb") as stdout,
            (self.workdir / f"{name}.stderr").open("wb") as stderr,
        ):
            return subprocess.Popen(
                [str(CLI), *command],
                stdout=stdout,
                stderr=stderr,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    def said(self, name: str, text: str) -> bool:
        """Whether CLI run `name` has printed `text` so far (its output or its log)."""
        return any(
            text in (self.workdir / f"{name}.{stream}").read_bytes().decode("utf-8", "replace")
            for stream in ("stdout", "stderr")
        )

    def cli_finish(self, name: str, process: subprocess.Popen[bytes]) -> RunRecord:
        """Record a CLI run that has ended (or was killed)."""
        for stream in ("stdout", "stderr"):
            text = (self.workdir / f"{name}.{stream}").read_bytes().decode("utf-8", "replace")
            self.outputs[f"CLI {stream} ({name})"] = text
        path = self.workdir / f"{name}.report.json"
        report = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        written, known = self._started.pop(name)
        return self._record(process.returncode == 0, report, written, known, None)

    def record(
        self, success: bool, report: dict[str, Any] | None, written: int, known: set[str]
    ) -> RunRecord:
        """Record a run a procedure made its own way (after `written` writes and `known` runs)."""
        return self._record(success, report, written, known, None)

    def _record(
        self,
        success: bool,
        report: dict[str, Any] | None,
        written: int,
        known: set[str],
        crash: str | None,
    ) -> RunRecord:
        """The run that started after `known` runs existed and `written` writes were logged."""
        new = [run for run in self.instance.get_runs() if run.run_id not in known]
        run = new[-1] if new else None  # the oldest: a later process may have started since
        record = RunRecord(
            success=success,
            report=report,
            writes=self.control.writes()[written:],
            status=run.status.value if run else "NO RUN",
            failures=_failures(self.instance, run.run_id) if run else [],
            crash=crash,
            run_id=run.run_id if run else "",
        )
        self.runs.append(record)
        return record

    def _run_ids(self) -> set[str]:
        return {run.run_id for run in self.instance.get_runs()}

    # --- observing ---------------------------------------------------------------------------

    def markdown_metadata(self) -> list[str]:
        """Every Markdown text the Dagster UI shows for this trial's materializations."""
        texts = []
        for run in self.instance.get_runs():
            for record in self.instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records:
                materialization = record.asset_materialization
                for value in (materialization.metadata if materialization else {}).values():
                    if isinstance(value, dg.MarkdownMetadataValue):
                        texts.append(value.md_str or "")
        return texts

    def hubspot(self) -> dict[str, Properties]:
        """Every company's engagement properties as HubSpot holds them now ("" is unset, as
        in HubSpot: a restore clears a property by sending "")."""
        companies = self.control.companies()
        state = {company_id: companies[company_id] for company_id in self.truth}
        return {
            company_id: {name: properties.get(name) or None for name in ENGAGEMENT_PROPERTIES}
            for company_id, properties in state.items()
        }

    def warehouse_week(self, table: str, week_key: str | None = None) -> str:
        """A stored table's rows for a week as CSV text, for byte-for-byte comparisons."""
        with duckdb.connect(str(self.warehouse), read_only=True) as connection:
            frame = connection.execute(
                f"SELECT * FROM {WAREHOUSE_SCHEMA}.{table} WHERE week = ?",
                [week_key or self.week.key],
            ).df()
        return frame.to_csv(index=False)

    def observe(self) -> Observation:
        slack, emails = self.control.slack(), self.control.emails()
        return Observation(
            runs=self.runs,
            before=self.before,
            after=self.hubspot(),
            writes=self.control.writes(),
            requests=self.control.requests(),
            slack=slack,
            emails=emails,
            truth=self.truth,
            leaks=self._leaks(slack, emails),
            notes=self.notes,
        )

    def _leaks(self, slack: list[dict[str, Any]], emails: list[dict[str, Any]]) -> list[str]:
        """Secrets in every sink this process can read (stdout and stderr: see the matrix)."""
        found = leaks("Slack messages", json.dumps(slack, ensure_ascii=False))
        found += leaks("e-mails", json.dumps(emails, ensure_ascii=False))
        for run in self.instance.get_runs():
            events = "\n".join(dg.serialize_value(e) for e in self.instance.all_logs(run.run_id))
            found += leaks("Dagster event log and asset metadata", events)
        for record in self.runs:
            found += leaks("week report and alert", json.dumps(record.report, ensure_ascii=False))
            found += leaks("exception text", record.crash or "")
        for sink, text in self.outputs.items():
            found += leaks(sink, text)
        if self.warehouse.exists():
            with duckdb.connect(str(self.warehouse), read_only=True) as connection:
                tables = connection.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                    [WAREHOUSE_SCHEMA],
                ).fetchall()
                for (table,) in tables:
                    frame = connection.execute(f"SELECT * FROM {WAREHOUSE_SCHEMA}.{table}").df()
                    found += leaks(f"warehouse table {table}", frame.to_csv(index=False))
        for path in sorted(self.home.rglob("*")):
            if path.is_file():
                found += leaks(f"Dagster storage {path.relative_to(self.home)}", path.read_bytes())
        return sorted(set(found))


def _failures(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, list[str]]]:
    """(step, exception class names from the outermost wrapper to the root cause) per failure."""
    failures = []
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE
    ).records:
        event = record.event_log_entry.dagster_event
        if event is None or event.step_key is None:
            continue
        chain, error = [], event.step_failure_data.error
        while error is not None:
            chain.append(error.cls_name or "?")
            error = error.cause
        failures.append((event.step_key, chain))
    return failures
