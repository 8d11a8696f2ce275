"""The schedule ticks Sunday 06:00 America/New_York all year and asks for the week just ended."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from engagement_ranker.defs.jobs import weekly_schedule
from engagement_ranker.defs.partitions import weekly_partitions

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("tick", "week"),
    [
        (datetime(2026, 11, 29, 6, 0, tzinfo=NEW_YORK), "2026-11-22"),
        # Spring forward: 2026-03-08 02:00 -> 03:00, the week before lasted 7 d minus an hour.
        (datetime(2026, 3, 8, 6, 0, tzinfo=NEW_YORK), "2026-03-01"),
        (datetime(2026, 3, 15, 6, 0, tzinfo=NEW_YORK), "2026-03-08"),
        # Fall back: 2026-11-01 02:00 -> 01:00.
        (datetime(2026, 11, 1, 6, 0, tzinfo=NEW_YORK), "2026-10-25"),
        (datetime(2026, 11, 8, 6, 0, tzinfo=NEW_YORK), "2026-11-01"),
    ],
)
def test_tick_requests_the_week_that_just_ended(tick: datetime, week: str) -> None:
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        result = weekly_schedule.evaluate_tick(context)
    assert [request.partition_key for request in result.run_requests or []] == [week]


def test_schedule_fires_at_six_local_time_on_sundays() -> None:
    assert weekly_schedule.cron_schedule == "0 6 * * 0"
    assert weekly_schedule.execution_timezone == "America/New_York"


def test_partitions_start_early_enough_for_a_year_of_history() -> None:
    keys = weekly_partitions.get_partition_keys(
        current_time=datetime(2026, 11, 25, 12, tzinfo=NEW_YORK)
    )
    assert keys[0] == "2025-01-05"
    assert keys[-1] == "2026-11-15"  # the current, unfinished week is not a partition
