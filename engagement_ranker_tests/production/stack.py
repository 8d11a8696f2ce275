"""The production profile as deploy/compose.yaml runs it, on this machine: its Dagster
processes (the instance migration, the code server, the webserver, the daemon) started in
compose's order with compose's commands and variables, on a real PostgreSQL, against the
sandbox. Only the values that name this machine differ: loopback hosts, free ports, temporary
paths. Every process, PostgreSQL included, can be restarted on the same storage."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from engagement_ranker.constants import Env
from engagement_ranker_tests.e2e.dagster_api import DagsterApi
from engagement_ranker_tests.e2e.stack import (
    BIN,
    DAGSTER_START_SECONDS,
    HOST,
    Sandboxed,
    alive,
    clean_environment,
    daemon_pace,
    finish,
    free_port,
    location_name,
    running_sandbox,
    spawn,
    stop,
    wait_for_location,
)
from engagement_ranker_tests.e2e.waiting import wait_until
from engagement_ranker_tests.production.deployment import (
    COMPOSE,
    INSTANCE_CONFIG,
    WORKSPACE,
    Service,
    database_major_version,
    services,
)
from engagement_ranker_tests.production.postgres import PostgresServer

DATABASE_USER = "dagster"
DATABASE_NAME = "dagster"
ONE_OFF_SECONDS = 120.0
HEALTHCHECK_SECONDS = 30.0


class ProductionStack:
    """The running processes, the webserver's API and the sandbox's control API."""

    def __init__(
        self, workdir: Path, logs: Path, postgres: PostgresServer, sandbox: Sandboxed
    ) -> None:
        self.services = services()
        self.postgres = postgres
        self.control = sandbox.control
        self.location = location_name(WORKSPACE)
        self.logs = logs
        home = workdir / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").symlink_to(INSTANCE_CONFIG)
        ui_port, code_server_port = free_port(), free_port()
        self.ui_url = f"http://{HOST}:{ui_port}"
        self.api = DagsterApi(self.ui_url)
        # This machine's value for each variable deploy/ sets: hosts, ports and paths.
        self._values = {
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_HOST": postgres.host,
            "DAGSTER_POSTGRES_PORT": str(postgres.port),
            "DAGSTER_POSTGRES_USER": postgres.user,
            "DAGSTER_POSTGRES_PASSWORD": postgres.password,
            "DAGSTER_POSTGRES_DB": postgres.database,
            "DAGSTER_COMPUTE_LOGS_DIR": str(workdir / "compute_logs"),
            "DAGSTER_CODE_SERVER_HOST": HOST,
            "DAGSTER_CODE_SERVER_PORT": str(code_server_port),
            "ENGAGEMENT_CODE_SERVER_HOST": HOST,
            str(Env.ENGAGEMENT_DUCKDB_PATH): str(workdir / "warehouse.duckdb"),
            "DAGSTER_WEBSERVER_HOST": HOST,
            "DAGSTER_WEBSERVER_PORT": str(ui_port),
        }
        # The env file's settings: the sandbox's, and the UI's address for run links.
        self._product_settings = {**sandbox.env, str(Env.DAGSTER_UI_URL): self.ui_url}
        self._running: dict[str, subprocess.Popen[bytes]] = {}

    def environment(self, name: str) -> dict[str, str]:
        """What compose gives service `name`, with this machine's values; the installed
        commands first on PATH, as in the image."""
        service = self.services[name]
        unknown = service.variables - self._values.keys()
        if unknown:
            raise AssertionError(
                f"{COMPOSE} sets {sorted(unknown)} for {name}: give the production stack "
                "this machine's value for each"
            )
        env = clean_environment()
        env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", os.defpath)])
        env.update({variable: self._values[variable] for variable in service.variables})
        if service.product_settings:
            env.update(self._product_settings)
        return daemon_pace(env)

    def start(self) -> None:
        """Every Dagster process in compose's order; returns once the webserver has loaded
        the code location and every daemon has reported since this start."""
        started = time.time()
        for service in self.services.values():
            log = self.logs / f"{service.name}.log"
            process = spawn(service.command, self.environment(service.name), log)
            if service.completes:
                finish(process, service.name, log, ONE_OFF_SECONDS)
                continue
            self._running[service.name] = process
            if service.healthcheck is not None:
                self._until_healthy(service, process, log)
        wait_for_location(self.api, self.location, self._check_running)

        def reported() -> dict[str, float | None] | None:
            self._check_running()
            beats = self.api.daemon_heartbeats()
            fresh = all(beat is not None and beat >= started for beat in beats.values())
            return beats if beats and fresh else None

        wait_until(
            reported,
            timeout=DAGSTER_START_SECONDS,
            what="every daemon's first heartbeat since the start",
        )

    def _until_healthy(self, service: Service, process: subprocess.Popen[bytes], log: Path) -> None:
        """Compose's healthcheck, run as compose runs it, until it passes."""
        check = ["sh", "-c", str(service.healthcheck)]
        env = self.environment(service.name)

        def healthy() -> bool:
            alive(process, service.name, log)
            result = subprocess.run(
                check,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=HEALTHCHECK_SECONDS,
                check=False,
            )
            return result.returncode == 0

        wait_until(
            healthy,
            timeout=DAGSTER_START_SECONDS,
            what=f"{service.name}'s healthcheck: {service.healthcheck}",
            retry_on=(subprocess.TimeoutExpired,),
        )

    def _check_running(self) -> None:
        for name, process in self._running.items():
            alive(process, name, self.logs / f"{name}.log")

    def stop(self) -> None:
        """Every Dagster process, the last started first."""
        for name in reversed(list(self._running)):
            stop(self._running.pop(name))

    def restart(self) -> None:
        """Stop every process, PostgreSQL last, then start them all again on the same data."""
        self.stop()
        self.postgres.stop()
        self.postgres.start()
        self.start()


@contextmanager
def running_production(workdir: Path, logs: Path) -> Iterator[ProductionStack]:
    """The sandbox, a new PostgreSQL cluster, and the production processes on them."""
    with ExitStack() as cleanup:
        sandbox = cleanup.enter_context(running_sandbox(workdir, logs))
        postgres = PostgresServer(database_major_version(), logs, DATABASE_USER, DATABASE_NAME)
        cleanup.callback(postgres.remove)
        postgres.initialize()
        stack = ProductionStack(workdir, logs, postgres, sandbox)
        cleanup.callback(stack.api.close)
        cleanup.callback(stack.stop)
        stack.start()
        yield stack
