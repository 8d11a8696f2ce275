"""The one partitions definition: Sun–Sat weeks in America/New_York, keyed by their Sunday,
and which of them a run treats as the latest."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from engagement_ranker.constants import PARTITIONS_START, TIMEZONE
from engagement_ranker.core.week import Week, WeekRole, week_from_window

# day_offset=0: weeks start on Sunday 00:00 local time. The current, unfinished week is not a
# partition, so "latest" always means the most recently completed week.
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone=TIMEZONE, day_offset=0
)


def week_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> Week:
    """The scored week of the partition being materialized or checked."""
    window = context.partition_time_window
    return week_from_window(window.start, window.end)


def latest_week_key() -> str:
    """The most recently completed week, as Dagster sees it now."""
    key = weekly_partitions.get_last_partition_key()
    if key is None:
        raise RuntimeError(f"no completed week since {PARTITIONS_START}")
    return key


class WeekCalendar(dg.ConfigurableResource):
    """Whether a run's week is the latest completed one, decided once as the run starts.

    HubSpot holds the latest week only: its prior ranks, its property check, the write and the
    summary all depend on this, and a run that crosses Sunday midnight must answer the same in
    every step.
    """

    _latest: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._latest = latest_week_key()

    def role(self, week: Week) -> WeekRole:
        latest = self._latest or latest_week_key()
        return WeekRole.LATEST if week.key == latest else WeekRole.HISTORICAL
