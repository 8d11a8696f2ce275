"""Yobi admin client: login and token refresh, tenants, locations, and exact-week counters.

Yobi has no public contract, so every response key the client reads is in the `KEYS` table
below (with the alternatives known to exist); a spike finding is a one-line change there.
Yobi's periods are counted back from "now", so the week comes from daily trend buckets:
summed for exactly the requested dates, never scaled, and every missing day is recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pandas as pd

from engagement_ranker.clients.errors import (
    ApiError,
    AuthError,
    MalformedResponse,
    MissingKeyError,
    NotFoundError,
    PeriodError,
    RateLimitExhausted,
    ScopeError,
    TrendCoverageError,
    UpstreamUnavailable,
    ValidationError,
)
from engagement_ranker.clients.http import (
    DEFAULT_RETRY,
    ClosingClient,
    RetriesExhausted,
    RetryLog,
    RetryPolicy,
    check_base_url,
    make_timeout,
    redact,
    send_with_retries,
)
from engagement_ranker.constants import (
    DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS,
    DEFAULT_YOBI_BASE_URL,
    HTTP_TIMEOUT_SECONDS,
    METRICS,
    TIMEZONE,
    YOBI_PERIODS,
    Env,
    Metric,
)
from engagement_ranker.core.identity import email_domain


class Kind(StrEnum):
    """What a response value must be."""

    LIST = "a list"
    TEXT = "a string"
    ID = "an id (an integer >= 0 or its digits)"
    FLAG = "true or false"
    COUNT = "a count"  # an int 0..COUNT_MAX, checked by `_count` with the tenant named
    DATE = "a YYYY-MM-DD date"


@dataclass(frozen=True)
class Key:
    """Where a value lives: dotted paths tried in order, the first that fits wins."""

    paths: tuple[str, ...]
    kind: Kind
    required: bool = True
    # Each path split at its dots once: a week's payloads read the same few paths a million times.
    steps: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(tuple(path.split(".")) for path in self.paths))

    @cached_property
    def parse(self) -> Callable[[Any], Any]:
        """The kind's parser, looked up once (hashing an enum member per value is slow)."""
        return PARSERS[self.kind]


# Every response key the client reads. Row keys are relative to their row, bucket keys to
# their trend bucket.
KEYS: dict[str, Key] = {
    "login.token": Key(("results.token",), Kind.TEXT),
    "login.expires_ms": Key(("results.tokenExpirationInstant",), Kind.ID),
    "tenants.rows": Key(("results", "results.results", "results.tenants"), Kind.LIST),
    "tenants.tenant_id": Key(("tenant_id", "id"), Kind.ID),
    "tenants.name": Key(("tenant_name", "name"), Kind.TEXT),
    "tenants.website": Key(("website", "domain"), Kind.TEXT, required=False),
    "tenants.is_active": Key(("is_active",), Kind.FLAG, required=False),
    "locations.rows": Key(("results.results", "results.locations"), Kind.LIST),
    "locations.location_id": Key(("location_id",), Kind.ID),
    "locations.tenant_id": Key(("tenant_id",), Kind.ID),
    "locations.name": Key(("name",), Kind.TEXT),
    "calls.rows": Key(("results.stats",), Kind.LIST),
    "calls.tenant_id": Key(("tenant_id",), Kind.ID),
    "calls.trend": Key(("trend",), Kind.LIST, required=False),
    "calls.date": Key(("date",), Kind.DATE),
    "calls.calls": Key(("total_calls",), Kind.COUNT),
    "tasks.rows": Key(("results.by_tenant",), Kind.LIST),
    "tasks.tenant_id": Key(("tenant_id",), Kind.ID),
    "tasks.trend": Key(("trend",), Kind.LIST, required=False),
    "tasks.date": Key(("date",), Kind.DATE),
    "tasks.tasks": Key(("created",), Kind.COUNT),
    "tasks.by_user": Key(("by_user",), Kind.LIST, required=False),
    "tasks.user_email": Key(("user_email",), Kind.TEXT),
    "tasks.user_created": Key(("created",), Kind.COUNT),
    "appointments.rows": Key(("results.locations",), Kind.LIST),
    "appointments.tenant_id": Key(("tenant_id",), Kind.ID),
    "appointments.trend": Key(("trend",), Kind.LIST, required=False),
    "appointments.date": Key(("date",), Kind.DATE),
    "appointments.appointments": Key(("total_appointments", "appointment_count"), Kind.COUNT),
    "appointments.new_patients": Key(("new_patients",), Kind.COUNT),
}

