"""The Yobi stand-in over real sockets: auth, every endpoint, periods, trend buckets, faults."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from engagement_ranker.clients.yobi_contract import BUILT_IN, Trends, load_contract
from engagement_ranker.constants import TIMEZONE, Env
from engagement_ranker.sandbox import Sandbox, SandboxConfig
from engagement_ranker.sandbox.control import SandboxControlError
from engagement_ranker.sandbox.yobi import period_days

ZONE = ZoneInfo(TIMEZONE)
# Sunday afternoon in New York; the 30-day window spans the end of DST (Nov 1, 2026).
NOW = datetime(2026, 11, 22, 15, 30, tzinfo=ZONE)
TODAY = NOW.date()
TIMEOUT = 5.0


class Yobi:
    """Just enough of a Yobi caller to drive the server: login, then authorized GETs."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.http = httpx.Client(base_url=box.env["YOBI_BASE_URL"], timeout=TIMEOUT)
        self.token = ""

    def login(self, **overrides: str) -> httpx.Response:
        body = {"user": self.box.env["YOBI_EMAIL"], "password": self.box.env["YOBI_PASSWORD"]}
        response = self.http.post("/users/login", json={**body, **overrides})
        if response.status_code == 200:
            self.token = response.json()["results"]["token"]
        return response

    def get(self, path: str, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.http.get(path, params=params, headers=headers)

    def results(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        return body["results"]


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(seed=5, companies=60, now=NOW)) as sandbox:
        yield sandbox


@pytest.fixture
def yobi(box: Sandbox) -> Iterator[Yobi]:
    box.control.reset()
    client = Yobi(box)
    assert client.login().status_code == 200
    yield client
    client.http.close()


def _days(period: str) -> list[str]:
    span = {"7days": 7, "30days": 30, "90days": 90}[period]
    return [(TODAY - timedelta(days=span - 1 - i)).isoformat() for i in range(span)]


# --- auth ---------------------------------------------------------------------------------
def test_login_issues_an_expiring_bearer_token(box: Sandbox) -> None:
    client = Yobi(box)
    body = client.login().json()
    assert body["success"] is True
    expiry = body["results"]["tokenExpirationInstant"] / 1000
    assert abs(expiry - (box.state.clock().timestamp() + 3600)) < 5
    assert client.results("/admin/dental-tenants/list")


@pytest.mark.parametrize(
    ("overrides", "status"),
    [({"password": "wrong"}, 401), ({"user": "someone@else.test"}, 401), ({"password": ""}, 400)],
)
def test_bad_login_is_refused(box: Sandbox, overrides: dict[str, str], status: int) -> None:
    response = Yobi(box).login(**overrides)
    assert response.status_code == status
    assert response.json()["success"] is False and response.json()["message"]


def test_every_endpoint_but_login_needs_a_valid_token(yobi: Yobi) -> None:
    good = yobi.token
    header, payload, _signature = good.split(".")
    for token in ("garbage", f"{header}.{payload}.forged", good[:-2] + "xx"):
        yobi.token = token
        response = yobi.get("/admin/pms/locations")
        assert response.status_code == 401, token
        assert response.json() == {"success": False, "message": response.json()["message"]}
    assert yobi.http.get("/admin/pms/locations").status_code == 401  # no header at all


def test_an_expired_token_is_401_until_the_client_logs_in_again(yobi: Yobi) -> None:
    yobi.box.control.set_faults({"yobi": {"token_ttl_seconds": 0.3}})
    assert yobi.login().status_code == 200
    deadline = time.monotonic() + 5
    while (status := yobi.get("/admin/pms/locations").status_code) == 200:
        assert time.monotonic() < deadline, "token never expired"
    assert status == 401
    assert "expired" in yobi.get("/admin/pms/locations").json()["message"]
    yobi.box.control.set_faults({})
    assert yobi.login().status_code == 200
    assert yobi.get("/admin/pms/locations").status_code == 200


def test_login_failure_fault(yobi: Yobi) -> None:
    yobi.box.control.set_faults({"yobi": {"login_fails": True}})
    assert yobi.login().status_code == 401


def test_non_admin_account_gets_403_on_admin_endpoints(yobi: Yobi) -> None:
    yobi.box.control.set_faults({"yobi": {"non_admin": True}})
    assert yobi.login().status_code == 200
    for path in ("/admin/dental-tenants/list", "/admin/pms/stats/calls-by-tenant"):
        response = yobi.get(path, period="7days")
        assert response.status_code == 403
        assert "admin" in response.json()["message"]


# --- directory ----------------------------------------------------------------------------
def test_tenants_list_every_tenant(yobi: Yobi) -> None:
    tenants = yobi.results("/admin/dental-tenants/list")
    assert tenants == yobi.box.state.dataset.tenants
    assert set(tenants[0]) == {"tenant_id", "tenant_name", "website", "is_active"}


def test_older_payload_shapes_on_request(yobi: Yobi) -> None:
    yobi.box.control.set_faults({"yobi": {"legacy_shapes": True}})
    tenants = yobi.results("/admin/dental-tenants/list")["tenants"]
    first = yobi.box.state.dataset.tenants[0]
    assert tenants[0] == {
        "id": first["tenant_id"],
        "name": first["tenant_name"],
        "domain": first["website"],
        "is_active": first["is_active"],
    }
    assert yobi.results("/admin/pms/locations")["locations"] == yobi.box.state.dataset.locations
    row = yobi.results("/admin/pms/stats/appointments-by-location", period="7days")["locations"][0]
    assert "appointment_count" in row["stats"] and "total_appointments" not in row["stats"]
    assert "appointment_count" in row["trend"][0]


def test_locations(yobi: Yobi) -> None:
    locations = yobi.results("/admin/pms/locations")["results"]
    assert locations == yobi.box.state.dataset.locations
    assert set(locations[0]) == {"location_id", "tenant_id", "name"}


# --- statistics ---------------------------------------------------------------------------
def test_calls_by_tenant_trend_buckets_are_local_days_summing_to_the_total(yobi: Yobi) -> None:
    dataset = yobi.box.state.dataset
    results = yobi.results(
        "/admin/pms/stats/calls-by-tenant", period="30days", include_non_integrated="true"
    )
    stats = results["stats"]
    assert [row["tenant_id"] for row in stats] == [t["tenant_id"] for t in dataset.tenants]
    for row in stats:
        assert [bucket["date"] for bucket in row["trend"]] == _days("30days")
        assert row["total_calls"] == sum(bucket["total_calls"] for bucket in row["trend"])
        for bucket in row["trend"][:-1]:  # complete days: exactly the dataset's figures
            day = date.fromisoformat(bucket["date"])
            assert bucket["total_calls"] == dataset.daily(row["tenant_id"], day)["calls"]
        full_today = dataset.daily(row["tenant_id"], TODAY)["calls"]
        assert 0 <= row["trend"][-1]["total_calls"] <= full_today  # today: partial


def test_today_is_partial_in_proportion_to_the_time_gone(yobi: Yobi) -> None:
    dataset = yobi.box.state.dataset
    busiest = max(dataset.tenants, key=lambda t: dataset.daily(t["tenant_id"], TODAY)["calls"])
    stats = yobi.results("/admin/pms/stats/calls", tenant_id=busiest["tenant_id"], period="7days")[
        "stats"
    ]
    full = dataset.daily(busiest["tenant_id"], TODAY)["calls"]
    share = (15.5 * 3600) / 86400  # 15:30 local on a 24-hour day
    assert full * share - 2 <= stats["trend"][-1]["total_calls"] <= full * share + 1


@pytest.mark.parametrize("period", ["7days", "30days", "90days"])
def test_periods_count_back_from_the_sandbox_clock(yobi: Yobi, period: str) -> None:
    tenant = yobi.box.state.dataset.tenants[0]["tenant_id"]
    stats = yobi.results("/admin/pms/stats/calls", tenant_id=tenant, period=period)["stats"]
    assert [bucket["date"] for bucket in stats["trend"]] == _days(period)


def test_yesterday_is_one_complete_day(yobi: Yobi) -> None:
    dataset = yobi.box.state.dataset
    tenant = dataset.tenants[1]["tenant_id"]
    stats = yobi.results("/admin/pms/stats/calls", tenant_id=tenant, period="yesterday")["stats"]
    yesterday = TODAY - timedelta(days=1)
    assert stats["trend"] == [
        {"date": yesterday.isoformat(), "total_calls": dataset.daily(tenant, yesterday)["calls"]}
    ]
    assert stats["total_calls"] == stats["trend"][0]["total_calls"]


def test_period_days_use_new_york_calendar_days() -> None:
    # 04:30 UTC on Nov 2 is still Nov 1 (the DST change day) in New York.
    days, elapsed = period_days("7days", datetime(2026, 11, 2, 4, 30, tzinfo=UTC))
    assert days[-1] == date(2026, 11, 1) and len(days) == 7
    assert elapsed == pytest.approx(24.5 / 25)  # 23:30 on the 25-hour day: 24.5 h gone


@pytest.mark.parametrize("period", [None, "lastWeek", "7"])
def test_bad_period_is_a_400_naming_the_choices(yobi: Yobi, period: str | None) -> None:
    params = {} if period is None else {"period": period}
    response = yobi.get("/admin/pms/stats/calls-by-tenant", **params)
    assert response.status_code == 400
    assert "7days" in response.json()["message"]


def test_per_tenant_calls_match_the_all_tenants_row(yobi: Yobi) -> None:
    rows = yobi.results("/admin/pms/stats/calls-by-tenant", period="7days")["stats"]
    one = yobi.results("/admin/pms/stats/calls", tenant_id=rows[4]["tenant_id"], period="7days")
    assert one["stats"] == rows[4]
    assert yobi.get("/admin/pms/stats/calls", tenant_id=999_999, period="7days").status_code == 404


def test_tasks_created_with_per_user_breakdown(yobi: Yobi) -> None:
    dataset = yobi.box.state.dataset
    results = yobi.results("/admin/dental-tenants/tasks/created", period="7days")
    by_tenant = results["by_tenant"]
    assert [row["tenant_id"] for row in by_tenant] == [t["tenant_id"] for t in dataset.tenants]
    assert results["total"]["created"] == sum(row["total"]["created"] for row in by_tenant)
    staff = 0
    for row in by_tenant:
        assert row["total"]["created"] == sum(user["created"] for user in row["by_user"])
        assert row["total"]["created"] == sum(bucket["created"] for bucket in row["trend"])
        assert [bucket["date"] for bucket in row["trend"]] == _days("7days")
        for bucket in row["trend"][:-1]:
            assert bucket["created"] == sum(user["created"] for user in bucket["by_user"])
            day = date.fromisoformat(bucket["date"])
            expected = [t for t in dataset.daily(row["tenant_id"], day)["tasks"] if t["created"]]
            assert bucket["by_user"] == expected
        staff += sum(u["created"] for u in row["by_user"] if u["user_email"] == "ops@yobi.app")
    assert staff > 0


def test_appointments_by_location_with_new_patients(yobi: Yobi) -> None:
    dataset = yobi.box.state.dataset
    rows = yobi.results("/admin/pms/stats/appointments-by-location", period="7days")["locations"]
    assert [row["location_id"] for row in rows] == [loc["location_id"] for loc in dataset.locations]
    for row in rows:
        stats = row["stats"]
        assert 0 <= stats["new_patients"] <= stats["total_appointments"]
        assert stats["total_appointments"] == sum(b["total_appointments"] for b in row["trend"])
        assert stats["new_patients"] == sum(b["new_patients"] for b in row["trend"])
    wanted = rows[2]
    one = yobi.results(
        "/admin/pms/stats/appointments", location_id=wanted["location_id"], period="7days"
    )
    assert one["stats"] == wanted["stats"] and one["trend"] == wanted["trend"]
    missing = yobi.get("/admin/pms/stats/appointments", location_id=1, period="7days")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/admin/pms/stats/appointments-by-location", "new_patients"),
        ("/admin/pms/stats/calls-by-tenant", "total_calls"),
    ],
)
def test_schema_drift_drops_a_key_everywhere(yobi: Yobi, path: str, key: str) -> None:
    yobi.box.control.set_faults({"yobi": {"drop_keys": [key]}})
    text = yobi.get(path, period="7days").text
    assert f'"{key}"' not in text
    yobi.box.control.set_faults({})
    assert f'"{key}"' in yobi.get(path, period="7days").text


