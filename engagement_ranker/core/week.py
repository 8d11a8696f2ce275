"""The scored week: Sunday 00:00 to the next Sunday 00:00 in the job's fixed timezone.

One definition for every layer, so the Dagster partition key, the Yobi trend buckets and the
summary's label all mean the same seven local calendar days. Windows are half-open
[start, end), which is the spec's "Saturday 23:59:59.999 inclusive" without the rounding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from engagement_ranker.constants import TIMEZONE

ZONE = ZoneInfo(TIMEZONE)
DAYS_PER_WEEK = 7
_SUNDAY = 6  # date.weekday(): Monday is 0
_KEY_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
# What a person types for "the week the schedule would score".
LATEST_WEEK = "latest"


class WeekRole(StrEnum):
    """The latest completed week is the one HubSpot holds; every older one is history."""

    LATEST = "latest"
    HISTORICAL = "historical"


class InvalidWeekKey(ValueError):
    """A week key (Dagster partition key) that is not the ISO date of a Sunday."""


class WeekNotEnded(InvalidWeekKey):
    """A week that has not ended yet, so its counters are incomplete and it cannot be scored."""


def _sunday_on_or_before(day: date) -> date:
    return day - timedelta(days=(day.weekday() - _SUNDAY) % DAYS_PER_WEEK)


def _local_midnight(day: date) -> datetime:
    # Midnight exists on every day in America/New_York (DST shifts happen at 02:00).
    return datetime.combine(day, time(0), tzinfo=ZONE)


@dataclass(frozen=True)
class Week:
    """A Sun–Sat week; `end` is exclusive and the span is 6 d 23 h or 7 d 1 h across DST."""

    start: datetime
    end: datetime

    @classmethod
    def starting(cls, sunday: date) -> Week:
        """The week whose first local day is `sunday` (must be a Sunday)."""
        if sunday.weekday() != _SUNDAY:
            raise InvalidWeekKey(
                f"week start {sunday.isoformat()} is a {sunday:%A}, not a Sunday; "
                f"use the Sunday that starts the week: {_sunday_on_or_before(sunday).isoformat()}"
            )
        return cls(_local_midnight(sunday), _local_midnight(sunday + timedelta(days=DAYS_PER_WEEK)))

    @property
    def first_day(self) -> date:
        return self.start.astimezone(ZONE).date()

    @property
    def key(self) -> str:
        """The Dagster partition key: the ISO date of the week's Sunday."""
        return self.first_day.isoformat()

    @property
    def dates(self) -> tuple[date, ...]:
        """The seven local calendar dates, Sunday to Saturday."""
        return tuple(self.first_day + timedelta(days=i) for i in range(DAYS_PER_WEEK))

    @property
    def label(self) -> str:
        """Human label, e.g. "Week of Sun Nov 15 – Sat Nov 21, 2026"."""
        first, last = self.dates[0], self.dates[-1]
        return f"Week of {first:%a %b} {first.day} – {last:%a %b} {last.day}, {last.year}"

    @property
    def duration(self) -> timedelta:
        """Real elapsed time (subtracting two datetimes in one zone gives wall-clock time)."""
        return self.end.astimezone(UTC) - self.start.astimezone(UTC)

    def previous(self) -> Week:
        return Week.starting(self.first_day - timedelta(days=DAYS_PER_WEEK))

    def __contains__(self, instant: datetime) -> bool:
        return self.start <= _require_aware(instant, "instant") < self.end


def _require_aware(instant: datetime, what: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(
            f"{what} {instant.isoformat()} has no timezone; pass a tz-aware datetime "
            f"(e.g. datetime.now(ZoneInfo({TIMEZONE!r})))"
        )
    return instant


def week_containing(instant: datetime) -> Week:
    """The week that contains `instant`; naive datetimes are rejected as ambiguous."""
    local_day = _require_aware(instant, "instant").astimezone(ZONE).date()
    return Week.starting(_sunday_on_or_before(local_day))


def latest_completed_week(now: datetime) -> Week:
    """The most recent week that has fully ended at `now` (the one the schedule scores)."""
    return week_containing(now).previous()


def parse_week_key(key: str) -> Week:
    """Strictly parse a partition key: Dagster silently maps a non-Sunday to the next week."""
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
        raise InvalidWeekKey(
            f"week key {key!r} is not an ISO date; use the Sunday that starts the week, "
            f"as YYYY-MM-DD (e.g. 2026-11-15)"
        )
    try:
        day = date.fromisoformat(key)
    except ValueError as exc:
        raise InvalidWeekKey(
            f"week key {key!r} is not a real date ({exc}); use the Sunday that starts the "
            f"week, as YYYY-MM-DD (e.g. 2026-11-15)"
        ) from None
    return Week.starting(day)


def choose_week(requested: str | None, latest_key: str) -> Week:
    """The week a person asked for: None or "latest" is `latest_key`'s week (the latest
    completed one); otherwise a Sunday key, refused while its week has not ended."""
    latest = parse_week_key(latest_key)
    if requested is None or requested == LATEST_WEEK:
        return latest
    week = parse_week_key(requested)
    if week.start > latest.start:
        raise WeekNotEnded(
            f"week {week.key} has not ended yet; the latest completed week is {latest.key}"
        )
    return week


def week_from_window(start: datetime, end: datetime) -> Week:
    """The week for a Dagster partition time window, checked to be exactly one of ours."""
    week = week_containing(_require_aware(start, "window start"))
    _require_aware(end, "window end")
    if start != week.start or end != week.end:
        raise ValueError(
            f"time window {start.isoformat()} – {end.isoformat()} is not a Sun–Sat week in "
            f"{TIMEZONE}; expected {week.start.isoformat()} – {week.end.isoformat()} "
            f"(check the partitions definition's timezone and start day)"
        )
    return week
