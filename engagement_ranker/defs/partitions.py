"""The one partitions definition: the Sun–Sat weeks in America/New_York that Yobi can still
compute, keyed by their Sunday, and which of them a run treats as the latest.

Yobi's stats reach a fixed number of days back from today (its longest period), so only the
last few weeks can ever be computed. The weeks listed are a window that ends at the latest
completed week and starts at the oldest week Yobi reaches on every day of the current week.
It is computed from the current week when the code location loads, not recorded once at
install:

- A start recorded at install (or fixed in code) keeps listing weeks after Yobi stops
  reaching them: "Missing" and "All" in the launch dialog would select weeks whose runs must
  fail, and re-materializing a stored old week would fail too. A week that can never be
  computed again is not a week this product can offer.
- The window depends on the current week only, as Dagster's own last partition does, so every
  process loaded in the same week lists the same weeks; both ends move at Sunday 00:00.
- The cost: a week that leaves the window leaves Dagster's partition list (its status dot and
  its point in the plots). Its materializations stay in each asset's event history, and its
  tables stay in the warehouse, where movers, audits and SQL read every week.

A week a stale process still lists, or a shell asks for by its Sunday, is refused before its
run starts (`refuse_unreachable`), with Yobi's reach in the message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
from pydantic import PrivateAttr

from engagement_ranker.clients.yobi import period_for
from engagement_ranker.constants import PARTITION_TAG, TIMEZONE, YOBI_PERIODS
from engagement_ranker.core.week import (
    DAYS_PER_WEEK,
    ZONE,
    Week,
    WeekRole,
    latest_completed_week,
    parse_week_key,
    week_from_window,
)

# How many days back Yobi's longest stats period reaches from today.
YOBI_REACH_DAYS = max(days for _, days in YOBI_PERIODS)
# The weeks Yobi reaches on every day of the current week: its Saturday is the farthest from
# a listed week's Sunday, so a listed week stays computable until the window moves past it
# (and for days after, which covers a process loaded the week before).
WINDOW_WEEKS = (YOBI_REACH_DAYS - DAYS_PER_WEEK) // DAYS_PER_WEEK


def first_week(now: datetime) -> Week:
    """The oldest week listed at `now`: WINDOW_WEEKS completed weeks end with the latest."""
    latest = latest_completed_week(now)
    return Week.starting(latest.first_day - timedelta(weeks=WINDOW_WEEKS - 1))


def weekly_partitions_at(now: datetime) -> dg.WeeklyPartitionsDefinition:
    """The weeks as a code location loaded at `now` lists them."""
    # day_offset=0: weeks start on Sunday 00:00 local time. The current, unfinished week is
    # not a partition, so "latest" always means the most recently completed week.
    return dg.WeeklyPartitionsDefinition(
        start_date=first_week(now).key, timezone=TIMEZONE, day_offset=0
    )


weekly_partitions = weekly_partitions_at(datetime.now(ZONE))


def week_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> Week:
    """The scored week of the partition being materialized or checked."""
    window = context.partition_time_window
    return week_from_window(window.start, window.end)


def latest_week_key() -> str:
    """The most recently completed week, as Dagster sees it now."""
    key = weekly_partitions.get_last_partition_key()
    if key is None:
        raise RuntimeError(f"no completed week since {weekly_partitions.start:%Y-%m-%d}")
    return key


def refuse_unreachable(week: Week, now: datetime) -> None:
    """Raise PeriodError (saying how far Yobi reaches) for a week Yobi can no longer compute."""
    period_for(week.first_day, now.astimezone(ZONE).date())


def run_week(run: dg.DagsterRun | None) -> Week | None:
    """The week a run is for, from the partition tag Dagster puts on it; None for a run
    without one. InvalidWeekKey for a tag that names no week."""
    key = run.tags.get(PARTITION_TAG) if run is not None else None
    return None if key is None else parse_week_key(key)


class WeekCalendar(dg.ConfigurableResource):
    """Whether a run's week is the latest completed one, decided once as the run starts; and a
    week Yobi no longer reaches refused then, before any step reads HubSpot or Yobi.

    HubSpot holds the latest week only: its prior ranks, its property check, the write and the
    summary all depend on this, and a run that crosses Sunday midnight must answer the same in
    every step.
    """

    _latest: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        now = datetime.now(ZONE)
        self._latest = latest_completed_week(now).key
        week = run_week(context.dagster_run)
        if week is not None:
            refuse_unreachable(week, now)

    def role(self, week: Week) -> WeekRole:
        latest = self._latest or latest_week_key()
        return WeekRole.LATEST if week.key == latest else WeekRole.HISTORICAL
