"""The weekly job and its schedule: Sunday 06:00 America/New_York, for the week just ended."""

from __future__ import annotations

import dagster as dg

from engagement_ranker.constants import SCHEDULE_HOUR
from engagement_ranker.defs.partitions import weekly_partitions

WEEKLY_JOB_NAME = "weekly_engagement"

weekly_engagement_job = dg.define_asset_job(
    WEEKLY_JOB_NAME,
    selection=dg.AssetSelection.all(),
    partitions_def=weekly_partitions,
    description="Rank every customer company for one Sun–Sat week and write the rank to HubSpot.",
)

# Built from the partitions, so the tick at Sunday 06:00 local time (all year, across DST)
# requests the week that ended at midnight.
weekly_schedule = dg.build_schedule_from_partitioned_job(
    weekly_engagement_job,
    hour_of_day=SCHEDULE_HOUR,
    day_of_week=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
