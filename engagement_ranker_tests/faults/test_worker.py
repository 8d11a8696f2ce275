"""A row's process searches what it wrote to stdout and stderr, however it was written."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import sys

from engagement_ranker.cli import restore_default_signals
from engagement_ranker_tests.faults.canaries import CREDENTIALS
from engagement_ranker_tests.faults.matrix import row_pool
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


def _collector() -> tuple[bool, int]:
    return gc.isenabled(), gc.get_freeze_count()


def test_a_row_process_shares_the_product_frozen_and_collects_its_own_objects() -> None:
    """The rows' server imports the product once and freezes it: a row's collections skip it
    (and leave its pages shared), and the row collects what it makes."""
    with row_pool(1) as pool:
        enabled, frozen = pool.apply(_collector)

    assert enabled
    assert frozen > 100_000
