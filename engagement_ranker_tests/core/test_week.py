"""The scored week: exact local Sunday-to-Sunday windows, DST weeks, strict partition keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_ranker.constants import TIMEZONE
from engagement_ranker.core.week import (
    InvalidWeekKey,
    Week,
    WeekNotEnded,
    choose_week,
    latest_completed_week,
    parse_week_key,
    week_containing,
    week_from_window,
)

NY = ZoneInfo(TIMEZONE)
ZONES = [UTC, NY, ZoneInfo("Asia/Kolkata"), ZoneInfo("Pacific/Kiritimati"), ZoneInfo("US/Pacific")]
HOUR = timedelta(hours=1)


def expected_sunday(instant: datetime) -> date:
    """Independent of the implementation: isoweekday() % 7 is days since Sunday."""
    local = instant.astimezone(NY).date()
    return local - timedelta(days=local.isoweekday() % 7)


@given(
    naive=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31, 23, 59)),
    zone=st.sampled_from(ZONES),
)
def test_window_is_local_sunday_to_next_sunday_and_contains_the_instant(naive, zone):
    instant = naive.replace(tzinfo=zone)
    week = week_containing(instant)
    sunday = expected_sunday(instant)
    local_start, local_end = week.start.astimezone(NY), week.end.astimezone(NY)
    assert (local_start.date(), local_start.time()) == (sunday, time(0))
    assert (local_end.date(), local_end.time()) == (sunday + timedelta(days=7), time(0))
    assert local_start.weekday() == local_end.weekday() == 6
    assert week.start.astimezone(UTC) <= instant.astimezone(UTC) < week.end.astimezone(UTC)
    assert instant in week
    assert week.key == sunday.isoformat()
    assert parse_week_key(week.key) == week


@pytest.mark.parametrize("year", range(2020, 2031))
def test_each_year_has_exactly_one_short_and_one_long_week(year):
    """167 h in the spring-forward week, 169 h in the fall-back week, 168 h otherwise."""
    week = week_containing(datetime(year, 1, 1, 12, tzinfo=NY))
    hours: dict[float, list[str]] = {}
    while week.first_day.year <= year:
        if week.first_day.year == year:
            hours.setdefault(week.duration / HOUR, []).append(week.key)
        week = Week.starting(week.first_day + timedelta(days=7))
    assert sorted(hours) == [167, 168, 169]
    assert len(hours[167]) == len(hours[169]) == 1
    # US rule since 2007: second Sunday of March, first Sunday of November.
    (spring,), (fall,) = hours[167], hours[169]
    assert date.fromisoformat(spring).month == 3 and 8 <= date.fromisoformat(spring).day <= 14
    assert date.fromisoformat(fall).month == 11 and date.fromisoformat(fall).day <= 7


@pytest.mark.parametrize(
    ("key", "hours", "label"),
    [
        ("2026-11-15", 168, "Week of Sun Nov 15 – Sat Nov 21, 2026"),
        ("2026-03-08", 167, "Week of Sun Mar 8 – Sat Mar 14, 2026"),
        ("2026-11-01", 169, "Week of Sun Nov 1 – Sat Nov 7, 2026"),
        ("2025-12-28", 168, "Week of Sun Dec 28 – Sat Jan 3, 2026"),
    ],
)
def test_known_weeks(key, hours, label):
    week = parse_week_key(key)
    assert week.duration == timedelta(hours=hours)
    assert week.label == label
    assert week.dates[0] == date.fromisoformat(key)
    assert [d.weekday() for d in week.dates] == [6, 0, 1, 2, 3, 4, 5]
    assert week.start.utcoffset() is not None and week.end.utcoffset() is not None


def test_boundaries_belong_to_exactly_one_week():
    week = parse_week_key("2026-11-15")
    assert week_containing(week.start) == week
    assert week_containing(week.end - timedelta(microseconds=1)) == week
    assert week_containing(week.end) == Week.starting(date(2026, 11, 22))
    assert week.end not in week


def test_previous_crosses_dst_and_year():
    assert parse_week_key("2026-11-08").previous() == parse_week_key("2026-11-01")
    assert parse_week_key("2026-01-04").previous().key == "2025-12-28"


@pytest.mark.parametrize(
    ("now", "scored"),
    [
        # The schedule: Sunday 06:00 ET scores the week that ended six hours ago.
        (datetime(2026, 11, 22, 6, tzinfo=NY), "2026-11-15"),
        # Saturday night: that week has not ended yet.
        (datetime(2026, 11, 21, 23, 59, 59, 999_000, tzinfo=NY), "2026-11-08"),
        # Sunday 03:00 UTC is still Saturday 22:00 in New York.
        (datetime(2026, 11, 22, 3, tzinfo=UTC), "2026-11-08"),
        (datetime(2026, 11, 22, 5, tzinfo=UTC), "2026-11-15"),
        # The Sunday DST ends, 06:00 ET.
        (datetime(2026, 11, 1, 6, tzinfo=NY), "2026-10-25"),
    ],
)
def test_latest_completed_week(now, scored):
    assert latest_completed_week(now).key == scored


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("2026-11-16", "use the Sunday that starts the week: 2026-11-15"),
        ("2026-11-21", "use the Sunday that starts the week: 2026-11-15"),
        ("2026-02-30", "not a real date"),
        ("2026/11/15", "not an ISO date"),
        ("26-11-15", "not an ISO date"),
        ("2026-11-15T00:00", "not an ISO date"),
        (" 2026-11-15", "not an ISO date"),
        ("", "not an ISO date"),
        (None, "not an ISO date"),
    ],
)
def test_parse_week_key_rejects_with_the_value_and_the_fix(key, fragment):
    with pytest.raises(InvalidWeekKey) as excinfo:
        parse_week_key(key)
    assert fragment in str(excinfo.value)
    assert repr(key) in str(excinfo.value) or str(key) in str(excinfo.value)
    assert "Sunday" in str(excinfo.value)


@pytest.mark.parametrize("requested", [None, "latest"])
def test_choose_week_defaults_to_the_latest_completed_week(requested):
    assert choose_week(requested, "2026-11-15") == parse_week_key("2026-11-15")


@pytest.mark.parametrize("requested", ["2026-11-15", "2026-11-08", "2025-12-28"])
def test_choose_week_takes_any_week_that_has_ended(requested):
    assert choose_week(requested, "2026-11-15").key == requested


@pytest.mark.parametrize("requested", ["2026-11-22", "2027-01-03"])
def test_choose_week_refuses_a_week_not_yet_over(requested):
    with pytest.raises(WeekNotEnded) as excinfo:
        choose_week(requested, "2026-11-15")
    assert str(excinfo.value) == (
        f"week {requested} has not ended yet; the latest completed week is 2026-11-15"
    )
    assert isinstance(excinfo.value, InvalidWeekKey)


@pytest.mark.parametrize("requested", ["2026-11-16", "Latest", " 2026-11-08"])
def test_choose_week_refuses_what_is_not_a_sunday_key(requested):
    with pytest.raises(InvalidWeekKey, match="use the Sunday that starts the week"):
        choose_week(requested, "2026-11-15")


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)))
def test_parse_week_key_accepts_exactly_the_sundays(day):
    if day.weekday() == 6:
        assert parse_week_key(day.isoformat()).key == day.isoformat()
    else:
        with pytest.raises(InvalidWeekKey):
            parse_week_key(day.isoformat())


def test_naive_datetimes_are_rejected():
    with pytest.raises(ValueError, match="no timezone"):
        week_containing(datetime(2026, 11, 18, 12))
    with pytest.raises(ValueError, match="no timezone"):
        latest_completed_week(datetime(2026, 11, 22, 6))


def test_week_from_window_accepts_the_same_instants_in_any_zone():
    week = parse_week_key("2026-11-01")
    assert week_from_window(week.start, week.end) == week
    assert week_from_window(week.start.astimezone(UTC), week.end.astimezone(UTC)) == week


@pytest.mark.parametrize(
    ("start", "end"),
    [
        # A UTC-midnight window: the partitions definition lost its timezone.
        (datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)),
        # Monday-based week.
        (datetime(2026, 11, 16, tzinfo=NY), datetime(2026, 11, 23, tzinfo=NY)),
        # A day, not a week.
        (datetime(2026, 11, 15, tzinfo=NY), datetime(2026, 11, 16, tzinfo=NY)),
    ],
)
def test_week_from_window_rejects_other_windows(start, end):
    with pytest.raises(ValueError, match="not a Sun–Sat week in America/New_York"):
        week_from_window(start, end)


def test_week_from_window_rejects_naive_end():
    week = parse_week_key("2026-11-15")
    with pytest.raises(ValueError, match="window end"):
        week_from_window(week.start, datetime(2026, 11, 22))
