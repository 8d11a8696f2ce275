"""Data alarms against the trailing weeks: each fires past its band and not inside it, says the
reason and the fix, and stays silent without enough history to compare with."""

from __future__ import annotations

import pandas as pd
import pytest

from engagement_ranker.core.alarms import (
    DEFAULT_SEVERITIES,
    AlarmSeverity,
    counter_alarms,
    mapped_share_alarms,
    parse_severities,
    severity_of,
    shift,
    tenant_jump_alarms,
    universe_alarms,
)
from engagement_ranker.core.anomalies import Anomaly, AnomalyKind


def metrics(calls: dict[int, int], new_patients: int = 3, others: int = 5) -> pd.DataFrame:
    """One week of weekly_metrics: tenant -> calls, the other counters fixed (appointments
    twice `others`, tasks `others`)."""
    return pd.DataFrame(
        {
            "tenant_id": list(calls),
            "new_patients": new_patients,
            "appointments": 2 * others,
            "tasks": others,
            "calls": pd.array(list(calls.values()), dtype="Int64"),
        }
    )


def stored(*weeks: pd.DataFrame) -> pd.DataFrame:
    """Weeks as the warehouse hands them back: stacked, each row with its week key."""
    keys = ["2026-10-18", "2026-10-25", "2026-11-01", "2026-11-08", "2026-11-15"]
    return pd.concat([w.assign(week=k) for w, k in zip(weeks, keys, strict=False)])


NORMAL = metrics({1: 100, 2: 200})


def test_shift_needs_two_weeks_and_a_median_above_zero() -> None:
    assert shift(10, [100], 0.5) is None
    assert shift(10, [0, 0], 0.5) is None
    assert shift(60, [100, 100], 0.5) is None  # 40% below: inside ±50%
    moved = shift(40, [100, 90, 110], 0.5)
    assert moved is not None and moved.change == -0.6
    assert moved.words() == "60% below its median of 100 over the 3 stored weeks before"
    assert shift(151, [100, 100], 0.5) is not None


def test_a_counter_zero_for_every_tenant_is_named_with_the_fix() -> None:
    [alarm] = counter_alarms(metrics({1: 100, 2: 200}, new_patients=0), pd.DataFrame(), 0.5)
    assert alarm.kind is AnomalyKind.COUNTER_ALL_ZERO
    assert alarm.message.startswith("new_patients is 0 for every one of the 2 Yobi tenants")
    assert "engagement-ranker spike" in alarm.message and "YOBI_CONTRACT_FILE" in alarm.message
    # No tenants at all is the universe's problem, not a counter's.
    assert counter_alarms(metrics({}), pd.DataFrame(), 0.5) == []


def test_a_counter_total_beyond_its_band_is_reported_once() -> None:
    history = stored(NORMAL, NORMAL, NORMAL, NORMAL)
    assert counter_alarms(metrics({1: 80, 2: 160}), history, 0.5) == []
    [alarm] = counter_alarms(metrics({1: 40, 2: 80}), history, 0.5)
    assert alarm.kind is AnomalyKind.COUNTER_SHIFT
    assert alarm.message.startswith(
        "calls totals 120 this week, 60% below its median of 300 over the 4 stored weeks before"
    )
    assert "ALARM_COUNTER_BAND" in alarm.message


def test_only_the_last_four_stored_weeks_count() -> None:
    low = metrics({1: 10, 2: 20})
    history = stored(low, NORMAL, NORMAL, NORMAL, NORMAL)  # the oldest is a fifth week
    [alarm] = counter_alarms(low, history, 0.5)
    assert "median of 300 over the 4 stored weeks" in alarm.message


def test_a_tenant_jumping_past_ten_times_its_own_median() -> None:
    history = stored(metrics({1: 100}), metrics({1: 120}))
    # Activity = calls + tasks + appointments: a median of 125, now 1,400 (11x).
    [one] = tenant_jump_alarms(metrics({1: 1385}), history, 10)
    assert one.kind is AnomalyKind.TENANT_JUMP and one.tenant_id == 1
    assert one.message.startswith("Yobi tenant 1: activity 1,400 this week, 11× its median of 125")
    assert tenant_jump_alarms(metrics({1: 500}), history, 10) == []
    assert tenant_jump_alarms(metrics({1: 10_000}), stored(NORMAL), 10) == []  # one week
    # A dormant tenant's median of 0 counts as 1: waking to 11 is a jump, to 10 is not.
    dormant = stored(metrics({2: 0}, others=0), metrics({2: 0}, others=0))
    assert [a.tenant_id for a in tenant_jump_alarms(metrics({2: 11}, others=0), dormant, 10)] == [2]
    assert tenant_jump_alarms(metrics({2: 10}, others=0), dormant, 10) == []


def universe(included: int, excluded: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "company_id": [str(i) for i in range(included + excluded)],
            "excluded_reason": [None] * included + ["churned"] * excluded,
        }
    )


def test_a_halved_universe_is_severe_and_a_smaller_shift_a_warning() -> None:
    history = stored(universe(100), universe(100), universe(98))
    assert universe_alarms(universe(90), history, 0.25) == []
    [shrunk] = universe_alarms(universe(70), history, 0.25)
    assert shrunk.kind is AnomalyKind.UNIVERSE_SHIFT
    assert shrunk.message.startswith("70 customer companies this week, 30% below its median")
    [halved] = universe_alarms(universe(50), history, 0.25)
    assert halved.kind is AnomalyKind.UNIVERSE_HALVED
    assert "lifecyclestage=customer" in halved.message  # where to look


def mapping(mapped: int, unmapped: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "company_id": [str(i) for i in range(mapped + unmapped)],
            "tenant_id": pd.array([7] * mapped + [None] * unmapped, dtype="Int64"),
        }
    )


def test_the_mapped_share_beyond_its_band() -> None:
    history = stored(mapping(90, 10), mapping(92, 8))
    assert mapped_share_alarms(mapping(85, 15), history, 0.15) == []
    [alarm] = mapped_share_alarms(mapping(60, 40), history, 0.15)
    assert alarm.kind is AnomalyKind.MAPPED_SHARE_SHIFT
    assert alarm.message.startswith(
        "60% of companies map to a Yobi tenant this week, 34% below its median of 91% over the "
        "2 stored weeks before (band ±15%"
    )


def test_severities_are_settings_over_safe_defaults() -> None:
    assert DEFAULT_SEVERITIES[AnomalyKind.COUNTER_ALL_ZERO] is AlarmSeverity.ERROR
    assert DEFAULT_SEVERITIES[AnomalyKind.TENANT_JUMP] is AlarmSeverity.WARN
    chosen = parse_severities(" tenant_jump = ERROR ,counter_all_zero=warn")
    assert chosen[AnomalyKind.TENANT_JUMP] is AlarmSeverity.ERROR
    assert chosen[AnomalyKind.COUNTER_ALL_ZERO] is AlarmSeverity.WARN
    jump = Anomaly(AnomalyKind.TENANT_JUMP, "x")
    shift_alarm = Anomaly(AnomalyKind.COUNTER_SHIFT, "y")
    assert severity_of([shift_alarm], DEFAULT_SEVERITIES) is AlarmSeverity.WARN
    assert severity_of([shift_alarm, jump], chosen) is AlarmSeverity.ERROR
    with pytest.raises(ValueError, match="names no alarm: use one of counter_all_zero"):
        parse_severities("excluded=error")
