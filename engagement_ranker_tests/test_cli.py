"""The console commands as a cron runner or a newcomer uses them: real processes, real sandbox."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from dagster_duckdb import DuckDBResource

from engagement_ranker.constants import Env
from engagement_ranker.defs.keys import RANKED_SCORES
from engagement_ranker.defs.partitions import latest_week_key, weekly_partitions
from engagement_ranker.defs.warehouse import stored_week
from engagement_ranker.sandbox.runner import Sandbox, SandboxConfig

COMMAND = str(Path(sys.executable).with_name("engagement-ranker"))
RANKED_FIELDS = {
    "company_id",
    "name",
    "tenant_id",
    "method",
    "new_patients",
    "appointments",
    "tasks",
    "calls",
    "score",
    "rank",
    "tier",
    "prior_rank",
    "delta",
}


def _environment(tmp_path: Path, sandbox: Sandbox | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in set(Env)}
    env["DAGSTER_HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir()
    env[Env.ENGAGEMENT_DUCKDB_PATH] = str(tmp_path / "warehouse.duckdb")
    return {**env, **(sandbox.env if sandbox else {})}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.fixture
def box(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox(SandboxConfig(companies=30))


def test_run_writes_the_week_and_a_complete_report(tmp_path: Path, box: Sandbox) -> None:
    report_path = tmp_path / "report.json"

    done = _run(
        ["run", "--week", "latest", "--mode", "full", "--report", str(report_path)],
        _environment(tmp_path, box),
    )

    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(report_path.read_text())
    assert report["week"] == latest_week_key() and report["status"] == "success"
    assert report["mode"] == "full"
    for field in ("week_start", "week_end"):
        assert datetime.fromisoformat(report[field]).utcoffset() is not None
    assert report["ranked"] and all(set(row) == RANKED_FIELDS for row in report["ranked"])
    assert [row["rank"] for row in report["ranked"]] == list(range(1, len(report["ranked"]) + 1))
    written = [w["company_id"] for w in report["writes"] if w["outcome"] == "written"]
    assert sorted(written) == sorted(w["company_id"] for w in box.control.writes())
    assert len(written) == len(report["ranked"])
    assert {"unmapped", "excluded", "anomalies"} <= set(report)
    assert f"week {report['week']}: success" in done.stdout


def test_run_fails_with_exit_code_and_alert_before_any_write(tmp_path: Path, box: Sandbox) -> None:
    box.control.set_faults({"yobi": {"trend_short_days": 12}})
    report_path = tmp_path / "report.json"

    done = _run(
        ["run", "--mode", "full", "--report", str(report_path)], _environment(tmp_path, box)
    )

    assert done.returncode == 1
    assert "week_covered_by_trends" in done.stderr
    assert "nothing was written to HubSpot" in done.stderr
    assert box.control.writes() == []
    report = json.loads(report_path.read_text())
    assert report["status"] == "failure"
    assert report["alert"]["delivered"] == ["slack", "email"]
    assert any("week_covered_by_trends" in json.dumps(m) for m in box.control.slack())


def test_backfill_stores_past_weeks_without_writing(tmp_path: Path, box: Sandbox) -> None:
    first, last = weekly_partitions.get_partition_keys()[-3:-1]
    env = _environment(tmp_path, box)

    done = _run(["backfill", "--from", first, "--to", last, "--mode", "full"], env)

    assert done.returncode == 0, done.stderr[-2000:]
    assert re.findall(r"backfill (\d)/2 (\S+): success", done.stdout) == [
        ("1", first),
        ("2", last),
    ]
    assert box.control.writes() == []
    warehouse = DuckDBResource(database=env[Env.ENGAGEMENT_DUCKDB_PATH])
    for week in (first, last):
        ranked = stored_week(warehouse, RANKED_SCORES, week)
        assert ranked is not None and not ranked.empty, week


def test_run_refuses_a_week_that_has_not_ended(tmp_path: Path) -> None:
    done = _run(["run", "--week", "2099-01-04"], _environment(tmp_path))
    assert done.returncode == 2
    assert "has not ended yet" in done.stderr


def test_run_names_a_bad_week_key(tmp_path: Path) -> None:
    done = _run(["run", "--week", "2026-11-18"], _environment(tmp_path))
    assert done.returncode == 2
    assert "2026-11-18" in done.stderr and "2026-11-15" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_refuses_an_allowlist_beside_another_mode(tmp_path: Path) -> None:
    """`--mode full --allow X` once wrote every company, ignoring the list."""
    done = _run(["run", "--mode", "full", "--allow", "5790939450"], _environment(tmp_path))
    assert done.returncode == 2
    assert "--allow lists companies but --mode is full" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_recover_with_nothing_unfinished_says_so(tmp_path: Path, box: Sandbox) -> None:
    done = _run(["recover", "--week", "latest"], _environment(tmp_path, box))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no unfinished write in the journal; HubSpot needs nothing" in done.stdout
    assert box.control.writes() == []


def test_run_names_a_bad_allowlist_entry(tmp_path: Path) -> None:
    done = _run(["run", "--mode", "allowlist", "--allow", "12,acme"], _environment(tmp_path))
    assert done.returncode == 2
    assert "'acme'" in done.stderr and "Traceback" not in done.stderr


def test_demo_prints_the_four_sections_and_writes_each_ranked_company_once(
    tmp_path: Path,
) -> None:
    done = _run(["demo", "--companies", "40", "--backfill-weeks", "2"], _environment(tmp_path))

    assert done.returncode == 0, done.stderr[-2000:]
    for section in ("### Top 10", "### Bottom 10", "### Biggest movers up", "### Anomalies"):
        assert section in done.stdout
    ranked = int(re.search(r"\*\*Ranked\*\*: (\d+)", done.stdout).group(1))
    written = int(
        re.search(r"HubSpot sandbox: (\d+) company records written", done.stdout).group(1)
    )
    assert ranked == written > 0
    assert "make dev" in done.stdout
