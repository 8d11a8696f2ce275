"""`engagement-ranker spike`: the spec's ship-blocking verifications, read-only, in one command.

Before the job may write, the spec wants proof that the Yobi account reaches every
cross-tenant endpoint with every field the job reads for an exact Sun–Sat week, and that
HubSpot's customer companies can be mapped to Yobi tenants. This checks both, plus the
HubSpot token, property definitions and validation rules (in the API version the job speaks),
against whatever the environment points at, through the job's own clients, Yobi contract and
resolver, so a PASS means the job will find what it needs. For Yobi it also measures what the
contract must say (dense or sparse trends per endpoint, which days the buckets are) and prints
the contract it observed, ready to save as the file YOBI_CONTRACT_FILE names. It only reads:
it never calls a HubSpot write.

Exit codes: 0 every verification passed, 1 at least one failed, 2 bad command-line input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import click
import pandas as pd

from engagement_ranker.clients.errors import ApiError, AuthError, ClientError, ScopeError
from engagement_ranker.clients.http import redact
from engagement_ranker.clients.hubspot import HubSpotClient
from engagement_ranker.clients.yobi import WeeklyCounters, YobiClient, period_for, same_days
from engagement_ranker.clients.yobi_contract import (
    BUILT_IN,
    Endpoint,
    Key,
    Scope,
    StatsEndpoint,
    Trends,
    YobiContract,
    json_text,
    load_contract,
)
from engagement_ranker.constants import (
    DEFAULT_HUBSPOT_API_VERSION,
    DEFAULT_HUBSPOT_BASE_URL,
    DEFAULT_YOBI_BASE_URL,
    ENGAGEMENT_PROPERTIES,
    METRICS,
    TIMEZONE,
    Env,
    HubSpotApiVersion,
    MatchMethod,
)
from engagement_ranker.core.frames import rows
from engagement_ranker.core.identity import (
    AMBIGUOUS,
    COMPANY_COLUMNS,
    DUPLICATE_CLAIM,
    STRONG_SUGGESTION_SCORE,
    SUGGESTION_SEPARATOR,
    TENANT_INPUT_COLUMNS,
    UNMAPPED,
    Suggestion,
    normalize_domain,
    parse_generic_domains,
    parse_internal_domains,
    resolve_tenants,
    strong_suggestion,
    weekly_activity,
)
from engagement_ranker.core.tenants import tenant_frame, tenant_ids
from engagement_ranker.core.universe import (
    build_universe,
    included,
    parse_exclusion_rules,
    read_properties,
)
from engagement_ranker.core.week import Week, choose_week, latest_completed_week
from engagement_ranker.core.writeplan import property_problems
from engagement_ranker.settings import SECRET_VARIABLES, RankingSettings, SettingError

YOBI_CHECK = "Yobi access and weekly fields"
HUBSPOT_CHECK = "HubSpot access and properties"
MAPPING_CHECK = "Company to tenant mapping"

# What the spike's successful reads prove the private app may do; writing cannot be proven
# without writing, which the spike never does.
HUBSPOT_READ_SCOPES: tuple[str, ...] = (
    "crm.objects.contacts.read",
    "crm.objects.companies.read",
    "crm.schemas.companies.read",
)
HUBSPOT_WRITE_SCOPE = "crm.objects.companies.write"
WRITE_SCOPE_NOTE = "not checked: the spike never writes; the first allowlist run proves it"

FIX_SEPARATOR = ". Fix: "
FIX_SETTINGS = "correct the variable named above and rerun `engagement-ranker spike`"
FIX_PROPERTIES = "correct the company properties in HubSpot as each problem says, then rerun"
FIX_RULES = (
    "have a HubSpot admin exempt the property from these rules, or confirm every engagement "
    "value passes them (HubSpot Settings > Properties > the property > Rules)"
)
# What the property validation API cannot show: from 2026-09, conditional rules apply too.
CONDITIONAL_RULES_NOTE = (
    "conditional rules (a property required when another is written) are not listed by the "
    "property validation API; from 2026-09 they apply to writes, and a refusal names the rule"
)
FIX_UPSTREAM = "fix the HubSpot and Yobi failures above, then rerun"
FIX_UNIVERSE = (
    "check that customer contacts have lifecyclestage=customer and are associated with "
    "their companies in HubSpot"
)
FIX_COVERAGE = (
    f"pin the unmapped companies in {Env.TENANT_MAPPING_OVERRIDES_JSON} (start from the draft "
    f"above), correct their domains in HubSpot, or lower {Env.MAPPING_COVERAGE_MIN}"
)
# What the spike reports when an answer cannot tell dense trends from sparse ones.
UNDETERMINED = "undetermined"
BUCKET_ZONE_UTC = "UTC"
# The zones whose days the spike tells apart.
ZONES: tuple[str, ...] = (TIMEZONE, BUCKET_ZONE_UTC)
# Buckets scanned for timestamps: the shape is the same in every one.
STAMP_SAMPLE = 50
# (scope, the key of the list holding that scope's objects), outermost first.
NESTING: tuple[tuple[Scope, str], ...] = (
    (Scope.ROW, "rows"),
    (Scope.BUCKET, "trend"),
    (Scope.USER, "by_user"),
)


# --- verdicts -------------------------------------------------------------------------------
@dataclass
class Section:
    """One verification: what was found, and every problem with its fix."""

    check: str
    findings: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def fail(self, reason: str, fix: str) -> None:
        self.problems.append((reason.rstrip(". "), fix.rstrip(". ")))

    def fail_with(self, error: Exception, fix: str) -> None:
        """Record an error whose message may carry its own fix ("...: X. Fix: Y")."""
        reason, _, own_fix = str(error).rpartition(FIX_SEPARATOR)
        self.fail(reason or str(error), own_fix if reason else fix)

    def verdict(self) -> str:
        """The verdict line: PASS, or FAIL with every reason and then every fix."""
        if self.passed:
            return f"PASS {self.check}"
        reasons = "; ".join(reason for reason, _ in self.problems)
        fixes = "; ".join(dict.fromkeys(fix for _, fix in self.problems if fix))
        return f"FAIL {self.check}: {reasons}{FIX_SEPARATOR}{fixes or FIX_SETTINGS}"

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.findings,
            "verdict": self.verdict(),
            "passed": self.passed,
            "problems": [{"reason": reason, "fix": fix} for reason, fix in self.problems],
        }


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def _answer(error: ApiError) -> str:
    return f"HTTP {error.status}" if error.status else "no answer"


def _setting(env: Mapping[str, str], name: Env) -> str | None:
    """A variable's value, or None when unset or blank (as the job treats it)."""
    value = env.get(name)
    return value if value is not None and value.strip() else None