def test_trend_short_by_days_keeps_the_totals(yobi: Yobi) -> None:
    full = yobi.results("/admin/pms/stats/calls-by-tenant", period="7days")["stats"]
    yobi.box.control.set_faults({"yobi": {"trend_short_days": 2}})
    short = yobi.results("/admin/pms/stats/calls-by-tenant", period="7days")["stats"]
    for before, after in zip(full, short, strict=True):
        assert [b["date"] for b in after["trend"]] == _days("7days")[:-2]
        assert after["total_calls"] == before["total_calls"]


def test_scale_multiplies_one_counter_every_day_and_leaves_the_others(yobi: Yobi) -> None:
    path, period = "/admin/pms/stats/appointments-by-location", "7days"
    full = yobi.results(path, period=period)["locations"]
    yobi.box.control.set_faults({"yobi": {"scale": {"new_patients": 0.4}}})
    scaled = yobi.results(path, period=period)["locations"]
    for before, after in zip(full, scaled, strict=True):
        for day_before, day_after in zip(before["trend"], after["trend"], strict=True):
            if day_before["date"] < TODAY.isoformat():  # today is partial, then scaled
                assert day_after["new_patients"] == int(day_before["new_patients"] * 0.4)
            assert day_after["total_appointments"] == day_before["total_appointments"]
    assert sum(row["stats"]["new_patients"] for row in scaled) < sum(
        row["stats"]["new_patients"] for row in full
    )
    with pytest.raises(SandboxControlError, match=r"faults.yobi.scale names \['visits'\]"):
        yobi.box.control.set_faults({"yobi": {"scale": {"visits": 2}}})


