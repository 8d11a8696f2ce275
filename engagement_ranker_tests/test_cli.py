"""The console commands as a cron runner or a newcomer uses them: real processes, real sandbox."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from dagster_duckdb import DuckDBResource

from engagement_ranker.cli import restore_default_signals
from engagement_ranker.constants import Env
from engagement_ranker.definitions import code_location
from engagement_ranker.defs.jobs import WEEKLY_JOB_NAME
from engagement_ranker.defs.keys import RANKED_SCORES
from engagement_ranker.defs.partitions import latest_week_key, weekly_partitions
from engagement_ranker.defs.warehouse import stored_week
from engagement_ranker.sandbox.runner import Sandbox, SandboxConfig
from engagement_ranker_tests.e2e.stack import free_port
from engagement_ranker_tests.e2e.waiting import wait_until

COMMAND = str(Path(sys.executable).with_name("engagement-ranker"))
REPO_ROOT = Path(__file__).resolve().parents[1]
DEV_SECONDS = 60.0
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
    """A clean environment with an instance set up as `make` sets one up."""
    env = {k: v for k, v in os.environ.items() if k not in set(Env)}
    env["DAGSTER_HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
    env[Env.ENGAGEMENT_DUCKDB_PATH] = str(tmp_path / "warehouse.duckdb")
    return {**env, **(sandbox.env if sandbox else {})}


def _run(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args], env=env, capture_output=True, text=True, timeout=240, check=False, cwd=cwd
    )


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The error a failed command ends with: its last line, the only one on stderr unless
    it was a usage error (click's usage lines come first)."""
    lines = done.stderr.strip().splitlines()
    assert lines, done.stdout[-2000:]
    assert "Traceback" not in done.stderr + done.stdout
    assert lines[-1].startswith("Error: "), done.stderr
    return lines[-1]


@pytest.fixture
def box(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox(SandboxConfig(companies=30))


@pytest.mark.parametrize(
    "loader",
    [
        # The CLI: the product first, Dagster with it.
        "from engagement_ranker.cli import load_product; load_product()",
        # A run Dagster launches (or its code server): Dagster first, then the code location.
        "import dagster; import engagement_ranker.definitions",
    ],
)
def test_the_product_loads_with_the_collector_paused_and_leaves_it_running(loader: str) -> None:
    """The code location imports with the garbage collector off: the week must run with it on,
    and what the import made (Dagster's own objects too) must be out of its way (frozen)."""
    probe = f"import gc; {loader}; print(gc.isenabled(), gc.get_freeze_count() > 100_000)"
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert shown.stdout.split() == ["True", "True"], shown.stderr


def test_a_process_that_paused_the_collector_finds_it_paused_after_the_product_loads() -> None:
    probe = "import gc; gc.disable(); import engagement_ranker.definitions; print(gc.isenabled())"
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert shown.stdout.split() == ["False"], shown.stderr


def test_the_cli_freezes_the_heap_before_the_interpreter_collects_it_at_exit() -> None:
    """Exiting, the interpreter collects the whole heap over and over; every command has the
    collector leave it alone. The probe's exit handler is registered first, so runs last."""
    probe = (
        "import atexit, gc, sys; "
        "atexit.register(lambda: print('frozen:', gc.get_freeze_count() > 0, file=sys.stderr)); "
        "from engagement_ranker.cli import main; main(['recover', '--help'])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert shown.stderr.strip().splitlines()[-1] == "frozen: True", shown.stderr


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
    # A line per step, then one with what happened; Dagster's own logs stay out.
    lines = done.stdout.splitlines()
    assert lines[0] == f"week {report['week']}, full mode:"
    steps = [line.split()[1] for line in lines[1:-1]]
    assert all(line.startswith("  done    ") for line in lines[1:-1])
    week_steps = code_location().resolve_job_def(WEEKLY_JOB_NAME).graph.node_dict
    assert len(steps) == len(set(steps)) and set(steps) <= set(week_steps)
    assert {"customer_companies", "hubspot_writeback", "slack_summary"} <= set(steps)
    assert lines[-1] == (
        f"week {report['week']} done in full mode: {len(report['ranked'])} ranked, "
        f"{sum(row['status'] == 'unmapped' for row in report['unmapped'])} unmapped, "
        f"{sum(row['status'] == 'duplicate_claim' for row in report['unmapped'])} tenant claimed "
        f"twice, {len(report['excluded'])} excluded; {len(written)} written, 0 unchanged, "
        f"0 would be written; report: {report_path}"
    )
    assert done.stderr == ""


def test_run_fails_with_exit_code_and_alert_before_any_write(tmp_path: Path, box: Sandbox) -> None:
    box.control.set_faults({"yobi": {"trend_short_days": 12}})
    report_path = tmp_path / "report.json"

    done = _run(
        ["run", "--mode", "full", "--report", str(report_path)], _environment(tmp_path, box)
    )

    assert done.returncode == 1
    error = _one_line_error(done)
    assert done.stderr.strip() == error, "the failure is the only thing on stderr"
    assert error.startswith(f"Error: week {latest_week_key()} failed at ")
    assert "week_covered_by_trends" in error
    assert "nothing was written to HubSpot; alert sent via slack, email" in error
    assert f"report: {report_path}" in error
    assert "  failed  " in done.stdout
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


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({Env.YOBI_PASSWORD: ""}, "YOBI_PASSWORD is not set"),
        (
            {Env.TENANT_MAPPING_OVERRIDES_JSON: '{"12000000001": 7, "acme.com": "seven"}'},
            "TENANT_MAPPING_OVERRIDES_JSON: entry 'acme.com'",
        ),
        ({Env.ENGAGEMENT_WRITE_MODE: "yolo"}, "ENGAGEMENT_WRITE_MODE='yolo'"),
    ],
)
def test_a_bad_setting_ends_in_one_line_naming_it_and_alerts(
    tmp_path: Path, box: Sandbox, variables: dict[str, str], named: str
) -> None:
    done = _run(["run", "--mode", "full"], {**_environment(tmp_path, box), **variables})

    assert done.returncode == 1
    error = _one_line_error(done)
    assert done.stderr.strip() == error
    assert named in error and "nothing was written to HubSpot" in error
    assert "alert sent via slack, email" in error
    assert any(named.split(":")[0] in json.dumps(m) for m in box.control.slack())
    assert box.control.writes() == []


