"""The product as a user runs it: the sandbox and `dagster dev` (webserver, daemon, code server)
as separate processes, each in its own session on ephemeral ports, stopped by process group."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from engagement_ranker.cli import restore_default_signals
from engagement_ranker.constants import Env
from engagement_ranker.defs.alerts import failure_alert
from engagement_ranker.sandbox.control import SandboxControl
from engagement_ranker.sandbox.runner import SANDBOX_CONTROL_URL
from engagement_ranker_tests.daemon_pace import sitecustomize as pace
from engagement_ranker_tests.e2e.dagster_api import DagsterApi
from engagement_ranker_tests.e2e.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = REPO_ROOT / "workspace.yaml"
HOST = "127.0.0.1"
SANDBOX_COMPANIES = 40
SANDBOX_START_SECONDS = 60.0
DAGSTER_START_SECONDS = 180.0
# The stacks' daemons move a backfill every 5 s, not every 30 s (daemon_pace/sitecustomize.py).
BACKFILL_TICK_SECONDS = 5
STOP_SECONDS = 20.0
# The environment's own Python: the Dagster commands the stacks start are installed beside it.
BIN = Path(sys.executable).parent
PRODUCT_VARIABLES = frozenset(str(variable) for variable in Env)
DAGSTER_PREFIX = "DAGSTER_"


@dataclass(frozen=True)
class Stack:
    """What the journeys drive and inspect."""

    ui_url: str
    api: DagsterApi
    control: SandboxControl
    warehouse: Path  # the DuckDB file every run of the stack stores its weeks in
    home: Path  # DAGSTER_HOME of `dagster dev`


def spawn(
    args: Sequence[str],
    env: dict[str, str],
    stdout: Path,
    stderr: Path | None = None,
    *,
    user: str | None = None,
    cwd: Path = REPO_ROOT,
) -> subprocess.Popen[bytes]:
    """Start `args` in its own session (as `user` when given); stderr joins stdout unless it
    has its own file. Logs are appended to, so a process started again keeps its history."""
    with ExitStack() as files:
        out = files.enter_context(stdout.open("ab"))
        err = files.enter_context(stderr.open("ab")) if stderr else subprocess.STDOUT
        return subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=restore_default_signals,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )


def stop(process: subprocess.Popen[bytes], first: signal.Signals = signal.SIGTERM) -> None:
    """`first` (SIGTERM unless told) to the whole process group, SIGKILL to whatever is left
    after STOP_SECONDS."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def alive(process: subprocess.Popen[bytes], name: str, log: Path) -> None:
    """Fails naming `name` and its log once `process` has exited."""
    if process.poll() is not None:
        raise AssertionError(f"{name} exited with code {process.returncode}; see {log}")


def finish(process: subprocess.Popen[bytes], name: str, log: Path, timeout: float) -> None:
    """Wait for a one-off command to succeed; fails naming `name` and its log otherwise."""
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        raise AssertionError(f"{name} ran over {timeout:.0f}s; see {log}") from None
    if code != 0:
        raise AssertionError(f"{name} exited with code {code}; see {log}")


def _exports(process: subprocess.Popen[bytes], stdout: Path, log: Path) -> dict[str, str] | None:
    """The sandbox's `export` lines, once it has printed the blank line that ends them."""
    alive(process, "the sandbox", log)
    text = stdout.read_text()
    if "\n\n" not in text:
        return None
    pairs = (shlex.split(line)[1].partition("=") for line in text.split("\n\n")[0].splitlines())
    return {name: value for name, _, value in pairs}


def free_port() -> int:
    """A port nothing listens on now, for a server about to start."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def location_name(workspace: Path = WORKSPACE) -> str:
    """The one code location a workspace file names, whatever kind of entry it is."""
    (entry,) = yaml.safe_load(workspace.read_text())["load_from"]
    (origin,) = entry.values()
    return origin["location_name"]


def clean_environment() -> dict[str, str]:
    """This process's environment without the product's settings or Dagster's: those come
    from the sandbox and the stack, never from the caller's shell."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in PRODUCT_VARIABLES and not name.startswith(DAGSTER_PREFIX)
    }


