"""What the fault matrix's forkserver imports before it forks a process per row: the product
(imported with the garbage collector paused, engagement_ranker/definitions.py), the row worker,
and what every row would otherwise import for itself (Dagster's on-disk storage, imported when
an instance is first opened: SQLAlchemy, Alembic, Mako…; and matplotlib, imported when the
summary's chart is drawn: ~570 modules, 0.3–0.4 CPU-s of a row's ~3); then all of it frozen, so
no row's collections walk, or copy on write, what every row shares (Python's advice for a
process that forks: `gc.freeze()` before the fork).

The server also takes SIGINT and SIGTERM back to their defaults (a CI started in the background
hands them down ignored): a row forked from it ends on SIGTERM from its first instant, so the
pool's exit, which terminates every worker, never waits on one forked just before it."""

from __future__ import annotations

import gc
import importlib
import tempfile

import dagster as dg

from engagement_ranker.cli import load_product, restore_default_signals

WORKER_MODULE = "engagement_ranker_tests.faults.worker"
# engagement_ranker/core/charts.py imports these when it draws.
CHART_MODULES = ("matplotlib.figure", "matplotlib.backends.backend_agg")


def preload() -> None:
    restore_default_signals()
    load_product()
    importlib.import_module(WORKER_MODULE)
    # Opened and closed at once: it leaves no thread or file open for the rows to inherit.
    with tempfile.TemporaryDirectory() as home, dg.DagsterInstance.from_config(home):
        pass
    for module in CHART_MODULES:
        importlib.import_module(module)
    gc.freeze()


preload()
