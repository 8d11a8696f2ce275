"""What the fault matrix's forkserver imports before it forks a process per row: the product
(with the garbage collector paused, `cli.load_product`) and the row worker, then all of it
frozen, so no row's collections walk, or copy on write, what every row shares (Python's advice
for a process that forks: `gc.freeze()` before the fork)."""

from __future__ import annotations

import gc
import importlib

from engagement_ranker.cli import load_product

WORKER_MODULE = "engagement_ranker_tests.faults.worker"


def preload() -> None:
    load_product()
    importlib.import_module(WORKER_MODULE)
    gc.freeze()


preload()
