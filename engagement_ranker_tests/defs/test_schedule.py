"""The schedule ticks Sunday 06:00 America/New_York all year and asks for the week just ended;
the weeks listed are those Yobi can compute; the job's default config names the write mode."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from engagement_ranker.clients.errors import PeriodError
from engagement_ranker.clients.yobi import period_for
from engagement_ranker.core.movers import PRIOR_NEW
from engagement_ranker.core.week import DAYS_PER_WEEK, Week, latest_completed_week, week_containing
from engagement_ranker.defs.alerts import alert_for_run
from engagement_ranker.defs.jobs import weekly_job, weekly_schedule, weekly_schedule_for
from engagement_ranker.defs.partitions import (
    WINDOW_WEEKS,
    WeekCalendar,
    latest_week_key,
    weekly_partitions,
    weekly_partitions_at,
)
from engagement_ranker_tests.defs.conftest import Harness

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
    # The schedule as a code location loaded the evening before the tick builds it.
    loaded = tick - timedelta(hours=12)
    schedule = weekly_schedule_for(weekly_job(weekly_partitions_at(loaded), {}))
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        result = schedule.evaluate_tick(context)
    assert [request.partition_key for request in result.run_requests or []] == [week]


def test_schedule_fires_at_six_local_time_on_sundays() -> None:
    assert weekly_schedule.cron_schedule == "0 6 * * 0"
    assert weekly_schedule.execution_timezone == "America/New_York"


def test_the_schedule_is_named_as_the_readme_names_it() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert weekly_schedule.name == "weekly_engagement_schedule"
    assert f"`{weekly_schedule.name}`" in readme
    assert "weekly_engagement_job_schedule" not in readme


NOW = datetime(2026, 11, 25, 12, tzinfo=NEW_YORK)


def _yobi_reaches(week_key: str, day: datetime) -> bool:
    try:
        period_for(Week.starting(datetime.fromisoformat(week_key).date()).first_day, day.date())
    except PeriodError:
        return False
    return True


# Each day of a week (Sunday to Saturday), across both DST changes.
@pytest.mark.parametrize(
    "now",
    [
        *(NOW - timedelta(days=3) + timedelta(days=d, hours=h) for d in range(7) for h in (0, 11)),
        datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK),
        datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK),
    ],
)
def test_every_week_listed_is_one_yobi_reaches_all_week(now: datetime) -> None:
    keys = weekly_partitions_at(now).get_partition_keys(current_time=now)
    assert len(keys) == WINDOW_WEEKS
    assert keys[-1] == latest_completed_week(now).key  # the unfinished week is not listed
    saturday_night = week_containing(now).end - timedelta(minutes=1)
    assert all(_yobi_reaches(key, saturday_night) for key in keys)
    # ...and no more: the week before the first is out of reach by the week's end.
    before = (datetime.fromisoformat(keys[0]) - timedelta(days=DAYS_PER_WEEK)).date().isoformat()
    assert not _yobi_reaches(before, saturday_night)


def test_the_weeks_depend_on_the_current_week_only() -> None:
    sunday = week_containing(NOW).start
    first = weekly_partitions_at(sunday).get_partition_keys(current_time=sunday)
    saturday_night = sunday + timedelta(days=6, hours=23, minutes=59)
    last = weekly_partitions_at(saturday_night)
    assert last.get_partition_keys(current_time=saturday_night) == first
    assert weekly_partitions.get_partition_keys()[-1] == latest_week_key()


@pytest.mark.parametrize(
    ("environ", "config"),
    [
        ({}, {"mode": "dry-run"}),
        ({"ENGAGEMENT_WRITE_MODE": "full"}, {"mode": "full"}),
        # Unusable: no default; the run stops at its start, naming the variable.
        ({"ENGAGEMENT_WRITE_MODE": "yolo"}, {}),
    ],
)
def test_the_jobs_default_config_names_the_write_mode(environ: dict, config: dict) -> None:
    job = weekly_job(weekly_partitions, environ)
    run_config = job.config.get_run_config_for_partition_key(latest_week_key())
    assert run_config == {"ops": {"hubspot_writeback": {"config": config}}}


def test_a_run_for_a_week_yobi_no_longer_reaches_stops_as_it_starts() -> None:
    """A process loaded long ago may still list an old week: its run stops before any step,
    and its alert says why."""
    stale = dg.WeeklyPartitionsDefinition(start_date="2025-01-05", timezone="America/New_York")
    started: list[str] = []

    @dg.asset(partitions_def=stale)
    def needs_the_calendar(context, calendar: WeekCalendar) -> None:
        started.append(context.partition_key)

    with dg.instance_for_test() as instance:

        def run(week: str) -> dg.ExecuteInProcessResult:
            return dg.materialize(
                [needs_the_calendar],
                partition_key=week,
                instance=instance,
                resources={"calendar": WeekCalendar()},
                raise_on_error=False,
            )

        refused = run("2025-01-05")
        alert = alert_for_run(instance, refused.dagster_run, "2025-01-05", None)
        assert not refused.success and started == []
        assert alert.step == "run start"
        assert alert.error.startswith("the week starting 2025-01-05 is ")
        assert alert.written == "nothing was written to HubSpot"
        assert run(latest_week_key()).success and started == [latest_week_key()]


def test_the_first_week_listed_ranks_without_a_previous_week(harness: Harness) -> None:
    """Its previous week is not a partition: ranked_scores takes it as absent, not as missing."""
    first = weekly_partitions.get_first_partition_key()

    result = harness.run(first, mode="full")

    assert result.success
    ranked = harness.ranked(first)
    assert len(ranked) > 0 and (ranked["prior_source"] == PRIOR_NEW).all()