def test_an_unforeseen_error_is_one_line_and_an_alert(tmp_path: Path, box: Sandbox) -> None:
    env = _environment(tmp_path, box)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env["DAGSTER_HOME"] = str(blocker)

    done = _run(["run"], env)

    assert done.returncode == 1
    error = _one_line_error(done)
    assert error.startswith(f"Error: week {latest_week_key()} stopped: FileExistsError")
    assert "nothing was written to HubSpot; alert sent via slack, email" in error
    assert "--verbose" in error
    assert any("FileExistsError" in json.dumps(m) for m in box.control.slack())
    verbose = _run(["run", "--verbose"], env)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_weeks_yobi_no_longer_reaches_are_refused_before_anything_runs(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    for args in (["run", "--week", "2025-01-05"], ["backfill", "--from", "2025-01-05"]):
        done = _run(args, env)
        assert done.returncode == 2, done.stderr
        error = _one_line_error(done)
        assert "the week starting 2025-01-05 is" in error and "90 days back" in error


def test_help_shows_every_command_whole(tmp_path: Path) -> None:
    done = _run(["--help"], {**_environment(tmp_path), "COLUMNS": "80"})
    commands = done.stdout.split("Commands:\n")[1].splitlines()
    assert len(commands) >= 6
    for line in commands:
        assert len(line) <= 80 and not line.rstrip().endswith(("...", "…")), line


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


def test_demo_prints_plain_text_and_writes_each_ranked_company_once(tmp_path: Path) -> None:
    done = _run(["demo", "--companies", "40", "--backfill-weeks", "2"], _environment(tmp_path))

    assert done.returncode == 0, done.stderr[-2000:]
    for section in (
        "KEY FIGURES\n",
        "TOP 10\n",
        "BOTTOM 10\n",
        "BIGGEST MOVERS UP\n",
        "ANOMALIES (",
    ):
        assert f"\n{section}" in done.stdout
    # Plain text a terminal shows as it is: no Markdown, names and variables unescaped.
    assert not re.search(r"\*\*|\\[_&*#|<>`\[\]]|^#", done.stdout, re.M)
    assert "TENANT_MAPPING_OVERRIDES_JSON" in done.stdout
    ranked = int(re.search(r"^  Ranked +(\d+)$", done.stdout, re.M).group(1))
    written = int(
        re.search(r"HubSpot sandbox: (\d+) company records written", done.stdout).group(1)
    )
    assert ranked == written > 0
    assert re.search(rf"^  Written +{written}$", done.stdout, re.M)
    assert "make dev" in done.stdout
    assert done.stderr == ""


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_dev_stops_with_its_process_group_and_warns_of_nothing(tmp_path: Path) -> None:
    """`make dev` stopped by its process group leaves nothing listening; and `dagster dev`,
    which reads dagster.yaml from DAGSTER_HOME, gives no warning about the repo's copy."""
    log = tmp_path / "dev.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [COMMAND, "dev", "--port", str(free_port()), "--companies", "5"],
            env=_environment(tmp_path),
            cwd=REPO_ROOT,  # where a dagster.yaml sits that DAGSTER_HOME links to
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=restore_default_signals,
        )
    try:
        up = wait_until(
            lambda: re.search(r"^sandbox up: .*$", log.read_text(), re.M),
            timeout=DEV_SECONDS,
            what="the sandbox's addresses",
        )
        ports = [int(port) for port in re.findall(r":(\d+)", up.group(0))]
        assert len(ports) == 4 and all(_listening(port) for port in ports)
        wait_until(
            lambda: "Launching Dagster services" in log.read_text(),
            timeout=DEV_SECONDS,
            what="dagster dev to start",
        )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=DEV_SECONDS)
    wait_until(lambda: not _group_alive(process.pid), timeout=DEV_SECONDS, what="the group gone")
    assert not any(_listening(port) for port in ports), log.read_text()[-2000:]
    assert "will not be used" not in log.read_text()
