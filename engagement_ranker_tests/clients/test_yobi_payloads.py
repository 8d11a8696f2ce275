"""Yobi payloads the sandbox does not produce: untrusted counters and rarer shapes.

A tiny real HTTP server on 127.0.0.1 serves exactly the JSON each test scripts, so the client
is exercised over a socket exactly as against Yobi; only the payloads are hand-written.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from engagement_ranker.clients.errors import ApiError, MalformedResponse, MissingKeyError
from engagement_ranker.clients.yobi import YobiClient
from engagement_ranker.clients.yobi_contract import (
    BUILT_IN,
    BUILT_IN_DATA,
    YobiContract,
    load_contract,
    parse_contract,
)
from engagement_ranker_tests.clients.conftest import FAST_RETRY

DAY = date(2026, 11, 16)
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
PATHS = {stats.name: stats.path for stats in BUILT_IN.stats}


class _Handler(BaseHTTPRequestHandler):
    server: _ScriptedServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the assertions are the record."""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self) -> None:
        url = urlsplit(self.path)
        path = url.path
        self.server.requests.append((path, parse_qs(url.query)))
        expires = int((NOW + timedelta(hours=1)).timestamp() * 1000)
        payload = self.server.payloads.get(path) or {
            "success": True,
            "results": {"token": "scripted-token", "tokenExpirationInstant": expires},
        }
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True
    payloads: dict[str, Any]
    requests: list[tuple[str, dict[str, list[str]]]]  # (path, query) of every request


@pytest.fixture
def scripted() -> Iterator[Callable[[dict[str, Any]], YobiClient]]:
    """Serve `{path: payload}` (login is built in) and return a client pointed at it."""
    server = _ScriptedServer(("127.0.0.1", 0), _Handler)
    server.payloads = {}
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    clients: list[YobiClient] = []

    def serve(
        results: dict[str, Any],
        bodies: dict[str, Any] | None = None,
        contract: YobiContract = BUILT_IN,
    ) -> YobiClient:
        """`results` are wrapped in Yobi's success envelope; `bodies` are served as given."""
        server.payloads = {path: {"success": True, "results": r} for path, r in results.items()}
        server.payloads |= bodies or {}
        client = YobiClient(
            "ranker@customer.test",
            "scripted-password",
            f"http://127.0.0.1:{server.server_address[1]}/api/v1",
            retry=FAST_RETRY,
            clock=lambda: NOW,
            contract=contract,
        )
        clients.append(client)
        return client

    serve.requests = server.requests  # type: ignore[attr-defined]
    yield serve
    for client in clients:
        client.close()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def stats(calls: Any = 3, created: Any = 4, by_user: Any = None, appointments: Any = 5) -> dict:
    """The three stats payloads for tenant 12 on DAY, with the given counter values."""
    bucket = {"date": DAY.isoformat(), "created": created}
    if by_user is not None:
        bucket["by_user"] = by_user
    return {
        "/api/v1" + PATHS["calls"]: {
            "stats": [{"tenant_id": 12, "trend": [{"date": DAY.isoformat(), "total_calls": calls}]}]
        },
        "/api/v1" + PATHS["tasks"]: {"by_tenant": [{"tenant_id": 12, "trend": [bucket]}]},
        "/api/v1" + PATHS["appointments"]: {
            "locations": [
                {
                    "location_id": 7,
                    "tenant_id": 12,
                    "trend": [
                        {
                            "date": DAY.isoformat(),
                            "total_appointments": appointments,
                            "new_patients": 1,
                        }
                    ],
                }
            ]
        },
    }


@pytest.mark.parametrize("value", [-1, 1.5, 10**9 + 1, "12", True])
def test_an_untrusted_counter_is_a_malformed_response_naming_tenant_key_and_value(scripted, value):
    client = scripted(stats(calls=value))
    with pytest.raises(MalformedResponse) as caught:
        client.weekly_counters([DAY])
    message = str(caught.value)
    assert "tenant 12 results.stats[0].trend[0].total_calls" in message
    assert repr(str(value)) in message
    assert "expected a whole number 0..1000000000" in message


def test_staff_tasks_above_the_total_are_malformed(scripted):
    staff = [{"user_email": "ops@yobi.app", "created": 9}]
    client = scripted(stats(created=4, by_user=staff))
    with pytest.raises(MalformedResponse, match="internal users created 9 tasks, more than the 4"):
        client.weekly_counters([DAY])


def test_tasks_without_a_per_user_breakdown_are_counted_whole_and_reported(scripted):
    client = scripted(stats(created=4))
    counters = client.weekly_counters([DAY])
    row = counters.frame.iloc[0]
    assert (row["tasks"], row["internal_tasks"], row["calls"], row["appointments"]) == (4, 0, 3, 5)
    assert client.warnings == [
        f"Yobi GET {PATHS['tasks']}: 1 trend buckets carry no by_user breakdown; "
        "internal staff tasks could not be subtracted there"
    ]


def test_a_day_one_location_lacks_is_missing_for_the_tenant(scripted):
    payloads = stats()
    locations = payloads["/api/v1" + PATHS["appointments"]]["locations"]
    locations.append({"location_id": 8, "tenant_id": 12, "trend": []})
    client = scripted(payloads)
    counters = client.weekly_counters([DAY])
    assert counters.frame.iloc[0]["missing_days"] == (
        f"new_patients:{DAY.isoformat()},appointments:{DAY.isoformat()}"
    )