# --- Yobi -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    """One admin endpoint the job reads, with the query the job sends it."""

    endpoint: Endpoint
    params: Mapping[str, str]

    @property
    def name(self) -> str:
        return self.endpoint.name


def _probes(contract: YobiContract, period: str) -> tuple[Probe, ...]:
    return (
        Probe(contract.tenants, {}),
        Probe(contract.locations, {}),
        *(
            Probe(stats, {contract.period_param: period, **stats.params})
            for stats in contract.stats
        ),
    )


def _value(holder: Any, key: Key) -> tuple[str, Any] | None:
    """(path, value) of the first of the key's paths present and not null, as the client reads."""
    for path in key.paths:
        value = holder
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return path, value
    return None


def _used_paths(key: Key, hits: Iterable[tuple[str, Any]]) -> list[str]:
    """The key's paths that matched somewhere, in the key's order of preference."""
    found = {path for path, _ in hits}
    return [path for path in key.paths if path in found]


def _levels(payload: Any, endpoint: Endpoint) -> dict[Scope, tuple[str, list[dict[str, Any]]]]:
    """Scope -> (path label, every object at that depth) for one endpoint's response."""
    label, holders = "", [payload]
    levels = {Scope.ANSWER: (label, holders)}
    for scope, list_field in NESTING:
        key = endpoint.keys.get(list_field)
        if key is None:
            break
        hits = [hit for holder in holders if (hit := _value(holder, key)) is not None]
        label = f"{label}{(_used_paths(key, hits) or key.paths)[0]}[]."
        holders = [
            item
            for _, items in hits
            if isinstance(items, list)
            for item in items
            if isinstance(item, dict)
        ]
        levels[scope] = (label, holders)
    return levels


def _key_findings(probe: Probe, payload: Any) -> list[dict[str, Any]]:
    """Each contract key of this endpoint: where it was found, and in how many entries it is
    absent."""
    levels = _levels(payload, probe.endpoint)
    findings = []
    for key in probe.endpoint.every_key():
        if key.scope not in levels:
            continue
        label, holders = levels[key.scope]
        hits = [hit for holder in holders if (hit := _value(holder, key)) is not None]
        used = _used_paths(key, hits)
        findings.append(
            {
                "key": key.entry,
                "endpoint": probe.endpoint.route,
                "required": key.required,
                "path": ", ".join(label + path for path in used) or None,
                "looked_for": " | ".join(label + path for path in key.paths),
                "entries": len(holders),
                "missing": len(holders) - len(hits),
            }
        )
    return findings


def _bucket_dates(probe: Probe, payload: Any) -> dict[str, str | None]:
    """The first and last valid bucket dates of the answer."""
    _, buckets = _levels(payload, probe.endpoint).get(Scope.BUCKET, ("", []))
    days = [day for b in buckets if (day := _bucket_day(b, probe.endpoint)) is not None]
    return {
        "first": min(days).isoformat() if days else None,
        "last": max(days).isoformat() if days else None,
    }


def _trend_density(
    endpoint: StatsEndpoint, payload: Any, listed: set[int] | None
) -> dict[str, Any]:
    """Whether the endpoint reports days and records without activity, from its answer.

    A zero bucket proves Yobi reports zeros there: dense. Without one, a row lacking a day
    between the answer's first and last dates (a gap), or a listed tenant or location without
    a row (absent), means zeros are left out: sparse. Neither: every row is active every day,
    and the answer cannot tell (undetermined; the contract's value stands).
    """
    _, rows = _levels(payload, endpoint).get(Scope.ROW, ("", []))
    id_key = endpoint.keys["location_id" if endpoint.per_location else "tenant_id"]
    row_days: list[set[date]] = []
    zero_buckets = 0
    ids: set[str] = set()
    for row in rows:
        if (hit := _value(row, id_key)) is not None:
            ids.add(str(hit[1]))
        trend = _value(row, endpoint.keys["trend"])
        buckets = [b for b in (trend[1] if trend else []) if isinstance(b, dict)]
        row_days.append({day for b in buckets if (day := _bucket_day(b, endpoint)) is not None})
        zero_buckets += sum(_is_zero(b, endpoint) for b in buckets)
    days = set().union(*row_days)
    span = (max(days) - min(days)).days + 1 if days else 0
    gaps = sum(span - len(row) for row in row_days)
    absent = None if listed is None else len({str(i) for i in listed} - ids)
    measured = UNDETERMINED
    if zero_buckets:
        measured = Trends.DENSE.value
    elif gaps or absent:
        measured = Trends.SPARSE.value
    return {
        "rows": len(rows),
        "days": span,
        "gaps": gaps,
        "zero_buckets": zero_buckets,
        "absent": absent,
        "measured": measured,
    }


