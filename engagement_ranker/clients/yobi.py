"""Yobi admin client: login and token refresh, tenants, locations, and exact-week counters.

Yobi has no public contract, so every endpoint, period and response key the client reads
comes from a `YobiContract` (clients/yobi_contract.py: the built-in one, or a file); a spike
finding is a change to that data, not to this code. Yobi's periods are counted back from
"now", so the week comes from daily trend buckets: summed for exactly the requested dates,
never scaled, and every missing day is recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pandas as pd

from engagement_ranker.clients.errors import (
    ApiError,
    AuthError,
    BucketTimezoneError,
    ConflictingRowsError,
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
    tls,
)
from engagement_ranker.clients.yobi_contract import (
    BUILT_IN,
    PER_USER_METRIC,
    Endpoint,
    Key,
    Kind,
    StatsEndpoint,
    Trends,
    YobiContract,
)
from engagement_ranker.constants import (
    DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS,
    DEFAULT_YOBI_BASE_URL,
    HTTP_TIMEOUT_SECONDS,
    METRICS,
    TIMEZONE,
    Env,
    Metric,
)
from engagement_ranker.core.identity import email_domain

SERVICE = "Yobi"
# A counter above this is a unit or overflow bug upstream, not a dental practice's week.
COUNT_MAX = 10**9
# Distinct date texts remembered: a 90-day period repeats the same ~91 days in every trend.
DAY_CACHE_SIZE = 1024
TOKEN_REFRESH_MARGIN_SECONDS = 5 * 60
# Each counter day by day, in date order (what `explain` shows of a company's week).
BY_DAY_COLUMNS: dict[Metric, str] = {m: f"{m.value}_by_day" for m in METRICS}
COLUMNS: tuple[str, ...] = (
    "tenant_id",
    *METRICS,
    "internal_tasks",
    "missing_days",
    "absent_from",
)

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


def period_for(
    first_day: date, today: date, periods: Sequence[tuple[str, int]] = BUILT_IN.periods
) -> str:
    """The shortest of `periods` (shortest first) reaching `first_day` from `today`, with a day
    to spare."""
    needed = (today - first_day).days + 1
    for period, days in periods:
        if days >= needed:
            return period
    longest, reach = periods[-1]
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


def same_days(zone: str, other: str, days: Iterable[date]) -> bool:
    """Whether each of `days` begins and ends at the same instants in both zones (so a bucket
    dated by one is exactly that day of the other: "US/Eastern" is America/New_York)."""
    bounds = {bound for day in days for bound in (day, day + timedelta(days=1))}
    return all(_midnight(zone, day) == _midnight(other, day) for day in bounds)


def _midnight(zone: str, day: date) -> float:
    """The instant `day` begins in `zone` (POSIX seconds)."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).timestamp()


def _date_header(response: httpx.Response) -> datetime | None:
    try:
        return parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class DuplicateRow:
    """A row Yobi listed twice with identical figures; the copy was dropped."""

    endpoint: str  # "GET /admin/pms/stats/calls-by-tenant"
    tenant_id: int
    location_id: int | None  # set for endpoints whose rows are per location

    @property
    def record(self) -> str:
        """How a message names the row: "tenant 12" or "location 7 (tenant 12)"."""
        if self.location_id is None:
            return f"tenant {self.tenant_id}"
        return f"location {self.location_id} (tenant {self.tenant_id})"

    @property
    def note(self) -> str:
        """The sentence an anomaly report shows."""
        return (
            f"{SERVICE} {self.endpoint} listed {self.record} twice with identical figures: "
            "counted once"
        )