SERVICE = "Yobi"
LOGIN = ("POST", "/users/login")
TENANTS = ("GET", "/admin/dental-tenants/list")
LOCATIONS = ("GET", "/admin/pms/locations")


@dataclass(frozen=True)
class StatsSource:
    """One stats endpoint and the metrics its trend buckets carry (`KEYS` prefix = name)."""

    name: str
    path: str
    metrics: tuple[Metric, ...]
    params: Mapping[str, str] = field(default_factory=dict)


STATS_SOURCES: tuple[StatsSource, ...] = (
    StatsSource(
        "calls",
        "/admin/pms/stats/calls-by-tenant",
        (Metric.CALLS,),
        {"include_non_integrated": "true"},
    ),
    StatsSource("tasks", "/admin/dental-tenants/tasks/created", (Metric.TASKS,)),
    StatsSource(
        "appointments",
        "/admin/pms/stats/appointments-by-location",
        (Metric.APPOINTMENTS, Metric.NEW_PATIENTS),
    ),
)
# A counter above this is a unit or overflow bug upstream, not a dental practice's week.
COUNT_MAX = 10**9
# Distinct date texts remembered: a 90-day period repeats the same ~91 days in every trend.
DAY_CACHE_SIZE = 1024
TOKEN_REFRESH_MARGIN_SECONDS = 5 * 60
COLUMNS: tuple[str, ...] = ("tenant_id", *METRICS, "internal_tasks", "missing_days")

FIX_LOGIN = f"check {Env.YOBI_EMAIL} and {Env.YOBI_PASSWORD}: Yobi refused the login"
FIX_ADMIN = (
    f"the Yobi account in {Env.YOBI_EMAIL} is not an admin: use credentials with cross-tenant "
    "admin access (the spike's first question)"
)
FIX_NOT_FOUND = (
    f"check {Env.YOBI_BASE_URL}; if it is right the endpoint moved: run `engagement-ranker spike`"
)
FIX_UNAVAILABLE = f"Yobi is down or unreachable: check {Env.YOBI_BASE_URL}, then rerun later"
FIX_RATE = "Yobi kept rate-limiting: rerun later"
FIX_REFUSED = "Yobi refused the request: see its message; run `engagement-ranker spike`"
FIX_CONTRACT = (
    "Yobi answered outside the known contract: confirm it with `engagement-ranker spike` and "
    "update KEYS in engagement_ranker/clients/yobi.py"
)


def period_for(first_day: date, today: date) -> str:
    """The shortest Yobi period reaching `first_day` from `today`, with a day to spare."""
    needed = (today - first_day).days + 1
    for period, days in YOBI_PERIODS:
        if days >= needed:
            return period
    longest, reach = YOBI_PERIODS[-1]
    raise PeriodError(
        f"the week starting {first_day.isoformat()} is {needed - 1} days before today "
        f"({today.isoformat()}, {TIMEZONE}); Yobi's longest period, {longest}, reaches {reach} "
        "days back: such a week cannot be computed from Yobi's trends, pick a recent one"
    )


def _lookup(holder: Any, steps: tuple[str, ...]) -> Any:
    """The value at a split path, or None where any step is absent."""
    value = holder
    for part in steps:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


