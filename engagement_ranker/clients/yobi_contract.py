"""Yobi's contract as data: endpoints, periods, response key paths, bucket dates, trends.

Yobi has no public documentation (reference/yobi-api.md is the best-known model), so what the
client expects of it is a value, not code. `BUILT_IN` follows the reference; a JSON file
(`YOBI_CONTRACT_FILE`, read by `load_contract`) replaces it whole when the spike finds Yobi
answering otherwise, so a renamed field, a moved endpoint, sparse trends or another bucket
time zone is a config change. What each field means (its kind, where in an answer it sits,
whether an answer may lack it) stays in code: `FIELDS`.

The file is JSON, not YAML: the standard library reads it and names the line and column of a
syntax error, it is what `engagement-ranker spike --json` and the overrides file already
speak, and it has no implicit typing (YAML reads `no` as false and 2026-11-15 as a date).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engagement_ranker.clients.errors import ContractError
from engagement_ranker.clients.http import shorten
from engagement_ranker.constants import METRICS, TIMEZONE, YOBI_PERIODS, Env, Metric

CONTRACT_VERSION = 1
BUILT_IN_SOURCE = "the built-in contract (engagement_ranker/clients/yobi_contract.py)"
# Values quoted in an error are cut to this many characters.
SHOWN_MAX_CHARS = 80


class Kind(StrEnum):
    """What a response value must be."""

    LIST = "a list"
    TEXT = "a string"
    ID = "an id (an integer >= 0 or its digits)"
    FLAG = "true or false"
    COUNT = "a count"  # an int 0..COUNT_MAX, checked by the client with the tenant named
    DATE = "a YYYY-MM-DD date"


class Scope(StrEnum):
    """Where a field's paths start: the answer, one of its rows, a row's trend bucket, or one
    user of a bucket's per-user breakdown."""

    ANSWER = "answer"
    ROW = "row"
    BUCKET = "bucket"
    USER = "user"


class Trends(StrEnum):
    """How an endpoint reports days and tenants without activity."""

    DENSE = "dense"  # a row per tenant and a bucket per day, zeros included
    SPARSE = "sparse"  # zero-activity days and tenants are left out


@dataclass(frozen=True)
class Field:
    """What a field means; `required`: every answer must carry it."""

    kind: Kind
    scope: Scope
    required: bool = True


# Each endpoint kind's fields. A contract gives every field its paths, except the stats fields
# in STATS_OPTIONAL: `location_id` (rows per location, summed per tenant) and the per-user
# breakdown of tasks (`by_user`, `user_email`, `user_count`: all three or none).
FIELDS: dict[str, dict[str, Field]] = {
    "login": {"token": Field(Kind.TEXT, Scope.ANSWER), "expires_ms": Field(Kind.ID, Scope.ANSWER)},
    "tenants": {
        "rows": Field(Kind.LIST, Scope.ANSWER),
        "tenant_id": Field(Kind.ID, Scope.ROW),
        "name": Field(Kind.TEXT, Scope.ROW),
        "website": Field(Kind.TEXT, Scope.ROW, required=False),
        "is_active": Field(Kind.FLAG, Scope.ROW, required=False),
    },
    "locations": {
        "rows": Field(Kind.LIST, Scope.ANSWER),
        "location_id": Field(Kind.ID, Scope.ROW),
        "tenant_id": Field(Kind.ID, Scope.ROW),
        "name": Field(Kind.TEXT, Scope.ROW),
    },
    "stats": {
        "rows": Field(Kind.LIST, Scope.ANSWER),
        "tenant_id": Field(Kind.ID, Scope.ROW),
        "location_id": Field(Kind.ID, Scope.ROW),
        "trend": Field(Kind.LIST, Scope.ROW, required=False),
        "date": Field(Kind.DATE, Scope.BUCKET),
        "by_user": Field(Kind.LIST, Scope.BUCKET, required=False),
        "user_email": Field(Kind.TEXT, Scope.USER),
        "user_count": Field(Kind.COUNT, Scope.USER),
    },
}
METRIC_FIELD = Field(Kind.COUNT, Scope.BUCKET)
PER_USER: tuple[str, ...] = ("by_user", "user_email", "user_count")
STATS_OPTIONAL: frozenset[str] = frozenset({"location_id", *PER_USER})
# The metric a per-user breakdown is subtracted from (staff tasks; the spec has no other).
PER_USER_METRIC = Metric.TASKS


