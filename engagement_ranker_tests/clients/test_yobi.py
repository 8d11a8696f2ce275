"""YobiClient against the sandbox: tenants, locations, exact-week counters, tokens, typed errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from engagement_ranker.clients.errors import (
    AuthError,
    BucketTimezoneError,
    ConflictingRowsError,
    MalformedResponse,
    MissingKeyError,
    PeriodError,
    ScopeError,
    TrendCoverageError,
    UpstreamUnavailable,
)
from engagement_ranker.clients.yobi import COLUMNS, DuplicateRow, YobiClient, period_for
from engagement_ranker.clients.yobi_contract import (
    BUILT_IN,
    YobiContract,
    load_contract,
    parse_contract,
)
from engagement_ranker.constants import (
    DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS,
    METRICS,
    TIMEZONE,
)
from engagement_ranker.core.identity import email_domain
from engagement_ranker.core.week import latest_completed_week
from engagement_ranker.sandbox import Sandbox, SandboxConfig
from engagement_ranker_tests.clients.conftest import calls, statuses, yobi_client

ZONE = ZoneInfo(TIMEZONE)
# Sunday 07:00 in New York, the morning after the week of Nov 15-21, 2026 ended.
NOW = datetime(2026, 11, 22, 7, 0, tzinfo=ZONE)
WEEK = latest_completed_week(NOW)
LOGIN = "POST /users/login"
TENANTS = "GET /admin/dental-tenants/list"
LOCATIONS = "GET /admin/pms/locations"
CALLS = "GET /admin/pms/stats/calls-by-tenant"
TASKS = "GET /admin/dental-tenants/tasks/created"
APPOINTMENTS = "GET /admin/pms/stats/appointments-by-location"
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


@pytest.fixture(scope="module")
def clocked_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(now=NOW)) as box:
        yield box


@pytest.fixture
def yobi(clocked_sandbox: Sandbox) -> Sandbox:
    clocked_sandbox.control.reset()
    return clocked_sandbox


def expected_counters(sandbox: Sandbox, dates: tuple[date, ...]) -> pd.DataFrame:
    """The week's counters straight from the dataset's daily model, staff tasks subtracted."""
    rows = []
    for tenant in sandbox.state.dataset.tenants:
        row = {
            "tenant_id": tenant["tenant_id"],
            "internal_tasks": 0,
            "missing_days": "",
            "absent_from": "",
        }
        row |= dict.fromkeys(METRICS, 0)
        for day in dates:
            daily = sandbox.state.dataset.daily(tenant["tenant_id"], day)
            row["calls"] += daily["calls"]
            for user in daily["tasks"]:
                internal = email_domain(user["user_email"]) in DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS
                row["internal_tasks" if internal else "tasks"] += user["created"]
            for location in daily["locations"]:
                row["appointments"] += location["appointments"]
                row["new_patients"] += location["new_patients"]
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COLUMNS)).sort_values("tenant_id")
    integers = ["tenant_id", *METRICS, "internal_tasks"]
    return frame.reset_index(drop=True).astype(dict.fromkeys(integers, "Int64"))


# --- tenants and locations ------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True])
def test_tenants_and_locations_read_both_known_payload_shapes(yobi, legacy):
    yobi.control.set_faults({"yobi": {"legacy_shapes": legacy}})
    with yobi_client(yobi) as client:
        tenants = client.tenants()
        locations = client.locations()
    dataset = yobi.state.dataset
    assert tenants == sorted((dict(t) for t in dataset.tenants), key=lambda t: t["tenant_id"])
    assert locations == sorted(
        (dict(loc) for loc in dataset.locations), key=lambda loc: loc["location_id"]
    )
    assert calls(yobi, LOGIN) == 1


# --- exact-week counters --------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True])
def test_weekly_counters_sum_exactly_the_week_and_subtract_staff_tasks(yobi, legacy):
    yobi.control.set_faults({"yobi": {"legacy_shapes": legacy}})
    with yobi_client(yobi) as client:
        counters = client.weekly_counters(WEEK.dates)
        warnings = client.warnings
    expected = expected_counters(yobi, WEEK.dates)
    pd.testing.assert_frame_equal(counters.frame, expected)
    # Day by day, the same counters: each day's as the dataset holds it, summing to the week.
    by_day = counters.by_day.set_index("tenant_id")
    for tenant in yobi.state.dataset.tenants[:5]:
        days = [yobi.state.dataset.daily(tenant["tenant_id"], day) for day in WEEK.dates]
        row = by_day.loc[tenant["tenant_id"]]
        assert row["calls_by_day"] == [day["calls"] for day in days]
        assert row["new_patients_by_day"] == [
            sum(loc["new_patients"] for loc in day["locations"]) for day in days
        ]
    for metric in METRICS:
        summed = counters.by_day[f"{metric}_by_day"].map(sum).tolist()
        assert summed == counters.frame[metric.value].tolist()
    assert counters.period == "30days"
    assert int(counters.frame["internal_tasks"].sum()) > 0, "no staff tasks to subtract"
    counters.require_complete()
    assert warnings == []
    assert [calls(yobi, route) for route in (LOGIN, CALLS, TASKS, APPOINTMENTS)] == [1, 1, 1, 1]


def test_weekly_counters_record_missing_days_without_scaling_and_refuse_to_complete(yobi):
    # Today (Nov 22) and Saturday (Nov 21) have no trend buckets yet.
    yobi.control.set_faults({"yobi": {"trend_short_days": 2}})
    with yobi_client(yobi) as client:
        counters = client.weekly_counters(WEEK.dates)
    saturday = WEEK.dates[-1]
    expected = expected_counters(yobi, WEEK.dates[:-1])
    expected["missing_days"] = ",".join(f"{m.value}:{saturday.isoformat()}" for m in METRICS)
    pd.testing.assert_frame_equal(counters.frame, expected)
    with pytest.raises(TrendCoverageError) as caught:
        counters.require_complete()
    tenants = len(yobi.state.dataset.tenants)
    assert caught.value.gaps == {m.value: (tenants, (saturday,)) for m in METRICS}
    assert f"calls: {tenants} tenants lack {saturday.isoformat()}" in str(caught.value)
    assert "never scale" in str(caught.value)


@pytest.fixture(scope="module")
def sparse_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(now=NOW, yobi_sparse=True)) as box:
        yield box


@pytest.fixture
def sparse(sparse_sandbox: Sandbox) -> Sandbox:
    sparse_sandbox.control.reset()
    return sparse_sandbox


def sparse_contract(sandbox: Sandbox) -> YobiContract:
    return load_contract(sandbox.env["YOBI_CONTRACT_FILE"])


def raw_stats(client: YobiClient, period: str) -> dict[str, Any]:
    """Each stats endpoint's answer as the sandbox gives it now."""
    return {
        stats.name: client.payload("GET", stats.path, {"period": period, **stats.params})
        for stats in BUILT_IN.stats
    }