@dataclass(frozen=True)
class WeeklyCounters:
    """The four counters per tenant for exactly the requested dates, from trend buckets.

    `frame`: tenant_id, new_patients, appointments, tasks, calls (Int64; NA = a dense
    endpoint's answer has no row for the tenant), internal_tasks (subtracted staff tasks),
    missing_days (the days the week cannot be summed without: "calls:2026-11-21,...", ""
    when none), absent_from (the sparse endpoints with no row for the tenant, whose counters
    therefore count zero: "calls,tasks", "" when none).
    `by_day`: tenant_id and <metric>_by_day, each counter of every requested date in date
    order (internal staff's tasks subtracted), None where the frame's counter is NA.
    `duplicates`: rows Yobi listed twice with identical figures, each counted once.
    """

    frame: pd.DataFrame
    period: str
    duplicates: tuple[DuplicateRow, ...] = ()
    by_day: pd.DataFrame = field(default_factory=pd.DataFrame)

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
    """One tenant's sums for one stats endpoint while its rows are read."""

    counts: dict[Metric, int]
    covered: set[date] | None = None  # dates every row of the tenant covers
    internal: int = 0
    daily: dict[date, dict[Metric, int]] = field(default_factory=dict)  # counts per date


@dataclass
class _Sums:
    """One stats endpoint's answer, summed: per tenant, and the rows it listed twice alike."""

    tallies: dict[int, _Tally] = field(default_factory=dict)
    duplicates: list[DuplicateRow] = field(default_factory=list)
    newest: date | None = None  # the newest bucket date of any row