@dataclass(frozen=True)
class Key:
    """One field of one endpoint: its contract entry, and its dotted paths tried in order (the
    first that fits wins)."""

    entry: str  # e.g. "stats.appointments.metrics.new_patients"
    paths: tuple[str, ...]
    kind: Kind
    scope: Scope
    required: bool = True
    # Each path split at its dots once: a week's payloads read the same few paths a million times.
    steps: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(tuple(path.split(".")) for path in self.paths))


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: its request and the key of every field the client reads from it."""

    name: str  # its entry in the contract: "login", "tenants", "locations", or a stats name
    method: str
    path: str
    params: Mapping[str, str]
    keys: Mapping[str, Key]

    @property
    def route(self) -> str:
        """The request as errors and request logs name it: "METHOD /path"."""
        return f"{self.method} {self.path}"

    def every_key(self) -> tuple[Key, ...]:
        """Every key the client reads from this endpoint, in the contract's order."""
        return tuple(self.keys.values())


@dataclass(frozen=True)
class StatsEndpoint(Endpoint):
    """A stats endpoint: rows per tenant (or per location) with daily trend buckets."""

    metrics: Mapping[Metric, Key]
    trends: Trends

    def every_key(self) -> tuple[Key, ...]:
        return (*self.keys.values(), *self.metrics.values())

    @property
    def per_location(self) -> bool:
        """Rows are per location (identified by location_id) and summed per tenant."""
        return "location_id" in self.keys

    @property
    def per_user(self) -> bool:
        """Buckets carry a per-user breakdown of PER_USER_METRIC."""
        return "by_user" in self.keys


@dataclass(frozen=True)
class YobiContract:
    """Everything the client assumes about Yobi; `source` names where it came from."""

    source: str = field(compare=False)
    bucket_timezone: str  # the zone whose calendar days the trend buckets are
    period_param: str
    periods: tuple[tuple[str, int], ...]  # (period, days it reaches back), shortest first
    login: Endpoint
    tenants: Endpoint
    locations: Endpoint
    stats: tuple[StatsEndpoint, ...]

    def endpoint(self, name: str) -> StatsEndpoint:
        """The stats endpoint called `name`."""
        for stats in self.stats:
            if stats.name == name:
                return stats
        raise KeyError(f"no stats endpoint {name!r} in {self.source}")

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Every endpoint, in the contract's order."""
        return (self.login, self.tenants, self.locations, *self.stats)

    def fix(self, entry: str | None = None) -> str:
        """How to bring the contract in line with what Yobi answers (at `entry`, if known)."""
        what = f"entry {entry}" if entry else "the entries concerned"
        if self.source == BUILT_IN_SOURCE:
            return (
                "confirm what Yobi answers with `engagement-ranker spike`, save the contract it "
                f"prints with {what} corrected, and name that file in {Env.YOBI_CONTRACT_FILE}"
            )
        return (
            "confirm what Yobi answers with `engagement-ranker spike` and correct "
            f"{what} in {self.source}"
        )

    def as_data(self) -> dict[str, Any]:
        """The contract as the JSON document `load_contract` reads."""
        return {
            "version": CONTRACT_VERSION,
            "bucket_timezone": self.bucket_timezone,
            "period_param": self.period_param,
            "periods": dict(self.periods),
            "login": _endpoint_data(self.login),
            "tenants": _endpoint_data(self.tenants),
            "locations": _endpoint_data(self.locations),
            "stats": {
                stats.name: {
                    "path": stats.path,
                    "params": dict(stats.params),
                    "trends": stats.trends.value,
                    "keys": _paths_data(stats.keys),
                    "metrics": {
                        metric.value: list(key.paths) for metric, key in stats.metrics.items()
                    },
                }
                for stats in self.stats
            },
        }

    def to_json(self) -> str:
        """The contract as a file's text, ready to save (stable: same contract, same bytes)."""
        return json_text(self.as_data()) + "\n"


def json_text(value: Any, indent: str = "") -> str:
    """JSON with one member per line, but each list (a key's paths) on one line."""
    if not isinstance(value, dict) or not value:
        return json.dumps(value)
    inner = indent + "  "
    members = ",\n".join(
        f"{inner}{json.dumps(name)}: {json_text(item, inner)}" for name, item in value.items()
    )
    return f"{{\n{members}\n{indent}}}"