def _bucket_day(bucket: dict[str, Any], endpoint: Endpoint) -> date | None:
    hit = _value(bucket, endpoint.keys["date"])
    try:
        return date.fromisoformat(hit[1]) if hit and isinstance(hit[1], str) else None
    except ValueError:
        return None


def _is_zero(bucket: dict[str, Any], endpoint: StatsEndpoint) -> bool:
    """Every counter of the bucket is present and 0."""
    hits = [_value(bucket, key) for key in endpoint.metrics.values()]
    return all(hit is not None and type(hit[1]) is int and hit[1] == 0 for hit in hits)


def _stamps(payload: Any, endpoint: Endpoint) -> list[datetime]:
    """Instants with a UTC offset that a sample of the endpoint's buckets carry (a bucket's
    start, if Yobi gives one beside the date)."""
    _, buckets = _levels(payload, endpoint).get(Scope.BUCKET, ("", []))
    found = []
    for bucket in buckets[:STAMP_SAMPLE]:
        for value in bucket.values():
            if isinstance(value, str) and "T" in value:
                try:
                    instant = datetime.fromisoformat(value)
                except ValueError:
                    continue
                if instant.tzinfo is not None:
                    found.append(instant)
    return found


def bucket_zone(
    contract_zone: str, served_at: datetime | None, newest: date | None, stamps: list[datetime]
) -> dict[str, Any]:
    """Which calendar days the trend buckets look like, and why.

    It can tell: bucket timestamps at one zone's midnights; a bucket dated after today in New
    York (by Yobi's Date header) is not a New York day (UTC's, when UTC is already there).
    It cannot tell New York from UTC while the two share the date (before 19:00 New York time
    in winter, 20:00 in summer), nor from a UTC pipeline a day behind, nor without a bucket
    for today: then `observed` is None and the contract's value stands.
    """
    observed, evidence = _zone_evidence(served_at, newest, stamps)
    return {
        "contract": contract_zone,
        # The dates, not the instant: the report stays the same all day long.
        "service_dates": None
        if served_at is None
        else {zone: served_at.astimezone(ZoneInfo(zone)).date().isoformat() for zone in ZONES},
        "newest_bucket": None if newest is None else newest.isoformat(),
        "observed": observed,
        "evidence": evidence,
    }


def _zone_evidence(
    served_at: datetime | None, newest: date | None, stamps: list[datetime]
) -> tuple[str | None, str]:
    if stamps:
        for zone in ZONES:
            if all(stamp.astimezone(ZoneInfo(zone)).time() == time(0) for stamp in stamps):
                return zone, f"the {len(stamps)} bucket timestamps seen start at midnight in {zone}"
        return None, f"bucket timestamps start at midnight neither in {TIMEZONE} nor in UTC"
    if served_at is None:
        return None, "Yobi sent no Date header to compare the bucket dates with"
    if newest is None:
        return None, "there is no trend bucket to compare with Yobi's clock"
    new_york = served_at.astimezone(ZoneInfo(TIMEZONE)).date()
    utc = served_at.astimezone(UTC).date()
    now = f"by Yobi's clock it is {new_york} in {TIMEZONE} and {utc} in UTC"
    if newest > new_york:
        if newest <= utc:
            return BUCKET_ZONE_UTC, (
                f"the newest bucket is dated {newest}, a day not yet begun in {TIMEZONE}: {now}"
            )
        return None, f"the newest bucket is dated {newest}, after today even in UTC: {now}"
    if newest < new_york:
        return None, (
            f"the newest bucket ({newest}) is older than today ({now}): only a bucket for "
            "today can tell"
        )
    if new_york == utc:
        return None, (
            f"{now}: the zones share the date {utc}, so bucket dates cannot tell them apart now; "
            "run the spike again in the New York evening (after 19:00 in winter, 20:00 in "
            "summer), when UTC is a day ahead"
        )
    return TIMEZONE, (
        f"the newest bucket is dated {newest}, today in {TIMEZONE} but yesterday in UTC: {now} "
        "(unless Yobi's UTC buckets run a day behind)"
    )


def _coverage(counters: WeeklyCounters) -> dict[str, dict[str, int]]:
    frame = counters.frame
    return {
        metric.value: {
            "tenants": int(frame[metric.value].notna().sum()),
            "uncovered": int(frame["missing_days"].str.contains(f"{metric.value}:").sum()),
        }
        for metric in METRICS
    }


