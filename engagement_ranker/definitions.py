"""The code location: one `Definitions` object for `dagster dev`, the CLI and the tests.

Every process that loads it (each run Dagster launches, the code server, the CLI) imports the
product here: some 300,000 objects that live as long as the process. They are made with the
garbage collector paused and then frozen, so no later collection walks them again and again:
a backfill's week costs `dagster dev` 4.0-4.2 CPU-seconds instead of 4.8-5.3 at N = 250, a
daemon-launched run of one asset 1.85 instead of 2.7 (docs/benchmarks.md). The collector runs
as before for everything made afterwards.
"""

from __future__ import annotations

import gc

_collecting = gc.isenabled()
gc.disable()
try:
    from functools import cache

    import dagster as dg

    from engagement_ranker.defs import assets
    from engagement_ranker.defs.alerts import failure_alert
    from engagement_ranker.defs.checks import ALL_CHECKS
    from engagement_ranker.defs.jobs import weekly_engagement_job, weekly_schedule
    from engagement_ranker.defs.resources import build_resources
finally:
    gc.freeze()
    if _collecting:
        gc.enable()

ASSETS = dg.load_assets_from_modules([assets])


def build_definitions() -> dg.Definitions:
    """Assets, checks, job, schedule, sensor and resources, wired to the current environment.

    In-process execution: the steps are small and I/O-bound, share one embedded DuckDB file,
    and a process per step would cost more start-up than the work itself.
    """
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=[weekly_engagement_job],
        schedules=[weekly_schedule],
        sensors=[failure_alert],
        resources=build_resources(),
        executor=dg.in_process_executor,
    )


@cache
def code_location() -> dg.Definitions:
    """The code location as Dagster loads it, built once per process: its whole graph is what
    the write gate reads, whatever a run selected."""
    return build_definitions()


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by Dagster when it loads the code location, not when the module is imported
    (the CLI and the tests import `build_definitions` and build their own)."""
    return build_definitions()