def _paths_data(keys: Mapping[str, Key]) -> dict[str, list[str]]:
    return {name: list(key.paths) for name, key in keys.items()}


def _endpoint_data(endpoint: Endpoint) -> dict[str, Any]:
    return {"path": endpoint.path, "keys": _paths_data(endpoint.keys)}


# --- reading a contract ---------------------------------------------------------------------
def load_contract(path: str | Path) -> YobiContract:
    """The contract in the JSON file at `path`; ContractError naming the file, the entry, the
    value and the fix when it cannot be used."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ContractError(source, "", "is not UTF-8 text", _FIX_FILE) from None
    except OSError as error:
        raise ContractError(
            source, "", f"cannot be read ({error.strerror or error})", _FIX_FILE
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ContractError(
            source,
            "",
            f"is not JSON: {error.msg} at line {error.lineno} column {error.colno}",
            "correct the JSON there (a saved `engagement-ranker spike` contract is valid JSON)",
        ) from None
    return parse_contract(data, source)


_FIX_FILE = (
    f"point {Env.YOBI_CONTRACT_FILE} at a readable UTF-8 JSON file, such as the contract "
    "`engagement-ranker spike` prints, or unset it to use the built-in contract"
)


def parse_contract(data: Any, source: str) -> YobiContract:
    """A contract from its JSON document; `source` names it in every error."""
    return _Reader(source).contract(data)


class _Reader:
    """Reads a contract document, raising ContractError at the first entry that is wrong."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, entry: str, problem: str, fix: str) -> ContractError:
        return ContractError(self.source, entry, problem, fix)

    def obj(
        self, value: Any, entry: str, required: set[str], optional: frozenset[str] = frozenset()
    ) -> Mapping[str, Any]:
        """`value` as an object with every `required` member and no unknown one."""
        if not isinstance(value, dict):
            raise self.fail(entry, f"is {_shown(value)}, not an object", "use a JSON object {...}")
        unknown = sorted(set(value) - required - optional)
        if unknown:
            allowed = ", ".join(sorted(required | optional))
            raise self.fail(
                _join(entry, unknown[0]),
                "is not a known entry",
                f"correct its spelling or remove it; {entry or 'the contract'} takes {allowed}",
            )
        missing = sorted(required - set(value))
        if missing:
            raise self.fail(
                _join(entry, missing[0]),
                "is missing",
                "add it (`engagement-ranker spike` prints a complete contract to start from)",
            )
        return value

    def text(self, value: Any, entry: str, fix: str) -> str:
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            raise self.fail(entry, f"is {_shown(value)}, not a non-empty string", fix)
        return value

    def path(self, value: Any, entry: str) -> str:
        text = self.text(value, entry, _FIX_PATH)
        if not text.startswith("/") or " " in text or "?" in text:
            raise self.fail(entry, f"is {_shown(value)}, not an endpoint path", _FIX_PATH)
        return text

    def paths(self, value: Any, entry: str) -> tuple[str, ...]:
        """A key's dotted response paths, tried in order."""
        if not isinstance(value, list) or not value:
            raise self.fail(entry, f"is {_shown(value)}, not a list of paths", _FIX_PATHS)
        for i, path in enumerate(value):
            if not isinstance(path, str) or "" in path.split(".") or path != path.strip():
                raise self.fail(
                    f"{entry}[{i}]", f"is {_shown(path)}, not a dotted path", _FIX_PATHS
                )
        if len(set(value)) != len(value):
            raise self.fail(entry, f"is {_shown(value)}: a path is listed twice", _FIX_PATHS)
        return tuple(value)

    def keys(
        self, value: Any, entry: str, kind: str, optional: frozenset[str] = frozenset()
    ) -> dict[str, Key]:
        fields = FIELDS[kind]
        given = self.obj(value, entry, set(fields) - optional, optional)
        return {
            name: Key(
                _join(entry, name), self.paths(given[name], _join(entry, name)), *_parts(field)
            )
            for name, field in fields.items()
            if name in given
        }

    def endpoint(self, value: Any, name: str, method: str) -> Endpoint:
        spec = self.obj(value, name, {"path", "keys"})
        return Endpoint(
            name,
            method,
            self.path(spec["path"], f"{name}.path"),
            {},
            self.keys(spec["keys"], f"{name}.keys", name),
        )

    def contract(self, data: Any) -> YobiContract:
        top = self.obj(
            data,
            "",
            {
                "version",
                "bucket_timezone",
                "period_param",
                "periods",
                "login",
                "tenants",
                "locations",
                "stats",
            },
        )
        if top["version"] != CONTRACT_VERSION or isinstance(top["version"], bool):
            raise self.fail(
                "version",
                f"is {_shown(top['version'])}; this build reads version {CONTRACT_VERSION}",
                "save a fresh contract from `engagement-ranker spike` and carry your changes over",
            )
        period_param = self.text(
            top["period_param"], "period_param", "name the query parameter Yobi's stats take"
        )
        stats = self.stats(top["stats"], period_param)
        return YobiContract(
            source=self.source,
            bucket_timezone=self.zone(top["bucket_timezone"]),
            period_param=period_param,
            periods=self.periods(top["periods"]),
            login=self.endpoint(top["login"], "login", "POST"),
            tenants=self.endpoint(top["tenants"], "tenants", "GET"),
            locations=self.endpoint(top["locations"], "locations", "GET"),
            stats=stats,
        )

    def zone(self, value: Any) -> str:
        fix = (
            f"name an IANA time zone, e.g. {TIMEZONE} (what the reference says); "
            "`engagement-ranker spike` reports what Yobi's bucket dates look like"
        )
        name = self.text(value, "bucket_timezone", fix)
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail("bucket_timezone", f"is {_shown(name)}, not a time zone", fix) from None
        return name

    def periods(self, value: Any) -> tuple[tuple[str, int], ...]:
        fix = f"give each period Yobi accepts with the days it reaches back, e.g. {dict(YOBI_PERIODS)}"
        if not isinstance(value, dict) or not value:
            raise self.fail("periods", f"is {_shown(value)}, not an object of periods", fix)
        for name, days in value.items():
            self.text(name, f"periods.{name}", fix)
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                raise self.fail(f"periods.{name}", f"is {_shown(days)}, not a number of days", fix)
        return tuple(sorted(value.items(), key=lambda item: (item[1], item[0])))

    def stats(self, value: Any, period_param: str) -> tuple[StatsEndpoint, ...]:
        if not isinstance(value, dict) or not value:
            raise self.fail(
                "stats", f"is {_shown(value)}, not an object of endpoints", _FIX_METRICS
            )
        endpoints = tuple(
            self.stats_endpoint(spec, name, period_param) for name, spec in value.items()
        )
        for metric in METRICS:
            owners = [e.name for e in endpoints if metric in e.metrics]
            if len(owners) != 1:
                raise self.fail(
                    "stats",
                    f"{metric.value} is under {len(owners)} endpoints' metrics "
                    f"({', '.join(owners) or 'none'})",
                    _FIX_METRICS,
                )
        return endpoints

    def stats_endpoint(self, value: Any, name: str, period_param: str) -> StatsEndpoint:
        entry = f"stats.{name}"
        self.text(name, entry, "name each stats endpoint, e.g. calls")
        spec = self.obj(value, entry, {"path", "params", "trends", "keys", "metrics"})
        params = spec["params"]
        if not isinstance(params, dict) or not all(
            isinstance(v, str) and isinstance(k, str) and k for k, v in params.items()
        ):
            raise self.fail(
                f"{entry}.params",
                f"is {_shown(params)}, not an object of strings",
                'give the fixed query parameters as text, e.g. {"include_non_integrated": "true"}',
            )
        if period_param in params:
            raise self.fail(
                f"{entry}.params.{period_param}",
                "is set here, but the client chooses the period",
                f"remove it; the period comes from `periods` ({period_param}=...)",
            )
        trends = spec["trends"]
        if trends not in set(Trends):
            raise self.fail(
                f"{entry}.trends",
                f"is {_shown(trends)}",
                'use "dense" (a bucket per tenant and day, zeros included) or "sparse" (zero '
                "days and tenants left out); `engagement-ranker spike` measures which",
            )
        keys = self.keys(spec["keys"], f"{entry}.keys", "stats", STATS_OPTIONAL)
        metrics = self.metrics(spec["metrics"], f"{entry}.metrics")
        per_user = [part for part in PER_USER if part in keys]
        if per_user and (len(per_user) != len(PER_USER) or PER_USER_METRIC not in metrics):
            raise self.fail(
                f"{entry}.keys.{per_user[0]}",
                f"is given with {', '.join(per_user)} on an endpoint with metrics "
                f"{', '.join(m.value for m in metrics)}",
                f"give all of {', '.join(PER_USER)} (the per-user breakdown), and only on the "
                f"endpoint with the {PER_USER_METRIC.value} metric, or none of them",
            )
        return StatsEndpoint(
            name,
            "GET",
            self.path(spec["path"], f"{entry}.path"),
            dict(params),
            keys,
            metrics,
            Trends(trends),
        )

    def metrics(self, value: Any, entry: str) -> dict[Metric, Key]:
        names = {metric.value for metric in METRICS}
        if isinstance(value, dict) and not value:
            raise self.fail(entry, "is empty", _FIX_METRICS)
        given = self.obj(value, entry, set(), frozenset(names))
        return {
            Metric(name): Key(
                _join(entry, name), self.paths(paths, _join(entry, name)), *_parts(METRIC_FIELD)
            )
            for name, paths in given.items()
        }