def _tenant_findings(tenants: pd.DataFrame) -> dict[str, Any]:
    count = len(tenants)
    with_website = int(tenants["domain_key"].notna().sum())
    return {
        "count": count,
        "named": int(tenants["name_key"].notna().sum()),
        "with_website": with_website,
        "website_pct": _pct(with_website, count),
        "active": int(tenants["is_active"].fillna(False).sum()),
        "with_locations": int((tenants["location_count"] > 0).sum()),
    }


@dataclass(frozen=True)
class YobiData:
    """What the mapping needs from Yobi: the tenant frame and each tenant's weekly activity."""

    tenants: pd.DataFrame
    activity: dict[int, int]


def yobi_contract(env: Mapping[str, str]) -> YobiContract:
    """The contract the job reads Yobi with: YOBI_CONTRACT_FILE's, else the built-in one."""
    path = _setting(env, Env.YOBI_CONTRACT_FILE)
    return BUILT_IN if path is None else load_contract(path)


def check_yobi(env: Mapping[str, str], week: Week, today: date) -> tuple[Section, YobiData | None]:
    """Login, admin access per endpoint, every key with its path, trend coverage, tenant fields,
    dense or sparse trends, the bucket time zone, and the contract Yobi was seen to answer."""
    section = Section(YOBI_CHECK)
    base_url = _setting(env, Env.YOBI_BASE_URL) or DEFAULT_YOBI_BASE_URL
    section.findings["base_url"] = base_url
    try:
        contract = yobi_contract(env)
        period = period_for(week.dates[0], today, contract.periods)
        internal = parse_internal_domains(_setting(env, Env.INTERNAL_YOBI_USER_EMAIL_DOMAINS))
        client = YobiClient(
            env.get(Env.YOBI_EMAIL, ""),
            env.get(Env.YOBI_PASSWORD, ""),
            base_url,
            internal_email_domains=internal,
            contract=contract,
        )
    except (ValueError, ClientError) as error:
        section.fail_with(error, FIX_SETTINGS)
        return section, None
    section.findings["contract_source"] = contract.source
    section.findings["period"] = period
    probes = _probes(contract, period)
    with client:
        payloads = _fetch(section, client, contract, probes)
        if payloads is None:
            return section, None
        served_at = client.served_at
        usable = {probe.name for probe in probes if probe.name in payloads}
        for probe in probes:
            if probe.name in payloads:
                usable -= _check_keys(section, contract, probe, payloads[probe.name])
        directory = (
            _directory(section, client, contract, payloads)
            if {"tenants", "locations"} <= usable
            else None
        )
        stats = [probe for probe in probes if probe.endpoint in contract.stats]
        activity: dict[int, int] = {}
        observed = contract
        if all(probe.name in usable for probe in stats):
            section.findings["buckets"] = {
                probe.name: _bucket_dates(probe, payloads[probe.name]) for probe in stats
            }
            observed = _observe(section, contract, payloads, directory, served_at, week)
            activity = _counters(section, client, contract, week, payloads, directory)
    section.findings["observed_contract"] = observed.as_data()
    return section, None if directory is None else YobiData(directory.frame, activity)


@dataclass(frozen=True)
class Directory:
    """Yobi's tenant list as the job reads it: the frame, and the ids each listing holds."""

    frame: pd.DataFrame
    tenant_ids: set[int]
    location_ids: set[int]


def _observe(
    section: Section,
    contract: YobiContract,
    payloads: Mapping[str, Any],
    directory: Directory | None,
    served_at: datetime | None,
    week: Week,
) -> YobiContract:
    """Measure each stats endpoint's trends and the buckets' time zone against what the
    contract says (a FAIL where following it would misread the week); returns the contract
    with what was measured."""
    trends: dict[str, dict[str, Any]] = {}
    for endpoint in contract.stats:
        listed = None
        if directory is not None:
            listed = directory.location_ids if endpoint.per_location else directory.tenant_ids
        density = _trend_density(endpoint, payloads[endpoint.name], listed)
        trends[endpoint.name] = density
        if density["measured"] == Trends.SPARSE and endpoint.trends is Trends.DENSE:
            listed_kind = "locations" if endpoint.per_location else "tenants"
            section.fail(
                f"{endpoint.name} trends are sparse (no zero bucket; {density['gaps']} row-days "
                f"left out, {density['absent'] or 0} listed {listed_kind} absent), but the "
                "contract reads them as dense: every left-out day would hold the week back",
                f"save the observed contract below and name that file in {Env.YOBI_CONTRACT_FILE}",
            )
    section.findings["trends"] = trends
    newest = max(
        (date.fromisoformat(b["last"]) for b in section.findings["buckets"].values() if b["last"]),
        default=None,
    )
    stamps = [stamp for e in contract.stats for stamp in _stamps(payloads[e.name], e)]
    zone = bucket_zone(contract.bucket_timezone, served_at, newest, stamps)
    section.findings["bucket_timezone"] = zone
    seen = zone["observed"]
    if seen is not None and not same_days(seen, contract.bucket_timezone, week.dates):
        section.fail(
            f"trend buckets are {seen} days ({zone['evidence']}), but the contract's "
            f"bucket_timezone is {contract.bucket_timezone}",
            f"set bucket_timezone to {seen}: save the observed contract below and name that "
            f"file in {Env.YOBI_CONTRACT_FILE}"
            if same_days(seen, TIMEZONE, week.dates)
            else f"an exact {TIMEZONE} week cannot be summed from {seen} days: ask Yobi for "
            f"{TIMEZONE} daily buckets (with the observed contract the job refuses such weeks "
            "rather than misread them)",
        )
    measured = {
        name: Trends(t["measured"]) for name, t in trends.items() if t["measured"] in set(Trends)
    }
    return replace(
        contract,
        bucket_timezone=seen or contract.bucket_timezone,
        stats=tuple(replace(s, trends=measured.get(s.name, s.trends)) for s in contract.stats),
    )