@pytest.mark.parametrize(
    ("route", "rows", "identity", "edits"),
    [
        ("/admin/pms/stats/calls-by-tenant", "stats", "tenant_id", True),
        ("/admin/pms/stats/calls-by-tenant", "stats", "tenant_id", {"trend.0.total_calls": 999}),
        ("/admin/dental-tenants/tasks/created", "by_tenant", "tenant_id", {"total.created": 0}),
        (
            "/admin/pms/stats/appointments-by-location",
            "locations",
            "location_id",
            {"trend.-1.new_patients": 7, "stats.extra": "x"},
        ),
    ],
)
def test_a_duplicated_row_is_an_exact_copy_or_carries_the_given_edits(
    yobi: Yobi, route: str, rows: str, identity: str, edits: Any
) -> None:
    clean = yobi.results(route, period="7days")[rows]
    chosen = clean[2][identity]
    yobi.box.control.set_faults(
        {
            "corrupt": [
                {
                    "route": f"GET {route}",
                    "path": f"results.{rows}.{identity}={chosen}",
                    "duplicate": edits,
                }
            ]
        }
    )
    served = yobi.results(route, period="7days")[rows]
    assert served[:3] == clean[:3] and served[4:] == clean[3:]
    copy = json.loads(json.dumps(clean[2]))
    for path, value in ({} if edits is True else edits).items():
        *parents, last = path.split(".")
        holder = copy
        for step in parents:
            holder = holder[int(step)] if isinstance(holder, list) else holder[step]
        holder[int(last) if isinstance(holder, list) else last] = value
    assert served[3] == copy
    assert (served[3] == clean[2]) is (edits is True)


