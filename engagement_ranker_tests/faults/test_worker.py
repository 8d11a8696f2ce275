"""A row's process searches what it wrote to stdout and stderr, however it was written."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

from engagement_ranker.cli import restore_default_signals
from engagement_ranker_tests.faults.canaries import CREDENTIALS
from engagement_ranker_tests.faults.matrix import row_pool
from engagement_ranker_tests.faults.verdict import Verdict
from engagement_ranker_tests.faults.worker import run_captured

# A deadline for a worker's answer: a pool never notices a worker that died.
WORKER_SECONDS = 120


def _leaky_row(name: str) -> Verdict:
    print(f"Authorization: Bearer {CREDENTIALS.hubspot_token}")
    logging.getLogger("leaky").warning("login with %s", CREDENTIALS.yobi_password)
    os.write(sys.stderr.fileno(), (CREDENTIALS.smtp_password or "").encode())
    return Verdict(name, "completes")


def test_secrets_printed_logged_or_written_to_the_descriptors_are_found() -> None:
    # SIGTERM back to default in the worker: the pool's exit terminates it (see preload.py).
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1, initializer=restore_default_signals) as pool:
        verdict = pool.apply_async(run_captured, ("leaky", _leaky_row)).get(WORKER_SECONDS)

    assert verdict["leaks"] == [
        "stdout: HubSpot token",
        "stderr: Yobi password",
        "stderr: SMTP password",
    ]
    assert not Verdict(**verdict).passed


def _collector() -> tuple[bool, int]:
    return gc.isenabled(), gc.get_freeze_count()


def test_a_row_process_shares_the_product_frozen_and_collects_its_own_objects() -> None:
    """The rows' server imports the product once and freezes it: a row's collections skip it
    (and leave its pages shared), and the row collects what it makes."""
    with row_pool(1) as pool:
        enabled, frozen = pool.apply_async(_collector).get(WORKER_SECONDS)

    assert enabled
    assert frozen > 100_000


def _imported(modules: tuple[str, ...]) -> list[str]:
    return [module for module in modules if module in sys.modules]


def test_a_row_process_finds_dagster_s_storage_and_the_chart_library_imported() -> None:
    """Every row opens an instance on disk and draws the summary's chart: the server imports
    what those need once, not each row (0.3–0.4 CPU-s of a row's ~3)."""
    wanted = ("sqlalchemy", "alembic", "dagster._core.storage.sqlite_storage", "matplotlib.figure")
    with row_pool(1) as pool:
        imported = pool.apply_async(_imported, (wanted,)).get(WORKER_SECONDS)

    assert imported == list(wanted)


# A process that sets SIGTERM ignored (as background jobs inherit it), starts the matrix's pool,
# and prints the signals ignored by the process every row is forked from (the worker's parent).
_IGNORED_BY_THE_ROWS_SERVER = """
import os, signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
from engagement_ranker_tests.faults.matrix import row_pool
with row_pool(1) as pool:
    server = pool.apply(os.getppid)
    status = open(f"/proc/{server}/status").read()
    print(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")))
"""


def test_a_row_process_ends_on_sigterm_even_before_it_has_started() -> None:
    """The pool's exit terminates its workers, one of them perhaps just forked to replace a
    finished row: the server they are forked from keeps SIGTERM at its default, or a worker
    terminated before it set the default itself ignores it and the exit waits forever."""
    started = subprocess.run(
        [sys.executable, "-c", _IGNORED_BY_THE_ROWS_SERVER],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=WORKER_SECONDS,
        check=True,
    )

    ignored = int(started.stdout.strip(), 16)
    assert not ignored & (1 << (signal.SIGTERM - 1)), f"SigIgn {started.stdout.strip()}"