def _fetch(
    section: Section, client: YobiClient, contract: YobiContract, probes: Iterable[Probe]
) -> dict[str, Any] | None:
    """Each endpoint's raw response (None if the login itself failed); access per endpoint."""
    payloads: dict[str, Any] = {}
    endpoints = []
    refused: dict[tuple[str, str], list[str]] = {}  # (access, fix) -> endpoints
    for probe in probes:
        route = probe.endpoint.route
        try:
            # Raw, for the key report; the parsing below is the job's own.
            payloads[probe.name] = client.payload(
                probe.endpoint.method, probe.endpoint.path, probe.params or None
            )
            access = "ok"
        except ApiError as error:
            if error.endpoint == contract.login.route:
                section.findings["login"] = "failed"
                section.fail_with(error, FIX_SETTINGS)
                return None
            access = _answer(error)
            refused.setdefault((access, error.fix), []).append(route)
        endpoints.append({"name": probe.name, "endpoint": route, "access": access})
    for (access, fix), names in refused.items():
        section.fail(f"no access ({access}) to {', '.join(names)}", fix)
    section.findings["login"] = "ok"
    section.findings["endpoints"] = endpoints
    return payloads


def _check_keys(section: Section, contract: YobiContract, probe: Probe, payload: Any) -> set[str]:
    """Record the endpoint's keys; returns {probe.name} if a required one is absent."""
    findings = _key_findings(probe, payload)
    section.findings.setdefault("keys", []).extend(findings)
    absent = [f for f in findings if f["required"] and f["missing"]]
    for finding in absent:
        section.fail(
            f"required key {finding['key']} is absent at {finding['looked_for']} in "
            f"{finding['missing']} of {finding['entries']} entries of {finding['endpoint']}",
            contract.fix(finding["key"]),
        )
    return {probe.name} if absent else set()


def _directory(
    section: Section, client: YobiClient, contract: YobiContract, payloads: Mapping[str, Any]
) -> Directory | None:
    """The tenant frame the job builds, parsed from the payloads already fetched."""
    try:
        tenants = client.tenants(payloads["tenants"])
        locations = client.locations(payloads["locations"])
        frame = tenant_frame(tenants, locations)
    except ClientError as error:
        section.fail_with(error, contract.fix())
        return None
    section.findings["tenants"] = _tenant_findings(frame)
    return Directory(
        frame,
        {tenant["tenant_id"] for tenant in tenants},
        {location["location_id"] for location in locations},
    )


def _counters(
    section: Section,
    client: YobiClient,
    contract: YobiContract,
    week: Week,
    payloads: Mapping[str, Any],
    directory: Directory | None,
) -> dict[int, int]:
    """The week's counters as the job sums them, from the payloads already fetched; returns
    each tenant's activity for ties."""
    try:
        counters = client.weekly_counters(
            week.dates,
            {stats.name: payloads[stats.name] for stats in contract.stats},
            tenants=() if directory is None else directory.tenant_ids,
        )
    except ClientError as error:
        section.fail_with(error, contract.fix())
        return {}
    frame = counters.frame
    section.findings["coverage"] = _coverage(counters)
    section.findings["totals"] = {
        **{metric.value: int(frame[metric.value].sum()) for metric in METRICS},
        "internal_tasks_subtracted": int(frame["internal_tasks"].sum()),
    }
    try:
        counters.require_complete()
    except ClientError as error:
        section.fail_with(error, contract.fix())
    return weekly_activity(frame)


# --- HubSpot --------------------------------------------------------------------------------
def _definition(definition: Mapping[str, Any] | None) -> dict[str, Any]:
    if definition is None:
        return {"exists": False}
    metadata = definition.get("modificationMetadata") or {}
    return {
        "exists": True,
        "type": definition.get("type"),
        "fieldType": definition.get("fieldType"),
        "options": [option.get("value") for option in definition.get("options") or []],
        "read_only": metadata.get("readOnlyValue") is True,
    }


def _token_status(error: ApiError) -> str:
    if isinstance(error, AuthError):
        return f"refused (HTTP {error.status})"
    if isinstance(error, ScopeError):
        return "lacks scopes " + (", ".join(error.required_scopes) or "(unnamed)")
    return f"not verified ({_answer(error)})"


def _usable_domains(universe: pd.DataFrame, generic: frozenset[str]) -> dict[str, Any]:
    """How many companies carry identity evidence: a domain, a non-generic contact domain."""
    own = [
        (domain := normalize_domain(raw)) is not None and domain not in generic
        for raw in universe["domain"]
    ]
    contact = [
        any(d and d not in generic for d in (joined or "").split(","))
        for joined in universe["contact_email_domains"]
    ]
    either = [a or b for a, b in zip(own, contact, strict=True)]
    count = len(universe)
    return {
        "with_domain": sum(own),
        "with_domain_pct": _pct(sum(own), count),
        "with_contact_email_domain": sum(contact),
        "with_contact_email_domain_pct": _pct(sum(contact), count),
        "with_either": sum(either),
        "with_either_pct": _pct(sum(either), count),
    }