@pytest.mark.parametrize(
    ("duplicate", "message"),
    [
        ("yes", "use true"),
        ({}, "use true"),
        ({"trend..x": 1}, "dotted path"),
        ([1], "use true"),
    ],
)
def test_a_duplicate_with_edits_that_cannot_apply_is_refused(
    box: Sandbox, duplicate: Any, message: str
) -> None:
    entry = {"route": "GET /admin/pms/locations", "path": "results.0", "duplicate": duplicate}
    with pytest.raises(SandboxControlError, match=message):
        box.control.set_faults({"corrupt": [entry]})


def test_answers_are_dated_by_the_sandbox_clock(yobi: Yobi) -> None:
    served = parsedate_to_datetime(yobi.get("/admin/pms/locations").headers["Date"])
    assert NOW <= served <= NOW + timedelta(minutes=1)


def test_buckets_can_be_days_of_another_zone(make_sandbox: Callable[..., Sandbox]) -> None:
    evening = datetime(2026, 11, 22, 21, 30, tzinfo=ZONE)  # already Monday in UTC
    box = make_sandbox(SandboxConfig(companies=5, now=evening, yobi_bucket_timezone="UTC", seed=5))
    client = Yobi(box)
    assert client.login().status_code == 200
    row = client.results("/admin/pms/stats/calls-by-tenant", period="7days")["stats"][0]
    assert [b["date"] for b in row["trend"]] == [f"2026-11-{d}" for d in range(17, 24)]
    client.http.close()


