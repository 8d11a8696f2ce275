"""A stand-in for Yobi's admin API, as `reference/yobi-api.md` describes it.

Login hands out expiring JWT-like tokens (HMAC-signed, so a forged or expired one is a 401).
Stats endpoints take `period` in {yesterday, 7days, 30days, 90days}: "yesterday" is the
previous local day; "Ndays" is the N local calendar days ending today, today's bucket
partial up to the sandbox clock (counts scaled by the share of the day gone, rounded down).
Days are calendar days in America/New_York (another zone's on request, as a Yobi with UTC
buckets would answer). Dense (the default): every tenant and every
location gets a row and a bucket for every day, zeros included. Sparse (`sparse=True`, as
many analytics APIs answer): buckets without activity are left out, and so are the rows of
tenants and locations without any in the period. Totals cover the whole period; the
"trend_short_days" fault only removes the newest trend buckets (the trend pipeline lagging
behind the aggregate one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from engagement_ranker.constants import TIMEZONE, YOBI_PERIODS
from engagement_ranker.sandbox.dataset import DayMetrics
from engagement_ranker.sandbox.http import (
    HttpError,
    JsonService,
    Request,
    Response,
    Route,
    json_response,
    route,
)
from engagement_ranker.sandbox.state import SandboxState

PERIOD_DAYS: dict[str, int] = dict(YOBI_PERIODS)
YESTERDAY = "yesterday"
PERIODS: tuple[str, ...] = (YESTERDAY, *PERIOD_DAYS)
ADMIN_PREFIX = "/admin/"
_ZONE = ZoneInfo(TIMEZONE)


def period_days(period: str, now: datetime, zone: ZoneInfo = _ZONE) -> tuple[list[date], float]:
    """The dates of `zone` a period covers (oldest first) and the share of today already gone."""
    local = now.astimezone(zone)
    today = local.date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=zone)
    tomorrow = today + timedelta(days=1)
    next_midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone)
    # Timestamps, not aware-datetime subtraction: that is wall-clock and ignores DST.
    elapsed = (now.timestamp() - midnight.timestamp()) / (
        next_midnight.timestamp() - midnight.timestamp()
    )
    if period == YESTERDAY:
        return [today - timedelta(days=1)], elapsed
    span = PERIOD_DAYS[period]
    return [today - timedelta(days=span - 1 - i) for i in range(span)], elapsed


class YobiService(JsonService):
    """Yobi's login and admin statistics endpoints over the sandbox dataset."""

    name = "yobi"

    def __init__(
        self, state: SandboxState, sparse: bool = False, bucket_timezone: str = TIMEZONE
    ) -> None:
        super().__init__(state)
        self.sparse = sparse
        self.zone = ZoneInfo(bucket_timezone)
        self._secret = hashlib.sha256(f"yobi-sandbox:{state.dataset.seed}".encode()).digest()
        self._issued = 0
        self._issue_lock = threading.Lock()

    def routes(self) -> Iterable[Route]:
        return (
            route("POST", "/users/login", self.login),
            route("GET", "/admin/dental-tenants/list", self.tenants),
            route("GET", "/admin/pms/locations", self.locations),
            route("GET", "/admin/pms/stats/calls-by-tenant", self.calls_by_tenant),
            route("GET", "/admin/pms/stats/calls", self.calls),
            route("GET", "/admin/dental-tenants/tasks/created", self.tasks_created),
            route(
                "GET", "/admin/pms/stats/appointments-by-location", self.appointments_by_location
            ),
            route("GET", "/admin/pms/stats/appointments", self.appointments),
        )

    # --- auth ---------------------------------------------------------------------------
    def before(self, request: Request) -> Response | None:
        """Every endpoint but login needs a valid, unexpired token; /admin/ needs an admin."""
        if request.route == "POST /users/login":
            return None
        header = request.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HttpError(401, "Unauthorized: missing bearer token")
        claims = self._verify(token)
        if claims is None:
            raise HttpError(401, "Unauthorized: invalid token")
        if claims["exp"] <= self.state.clock().timestamp():
            raise HttpError(401, "Unauthorized: token expired")
        if request.path.startswith(ADMIN_PREFIX) and self.state.faults.yobi.non_admin:
            raise HttpError(403, "Forbidden: this account does not have the admin role")
        return None

    def login(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not body.get("user") or not body.get("password"):
            raise HttpError(400, 'Login needs a JSON body {"user": ..., "password": ...}')
        credentials = self.state.credentials
        valid = hmac.compare_digest(str(body["user"]), credentials.yobi_email) and (
            hmac.compare_digest(str(body["password"]), credentials.yobi_password)
        )
        if not valid or self.state.faults.yobi.login_fails:
            raise HttpError(401, "Invalid email or password")
        now = self.state.clock().timestamp()
        expires = round(now + self.state.faults.yobi.token_ttl_seconds, 3)
        with self._issue_lock:
            self._issued += 1
            serial = self._issued
        token = self._sign(
            {"sub": credentials.yobi_email, "iat": now, "exp": expires, "jti": serial}
        )
        return _ok({"token": token, "tokenExpirationInstant": int(expires * 1000)}, "Logged in")

    def _sign(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims).encode())
        signature = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{_b64(signature.digest())}"

    def _verify(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
        if not hmac.compare_digest(_b64(expected.digest()), parts[2]):
            return None
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
        return claims

    # --- directory ----------------------------------------------------------------------
    def tenants(self, request: Request) -> Response:
        tenants = self.state.dataset.tenants
        if self.state.faults.yobi.legacy_shapes:
            legacy = [
                {"id": t["tenant_id"], "name": t["tenant_name"], "domain": t["website"]}
                | {"is_active": t["is_active"]}
                for t in tenants
            ]
            return self._ok({"tenants": legacy})
        return self._ok([dict(t) for t in tenants])

    def locations(self, request: Request) -> Response:
        key = "locations" if self.state.faults.yobi.legacy_shapes else "results"
        return self._ok({key: [dict(loc) for loc in self.state.dataset.locations]})

    # --- statistics ---------------------------------------------------------------------
    def calls_by_tenant(self, request: Request) -> Response:
        window = self._window(request)
        matrix = window.stack("calls")
        stats = [
            self._calls_row(tenant["tenant_id"], window, matrix[:, i])
            for i, tenant in enumerate(self.state.dataset.tenants)
            if window.listed(matrix[:, i])
        ]
        return self._ok({"period": window.period, "stats": stats})

    def calls(self, request: Request) -> Response:
        window = self._window(request)
        index = self._tenant_index(request)
        column = window.stack("calls")[:, index]
        tenant_id = self.state.dataset.tenants[index]["tenant_id"]
        return self._ok(
            {"period": window.period, "stats": self._calls_row(tenant_id, window, column)}
        )

    def _calls_row(self, tenant_id: int, window: _Window, column: np.ndarray) -> dict[str, Any]:
        return {
            "tenant_id": tenant_id,
            "total_calls": int(column.sum()),
            "trend": [
                {"date": day.isoformat(), "total_calls": int(value)}
                for day, value in window.trend(column)
            ],
        }

    def tasks_created(self, request: Request) -> Response:
        window = self._window(request)
        dataset = self.state.dataset
        matrix = window.stack("tasks")
        trend_days = [day.isoformat() for day in window.trend_days()]
        per_user = matrix.T.tolist()  # plain ints: ~10x faster to serialize than numpy scalars
        by_tenant = []
        for index, tenant in enumerate(dataset.tenants):
            users = [(dataset.users[u][1], per_user[u]) for u in dataset.tenant_users[index]]
            total = sum(sum(days) for _, days in users)
            if self.sparse and not total:
                continue
            trend = [
                {
                    "date": day,
                    "created": sum(days[d] for _, days in users),
                    "by_user": _by_user((email, days[d]) for email, days in users),
                }
                for d, day in enumerate(trend_days)
            ]
            by_tenant.append(
                {
                    "tenant_id": tenant["tenant_id"],
                    "total": {"created": total},
                    "by_user": _by_user((email, sum(days)) for email, days in users),
                    "trend": [b for b in trend if b["created"]] if self.sparse else trend,
                }
            )
        total = int(matrix.sum())
        return self._ok(
            {"period": window.period, "total": {"created": total}, "by_tenant": by_tenant}
        )

    def appointments_by_location(self, request: Request) -> Response:
        window = self._window(request)
        totals = window.stack("appointments")
        new = window.stack("new_patients")
        rows = [
            self._appointments_row(location, window, totals[:, i], new[:, i])
            for i, location in enumerate(self.state.dataset.locations)
            if window.listed(totals[:, i])
        ]
        return self._ok({"period": window.period, "locations": rows})

    def appointments(self, request: Request) -> Response:
        window = self._window(request)
        locations = self.state.dataset.locations
        raw = request.arg("location_id")
        index = next((i for i, loc in enumerate(locations) if str(loc["location_id"]) == raw), None)
        if index is None:
            raise HttpError(404, f"Location {raw!r} not found; list ids at /admin/pms/locations")
        totals = window.stack("appointments")[:, index]
        new = window.stack("new_patients")[:, index]
        row = self._appointments_row(locations[index], window, totals, new)
        return self._ok({"period": window.period, "stats": row["stats"], "trend": row["trend"]})

    def _appointments_row(
        self,
        location: dict[str, Any],
        window: _Window,
        totals: np.ndarray,
        new: np.ndarray,
    ) -> dict[str, Any]:
        key = "appointment_count" if self.state.faults.yobi.legacy_shapes else "total_appointments"
        both = np.stack([totals, new], axis=1)
        return {
            "location_id": location["location_id"],
            "tenant_id": location["tenant_id"],
            "stats": {key: int(totals.sum()), "new_patients": int(new.sum())},
            "trend": [
                {"date": day.isoformat(), key: int(pair[0]), "new_patients": int(pair[1])}
                for day, pair in window.trend(both)
            ],
        }

    # --- helpers ------------------------------------------------------------------------
    def _window(self, request: Request) -> _Window:
        period = request.arg("period")
        if period not in PERIODS:
            raise HttpError(400, f"Invalid period {period!r}; use one of {', '.join(PERIODS)}")
        days, elapsed = period_days(period, self.state.clock(), self.zone)
        return _Window(self, period, days, elapsed)

    def _tenant_index(self, request: Request) -> int:
        raw = request.arg("tenant_id") or ""
        index = self.state.dataset.tenant_index.get(int(raw)) if raw.isdigit() else None
        if index is None:
            raise HttpError(
                404, f"Tenant {raw!r} not found; list ids at /admin/dental-tenants/list"
            )
        return index

    def _ok(self, results: Any) -> Response:
        drop = self.state.faults.yobi.drop_keys
        return _ok(_without_keys(results, drop) if drop else results, "OK")


class _Window:
    """The days one stats request covers, with today's partial scaling and trend lag."""

    def __init__(self, service: YobiService, period: str, days: list[date], elapsed: float) -> None:
        self.period = period
        self.days = days
        self._dataset = service.state.dataset
        self._today = service.state.clock().astimezone(service.zone).date()
        self._elapsed = elapsed
        self._short = service.state.faults.yobi.trend_short_days
        self._sparse = service.sparse
        self._scale = service.state.faults.yobi.scale

    def stack(self, metric: str) -> np.ndarray:
        """One row per day of a metric's counters (tasks: per user, appointments: per
        location), today's row scaled down to the time gone, and all of them times the
        "scale" fault's factor for the metric (rounded down)."""
        pick = _COUNTERS[metric]
        factor = self._scale.get(metric, 1.0)
        rows = []
        for day in self.days:
            share = self._elapsed if day == self._today else 1.0
            values = pick(self._dataset.day_metrics(day))
            if share * factor != 1.0:
                values = np.floor(values * share * factor).astype(np.int64)
            rows.append(values)
        return np.stack(rows)

    def trend_days(self) -> list[date]:
        """The days trend buckets are served for: all but the newest `trend_short_days`."""
        return self.days[: max(len(self.days) - self._short, 0)]

    def trend(self, per_day: np.ndarray) -> list[tuple[date, np.ndarray]]:
        """(day, row) for the trend buckets served (sparse: only rows with activity)."""
        served = zip(self.trend_days(), per_day, strict=False)
        return [(day, row) for day, row in served if not self._sparse or row.any()]

    def listed(self, per_day: np.ndarray) -> bool:
        """Whether a row with these daily figures is served (sparse: only with activity)."""
        return not self._sparse or bool(per_day.any())


# Each metric's daily counters in the dataset (tasks per user, appointments per location).
_COUNTERS: dict[str, Callable[[DayMetrics], np.ndarray]] = {
    "calls": lambda day: day.calls,
    "tasks": lambda day: day.user_tasks,
    "appointments": lambda day: day.appointments,
    "new_patients": lambda day: day.new_patients,
}


def _by_user(counts: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    """Users who created tasks, with how many (users with none are left out, as Yobi does)."""
    return [{"user_email": email, "created": n} for email, n in counts if n]


def _without_keys(value: Any, drop: frozenset[str]) -> Any:
    """`value` with every dict key in `drop` removed, at any depth (schema-drift fault)."""
    if isinstance(value, dict):
        return {k: _without_keys(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [_without_keys(v, drop) for v in value]
    return value


def _ok(results: Any, message: str) -> Response:
    return json_response({"success": True, "message": message, "results": results})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
