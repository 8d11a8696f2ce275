"""The product as a user runs it: the sandbox and `dagster dev` (webserver, daemon, code server)
as separate processes, each in its own session on ephemeral ports, stopped by process group."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from engagement_ranker.constants import Env
from engagement_ranker.defs.alerts import failure_alert
from engagement_ranker.sandbox.control import SandboxControl
from engagement_ranker.sandbox.runner import SANDBOX_CONTROL_URL
from engagement_ranker_tests.e2e.dagster_api import DagsterApi
from engagement_ranker_tests.e2e.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = REPO_ROOT / "workspace.yaml"
HOST = "127.0.0.1"
SANDBOX_COMPANIES = 40
SANDBOX_START_SECONDS = 60.0
DAGSTER_START_SECONDS = 180.0
STOP_SECONDS = 20.0
# The product's settings come only from the sandbox here, never from the caller's shell.
PRODUCT_VARIABLES = frozenset(str(variable) for variable in Env) | {"DAGSTER_HOME"}


@dataclass(frozen=True)
class Stack:
    """What the journeys drive and inspect."""

    ui_url: str
    api: DagsterApi
    control: SandboxControl


def _default_signals() -> None:
    """Runs in the child before exec: SIGTERM/SIGINT may be inherited as ignored here."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def _spawn(
    args: Sequence[str], env: dict[str, str], stdout: Path, stderr: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `args` in its own session; stderr joins stdout unless it has its own file."""
    with ExitStack() as files:
        out = files.enter_context(stdout.open("wb"))
        err = files.enter_context(stderr.open("wb")) if stderr else subprocess.STDOUT
        return subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=_default_signals,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group, SIGKILL to whatever is left after STOP_SECONDS."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _alive(process: subprocess.Popen[bytes], name: str, log: Path) -> None:
    if process.poll() is not None:
        raise AssertionError(f"{name} exited with code {process.returncode}; see {log}")


def _exports(process: subprocess.Popen[bytes], stdout: Path, log: Path) -> dict[str, str] | None:
    """The sandbox's `export` lines, once it has printed the blank line that ends them."""
    _alive(process, "the sandbox", log)
    text = stdout.read_text()
    if "\n\n" not in text:
        return None
    pairs = (shlex.split(line)[1].partition("=") for line in text.split("\n\n")[0].splitlines())
    return {name: value for name, _, value in pairs}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _location_name() -> str:
    (entry,) = yaml.safe_load(WORKSPACE.read_text())["load_from"]
    return entry["python_module"]["location_name"]


@contextmanager
def running_stack(workdir: Path, logs: Path) -> Iterator[Stack]:
    """Start the sandbox, then `dagster dev` on it; yield once the daemon is ticking."""
    base_env = {k: v for k, v in os.environ.items() if k not in PRODUCT_VARIABLES}
    with ExitStack() as cleanup:
        sandbox_log, sandbox_out = logs / "sandbox.log", workdir / "sandbox.env"
        sandbox = _spawn(
            [
                sys.executable,
                "-m",
                "engagement_ranker.sandbox",
                "--companies",
                str(SANDBOX_COMPANIES),
            ],
            base_env,
            sandbox_out,
            sandbox_log,
        )
        cleanup.callback(stop, sandbox)
        sandbox_env = wait_until(
            lambda: _exports(sandbox, sandbox_out, sandbox_log),
            timeout=SANDBOX_START_SECONDS,
            what="the sandbox's export lines",
        )

        home = workdir / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
        port = _free_port()
        ui_url = f"http://{HOST}:{port}"
        env = {
            **base_env,
            **sandbox_env,
            "DAGSTER_HOME": str(home),
            str(Env.ENGAGEMENT_DUCKDB_PATH): str(workdir / "warehouse.duckdb"),
            str(Env.DAGSTER_UI_URL): ui_url,
        }
        dagster_log = logs / "dagster-dev.log"
        dagster = _spawn(
            [
                str(Path(sys.executable).with_name("dagster")),
                "dev",
                "-w",
                str(WORKSPACE),
                "-p",
                str(port),
                "-h",
                HOST,
            ],
            env,
            dagster_log,
        )
        cleanup.callback(stop, dagster)

        api = DagsterApi(ui_url)
        cleanup.callback(api.close)
        location = _location_name()

        def loaded() -> bool:
            _alive(dagster, "dagster dev", dagster_log)
            return api.location_loaded(location)

        def ticking() -> bool:
            _alive(dagster, "dagster dev", dagster_log)
            return api.sensor_ticks(location, failure_alert.name) > 0

        wait_until(
            loaded,
            timeout=DAGSTER_START_SECONDS,
            what=f"the Dagster webserver at {ui_url} with code location {location} loaded",
            retry_on=(httpx.TransportError, httpx.HTTPStatusError),
        )
        # A run-failure sensor only sees failures after its first tick: wait for the daemon.
        wait_until(
            ticking,
            timeout=DAGSTER_START_SECONDS,
            what=f"the daemon's first tick of the {failure_alert.name} sensor",
        )
        control = SandboxControl(sandbox_env[SANDBOX_CONTROL_URL])
        cleanup.callback(control.close)
        yield Stack(ui_url=ui_url, api=api, control=control)