def test_a_bucket_zone_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="yobi_bucket_timezone is 'Mars/Base'; use an IANA"):
        SandboxConfig(yobi_bucket_timezone="Mars/Base")


# --- sparse mode --------------------------------------------------------------------------
SPARSE_ROUTES = [
    ("/admin/pms/stats/calls-by-tenant", "stats", "tenant_id", ("total_calls",)),
    ("/admin/dental-tenants/tasks/created", "by_tenant", "tenant_id", ("created",)),
    (
        "/admin/pms/stats/appointments-by-location",
        "locations",
        "location_id",
        ("total_appointments", "new_patients"),
    ),
]


@pytest.fixture(scope="module")
def sparse_box() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(seed=5, companies=60, now=NOW, yobi_sparse=True)) as sandbox:
        yield sandbox


@pytest.mark.parametrize(("route", "rows", "identity", "counters"), SPARSE_ROUTES)
def test_sparse_mode_leaves_out_zero_days_and_idle_rows_and_nothing_else(
    yobi: Yobi, sparse_box: Sandbox, route: str, rows: str, identity: str, counters: tuple
) -> None:
    dense = yobi.results(route, period="30days")[rows]
    sparse_yobi = Yobi(sparse_box)
    assert sparse_yobi.login().status_code == 200
    sparse = {row[identity]: row for row in sparse_yobi.results(route, period="30days")[rows]}
    sparse_yobi.http.close()
    idle = 0
    for row in dense:
        active = [b for b in row["trend"] if any(b[counter] for counter in counters)]
        if not active:
            assert row[identity] not in sparse, f"{identity} {row[identity]} has no activity"
            idle += 1
            continue
        assert sparse[row[identity]]["trend"] == active
        assert {k: v for k, v in sparse[row[identity]].items() if k != "trend"} == {
            k: v for k, v in row.items() if k != "trend"
        }
    assert len(sparse) == len(dense) - idle
    assert idle > 0, "the dataset has no idle row: the test proves nothing"
    assert any(len(row["trend"]) < 30 for row in sparse.values()), "no day was left out"


