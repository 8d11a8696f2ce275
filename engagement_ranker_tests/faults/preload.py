"""What the fault matrix's forkserver imports before it forks a process per row: the product
(imported with the garbage collector paused, engagement_ranker/definitions.py) and the row
worker, then all of it frozen, so no row's collections walk, or copy on write, what every row
shares (Python's advice for a process that forks: `gc.freeze()` before the fork).

The server also takes SIGINT and SIGTERM back to their defaults (a CI started in the background
hands them down ignored): a row forked from it ends on SIGTERM from its first instant, so the
pool's exit, which terminates every worker, never waits on one forked just before it."""

from __future__ import annotations

import gc
import importlib

from engagement_ranker.cli import load_product, restore_default_signals

WORKER_MODULE = "engagement_ranker_tests.faults.worker"


def preload() -> None:
    restore_default_signals()
    load_product()
    importlib.import_module(WORKER_MODULE)
    gc.freeze()


preload()
