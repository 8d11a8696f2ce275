"""The processes a benchmark drives, each as a user would start it, in its own session.

The sandbox is `python -m engagement_ranker.sandbox` (its `export` lines are read back), a
week run is the `engagement-ranker` command as a fresh process (wall time and peak RSS come
from the kernel's accounting of that very child), and Dagster gets a throwaway home that
links the repo's dagster.yaml, as the Makefile does.
"""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from engagement_ranker.constants import Env
from engagement_ranker_tests.bench.sandbox_bench import stop_sandbox

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SANDBOX_START_DEADLINE_SECONDS = 180.0
STOP_DEADLINE_SECONDS = 20.0
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class SandboxProcess:
    """A running sandbox: its process, the environment it printed and its start-up time."""

    process: subprocess.Popen[str]
    env: dict[str, str]
    start_seconds: float
    flags: tuple[str, ...]

    @property
    def control_url(self) -> str:
        return self.env["SANDBOX_CONTROL_URL"]


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """Forward the sandbox's output lines; "" once it closes (select() cannot see them)."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put("")


@contextmanager
def sandbox(
    companies: int, latency_ms: int, tier: str, seed: int, now: str | None = None
) -> Iterator[SandboxProcess]:
    """`python -m engagement_ranker.sandbox` with these flags, until the block ends."""
    flags = (
        "--companies",
        str(companies),
        "--latency-ms",
        str(latency_ms),
        "--hubspot-tier",
        tier,
        "--seed",
        str(seed),
        *(("--now", now) if now else ()),
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "engagement_ranker.sandbox", *flags],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(process, lines), daemon=True).start()
        env: dict[str, str] = {}
        deadline = started + SANDBOX_START_DEADLINE_SECONDS
        while True:
            try:
                line = lines.get(timeout=max(deadline - time.perf_counter(), 0))
            except queue.Empty:
                raise SystemExit(
                    f"the sandbox ({' '.join(flags)}) did not start within "
                    f"{SANDBOX_START_DEADLINE_SECONDS:.0f} s"
                ) from None
            if not line:
                raise SystemExit(f"the sandbox exited with status {process.wait()} at start")
            if not line.strip():
                break
            key, _, value = line.removeprefix("export ").strip().partition("=")
            env[key] = shlex.split(value)[0] if value else ""
        yield SandboxProcess(process, env, time.perf_counter() - started, flags)
    finally:
        stop_sandbox(process)


DAGSTER_YAML = REPO / "dagster.yaml"


def dagster_home(root: Path, config: Path = DAGSTER_YAML) -> dict[str, str]:
    """A fresh DAGSTER_HOME under `root` linking `config` (the repo's dagster.yaml), and a
    warehouse file."""
    home = root / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").symlink_to(config.resolve())
    return {"DAGSTER_HOME": str(home), Env.ENGAGEMENT_DUCKDB_PATH: str(root / "warehouse.duckdb")}


def product_env(*layers: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any product setting, then `layers` on top."""
    env = {k: v for k, v in os.environ.items() if k not in set(Env) and k != "DAGSTER_HOME"}
    for layer in layers:
        env.update(layer)
    return env


@dataclass(frozen=True)
class Measured:
    """One finished process: exit code, wall time, the kernel's peak resident set size and
    CPU time, and when it started and ended (epoch seconds, to set beside a server's log)."""

    returncode: int
    wall_seconds: float
    peak_rss_bytes: int
    cpu_seconds: float
    started_at: float
    ended_at: float


def _signal_session(process: subprocess.Popen[str], sig: signal.Signals) -> None:
    """Signal the session we started for `process` (it leads its own process group)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _start_logged(
    command: Sequence[str], env: Mapping[str, str], out: TextIO
) -> subprocess.Popen[str]:
    """`command` from the repo root in its own session, stdout and stderr to `out`."""
    return subprocess.Popen(
        list(command),
        env=dict(env),
        cwd=REPO,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def run_measured(
    command: Sequence[str], env: Mapping[str, str], log: Path, deadline_seconds: float
) -> Measured:
    """Run `command` (output to `log`) and measure it; wait4 gives that child's own peak RSS."""
    with log.open("w", encoding="utf-8") as out:
        started_at = time.time()
        started = time.perf_counter()
        process = _start_logged(command, env, out)
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    wall = time.perf_counter() - started
                    ended_at = time.time()
                    break
                if time.perf_counter() - started > deadline_seconds:
                    raise SystemExit(
                        f"{shlex.join(command)} did not finish within {deadline_seconds:.0f} s; "
                        f"see {log}"
                    )
                time.sleep(POLL_SECONDS)
        except BaseException:
            _signal_session(process, signal.SIGKILL)
            process.wait()
            raise
        finally:
            # Whatever the run left behind in its session (e.g. log tailers) goes with it.
            _signal_session(process, signal.SIGKILL)
    process.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in KiB.
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(process.returncode, wall, usage.ru_maxrss * 1024, cpu, started_at, ended_at)


@contextmanager
def service(
    command: Sequence[str], env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[str]]:
    """A long-lived command (e.g. `dagster dev`) in its own session; SIGTERM to all of it at
    the end, SIGKILL if anything lingers past the deadline."""
    with log.open("w", encoding="utf-8") as out:
        process = _start_logged(command, env, out)
        try:
            yield process
        finally:
            _signal_session(process, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_DEADLINE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_session(process, signal.SIGKILL)
                process.wait()
            # Children of the session (code servers, run workers) may outlive the leader.
            _signal_session(process, signal.SIGKILL)


def session_cpu_seconds(session: int) -> float:
    """The CPU time (user and system) of every process in `session` so far, with what each has
    collected from its children that ended (a run's process counts in the code server that
    reaped it), from /proc: the difference of two readings is what the session spent between
    them, processes that came and went included."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # ended since the listing
            continue
        # After the command: state, ppid, pgrp, session, ...; utime, stime, cutime, cstime.
        if int(fields[3]) == session:
            ticks += sum(int(field) for field in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")