def test_a_sparse_sandbox_names_a_contract_with_sparse_trends(sparse_box: Sandbox) -> None:
    contract = load_contract(sparse_box.env[Env.YOBI_CONTRACT_FILE])
    assert {stats.trends for stats in contract.stats} == {Trends.SPARSE}
    assert replace(contract, stats=BUILT_IN.stats) == BUILT_IN


# --- transport faults ---------------------------------------------------------------------
def test_burst_of_503_then_recovery(yobi: Yobi) -> None:
    route = "GET /admin/pms/locations"
    yobi.box.control.set_faults(
        {"routes": {route: {"bursts": [{"nth": 2, "count": 2, "error": 503}]}}}
    )
    statuses = [yobi.get("/admin/pms/locations").status_code for _ in range(4)]
    assert statuses == [200, 503, 503, 200]
    assert yobi.box.control.requests()["by_service"]["yobi"]["statuses"]["503"] == 2


def test_dropped_connection_timeout_and_malformed_json(yobi: Yobi) -> None:
    bursts = [
        {"nth": 1, "error": "drop"},
        {"nth": 2, "error": "timeout"},
        {"nth": 3, "error": "malformed"},
    ]
    yobi.box.control.set_faults({"timeout_seconds": 5, "routes": {"yobi *": {"bursts": bursts}}})
    with pytest.raises(httpx.RemoteProtocolError):
        yobi.get("/admin/pms/locations")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        yobi.http.get(
            "/admin/pms/locations",
            headers={"Authorization": f"Bearer {yobi.token}"},
            timeout=0.3,
        )
    assert time.monotonic() - started < 2
    malformed = yobi.get("/admin/pms/locations")
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    assert yobi.get("/admin/pms/locations").status_code == 200
    assert yobi.box.control.requests()["statuses"]["0"] == 2  # no response sent, twice


def test_a_held_request_waits_for_the_release_then_is_served(yobi: Yobi) -> None:
    """A "hold" keeps its calls unanswered (a client that gives up sees a timeout) until the
    release; then the waiting call is answered, and later holds pass straight through."""
    path, route = "/admin/pms/locations", "GET /admin/pms/locations"
    bursts = [{"nth": 2, "count": 3, "error": "hold"}]
    yobi.box.control.set_faults({"timeout_seconds": 60, "routes": {route: {"bursts": bursts}}})
    headers = {"Authorization": f"Bearer {yobi.token}"}
    assert yobi.get(path).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        yobi.http.get(path, headers=headers, timeout=0.3)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(yobi.http.get, path, headers=headers, timeout=30)
        time.sleep(0.5)  # the held call must still be waiting: nothing released it
        assert not waiting.done()
        yobi.box.control.release()
        assert waiting.result(timeout=30).status_code == 200
    assert yobi.get(path).status_code == 200  # the burst's third call: released, served
    assert yobi.box.control.requests()["by_service"]["yobi"]["counts"][route] == 4
    assert yobi.box.control.requests()["statuses"]["0"] == 1  # the one that gave up


def test_latency_is_added(yobi: Yobi) -> None:
    yobi.box.control.set_faults({"routes": {"GET /admin/pms/locations": {"latency_ms": 300}}})
    started = time.monotonic()
    assert yobi.get("/admin/pms/locations").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_random_errors_are_seeded(yobi: Yobi) -> None:
    def run() -> list[int]:
        yobi.box.control.set_faults(
            {"seed": 3, "routes": {"GET /admin/pms/locations": {"error_rate": 0.5}}}
        )
        return [yobi.get("/admin/pms/locations").status_code for _ in range(12)]

    first = run()
    assert first == run()
    assert {200} < set(first) <= {200, 500, 502, 503}