def _rule_text(rule: Mapping[str, Any]) -> str:
    """A validation rule as HubSpot's settings show it, e.g. "MAX_NUMBER (100)"."""
    return f"{rule['ruleType']} ({', '.join(map(str, rule['ruleArguments']))})"


def _check_rules(section: Section, client: HubSpotClient) -> None:
    """Our properties' validation rules: any one of them could refuse a write."""
    try:
        rules = client.validation_rules(ENGAGEMENT_PROPERTIES)
    except ApiError as error:
        section.fail_with(error, FIX_SETTINGS)
        return
    section.findings["validation_rules"] = {
        name: [_rule_text(rule) for rule in found] for name, found in rules.items()
    }
    if client.api_version is HubSpotApiVersion.V2026_09:
        section.findings["validation_rules_note"] = CONDITIONAL_RULES_NOTE
    for name, found in rules.items():
        if found:
            section.fail(
                f"HubSpot could refuse writes of {name}: its validation rule(s) "
                f"{', '.join(_rule_text(rule) for rule in found)} apply to API writes",
                FIX_RULES,
            )


def check_hubspot(env: Mapping[str, str]) -> tuple[Section, pd.DataFrame | None]:
    """Token and scopes, the API version, the three property definitions and their validation
    rules, and the customer universe's counts."""
    section = Section(HUBSPOT_CHECK)
    base_url = _setting(env, Env.HUBSPOT_BASE_URL) or DEFAULT_HUBSPOT_BASE_URL
    section.findings["base_url"] = base_url
    try:
        rules = parse_exclusion_rules(_setting(env, Env.HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON))
        generic = parse_generic_domains(_setting(env, Env.GENERIC_EMAIL_DOMAINS))
        client = HubSpotClient(
            env.get(Env.HUBSPOT_ACCESS_TOKEN, ""),
            base_url,
            tier=_setting(env, Env.HUBSPOT_TIER) or "free",
            api_version=_setting(env, Env.HUBSPOT_API_VERSION) or DEFAULT_HUBSPOT_API_VERSION,
        )
    except ValueError as error:
        section.fail_with(error, FIX_SETTINGS)
        return section, None
    section.findings["api_version"] = client.api_version.value
    read = read_properties(rules)
    with client:
        try:
            definitions = client.property_definitions(ENGAGEMENT_PROPERTIES)
            found = client.customer_universe(read)
        except ApiError as error:
            section.findings["authentication"] = _token_status(error)
            section.fail_with(error, FIX_SETTINGS)
            return section, None
        _check_rules(section, client)
    section.findings["authentication"] = "ok"
    section.findings["scopes"] = {
        **dict.fromkeys(HUBSPOT_READ_SCOPES, "ok"),
        HUBSPOT_WRITE_SCOPE: WRITE_SCOPE_NOTE,
    }
    section.findings["properties"] = {name: _definition(d) for name, d in definitions.items()}
    for problem in property_problems(definitions):
        section.fail(problem, FIX_PROPERTIES)
    universe = build_universe(found.contacts, found.companies_of, found.companies, rules)
    companies = included(universe)
    excluded = universe["excluded_reason"].dropna().value_counts()
    section.findings["universe"] = {
        "customer_contacts": len(found.contacts),
        "companies": len(universe),
        "unreadable": len(found.missing),
        "excluded": {str(reason): int(excluded[reason]) for reason in sorted(excluded.index)},
        "included": len(companies),
        **_usable_domains(companies, generic),
    }
    if companies.empty:
        section.fail("no company is associated with a customer contact", FIX_UNIVERSE)
        return section, None
    return section, companies


# --- mapping --------------------------------------------------------------------------------
def _draft(
    unmapped: Iterable[str], suggestions: Mapping[str, tuple[Suggestion, ...]]
) -> tuple[dict[str, int | None], dict[str, list[str]]]:
    """(overrides draft, weak suggestions): the draft pre-fills a company only with its strong
    suggestion (`strong_suggestion`), else null; the weaker ones, with their scores, go in the
    second list for a person to judge, never in the JSON to paste."""
    draft: dict[str, int | None] = {}
    weak: dict[str, list[str]] = {}
    for company_id in unmapped:
        found = suggestions.get(company_id, ())
        strong = strong_suggestion(found)
        draft[company_id] = None if strong is None else strong.tenant_id
        if strong is None and found:
            weak[company_id] = [str(s) for s in found]
    return draft, weak


