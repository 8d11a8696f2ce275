"""The weekly job and its schedule: Sunday 06:00 America/New_York, for the week just ended."""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from engagement_ranker.constants import SCHEDULE_HOUR
from engagement_ranker.defs.partitions import weekly_partitions
from engagement_ranker.defs.runmode import default_write_mode, writeback_run_config

WEEKLY_JOB_NAME = "weekly_engagement"


def weekly_job(
    partitions: dg.WeeklyPartitionsDefinition, environ: Mapping[str, str]
) -> dg.UnresolvedAssetJobDefinition:
    """The job over every asset, whose default run config names the write mode, so the
    launchpad shows a week's mode before launch and the schedule's runs carry it."""
    mode = default_write_mode(environ)
    return dg.define_asset_job(
        WEEKLY_JOB_NAME,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions,
        config=dg.PartitionedConfig(
            partitions_def=partitions,
            run_config_for_partition_key_fn=lambda _week: writeback_run_config(mode),
        ),
        description="Rank every customer company for one Sun–Sat week and write the rank to "
        "HubSpot (the run config's mode: dry-run, allowlist or full).",
    )


def weekly_schedule_for(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """Built from the partitions, so the tick at Sunday 06:00 local time (all year, across DST)
    requests the week that ended at midnight."""
    schedule = dg.build_schedule_from_partitioned_job(
        job,
        hour_of_day=SCHEDULE_HOUR,
        day_of_week=0,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    # A job that names its partitions gets its schedule at once, not one resolved later.
    if not isinstance(schedule, dg.ScheduleDefinition):
        raise TypeError(f"{job.name} has no partitions of its own; give it weekly_partitions")
    return schedule


weekly_engagement_job = weekly_job(weekly_partitions, os.environ)
weekly_schedule = weekly_schedule_for(weekly_engagement_job)