_FIX_PATH = "give the endpoint's path below YOBI_BASE_URL, e.g. /admin/pms/locations"
_FIX_PATHS = (
    'give a non-empty list of dotted response paths, tried in order, e.g. ["total_appointments", '
    '"appointment_count"]'
)
_FIX_METRICS = (
    f"list each of {', '.join(m.value for m in METRICS)} under exactly one stats endpoint's "
    "metrics, with the response paths of its daily count"
)


def _parts(spec: Field) -> tuple[Kind, Scope, bool]:
    return spec.kind, spec.scope, spec.required


def _join(entry: str, name: str) -> str:
    return f"{entry}.{name}" if entry else name


def _shown(value: Any) -> str:
    return shorten(json.dumps(value) if _is_json(value) else repr(value), SHOWN_MAX_CHARS)


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


BUILT_IN_DATA: dict[str, Any] = {
    "version": CONTRACT_VERSION,
    "bucket_timezone": TIMEZONE,
    "period_param": "period",
    "periods": dict(YOBI_PERIODS),
    "login": {
        "path": "/users/login",
        "keys": {"token": ["results.token"], "expires_ms": ["results.tokenExpirationInstant"]},
    },
    "tenants": {
        "path": "/admin/dental-tenants/list",
        "keys": {
            "rows": ["results", "results.results", "results.tenants"],
            "tenant_id": ["tenant_id", "id"],
            "name": ["tenant_name", "name"],
            "website": ["website", "domain"],
            "is_active": ["is_active"],
        },
    },
    "locations": {
        "path": "/admin/pms/locations",
        "keys": {
            "rows": ["results.results", "results.locations"],
            "location_id": ["location_id"],
            "tenant_id": ["tenant_id"],
            "name": ["name"],
        },
    },
    "stats": {
        "calls": {
            "path": "/admin/pms/stats/calls-by-tenant",
            "params": {"include_non_integrated": "true"},
            "trends": "dense",
            "keys": {
                "rows": ["results.stats"],
                "tenant_id": ["tenant_id"],
                "trend": ["trend"],
                "date": ["date"],
            },
            "metrics": {"calls": ["total_calls"]},
        },
        "tasks": {
            "path": "/admin/dental-tenants/tasks/created",
            "params": {},
            "trends": "dense",
            "keys": {
                "rows": ["results.by_tenant"],
                "tenant_id": ["tenant_id"],
                "trend": ["trend"],
                "date": ["date"],
                "by_user": ["by_user"],
                "user_email": ["user_email"],
                "user_count": ["created"],
            },
            "metrics": {"tasks": ["created"]},
        },
        "appointments": {
            "path": "/admin/pms/stats/appointments-by-location",
            "params": {},
            "trends": "dense",
            "keys": {
                "rows": ["results.locations"],
                "tenant_id": ["tenant_id"],
                "location_id": ["location_id"],
                "trend": ["trend"],
                "date": ["date"],
            },
            "metrics": {
                "appointments": ["total_appointments", "appointment_count"],
                "new_patients": ["new_patients"],
            },
        },
    },
}
BUILT_IN: YobiContract = parse_contract(BUILT_IN_DATA, BUILT_IN_SOURCE)
