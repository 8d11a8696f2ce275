"""A row's process searches what it wrote to stdout and stderr, however it was written."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys

from engagement_ranker.cli import restore_default_signals
from engagement_ranker_tests.faults.canaries import CREDENTIALS
from engagement_ranker_tests.faults.verdict import Verdict
from engagement_ranker_tests.faults.worker import run_captured


def _leaky_row(name: str) -> Verdict:
    print(f"Authorization: Bearer {CREDENTIALS.hubspot_token}")
    logging.getLogger("leaky").warning("login with %s", CREDENTIALS.yobi_password)
    os.write(sys.stderr.fileno(), (CREDENTIALS.smtp_password or "").encode())
    return Verdict(name, "completes")


def test_secrets_printed_logged_or_written_to_the_descriptors_are_found() -> None:
    # SIGTERM back to default in the worker: the pool's exit terminates it (see matrix.trials).
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1, initializer=restore_default_signals) as pool:
        verdict = pool.apply(run_captured, ("leaky", _leaky_row))

    assert verdict["leaks"] == [
        "stdout: HubSpot token",
        "stderr: Yobi password",
        "stderr: SMTP password",
    ]
    assert not Verdict(**verdict).passed