def check_mapping(
    env: Mapping[str, str], companies: pd.DataFrame | None, yobi: YobiData | None
) -> Section:
    """The job's resolver over the whole universe: coverage, ambiguity, methods, the unmapped."""
    section = Section(MAPPING_CHECK)
    if companies is None or yobi is None:
        section.fail(
            "not run: it needs HubSpot's customer companies and Yobi's tenant list", FIX_UPSTREAM
        )
        return section
    try:
        ranking = RankingSettings.from_env(env)
        unknown = ranking.unknown_tenants(tenant_ids(yobi.tenants))
        if unknown:
            raise SettingError("; ".join(unknown))
    except ValueError as error:
        section.fail_with(error, FIX_SETTINGS)
        return section
    minimum, generic = ranking.mapping_coverage_min, ranking.generic_email_domains
    overrides = ranking.overrides
    result = resolve_tenants(
        companies[list(COMPANY_COLUMNS)],
        yobi.tenants[list(TENANT_INPUT_COLUMNS)],
        overrides,
        generic,
        yobi.activity,
    )
    mapping = result.mapping.merge(companies[["company_id", "domain"]], on="company_id")
    count = len(mapping)
    mapped = int(mapping["tenant_id"].notna().sum())
    statuses = mapping["status"].value_counts()
    ambiguous = int(statuses.get(AMBIGUOUS, 0))
    lost = mapping[mapping["status"].isin([UNMAPPED, DUPLICATE_CLAIM])]
    unmapped = [
        {
            "company_id": row.company_id,
            "name": row.name,
            "domain": row.domain,
            "status": row.status,
            "suggestions": [s for s in (row.suggestions or "").split(SUGGESTION_SEPARATOR) if s],
        }
        for row in rows(lost)
    ]
    draft, weak = _draft((u["company_id"] for u in unmapped), result.suggestions)
    section.findings.update(
        companies=count,
        mapped=mapped,
        coverage_pct=_pct(mapped, count),
        coverage_min_pct=round(100 * minimum, 1),
        ambiguous=ambiguous,
        ambiguity_pct=_pct(ambiguous, count),
        duplicate_claims=int(statuses.get(DUPLICATE_CLAIM, 0)),
        by_method={m.value: int((mapping["method"] == m.value).sum()) for m in MatchMethod},
        overrides_in_use=len(overrides.by_company) + len(overrides.by_domain),
        tie_break="most active tenant this week, then lowest tenant id"
        if yobi.activity
        else "lowest tenant id (the week's activity could not be read)",
        unmapped=unmapped,
        strong_suggestion_score=STRONG_SUGGESTION_SCORE,
        overrides_draft=draft,
        weak_suggestions=weak,
    )
    if mapped < minimum * count:
        section.fail(
            f"only {mapped} of {count} companies ({_pct(mapped, count)}%) map to a Yobi tenant, "
            f"below {Env.MAPPING_COVERAGE_MIN} ({round(100 * minimum, 1)}%)",
            FIX_COVERAGE,
        )
    return section


# --- the report -----------------------------------------------------------------------------
def spike_report(env: Mapping[str, str], week: Week, today: date) -> dict[str, Any]:
    """Every finding and verdict as JSON-ready data; the text report renders exactly this."""
    yobi, yobi_data = check_yobi(env, week, today)
    hubspot, companies = check_hubspot(env)
    mapping = check_mapping(env, companies, yobi_data)
    sections = (yobi, hubspot, mapping)
    return {
        "week": {
            "key": week.key,
            "label": week.label,
            "start": week.start.isoformat(),
            "end": week.end.isoformat(),
        },
        "yobi": yobi.as_dict(),
        "hubspot": hubspot.as_dict(),
        "mapping": mapping.as_dict(),
        "verdicts": [section.verdict() for section in sections],
        "passed": all(section.passed for section in sections),
    }


def _key_status(finding: Mapping[str, Any]) -> str:
    if not finding["entries"]:
        return "unchecked"
    if not finding["missing"]:
        return "found"
    if finding["missing"] == finding["entries"]:
        return "ABSENT" if finding["required"] else "absent"
    return f"missing in {finding['missing']} of {finding['entries']}"


def _joined(pairs: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in pairs.items())


def _yobi_lines(yobi: Mapping[str, Any]) -> list[str]:
    lines = [f"Yobi ({yobi['base_url']})", f"  login: {yobi.get('login', 'not attempted')}"]
    if "period" in yobi:
        lines.append(f"  period requested: {yobi['period']} (daily buckets of the week summed)")
    lines += [f"  {e['access']:<11} {e['endpoint']}" for e in yobi.get("endpoints", [])]
    if yobi.get("keys"):
        lines.append(f"  response keys in {yobi['contract_source']}:")
        lines += [
            f"    {_key_status(k):<22} {k['key']:<40} {k['path'] or k['looked_for']}"
            + ("" if k["required"] else "  (optional)")
            for k in yobi["keys"]
        ]
    if "buckets" in yobi:
        lines.append(
            "  trend buckets: "
            + ", ".join(f"{n} {b['first']}..{b['last']}" for n, b in yobi["buckets"].items())
        )
    if "trends" in yobi:
        lines.append(
            "  trends: "
            + "; ".join(
                f"{name} {t['measured']} ({t['rows']} rows over {t['days']} days, {t['gaps']} "
                f"row-days left out, {t['zero_buckets']} zero buckets, "
                f"{'?' if t['absent'] is None else t['absent']} listed but absent)"
                for name, t in yobi["trends"].items()
            )
        )
    if "bucket_timezone" in yobi:
        zone = yobi["bucket_timezone"]
        lines.append(
            f"  bucket days: contract {zone['contract']}; observed "
            f"{zone['observed'] or 'not determined'}: {zone['evidence']}"
        )
    if "coverage" in yobi:
        lines.append(
            "  tenants covering all 7 days: "
            + ", ".join(
                f"{m} {c['tenants'] - c['uncovered']}/{c['tenants']}"
                for m, c in yobi["coverage"].items()
            )
        )
    if "totals" in yobi:
        lines.append(f"  week totals: {_joined(yobi['totals'])}")
    if "tenants" in yobi:
        t = yobi["tenants"]
        lines.append(
            f"  tenants: {t['count']}; named {t['named']}; with a website {t['with_website']} "
            f"({t['website_pct']}%); active {t['active']}; with locations {t['with_locations']}"
        )
    if "observed_contract" in yobi:
        lines += [
            "  observed contract (save it as a file and name that file in "
            f"{Env.YOBI_CONTRACT_FILE}):",
            json_text(yobi["observed_contract"]),
        ]
    return lines