def test_two_buckets_for_one_day_are_malformed(scripted):
    payloads = stats()
    trend = payloads["/api/v1" + PATHS["calls"]]["stats"][0]["trend"]
    trend.append(dict(trend[0]))
    with pytest.raises(MalformedResponse, match=f"tenant 12 has two {DAY.isoformat()} buckets"):
        scripted(payloads).weekly_counters([DAY])


def test_tenants_nested_under_results_results_are_read(scripted):
    tenants = [{"id": "12", "name": "Smile Dental", "website": None}]
    client = scripted({"/api/v1/admin/dental-tenants/list": {"results": tenants}})
    assert client.tenants() == [
        {"tenant_id": 12, "tenant_name": "Smile Dental", "website": None, "is_active": None}
    ]


def test_a_tenant_id_of_the_wrong_type_is_malformed(scripted):
    tenants = [{"tenant_id": "twelve", "tenant_name": "Smile Dental"}]
    client = scripted({"/api/v1/admin/dental-tenants/list": tenants})
    with pytest.raises(MalformedResponse, match=r"results\[0\]\.tenant_id is 'twelve', not an id"):
        client.tenants()


@pytest.mark.parametrize(
    ("path", "rows", "read", "message"),
    [
        (
            "/api/v1/admin/dental-tenants/list",
            [{"tenant_id": 12, "tenant_name": "Smile"}, {"tenant_id": "12", "tenant_name": "Grin"}],
            YobiClient.tenants,
            "tenant 12 is listed twice",
        ),
        (
            "/api/v1/admin/pms/locations",
            {"results": [{"location_id": 7, "tenant_id": 12, "name": "Main"}] * 2},
            YobiClient.locations,
            "location 7 is listed twice",
        ),
    ],
)
def test_a_listing_naming_one_id_twice_is_malformed(scripted, path, rows, read, message):
    with pytest.raises(MalformedResponse, match=message):
        read(scripted({path: rows}))


def test_a_200_saying_success_false_is_an_api_error_with_yobis_message(scripted):
    refusal = {"success": False, "message": "Reporting is paused for maintenance"}
    client = scripted({}, {"/api/v1/admin/pms/locations": refusal})
    with pytest.raises(ApiError) as caught:
        client.locations()
    assert type(caught.value) is ApiError
    assert "Yobi GET /admin/pms/locations failed: HTTP 200" in str(caught.value)
    assert "Reporting is paused for maintenance" in str(caught.value)


def test_a_login_token_of_the_wrong_type_is_described_not_quoted(scripted):
    secret = {"jwt": "eyJhbGciOiJIUzI1NiJ9.LEAKED-TOKEN-VALUE"}
    expires = int((NOW + timedelta(hours=1)).timestamp() * 1000)
    login = {"token": secret, "tokenExpirationInstant": expires}
    client = scripted({}, {"/api/v1/users/login": {"success": True, "results": login}})
    with pytest.raises(MalformedResponse) as caught:
        client.tenants()
    assert "LEAKED-TOKEN-VALUE" not in str(caught.value)
    assert "results.token is dict" in str(caught.value)


def test_a_field_yobi_renamed_is_read_once_the_contract_file_says_so(scripted, tmp_path):
    payloads = stats()
    for location in payloads["/api/v1" + PATHS["appointments"]]["locations"]:
        for bucket in location["trend"]:
            bucket["new_patient_appointments"] = bucket.pop("new_patients")
    with pytest.raises(MissingKeyError) as caught:
        scripted(payloads).weekly_counters([DAY])
    assert "entry stats.appointments.metrics.new_patients" in str(caught.value)
    assert "YOBI_CONTRACT_FILE" in str(caught.value)

    data = json.loads(json.dumps(BUILT_IN_DATA))
    data["stats"]["appointments"]["metrics"]["new_patients"] = ["new_patient_appointments"]
    path = tmp_path / "yobi-contract.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    counters = scripted(payloads, contract=load_contract(path)).weekly_counters([DAY])
    row = counters.frame.iloc[0]
    assert (row["new_patients"], row["appointments"], row["missing_days"]) == (1, 5, "")


def test_every_endpoint_and_parameter_comes_from_the_contract(scripted):
    data = json.loads(json.dumps(BUILT_IN_DATA))
    data["period_param"] = "range"
    data["periods"] = {"last_month": 31}
    data["stats"]["calls"]["path"] = "/admin/v2/calls"
    data["stats"]["calls"]["keys"]["rows"] = ["results.by_tenant"]
    payloads = stats()
    payloads["/api/v1/admin/v2/calls"] = {
        "by_tenant": payloads.pop("/api/v1" + PATHS["calls"])["stats"]
    }
    client = scripted(payloads, contract=parse_contract(data, "test"))
    counters = client.weekly_counters([DAY])
    assert counters.period == "last_month"
    assert counters.frame.iloc[0]["calls"] == 3
    calls = [query for path, query in scripted.requests if path == "/api/v1/admin/v2/calls"]
    assert calls == [{"range": ["last_month"], "include_non_integrated": ["true"]}]