def daemon_pace(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with what makes a stack's daemon tick its backfills every `BACKFILL_TICK_SECONDS`
    (harmless to the stack's other processes): the shim's folder first on its PYTHONPATH."""
    path = [str(Path(pace.__file__).parent), *filter(None, [env.get("PYTHONPATH")])]
    return {
        **env,
        "PYTHONPATH": os.pathsep.join(path),
        pace.BACKFILL_TICK: str(BACKFILL_TICK_SECONDS),
    }


@dataclass(frozen=True)
class Sandboxed:
    """The sandbox process's settings for the product, and its control API."""

    env: dict[str, str]
    control: SandboxControl


@contextmanager
def running_sandbox(workdir: Path, logs: Path) -> Iterator[Sandboxed]:
    """The sandbox as a process of its own; yields once it has printed its settings."""
    with ExitStack() as cleanup:
        sandbox_log, sandbox_out = logs / "sandbox.log", workdir / "sandbox.env"
        sandbox = spawn(
            [
                sys.executable,
                "-m",
                "engagement_ranker.sandbox",
                "--companies",
                str(SANDBOX_COMPANIES),
            ],
            clean_environment(),
            sandbox_out,
            sandbox_log,
        )
        cleanup.callback(stop, sandbox)
        sandbox_env = wait_until(
            lambda: _exports(sandbox, sandbox_out, sandbox_log),
            timeout=SANDBOX_START_SECONDS,
            what="the sandbox's export lines",
        )
        control = SandboxControl(sandbox_env.pop(SANDBOX_CONTROL_URL))
        cleanup.callback(control.close)
        yield Sandboxed(env=sandbox_env, control=control)


def wait_for_location(api: DagsterApi, location: str, check: Callable[[], None]) -> None:
    """Until the webserver behind `api` has loaded `location`; `check` fails once a process
    it needs has died."""

    def loaded() -> bool:
        check()
        return api.location_loaded(location)

    wait_until(
        loaded,
        timeout=DAGSTER_START_SECONDS,
        what=f"the Dagster webserver at {api.url} with code location {location} loaded",
        retry_on=(httpx.TransportError, httpx.HTTPStatusError),
    )


@contextmanager
def running_stack(workdir: Path, logs: Path) -> Iterator[Stack]:
    """Start the sandbox, then `dagster dev` on it; yield once the daemon is ticking."""
    with ExitStack() as cleanup:
        sandbox = cleanup.enter_context(running_sandbox(workdir, logs))
        home = workdir / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
        port = free_port()
        ui_url = f"http://{HOST}:{port}"
        warehouse = workdir / "warehouse.duckdb"
        env = daemon_pace(
            {
                **clean_environment(),
                **sandbox.env,
                "DAGSTER_HOME": str(home),
                str(Env.ENGAGEMENT_DUCKDB_PATH): str(warehouse),
                str(Env.DAGSTER_UI_URL): ui_url,
            }
        )
        dagster_log = logs / "dagster-dev.log"
        dagster = spawn(
            [str(BIN / "dagster"), "dev", "-w", str(WORKSPACE), "-p", str(port), "-h", HOST],
            env,
            dagster_log,
        )
        cleanup.callback(stop, dagster)

        api = DagsterApi(ui_url)
        cleanup.callback(api.close)
        location = location_name()

        def running() -> None:
            alive(dagster, "dagster dev", dagster_log)

        def ticking() -> bool:
            running()
            return api.sensor_ticks(location, failure_alert.name) > 0

        wait_for_location(api, location, running)
        # A run-failure sensor only sees failures after its first tick: wait for the daemon.
        wait_until(
            ticking,
            timeout=DAGSTER_START_SECONDS,
            what=f"the daemon's first tick of the {failure_alert.name} sensor",
        )
        yield Stack(ui_url=ui_url, api=api, control=sandbox.control, warehouse=warehouse, home=home)