def _hubspot_lines(hubspot: Mapping[str, Any]) -> list[str]:
    lines = [
        f"HubSpot ({hubspot['base_url']})",
        f"  API version: {hubspot.get('api_version', 'not set')}",
        f"  token: {hubspot.get('authentication', 'not tried')}",
    ]
    if "scopes" in hubspot:
        lines.append(f"  scopes: {_joined(hubspot['scopes'])}")
    rules = hubspot.get("validation_rules", {})
    for name, d in hubspot.get("properties", {}).items():
        shape = (
            f"{d['type']}/{d['fieldType']}"
            + (f" options: {', '.join(d['options'])}" if d["options"] else "")
            + (" READ-ONLY" if d["read_only"] else "")
            if d["exists"]
            else "MISSING"
        )
        if name in rules:
            shape += "; validation rules: " + (
                f"{', '.join(rules[name])} (could refuse writes)" if rules[name] else "none"
            )
        lines.append(f"  property {name}: {shape}")
    if "validation_rules_note" in hubspot:
        lines.append(f"  note: {hubspot['validation_rules_note']}")
    if "universe" in hubspot:
        u = hubspot["universe"]
        lines += [
            f"  customer contacts: {u['customer_contacts']}; their companies: {u['companies']} "
            f"({u['unreadable']} unreadable); excluded: {_joined(u['excluded']) or 'none'}; "
            f"ranked universe: {u['included']}",
            f"  with a domain: {u['with_domain']} ({u['with_domain_pct']}%); with a usable "
            f"contact e-mail domain: {u['with_contact_email_domain']} "
            f"({u['with_contact_email_domain_pct']}%); either: {u['with_either']} "
            f"({u['with_either_pct']}%)",
        ]
    return lines


def _mapping_lines(mapping: Mapping[str, Any]) -> list[str]:
    if "companies" not in mapping:
        return ["Mapping", "  not run"]
    lines = [
        f"Mapping ({mapping['companies']} companies)",
        f"  mapped: {mapping['mapped']} ({mapping['coverage_pct']}%, minimum "
        f"{mapping['coverage_min_pct']}%); ambiguous: {mapping['ambiguous']} "
        f"({mapping['ambiguity_pct']}%); duplicate claims: {mapping['duplicate_claims']}",
        f"  by method: {_joined(mapping['by_method'])}",
        f"  overrides in use: {mapping['overrides_in_use']}; ties: {mapping['tie_break']}",
        f"  not mapped: {len(mapping['unmapped'])}",
    ]
    for company in mapping["unmapped"]:
        lines.append(
            f"    {company['company_id']}  {company['name'] or '(no name)'} "
            f"({company['domain'] or 'no domain'}) "
            f"{company['status']}; suggestions: {'; '.join(company['suggestions']) or 'none'}"
        )
    strong = mapping["strong_suggestion_score"]
    if mapping["unmapped"]:
        lines += [
            f"  overrides draft (pre-filled only with a suggestion scoring {strong}+ that no "
            f"other tenant reaches; replace each null with a tenant id, then merge into "
            f"{Env.TENANT_MAPPING_OVERRIDES_JSON}):",
            *(
                f"  {line}"
                for line in json.dumps(mapping["overrides_draft"], indent=2).splitlines()
            ),
        ]
    if mapping["weak_suggestions"]:
        names = {u["company_id"]: u["name"] or "(no name)" for u in mapping["unmapped"]}
        lines += [
            f"  weak suggestions (below {strong}, or tied: not in the draft; check each before "
            f"pinning it):",
            *(
                f"    {company_id}  {names[company_id]}: {'; '.join(suggestions)}"
                for company_id, suggestions in mapping["weak_suggestions"].items()
            ),
        ]
    return lines


def render_text(report: Mapping[str, Any]) -> str:
    """The readable report: findings per service, then one verdict line per verification."""
    week = report["week"]
    blocks = [
        [f"Engagement Ranker spike (read-only): {week['label']} ({week['key']}, {TIMEZONE})"],
        _yobi_lines(report["yobi"]),
        _hubspot_lines(report["hubspot"]),
        _mapping_lines(report["mapping"]),
        list(report["verdicts"]),
    ]
    return "\n\n".join("\n".join(block) for block in blocks)


def run_spike(as_json: bool, week: str | None) -> int:
    """The CLI command: print the report (text or JSON) and return the exit code."""
    env = dict(os.environ)
    now = datetime.now(UTC)
    try:
        chosen = choose_week(week, latest_completed_week(now).key)
    except ValueError as error:
        click.echo(f"--week: {error}", err=True)
        return 2
    report = spike_report(env, chosen, now.astimezone(ZoneInfo(TIMEZONE)).date())
    text = json.dumps(report, indent=2) if as_json else render_text(report)
    click.echo(redact(text, [env.get(name) for name in SECRET_VARIABLES]))
    return 0 if report["passed"] else 1