class YobiClient(ClosingClient):
    """Synchronous Yobi admin client; the token is kept fresh under the hood.

    `contract`: what Yobi is expected to answer (endpoints, periods, key paths, trends,
    bucket dates); the built-in one unless a file (`load_contract`) says otherwise.
    """

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
        contract: YobiContract = BUILT_IN,
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
        self._contract = contract
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
        self._served_at: datetime | None = None
        self._http = httpx.Client(
            base_url=check_base_url(base_url, Env.YOBI_BASE_URL),
            timeout=make_timeout(timeout),
            verify=tls(),
        )

    @property
    def served_at(self) -> datetime | None:
        """Yobi's clock on its latest answer (its Date header), None if it sent none: the
        spike compares the newest bucket date with it to tell which days buckets are."""
        return self._served_at

    @property
    def warnings(self) -> list[str]:
        """Retries, re-logins and oddities seen so far, sorted, for the anomaly report."""
        with self._lock:
            notes = sorted(self._notes)
        return self._log.lines() + notes

    # --- operations ----------------------------------------------------------------------

    def tenants(self, payload: Any | None = None) -> list[dict[str, Any]]:
        """Every tenant: tenant_id, tenant_name, website (or None), is_active (or None).

        `payload`: the tenants endpoint's answer if already fetched (the spike's), read
        without a call.
        """
        return self._listing(
            self._contract.tenants,
            payload,
            {
                "tenant_id": "tenant_id",
                "tenant_name": "name",
                "website": "website",
                "is_active": "is_active",
            },
        )

    def locations(self, payload: Any | None = None) -> list[dict[str, Any]]:
        """Every practice-management location: location_id, tenant_id, name.

        `payload`: the locations endpoint's answer if already fetched (the spike's), read
        without a call.
        """
        return self._listing(
            self._contract.locations,
            payload,
            {"location_id": "location_id", "tenant_id": "tenant_id", "name": "name"},
        )

    def _listing(
        self, endpoint: Endpoint, payload: Any | None, fields: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """A listing's rows as {field: the value of the endpoint's key}, one per id (the first
        field), in id order."""
        route = endpoint.route
        if payload is None:
            payload = self.payload(endpoint.method, endpoint.path)
        id_field = next(iter(fields))
        rows: dict[int, dict[str, Any]] = {}
        for i, row in enumerate(self._rows(payload, endpoint.keys["rows"], route)):
            where = f"results[{i}]."
            values = {
                name: self._read(row, endpoint.keys[key], route, where)
                for name, key in fields.items()
            }
            if values[id_field] in rows:
                # "tenants" -> "tenant 12 is listed twice"
                raise self._malformed(
                    route, f"{endpoint.name.removesuffix('s')} {values[id_field]} is listed twice"
                )
            rows[values[id_field]] = values
        return [rows[row_id] for row_id in sorted(rows)]

    def weekly_counters(
        self,
        dates: Sequence[date],
        payloads: Mapping[str, Any] | None = None,
        tenants: Iterable[int] = (),
    ) -> WeeklyCounters:
        """Sum each tenant's daily trend buckets for exactly `dates` (e.g. a Week's dates).

        The period is the contract's shortest reaching the first date from today in
        TIMEZONE. Tasks by internal staff are subtracted day by day. Uncovered days are
        recorded, never scaled. `payloads`: answers already fetched for that period, by stats
        endpoint name (the spike's); only the endpoints not given are fetched. `tenants`: the
        tenant ids the week is for (Yobi's tenant list); each gets a row, so a tenant a sparse
        endpoint leaves out entirely counts zero there (see WeeklyCounters).
        """
        wanted = self._dates(dates)
        stats = self._contract.stats
        given = dict(payloads or {})
        unknown = sorted(set(given) - {endpoint.name for endpoint in stats})
        if unknown:
            raise ValueError(
                f"weekly_counters payloads {unknown!r} are not stats endpoints: key each "
                f"payload by one of {[endpoint.name for endpoint in stats]!r}"
            )
        self._require_new_york_days(wanted)
        today = self._clock().astimezone(ZoneInfo(TIMEZONE)).date()
        period = period_for(min(wanted), today, self._contract.periods)
        if len(given) < len(stats):
            self._bearer()  # one login up front, not one per parallel call
        with ThreadPoolExecutor(len(stats)) as pool:
            sums = list(
                pool.map(
                    lambda endpoint: self._tally(
                        endpoint, period, wanted, given.get(endpoint.name)
                    ),
                    stats,
                )
            )
        listed = {tenant_id for endpoint_sums in sums for tenant_id in endpoint_sums.tallies}
        rows = [
            self._counter_row(tenant_id, wanted, sums)
            for tenant_id in sorted(listed.union(tenants))
        ]
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        integers = ("tenant_id", *METRICS, "internal_tasks")
        frame = frame.astype(dict.fromkeys(integers, "Int64")).astype(
            {"missing_days": object, "absent_from": object}
        )
        duplicates = tuple(row for endpoint_sums in sums for row in endpoint_sums.duplicates)
        by_day = pd.DataFrame(rows, columns=["tenant_id", *BY_DAY_COLUMNS.values()])
        return WeeklyCounters(frame=frame, period=period, duplicates=duplicates, by_day=by_day)

    def _counter_row(self, tenant_id: int, wanted: set[date], sums: list[_Sums]) -> dict[str, Any]:
        """One tenant's row of the counters frame and of `by_day`, from every stats
        endpoint's sums.

        Dense endpoints: a tenant left out is NA there, a day left out is missing. Sparse
        ones: a tenant left out counts zero (and is named in absent_from); once the endpoint
        has a bucket dated after the week, every day left out counts zero, until then it is
        missing (Yobi may not have reported it yet).
        """
        row: dict[str, Any] = {"tenant_id": tenant_id, "internal_tasks": pd.NA}
        missing: list[tuple[int, date, Metric]] = []
        absent: list[str] = []
        week_end = max(wanted)
        for endpoint, endpoint_sums in zip(self._contract.stats, sums, strict=True):
            found = endpoint_sums.tallies.get(tenant_id)
            sparse = endpoint.trends is Trends.SPARSE
            if found is None and sparse:
                absent.append(endpoint.name)
                found = _Tally(dict.fromkeys(endpoint.metrics, 0), covered=set())
            newest = endpoint_sums.newest
            reported = sparse and newest is not None and newest > week_end
            for metric in endpoint.metrics:
                row[metric.value] = pd.NA if found is None else found.counts[metric]
                if found is not None and not reported:
                    uncovered = wanted - (found.covered or set())
                    missing += [(METRICS.index(metric), day, metric) for day in uncovered]
            if found is not None and PER_USER_METRIC in endpoint.metrics:
                row["internal_tasks"] = found.internal
        row["missing_days"] = ",".join(f"{m.value}:{d.isoformat()}" for _, d, m in sorted(missing))
        row["absent_from"] = ",".join(absent)
        days = sorted(wanted)
        for endpoint, endpoint_sums in zip(self._contract.stats, sums, strict=True):
            found = endpoint_sums.tallies.get(tenant_id)
            for metric in endpoint.metrics:
                row[BY_DAY_COLUMNS[metric]] = (
                    None
                    if pd.isna(row[metric.value])
                    else [found.daily.get(day, {}).get(metric, 0) if found else 0 for day in days]
                )
        return row

    # --- trend summing -------------------------------------------------------------------

    def _tally(
        self, endpoint: StatsEndpoint, period: str, wanted: set[date], payload: Any | None
    ) -> _Sums:
        route = endpoint.route
        if payload is None:
            params = {self._contract.period_param: period, **endpoint.params}
            payload = self.payload(endpoint.method, endpoint.path, params=params)
        sums = _Sums()
        buckets_without_users = 0
        read = self._read
        keys = endpoint.keys
        counted = list(endpoint.metrics.items())
        per_user = endpoint.per_user
        rows_key = keys["rows"]
        first_rows: dict[int, tuple[str, dict[str, Any]]] = {}  # row identity -> (where, row)
        for i, row in enumerate(self._rows(payload, rows_key, route)):
            where = f"{rows_key.paths[0]}[{i}]."
            tenant_id = read(row, keys["tenant_id"], route, where)
            location_id = (
                read(row, keys["location_id"], route, where) if endpoint.per_location else None
            )
            identity = tenant_id if location_id is None else location_id
            if identity in first_rows:
                duplicate = DuplicateRow(route, tenant_id, location_id)
                self._require_alike(duplicate, first_rows[identity], (where, row))
                sums.duplicates.append(duplicate)
                continue
            first_rows[identity] = (where, row)
            tally = sums.tallies.setdefault(tenant_id, _Tally(dict.fromkeys(endpoint.metrics, 0)))
            row_dates: set[date] = set()
            trend = read(row, keys["trend"], route, where) or []
            for j, bucket in enumerate(trend):
                at = f"{where}trend[{j}]."
                day = read(bucket, keys["date"], route, at)
                if day in row_dates:
                    raise self._malformed(route, f"tenant {tenant_id} has two {day} buckets")
                row_dates.add(day)
                if day not in wanted:
                    continue
                counts = {m: self._count(bucket, key, route, at, tenant_id) for m, key in counted}
                if per_user:
                    users = read(bucket, keys["by_user"], route, at)
                    buckets_without_users += users is None
                    internal = self._internal_count(users or [], endpoint, at, tenant_id)
                    if internal > counts[PER_USER_METRIC]:
                        raise self._malformed(
                            route,
                            f"tenant {tenant_id} on {day}: internal users created {internal} "
                            f"tasks, more than the {counts[PER_USER_METRIC]} created in all",
                        )
                    counts[PER_USER_METRIC] -= internal
                    tally.internal += internal
                on_day = tally.daily.setdefault(day, dict.fromkeys(endpoint.metrics, 0))
                for metric, value in counts.items():
                    tally.counts[metric] += value
                    on_day[metric] += value
            # A tenant's day is covered only if every one of its rows (locations) reports it.
            tally.covered = row_dates if tally.covered is None else tally.covered & row_dates
            if row_dates:
                sums.newest = max(sums.newest or min(row_dates), max(row_dates))
        if buckets_without_users:
            self._note(
                f"{SERVICE} {route}: {buckets_without_users} trend buckets carry no by_user "
                "breakdown; internal staff tasks could not be subtracted there"
            )
        sums.duplicates.sort(key=lambda row: (row.tenant_id, row.location_id or 0))
        return sums

    def _require_alike(
        self,
        duplicate: DuplicateRow,
        first: tuple[str, dict[str, Any]],
        again: tuple[str, dict[str, Any]],
    ) -> None:
        """Nothing when a row repeats the first one exactly (the copy is then dropped);
        ConflictingRowsError when the two differ: which is right cannot be known."""
        if first[1] == again[1]:
            return
        raise ConflictingRowsError(
            SERVICE,
            duplicate.endpoint,
            200,
            fix=(
                "rerun once Yobi lists it once; if it persists, ask Yobi which figures are "
                "right (a week is never summed from a guess)"
            ),
            detail=(
                f"{duplicate.record} is listed twice with different figures "
                f"({first[0].rstrip('.')} and "
                f"{again[0].rstrip('.')}); the week cannot tell which is right"
            ),
            tenant_id=duplicate.tenant_id,
            location_id=duplicate.location_id,
        )

    def _internal_count(
        self, users: list[Any], endpoint: StatsEndpoint, where: str, tenant_id: int
    ) -> int:
        """What internal staff (by e-mail domain) counted in one bucket's per-user breakdown."""
        total = 0
        for k, user in enumerate(users):
            at = f"{where}by_user[{k}]."
            address = self._read(user, endpoint.keys["user_email"], endpoint.route, at)
            internal = self._internal_address.get(address)
            if internal is None:  # a tenant's few users recur in every bucket: parse once
                internal = self._internal_address[address] = email_domain(address) in self._internal
            if internal:
                total += self._count(
                    user, endpoint.keys["user_count"], endpoint.route, at, tenant_id
                )
        return total

    def _require_new_york_days(self, wanted: set[date]) -> None:
        """BucketTimezoneError unless the contract's bucket days start and end at the same
        instants as TIMEZONE's on every wanted day (another name for the same days passes)."""
        zone = self._contract.bucket_timezone
        if not same_days(zone, TIMEZONE, wanted):
            source = self._contract.source
            raise BucketTimezoneError(
                zone,
                TIMEZONE,
                source,
                f"run `engagement-ranker spike` to see which days Yobi's bucket dates are; if "
                f"they are {TIMEZONE} days, set bucket_timezone to {TIMEZONE} in {source}; if "
                f"they are {zone} days, ask Yobi for {TIMEZONE} daily buckets: until then the "
                "week cannot be ranked",
            )

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

    def _rows(self, payload: Any, key: Key, route: str) -> list[dict[str, Any]]:
        rows = self._read(payload, key, route, "")
        odd = [row for row in rows if not isinstance(row, dict)]
        if odd:
            raise self._malformed(route, f"{key.entry} holds non-objects such as {odd[0]!r}")
        return rows

    def _read(self, holder: Any, key: Key, route: str, where: str) -> Any:
        """The value of `key` in `holder`; None for an absent optional key."""
        parse = PARSERS[key.kind]
        wrong: tuple[str, Any] | None = None
        for path, steps in zip(key.paths, key.steps, strict=True):
            value = _lookup(holder, steps)
            if value is None:
                continue
            parsed = parse(value)
            if parsed is not _NO_MATCH:
                return parsed
            wrong = wrong or (path, value)
        if wrong is not None:
            path, value = wrong
            # The login payload holds the token: there, name the type and never the value.
            login = key.entry.startswith(f"{self._contract.login.name}.")
            shown = type(value).__name__ if login else repr(str(value)[:60])
            raise self._malformed(route, f"{where}{path} is {shown}, not {key.kind.value}")
        if not key.required:
            return None
        key_path = " | ".join(f"{where}{path}" for path in key.paths)
        raise MissingKeyError(
            SERVICE,
            route,
            200,
            fix=self._contract.fix(key.entry),
            detail=f"required key {key_path} is absent",
            key_path=key_path,
        )

    def _count(self, bucket: Any, key: Key, route: str, where: str, tenant_id: int) -> int:
        value = self._read(bucket, key, route, where)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= COUNT_MAX:
            raise self._malformed(
                route,
                f"tenant {tenant_id} {where}{key.paths[0]} is {str(value)[:60]!r}: "
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
        login = self._contract.login
        endpoint = login.route
        response = self._send(
            login.method,
            login.path,
            endpoint,
            json={"user": self._email, "password": self._password},
        )
        if response.status_code == 401:
            raise AuthError(SERVICE, endpoint, 401, fix=FIX_LOGIN, detail=self._message(response))
        payload = self._payload(endpoint, response, refused=AuthError, refused_fix=FIX_LOGIN)
        self._expires_ms = self._read(payload, login.keys["expires_ms"], endpoint, "")
        return self._read(payload, login.keys["token"], endpoint, "")

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
        self._served_at = _date_header(response)
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
            SERVICE, endpoint, 200, fix=self._contract.fix(), detail=self._redact(detail)
        )

    def _note(self, line: str) -> None:
        with self._lock:
            self._notes.add(line)