def rows_of(payloads: dict[str, Any], name: str) -> list[dict[str, Any]]:
    path = BUILT_IN.endpoint(name).keys["rows"].paths[0].removeprefix("results.")
    return payloads[name]["results"][path]


def absent_from(sandbox: Sandbox, payloads: dict[str, Any]) -> dict[int, str]:
    """Each tenant's stats endpoints whose answer lists no row of it."""
    listed = {name: {row["tenant_id"] for row in rows_of(payloads, name)} for name in payloads}
    return {
        tenant["tenant_id"]: ",".join(
            name for name, ids in listed.items() if tenant["tenant_id"] not in ids
        )
        for tenant in sandbox.state.dataset.tenants
    }


def all_tenants(sandbox: Sandbox) -> list[int]:
    return [tenant["tenant_id"] for tenant in sandbox.state.dataset.tenants]


def test_a_sparse_week_counts_left_out_days_and_tenants_as_zero(sparse):
    with yobi_client(sparse, contract=sparse_contract(sparse)) as client:
        period = client.weekly_counters(WEEK.dates).period
        payloads = raw_stats(client, period)
        # One active tenant is also left out of the calls answer, as if it had none.
        calls = rows_of(payloads, "calls")
        quiet = calls.pop(len(calls) // 2)["tenant_id"]
        counters = client.weekly_counters(WEEK.dates, payloads, tenants=all_tenants(sparse))
    absent = absent_from(sparse, payloads)
    expected = expected_counters(sparse, WEEK.dates)
    expected.loc[expected["tenant_id"] == quiet, "calls"] = 0
    expected["absent_from"] = expected["tenant_id"].map(lambda t: absent[int(t)]).astype(object)
    pd.testing.assert_frame_equal(counters.frame, expected)
    counters.require_complete()
    assert absent[quiet] == "calls"
    assert "calls,tasks,appointments" in absent.values(), "no idle tenant: the test proves less"


def test_a_sparse_week_without_buckets_after_its_end_reports_what_it_lacks(sparse):
    sparse.control.set_faults({"yobi": {"trend_short_days": 1}})  # no bucket for today, Sunday
    with yobi_client(sparse, contract=sparse_contract(sparse)) as client:
        counters = client.weekly_counters(WEEK.dates, tenants=all_tenants(sparse))
    frame = counters.frame.set_index("tenant_id")
    idle = frame[frame["absent_from"] == "calls,tasks,appointments"]
    every_day = ",".join(f"{m.value}:{d.isoformat()}" for m in METRICS for d in WEEK.dates)
    assert len(idle) and set(idle["missing_days"]) == {every_day}
    assert (frame[list(METRICS)].fillna(-1) >= 0).all().all()
    with pytest.raises(TrendCoverageError):
        counters.require_complete()


def test_a_sparse_yobi_read_as_dense_reports_the_days_it_left_out(sparse):
    with yobi_client(sparse) as client:
        counters = client.weekly_counters(WEEK.dates, tenants=all_tenants(sparse))
    frame = counters.frame
    assert (frame["missing_days"] != "").any()
    assert (frame["absent_from"] == "").all()
    idle = frame[frame[list(METRICS)].isna().all(axis=1)]
    assert len(idle) and (idle["missing_days"] == "").all()
    with pytest.raises(TrendCoverageError) as caught:
        counters.require_complete()
    assert "If Yobi leaves out days without activity" in str(caught.value)
    assert "trends sparse" in str(caught.value) and "YOBI_CONTRACT_FILE" in str(caught.value)


def test_given_payloads_are_read_without_a_call_exactly_as_fetched_ones(yobi):
    with yobi_client(yobi) as client:
        fetched = (client.tenants(), client.locations(), client.weekly_counters(WEEK.dates))
        period = fetched[2].period
        raw = {
            stats.name: client.payload("GET", stats.path, {"period": period, **stats.params})
            for stats in BUILT_IN.stats
        }
        raw_tenants = client.payload(*TENANTS.split())
        raw_locations = client.payload(*LOCATIONS.split())
    before = yobi.control.requests()["counts"]
    with yobi_client(yobi) as fresh:  # never logged in: any request would show in the counts
        given = (
            fresh.tenants(raw_tenants),
            fresh.locations(raw_locations),
            fresh.weekly_counters(WEEK.dates, raw),
        )
    assert yobi.control.requests()["counts"] == before
    assert given[:2] == fetched[:2]
    pd.testing.assert_frame_equal(given[2].frame, fetched[2].frame)
    assert given[2].period == fetched[2].period


def test_weekly_counters_fetch_only_the_sources_not_given(yobi):
    stats = next(stats for stats in BUILT_IN.stats if stats.route == CALLS)
    with yobi_client(yobi) as client:
        period = client.weekly_counters(WEEK.dates).period
        given = client.payload("GET", stats.path, {"period": period, **stats.params})
    yobi.control.reset()
    with yobi_client(yobi) as client:
        counters = client.weekly_counters(WEEK.dates, {stats.name: given})
    pd.testing.assert_frame_equal(counters.frame, expected_counters(yobi, WEEK.dates))
    assert [calls(yobi, route) for route in (LOGIN, CALLS, TASKS, APPOINTMENTS)] == [1, 0, 1, 1]


def test_weekly_counters_refuse_payloads_keyed_by_an_unknown_source(yobi):
    with (
        yobi_client(yobi) as client,
        pytest.raises(ValueError, match=r"\['visits'\] are not stats endpoints.*'calls'"),
    ):
        client.weekly_counters(WEEK.dates, {"visits": {}})
    assert sum(yobi.control.requests()["counts"].values()) == 0


def test_a_week_only_partly_covered_by_a_period_is_recorded_day_by_day(yobi):
    # Five dates reaching into the future: the sandbox has no buckets after today.
    dates = tuple(NOW.date() + timedelta(days=k) for k in range(-2, 3))
    with yobi_client(yobi) as client:
        counters = client.weekly_counters(dates)
    future = [d.isoformat() for d in dates if d > NOW.date()]
    first = counters.frame.iloc[0]["missing_days"].split(",")
    assert first == [f"{m.value}:{d}" for m in METRICS for d in future]
    assert counters.period == "7days"


DUPLICATED = [("calls", "stats"), ("tasks", "by_tenant"), ("appointments", "locations")]


def duplicate_row(sandbox: Sandbox, endpoint: str, rows: str, edits: object) -> DuplicateRow:
    """Have the sandbox list one row of `endpoint` twice (`edits`: see sandbox/faults.py)."""
    stats = BUILT_IN.endpoint(endpoint)
    if stats.per_location:
        location = sandbox.state.dataset.locations[3]
        row = DuplicateRow(stats.route, location["tenant_id"], location["location_id"])
        path = f"results.{rows}.location_id={row.location_id}"
    else:
        row = DuplicateRow(stats.route, sandbox.state.dataset.tenants[3]["tenant_id"], None)
        path = f"results.{rows}.tenant_id={row.tenant_id}"
    sandbox.control.set_faults(
        {"corrupt": [{"route": stats.route, "path": path, "duplicate": edits}]}
    )
    return row


@pytest.mark.parametrize(("endpoint", "rows"), DUPLICATED)
def test_a_row_listed_twice_alike_is_counted_once_and_reported(yobi, endpoint, rows):
    duplicated = duplicate_row(yobi, endpoint, rows, True)
    with yobi_client(yobi) as client:
        counters = client.weekly_counters(WEEK.dates)
    pd.testing.assert_frame_equal(counters.frame, expected_counters(yobi, WEEK.dates))
    assert counters.duplicates == (duplicated,)
    record = (
        f"tenant {duplicated.tenant_id}"
        if duplicated.location_id is None
        else f"location {duplicated.location_id} (tenant {duplicated.tenant_id})"
    )
    assert duplicated.note == (
        f"Yobi {duplicated.endpoint} listed {record} twice with identical figures: counted once"
    )


@pytest.mark.parametrize(("endpoint", "rows"), DUPLICATED)
def test_a_row_listed_twice_with_different_figures_fails_the_week_naming_it(yobi, endpoint, rows):
    figure = next(iter(BUILT_IN.endpoint(endpoint).metrics.values())).paths[0]
    duplicated = duplicate_row(yobi, endpoint, rows, {f"trend.-2.{figure}": 999})
    with yobi_client(yobi) as client, pytest.raises(ConflictingRowsError) as caught:
        client.weekly_counters(WEEK.dates)
    message = str(caught.value)
    assert message.startswith(
        f"Yobi {duplicated.endpoint} failed: HTTP 200: {duplicated.record} is listed twice "
        "with different figures"
    )
    assert "Fix: " in message
    error = caught.value
    assert (error.tenant_id, error.location_id) == (duplicated.tenant_id, duplicated.location_id)


def test_a_missing_new_patients_key_is_a_missing_key_error_naming_path_and_fix(yobi):
    yobi.control.set_faults({"yobi": {"drop_keys": ["new_patients"]}})
    with yobi_client(yobi) as client, pytest.raises(MissingKeyError) as caught:
        client.weekly_counters(WEEK.dates)
    message = str(caught.value)
    assert f"Yobi {APPOINTMENTS} failed: HTTP 200" in message
    assert caught.value.key_path.startswith("results.locations[0].trend[")
    assert caught.value.key_path.endswith("].new_patients")
    assert "entry stats.appointments.metrics.new_patients" in message
    assert "engagement-ranker spike" in message and "YOBI_CONTRACT_FILE" in message


def contract_with(**changes: object) -> object:
    """The built-in contract with top-level entries changed."""
    return parse_contract(BUILT_IN.as_data() | changes, "test-contract.json")


def test_utc_trend_buckets_fail_the_week_before_any_call_naming_the_field_and_fix(yobi):
    contract = contract_with(bucket_timezone="UTC")
    with (
        yobi_client(yobi, contract=contract) as client,
        pytest.raises(BucketTimezoneError) as caught,
    ):
        client.weekly_counters(WEEK.dates)
    message = str(caught.value)
    assert message.startswith(
        "Yobi's trend buckets are UTC days (bucket_timezone in test-contract.json), but the "
        "week is Sunday to Saturday in America/New_York"
    )
    assert "Fix: " in message and "engagement-ranker spike" in message
    assert sum(yobi.control.requests()["counts"].values()) == 0


def test_buckets_in_a_zone_with_new_yorks_days_are_summed(yobi):
    with yobi_client(yobi, contract=contract_with(bucket_timezone="US/Eastern")) as client:
        counters = client.weekly_counters(WEEK.dates)
    pd.testing.assert_frame_equal(counters.frame, expected_counters(yobi, WEEK.dates))


def test_a_week_older_than_90_days_is_refused_before_any_call(yobi):
    old = latest_completed_week(NOW - timedelta(days=120))
    with yobi_client(yobi) as client, pytest.raises(PeriodError, match="longest period, 90days"):
        client.weekly_counters(old.dates)
    assert sum(yobi.control.requests()["counts"].values()) == 0


@pytest.mark.parametrize(
    ("first_day", "today", "period"),
    [
        (date(2026, 11, 20), date(2026, 11, 25), "7days"),
        (date(2026, 11, 19), date(2026, 11, 25), "7days"),
        (date(2026, 11, 18), date(2026, 11, 25), "30days"),  # 7 back + a day's margin > 7
        (date(2026, 10, 27), date(2026, 11, 25), "30days"),
        (date(2026, 10, 26), date(2026, 11, 25), "90days"),
        (date(2026, 8, 28), date(2026, 11, 25), "90days"),
    ],
)
def test_period_is_the_shortest_that_reaches_the_first_day_with_a_day_to_spare(
    first_day, today, period
):
    assert period_for(first_day, today) == period


def test_period_for_a_first_day_beyond_90_days_names_the_dates():
    with pytest.raises(PeriodError, match="2026-08-27 is 90 days before today"):
        period_for(date(2026, 8, 27), date(2026, 11, 25))


@pytest.mark.parametrize(
    "dates",
    [(), (WEEK.dates[0], WEEK.dates[0]), (NOW,), ("2026-11-15",)],
)
def test_weekly_counters_refuse_dates_that_are_not_distinct_calendar_dates(yobi, dates):
    with yobi_client(yobi) as client, pytest.raises(ValueError, match="distinct calendar dates"):
        client.weekly_counters(dates)


# --- tokens ---------------------------------------------------------------------------------


def test_one_login_serves_many_calls_while_the_token_is_fresh(yobi):
    with yobi_client(yobi) as client:
        client.tenants()
        client.locations()
        client.weekly_counters(WEEK.dates)
    assert calls(yobi, LOGIN) == 1


def test_a_token_within_five_minutes_of_expiry_is_refreshed_before_use(yobi):
    yobi.control.set_faults({"yobi": {"token_ttl_seconds": 299}})
    with yobi_client(yobi) as client:
        client.tenants()
        client.locations()
    assert calls(yobi, LOGIN) == 2
    assert statuses(yobi).get("401", 0) == 0


def test_a_refused_token_gets_one_fresh_login_and_the_call_succeeds(yobi):
    yobi.control.set_faults({"routes": {TENANTS: {"bursts": [{"nth": 1, "error": 401}]}}})
    with yobi_client(yobi) as client:
        tenants = client.tenants()
        warnings = client.warnings
    assert len(tenants) == len(yobi.state.dataset.tenants)
    assert calls(yobi, LOGIN) == 2 and calls(yobi, TENANTS) == 2
    assert warnings == [f"Yobi {TENANTS}: 1 retries (HTTP 401 token refused, logged in again x1)"]


def test_a_token_refused_twice_is_an_auth_error_after_exactly_one_fresh_login(yobi):
    yobi.control.set_faults({"yobi": {"token_ttl_seconds": 0}})  # expired on arrival
    with yobi_client(yobi) as client, pytest.raises(AuthError) as caught:
        client.tenants()
    assert calls(yobi, LOGIN) == 2 and calls(yobi, TENANTS) == 2
    assert f"Yobi {TENANTS} failed: HTTP 401" in str(caught.value)
    assert "check YOBI_EMAIL and YOBI_PASSWORD" in str(caught.value)


# --- typed errors and recovery --------------------------------------------------------------


def test_refused_credentials_are_an_auth_error_without_the_password(yobi):
    yobi.control.set_faults({"yobi": {"login_fails": True}})
    with yobi_client(yobi) as client, pytest.raises(AuthError) as caught:
        client.tenants()
    assert f"Yobi {LOGIN} failed: HTTP 401" in str(caught.value)
    assert yobi.env["YOBI_PASSWORD"] not in str(caught.value)
    assert calls(yobi, LOGIN) == 1 and calls(yobi, TENANTS) == 0


def test_a_non_admin_account_is_a_scope_error_saying_so(yobi):
    yobi.control.set_faults({"yobi": {"non_admin": True}})
    with yobi_client(yobi) as client, pytest.raises(ScopeError) as caught:
        client.tenants()
    assert "HTTP 403" in str(caught.value) and "is not an admin" in str(caught.value)


def test_malformed_json_is_a_malformed_response(yobi):
    yobi.control.set_faults({"routes": {CALLS: {"bursts": [{"nth": 1, "error": "malformed"}]}}})
    with yobi_client(yobi) as client, pytest.raises(MalformedResponse, match="not JSON"):
        client.weekly_counters(WEEK.dates)
    assert calls(yobi, CALLS) == 1


def test_429s_5xx_and_dropped_connections_are_retried_until_the_week_is_read(yobi):
    yobi.control.set_faults(
        {
            "routes": {
                CALLS: {"bursts": [{"nth": 1, "count": 2, "error": 429}]},
                TASKS: {"bursts": [{"nth": 1, "error": 502}]},
                APPOINTMENTS: {"bursts": [{"nth": 1, "error": "drop"}]},
            }
        }
    )
    with yobi_client(yobi) as client:
        counters = client.weekly_counters(WEEK.dates)
        warnings = client.warnings
    pd.testing.assert_frame_equal(counters.frame, expected_counters(yobi, WEEK.dates))
    assert warnings == [
        f"Yobi {TASKS}: 1 retries (HTTP 502 x1)",
        f"Yobi {APPOINTMENTS}: 1 retries (RemoteProtocolError x1)",
        f"Yobi {CALLS}: 2 retries (HTTP 429 x2)",
    ]


def test_an_outage_is_upstream_unavailable_after_the_bounded_attempts(yobi):
    yobi.control.set_faults({"routes": {LOCATIONS: {"error_rate": 1.0, "error_statuses": [500]}}})
    with yobi_client(yobi) as client, pytest.raises(UpstreamUnavailable) as caught:
        client.locations()
    assert "after 4 attempts" in str(caught.value) and "check YOBI_BASE_URL" in str(caught.value)
    assert calls(yobi, LOCATIONS) == 4


def test_no_password_or_token_reaches_an_error_a_warning_or_a_log_line(yobi, all_logs):
    password = yobi.env["YOBI_PASSWORD"]
    texts: list[str] = []
    yobi.control.set_faults(
        {
            "yobi": {"token_ttl_seconds": 299},
            "routes": {
                TENANTS: {"bursts": [{"nth": 1, "error": 401}, {"nth": 2, "error": 503}]},
                LOCATIONS: {"bursts": [{"nth": 1, "error": "malformed"}]},
            },
        }
    )
    with yobi_client(yobi) as client:
        client.tenants()
        with pytest.raises(MalformedResponse) as malformed:
            client.locations()
        texts += client.warnings
    yobi.control.set_faults({"yobi": {"login_fails": True}})
    with yobi_client(yobi) as client, pytest.raises(AuthError) as auth:
        client.tenants()
    for error in (malformed.value, auth.value):
        texts += [str(error), repr(error)]
    texts += [record.getMessage() for record in all_logs.records]
    assert any("retrying" in text for text in texts), "the retries were not logged"
    assert all(password not in text and not JWT_SHAPE.search(text) for text in texts)


def test_credentials_and_domains_are_checked_up_front_without_echoing_them(yobi):
    with pytest.raises(ValueError, match="YOBI_PASSWORD is empty"):
        yobi_client(yobi, password=" ")
    with pytest.raises(ValueError, match="INTERNAL_YOBI_USER_EMAIL_DOMAINS"):
        yobi_client(yobi, internal_email_domains=["ops@yobi.app"])
