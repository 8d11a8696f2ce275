"""A real PostgreSQL server from Debian's `postgresql` package, in a temporary directory on a
free port, with password authentication as in production; it can be stopped and started
again on the same data. When it cannot start, it fails: it never skips."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from engagement_ranker_tests.e2e.stack import HOST, alive, finish, free_port, spawn, stop
from engagement_ranker_tests.e2e.waiting import wait_until

# PostgreSQL refuses to run as root: as root, it runs as the package's own user.
SERVER_USER = "postgres"
START_SECONDS = 60.0
COMMAND_SECONDS = 60.0
# The storage's durability is not what is tested: skipping fsync keeps the test fast, and a
# clean stop still writes everything before a restart.
SERVER_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresServer:
    """One cluster (initdb), one database for Dagster, started and stopped on demand."""

    def __init__(self, major: str, logs: Path, user: str, database: str) -> None:
        self.bindir = Path(f"/usr/lib/postgresql/{major}/bin")
        if not (self.bindir / "postgres").exists():
            raise AssertionError(
                f"PostgreSQL {major} is not installed ({self.bindir}/postgres is missing): "
                f"install Debian's package with `apt-get install -y postgresql-{major}` "
                "(.ci/run installs `postgresql`)"
            )
        self.host = HOST
        self.port = free_port()
        self.user = user
        self.password = secrets.token_urlsafe(16)
        self.database = database
        self._log = logs / "postgres.log"
        self._run_as = SERVER_USER if os.geteuid() == 0 else None
        # Not under pytest's tmp_path: its parents are closed to the server's user.
        self.root = Path(tempfile.mkdtemp(prefix="engagement-postgres-"))
        if self._run_as is not None:
            account = pwd.getpwnam(self._run_as)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._process: subprocess.Popen[bytes] | None = None

    def _command(self, args: list[str], what: str) -> None:
        """Run a PostgreSQL program to the end, as the server's user, logging to the log."""
        process = spawn(args, self._client_env(), self._log, user=self._run_as, cwd=self.root)
        finish(process, what, self._log, COMMAND_SECONDS)

    def _client_env(self) -> dict[str, str]:
        return {"PATH": os.environ["PATH"], "PGPASSWORD": self.password, "LC_ALL": "C"}

    def initialize(self) -> None:
        """A new cluster whose superuser is `user` (password authentication), then start it
        and create the database."""
        password_file = self.root / "password"
        password_file.write_text(self.password)
        if self._run_as is not None:
            shutil.chown(password_file, self._run_as)
        password_file.chmod(0o600)
        self._command(
            [
                str(self.bindir / "initdb"),
                f"--pgdata={self.root / 'data'}",
                f"--username={self.user}",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            "initdb",
        )
        password_file.unlink()
        self.start()
        self._command(
            [
                str(self.bindir / "createdb"),
                f"--host={self.host}",
                f"--port={self.port}",
                f"--username={self.user}",
                self.database,
            ],
            f"createdb {self.database}",
        )

    def start(self) -> None:
        """Start the server on the cluster; returns once it accepts connections."""
        settings = [argument for setting in SERVER_SETTINGS for argument in ("-c", setting)]
        self._process = spawn(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.root / "data"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                *settings,
            ],
            self._client_env(),
            self._log,
            user=self._run_as,
            cwd=self.root,
        )
        process = self._process
        ready = [str(self.bindir / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port)]

        def accepting() -> bool:
            alive(process, "PostgreSQL", self._log)
            return subprocess.run(ready, check=False, timeout=COMMAND_SECONDS).returncode == 0

        wait_until(
            accepting,
            timeout=START_SECONDS,
            what=f"PostgreSQL on {self.host}:{self.port} to accept connections",
        )

    def stop(self) -> None:
        """A fast shutdown: open sessions are ended, everything committed is on disk."""
        if self._process is not None:
            stop(self._process, signal.SIGINT)
            self._process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