@lru_cache(maxsize=DAY_CACHE_SIZE)
def _day(text: str) -> date | None:
    """A YYYY-MM-DD text as a date, or None; cached, as every trend repeats the same days."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if len(text) == len("YYYY-MM-DD") else None


# A parser's answer for a value that is not of the wanted kind.
_NO_MATCH = object()


def _plain(kind: type) -> Callable[[Any], Any]:
    return lambda value: value if isinstance(value, kind) else _NO_MATCH


def _as_id(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return (
        int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else _NO_MATCH
    )


def _as_date(value: Any) -> Any:
    day = _day(value) if isinstance(value, str) else None
    return _NO_MATCH if day is None else day


# Each kind's parser: the value as the kind holds it (ids as int, dates as date), or _NO_MATCH.
# A count passes as it is: `_count` checks it, so that the message can name the tenant.
PARSERS: dict[Kind, Callable[[Any], Any]] = {
    Kind.LIST: _plain(list),
    Kind.TEXT: _plain(str),
    Kind.FLAG: _plain(bool),
    Kind.ID: _as_id,
    Kind.DATE: _as_date,
    Kind.COUNT: lambda value: value,
}


@dataclass(frozen=True)
class WeeklyCounters:
    """The four counters per tenant for exactly the requested dates, from trend buckets.

    `frame`: tenant_id, new_patients, appointments, tasks, calls (Int64, NA = the tenant is
    not in that endpoint's answer), internal_tasks (subtracted staff tasks), missing_days
    ("calls:2026-11-21,...", "" when every day is covered).
    """

    frame: pd.DataFrame
    period: str

    def require_complete(self) -> None:
        """Raise TrendCoverageError unless every reported counter covers every date."""
        tenants: dict[str, set[int]] = {}
        days: dict[str, set[date]] = {}
        for tenant_id, missing in zip(
            self.frame["tenant_id"], self.frame["missing_days"], strict=True
        ):
            for entry in filter(None, missing.split(",")):
                metric, day = entry.split(":")
                tenants.setdefault(metric, set()).add(int(tenant_id))
                days.setdefault(metric, set()).add(date.fromisoformat(day))
        if tenants:
            raise TrendCoverageError(
                {m: (len(tenants[m]), sorted(days[m])) for m in METRICS if m in tenants},
                self.period,
            )


@dataclass
class _Tally:
    """One tenant's sums for one stats source while its rows are read."""

    counts: dict[Metric, int]
    covered: set[date] | None = None  # dates every row of the tenant covers
    internal: int = 0


class YobiClient(ClosingClient):
    """Synchronous Yobi admin client; the token is kept fresh under the hood."""

    def __init__(
        self,
        email: str,
        password: str,
        base_url: str = DEFAULT_YOBI_BASE_URL,
        timeout: float = HTTP_TIMEOUT_SECONDS,
        internal_email_domains: Iterable[str] = DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        for variable, value in ((Env.YOBI_EMAIL, email), (Env.YOBI_PASSWORD, password)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{variable} is empty: set it to the Yobi admin account's value")
        domains = list(internal_email_domains)
        bad = [d for d in domains if not isinstance(d, str) or not d.strip() or "@" in d]
        if bad:
            raise ValueError(
                f"{Env.INTERNAL_YOBI_USER_EMAIL_DOMAINS} holds {bad!r}: list bare e-mail "
                "domains such as yobi.app"
            )
        self._email = email
        self._password = password
        self._internal = frozenset(d.strip().lower() for d in domains)
        self._internal_address: dict[str, bool] = {}
        self._retry = retry
        self._clock = clock or (lambda: datetime.now(UTC))
        self._log = RetryLog(SERVICE)
        self._notes: set[str] = set()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_ms = 0
        self._http = httpx.Client(
            base_url=check_base_url(base_url, Env.YOBI_BASE_URL), timeout=make_timeout(timeout)
        )

    @property
    def warnings(self) -> list[str]:
        """Retries, re-logins and oddities seen so far, sorted, for the anomaly report."""
        with self._lock:
            notes = sorted(self._notes)
        return self._log.lines() + notes

    # --- operations ----------------------------------------------------------------------

    def tenants(self, payload: Any | None = None) -> list[dict[str, Any]]:
        """Every tenant: tenant_id, tenant_name, website (or None), is_active (or None).

        `payload`: TENANTS' response if already fetched (the spike's), read without a call.
        """
        return self._listing(
            TENANTS,
            payload,
            "tenants",
            {
                "tenant_id": "tenant_id",
                "tenant_name": "name",
                "website": "website",
                "is_active": "is_active",
            },
        )

    def locations(self, payload: Any | None = None) -> list[dict[str, Any]]:
        """Every practice-management location: location_id, tenant_id, name.

        `payload`: LOCATIONS' response if already fetched (the spike's), read without a call.
        """
        return self._listing(
            LOCATIONS,
            payload,
            "locations",
            {"location_id": "location_id", "tenant_id": "tenant_id", "name": "name"},
        )

    def _listing(
        self, request: tuple[str, str], payload: Any | None, name: str, fields: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """A listing's rows as {field: KEYS[f"{name}.{key}"]}, one per id (the first field),
        in id order."""
        endpoint = " ".join(request)
        if payload is None:
            payload = self.payload(*request)
        id_field = next(iter(fields))
        rows: dict[int, dict[str, Any]] = {}
        for i, row in enumerate(self._rows(payload, f"{name}.rows", endpoint)):
            where = f"results[{i}]."
            values = {
                field: self._read(row, f"{name}.{key}", endpoint, where)
                for field, key in fields.items()
            }
            if values[id_field] in rows:
                # "tenants" -> "tenant 12 is listed twice"
                raise self._malformed(
                    endpoint, f"{name.removesuffix('s')} {values[id_field]} is listed twice"
                )
            rows[values[id_field]] = values
        return [rows[row_id] for row_id in sorted(rows)]

    def weekly_counters(
        self, dates: Sequence[date], payloads: Mapping[str, Any] | None = None
    ) -> WeeklyCounters:
        """Sum each tenant's daily trend buckets for exactly `dates` (e.g. a Week's dates).

        The period is the shortest reaching the first date from today in TIMEZONE. Tasks by
        internal staff are subtracted day by day. Uncovered days are recorded, never scaled.
        `payloads`: responses already fetched for that period, by StatsSource name (the
        spike's); only the sources not given are fetched.
        """
        wanted = self._dates(dates)
        given = dict(payloads or {})
        unknown = sorted(set(given) - {source.name for source in STATS_SOURCES})
        if unknown:
            raise ValueError(
                f"weekly_counters payloads {unknown!r} are not stats sources: key each "
                f"payload by one of {[source.name for source in STATS_SOURCES]!r}"
            )
        today = self._clock().astimezone(ZoneInfo(TIMEZONE)).date()
        period = period_for(min(wanted), today)
        if len(given) < len(STATS_SOURCES):
            self._bearer()  # one login up front, not one per parallel call
        with ThreadPoolExecutor(len(STATS_SOURCES)) as pool:
            tallies = list(
                pool.map(
                    lambda source: self._tally(source, period, wanted, given.get(source.name)),
                    STATS_SOURCES,
                )
            )
        rows = []
        for tenant_id in sorted({t for tally in tallies for t in tally}):
            row: dict[str, Any] = {"tenant_id": tenant_id, "internal_tasks": pd.NA}
            missing: list[tuple[int, date, Metric]] = []
            for source, tally in zip(STATS_SOURCES, tallies, strict=True):
                found = tally.get(tenant_id)
                for metric in source.metrics:
                    row[metric.value] = pd.NA if found is None else found.counts[metric]
                    uncovered = set() if found is None else wanted - (found.covered or set())
                    missing += [(METRICS.index(metric), day, metric) for day in uncovered]
                if found is not None and Metric.TASKS in source.metrics:
                    row["internal_tasks"] = found.internal
            row["missing_days"] = ",".join(
                f"{m.value}:{d.isoformat()}" for _, d, m in sorted(missing)
            )
            rows.append(row)
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        integers = ("tenant_id", *METRICS, "internal_tasks")
        frame = frame.astype(dict.fromkeys(integers, "Int64")).astype({"missing_days": object})
        return WeeklyCounters(frame=frame, period=period)

    # --- trend summing -------------------------------------------------------------------

    def _tally(
        self, source: StatsSource, period: str, wanted: set[date], payload: Any | None
    ) -> dict[int, _Tally]:
        endpoint = f"GET {source.path}"
        if payload is None:
            payload = self.payload("GET", source.path, params={"period": period, **source.params})
        tallies: dict[int, _Tally] = {}
        buckets_without_users = 0
        read = self._read
        keys = {part: f"{source.name}.{part}" for part in ("tenant_id", "trend", "date")}
        counted = [(m, f"{source.name}.{m.value}") for m in source.metrics]
        for i, row in enumerate(self._rows(payload, f"{source.name}.rows", endpoint)):
            where = f"{KEYS[f'{source.name}.rows'].paths[0]}[{i}]."
            tenant_id = read(row, keys["tenant_id"], endpoint, where)
            tally = tallies.setdefault(tenant_id, _Tally(dict.fromkeys(source.metrics, 0)))
            row_dates: set[date] = set()
            trend = read(row, keys["trend"], endpoint, where) or []
            for j, bucket in enumerate(trend):
                at = f"{where}trend[{j}]."
                day = read(bucket, keys["date"], endpoint, at)
                if day in row_dates:
                    raise self._malformed(endpoint, f"tenant {tenant_id} has two {day} buckets")
                row_dates.add(day)
                if day not in wanted:
                    continue
                counts = {
                    m: self._count(bucket, name, endpoint, at, tenant_id) for m, name in counted
                }
                if Metric.TASKS in source.metrics:
                    users = read(bucket, "tasks.by_user", endpoint, at)
                    buckets_without_users += users is None
                    internal = self._internal_tasks(users or [], endpoint, at, tenant_id)
                    if internal > counts[Metric.TASKS]:
                        raise self._malformed(
                            endpoint,
                            f"tenant {tenant_id} on {day}: internal users created {internal} "
                            f"tasks, more than the {counts[Metric.TASKS]} created in all",
                        )
                    counts[Metric.TASKS] -= internal
                    tally.internal += internal
                for metric, value in counts.items():
                    tally.counts[metric] += value
            # A tenant's day is covered only if every one of its rows (locations) reports it.
            tally.covered = row_dates if tally.covered is None else tally.covered & row_dates
        if buckets_without_users:
            self._note(
                f"{SERVICE} {endpoint}: {buckets_without_users} trend buckets carry no by_user "
                "breakdown; internal staff tasks could not be subtracted there"
            )
        return tallies

    def _internal_tasks(self, users: list[Any], endpoint: str, where: str, tenant_id: int) -> int:
        total = 0
        for k, user in enumerate(users):
            at = f"{where}by_user[{k}]."
            address = self._read(user, "tasks.user_email", endpoint, at)
            internal = self._internal_address.get(address)
            if internal is None:  # a tenant's few users recur in every bucket: parse once
                internal = self._internal_address[address] = email_domain(address) in self._internal
            if internal:
                total += self._count(user, "tasks.user_created", endpoint, at, tenant_id)
        return total

    def _dates(self, dates: Sequence[date]) -> set[date]:
        wanted = set(dates)
        bad = [d for d in dates if not isinstance(d, date) or isinstance(d, datetime)]
        if bad or not wanted or len(wanted) != len(dates):
            raise ValueError(
                f"weekly_counters dates {list(dates)!r} must be distinct calendar dates "
                "(datetime.date), e.g. Week.dates"
            )
        return wanted

    # --- reading payloads ----------------------------------------------------------------

    def _rows(self, payload: Any, name: str, endpoint: str) -> list[dict[str, Any]]:
        rows = self._read(payload, name, endpoint, "")
        odd = [row for row in rows if not isinstance(row, dict)]
        if odd:
            raise self._malformed(endpoint, f"{name} holds non-objects such as {odd[0]!r}")
        return rows

    def _read(self, holder: Any, name: str, endpoint: str, where: str) -> Any:
        """The value of KEYS[name] in `holder`; None for an absent optional key."""
        key = KEYS[name]
        wrong: tuple[str, Any] | None = None
        for path, steps in zip(key.paths, key.steps, strict=True):
            value = _lookup(holder, steps)
            if value is None:
                continue
            parsed = key.parse(value)
            if parsed is not _NO_MATCH:
                return parsed
            wrong = wrong or (path, value)
        if wrong is not None:
            path, value = wrong
            # The login payload holds the token: there, name the type and never the value.
            shown = type(value).__name__ if name.startswith("login") else repr(str(value)[:60])
            raise self._malformed(endpoint, f"{where}{path} is {shown}, not {key.kind.value}")
        if not key.required:
            return None
        key_path = " | ".join(f"{where}{path}" for path in key.paths)
        raise MissingKeyError(
            SERVICE,
            endpoint,
            200,
            fix=f"{FIX_CONTRACT} (KEYS[{name!r}])",
            detail=f"required key {key_path} is absent",
            key_path=key_path,
        )

    def _count(self, bucket: Any, name: str, endpoint: str, where: str, tenant_id: int) -> int:
        value = self._read(bucket, name, endpoint, where)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= COUNT_MAX:
            raise self._malformed(
                endpoint,
                f"tenant {tenant_id} {where}{KEYS[name].paths[0]} is {str(value)[:60]!r}: "
                f"expected a whole number 0..{COUNT_MAX}",
            )
        return value

    # --- HTTP ----------------------------------------------------------------------------

    def _bearer(self) -> str:
        """A token valid for at least the refresh margin, logging in when needed."""
        with self._lock:
            now_ms = self._clock().timestamp() * 1000
            margin_ms = TOKEN_REFRESH_MARGIN_SECONDS * 1000
            if self._token is None or now_ms >= self._expires_ms - margin_ms:
                self._token = self._login()
            return self._token

    def _login(self) -> str:
        """Called under the lock: a fresh token (returned) and its expiry (stored)."""
        method, path = LOGIN
        endpoint = f"{method} {path}"
        response = self._send(
            method, path, endpoint, json={"user": self._email, "password": self._password}
        )
        if response.status_code == 401:
            raise AuthError(SERVICE, endpoint, 401, fix=FIX_LOGIN, detail=self._message(response))
        payload = self._payload(endpoint, response, refused=AuthError, refused_fix=FIX_LOGIN)
        self._expires_ms = self._read(payload, "login.expires_ms", endpoint, "")
        return self._read(payload, "login.token", endpoint, "")

    def payload(self, method: str, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The JSON of one authorised call (the spike reads raw payloads); a 401 gets one fresh
        login and one more try."""
        endpoint = f"{method} {path}"
        token = self._bearer()
        response = self._send(method, path, endpoint, params=params, headers=self._auth(token))
        if response.status_code == 401:
            self._log.record(endpoint, "HTTP 401 token refused, logged in again")
            with self._lock:
                if self._token == token:
                    self._token = None
            response = self._send(
                method, path, endpoint, params=params, headers=self._auth(self._bearer())
            )
        return self._payload(endpoint, response)

    def _send(self, method: str, path: str, endpoint: str, **request: Any) -> httpx.Response:
        try:
            return send_with_retries(
                self._http,
                method,
                path,
                endpoint=endpoint,
                policy=self._retry,
                log=self._log,
                **request,
            )
        except RetriesExhausted as exc:
            error = RateLimitExhausted if exc.status == 429 else UpstreamUnavailable
            fix = FIX_RATE if exc.status == 429 else FIX_UNAVAILABLE
            raise error(SERVICE, endpoint, exc.status, fix=fix, detail=str(exc)) from None

    def _payload(
        self,
        endpoint: str,
        response: httpx.Response,
        refused: type[ApiError] = ApiError,
        refused_fix: str = FIX_REFUSED,
    ) -> dict[str, Any]:
        """The JSON envelope of a 200 with success true; a typed error otherwise."""
        status = response.status_code
        if status != 200:
            error, fix = {
                401: (AuthError, FIX_LOGIN),
                403: (ScopeError, FIX_ADMIN),
                404: (NotFoundError, FIX_NOT_FOUND),
                400: (ValidationError, FIX_REFUSED),
            }.get(status, (ApiError, FIX_REFUSED))
            raise error(SERVICE, endpoint, status, fix=fix, detail=self._message(response))
        try:
            payload = response.json()
        except ValueError:
            raise self._malformed(endpoint, "the body is not JSON") from None
        if not isinstance(payload, dict):
            raise self._malformed(endpoint, "the body is not a JSON object")
        if payload.get("success") is False:
            raise refused(
                SERVICE, endpoint, status, fix=refused_fix, detail=self._message(response)
            )
        return payload

    def _message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) else None
        return self._redact(str(message or response.reason_phrase))

    def _auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def _redact(self, text: str) -> str:
        return redact(text, (self._password, self._token))

    def _malformed(self, endpoint: str, detail: str) -> MalformedResponse:
        return MalformedResponse(
            SERVICE, endpoint, 200, fix=FIX_CONTRACT, detail=self._redact(detail)
        )

    def _note(self, line: str) -> None:
        with self._lock:
            self._notes.add(line)
