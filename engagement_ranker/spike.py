"""`engagement-ranker spike`: the spec's ship-blocking verifications, read-only, in one command.

Before the job may write, the spec wants proof that the Yobi account reaches every
cross-tenant endpoint with every field the job reads for an exact Sun–Sat week, and that
HubSpot's customer companies can be mapped to Yobi tenants. This checks both, plus the
HubSpot token, property definitions and validation rules (in the API version the job speaks),
against whatever the environment points at, through the job's own clients, Yobi key table and
resolver, so a PASS means the job will find what it needs. It only reads: it never calls a
HubSpot write.

Exit codes: 0 every verification passed, 1 at least one failed, 2 bad command-line input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
import pandas as pd

from engagement_ranker.clients.errors import ApiError, AuthError, ClientError, ScopeError
from engagement_ranker.clients.http import redact
from engagement_ranker.clients.hubspot import HubSpotClient
from engagement_ranker.clients.yobi import (
    FIX_CONTRACT,
    KEYS,
    LOCATIONS,
    LOGIN,
    STATS_SOURCES,
    TENANTS,
    Key,
    WeeklyCounters,
    YobiClient,
    period_for,
)
from engagement_ranker.constants import (
    DEFAULT_HUBSPOT_API_VERSION,
    DEFAULT_HUBSPOT_BASE_URL,
    DEFAULT_MAPPING_COVERAGE_MIN,
    DEFAULT_YOBI_BASE_URL,
    ENGAGEMENT_PROPERTIES,
    METRICS,
    TIMEZONE,
    Env,
    HubSpotApiVersion,
    MatchMethod,
)
from engagement_ranker.core.identity import (
    AMBIGUOUS,
    COMPANY_COLUMNS,
    DUPLICATE_CLAIM,
    SUGGESTION_SEPARATOR,
    TENANT_INPUT_COLUMNS,
    UNMAPPED,
    normalize_domain,
    parse_generic_domains,
    parse_internal_domains,
    parse_overrides,
    resolve_tenants,
    weekly_activity,
)
from engagement_ranker.core.settings import overrides_text, parse_fraction
from engagement_ranker.core.tenants import tenant_frame
from engagement_ranker.core.universe import (
    build_universe,
    included,
    parse_exclusion_rules,
    read_properties,
)
from engagement_ranker.core.week import Week, choose_week, latest_completed_week
from engagement_ranker.core.writeplan import property_problems

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
# Variables whose values must never be printed, whatever an upstream service echoes back.
SECRET_VARIABLES: tuple[Env, ...] = (
    Env.HUBSPOT_ACCESS_TOKEN,
    Env.YOBI_PASSWORD,
    Env.SLACK_WEBHOOK_URL,
    Env.SMTP_PASSWORD,
)

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
# Where each field of a KEYS entry lives: the response, a row, a trend bucket, a by_user entry.
PAYLOAD, ROW, BUCKET, USER = "payload", "row", "bucket", "user"
# (scope, the KEYS field of the list holding it), outermost first.
NESTING: tuple[tuple[str, str], ...] = ((ROW, "rows"), (BUCKET, "trend"), (USER, "by_user"))
BUCKET_FIELDS: frozenset[str] = frozenset({"date", "by_user", *(m.value for m in METRICS)})
USER_FIELD_PREFIX = "user_"


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
    """One admin endpoint the job reads; `name` is its prefix in the client's KEYS table."""

    name: str
    method: str
    path: str
    params: Mapping[str, str]

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"


def _probes(period: str) -> tuple[Probe, ...]:
    return (
        Probe("tenants", *TENANTS, {}),
        Probe("locations", *LOCATIONS, {}),
        *(
            Probe(source.name, "GET", source.path, {"period": period, **source.params})
            for source in STATS_SOURCES
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


def _scope(name: str) -> str:
    field_name = name.split(".", 1)[1]
    if field_name == "rows":
        return PAYLOAD
    if field_name.startswith(USER_FIELD_PREFIX):
        return USER
    return BUCKET if field_name in BUCKET_FIELDS else ROW


def _levels(payload: Any, prefix: str) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Scope -> (path label, every object at that depth) for one endpoint's response."""
    label, holders = "", [payload]
    levels = {PAYLOAD: (label, holders)}
    for scope, list_field in NESTING:
        key = KEYS.get(f"{prefix}.{list_field}")
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
    """Each KEYS entry of this endpoint: where it was found, and in how many entries it is absent."""
    levels = _levels(payload, probe.name)
    findings = []
    for name, key in KEYS.items():
        if not name.startswith(f"{probe.name}.") or _scope(name) not in levels:
            continue
        label, holders = levels[_scope(name)]
        hits = [hit for holder in holders if (hit := _value(holder, key)) is not None]
        used = _used_paths(key, hits)
        findings.append(
            {
                "key": name,
                "endpoint": probe.endpoint,
                "required": key.required,
                "path": ", ".join(label + path for path in used) or None,
                "looked_for": " | ".join(label + path for path in key.paths),
                "entries": len(holders),
                "missing": len(holders) - len(hits),
            }
        )
    return findings


def _bucket_dates(probe: Probe, payload: Any) -> dict[str, str | None]:
    _, buckets = _levels(payload, probe.name).get(BUCKET, ("", []))
    dates = sorted(hit[1] for b in buckets if (hit := _value(b, KEYS[f"{probe.name}.date"])))
    return {"first": dates[0] if dates else None, "last": dates[-1] if dates else None}


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


def check_yobi(env: Mapping[str, str], week: Week, today: date) -> tuple[Section, YobiData | None]:
    """Login, admin access per endpoint, every key with its path, trend coverage, tenant fields."""
    section = Section(YOBI_CHECK)
    base_url = _setting(env, Env.YOBI_BASE_URL) or DEFAULT_YOBI_BASE_URL
    section.findings["base_url"] = base_url
    try:
        period = period_for(week.dates[0], today)
        internal = parse_internal_domains(_setting(env, Env.INTERNAL_YOBI_USER_EMAIL_DOMAINS))
        client = YobiClient(
            env.get(Env.YOBI_EMAIL, ""),
            env.get(Env.YOBI_PASSWORD, ""),
            base_url,
            internal_email_domains=internal,
        )
    except (ValueError, ClientError) as error:
        section.fail_with(error, FIX_SETTINGS)
        return section, None
    section.findings["period"] = period
    probes = _probes(period)
    with client:
        payloads = _fetch(section, client, probes)
        if payloads is None:
            return section, None
        usable = {probe.name for probe in probes if probe.name in payloads}
        for probe in probes:
            if probe.name in payloads:
                usable -= _check_keys(section, probe, payloads[probe.name])
        tenants = (
            _tenants(section, client, payloads) if {"tenants", "locations"} <= usable else None
        )
        stats = [probe for probe in probes if probe.name in {s.name for s in STATS_SOURCES}]
        activity: dict[int, int] = {}
        if all(probe.name in usable for probe in stats):
            section.findings["buckets"] = {
                probe.name: _bucket_dates(probe, payloads[probe.name]) for probe in stats
            }
            activity = _counters(section, client, week, payloads)
    return section, None if tenants is None else YobiData(tenants, activity)


def _fetch(section: Section, client: YobiClient, probes: Iterable[Probe]) -> dict[str, Any] | None:
    """Each endpoint's raw response (None if the login itself failed); access per endpoint."""
    payloads: dict[str, Any] = {}
    endpoints = []
    refused: dict[tuple[str, str], list[str]] = {}  # (access, fix) -> endpoints
    for probe in probes:
        try:
            # Raw, for the key report; the parsing below is the job's own.
            payloads[probe.name] = client.payload(probe.method, probe.path, probe.params or None)
            access = "ok"
        except ApiError as error:
            if error.endpoint == " ".join(LOGIN):
                section.findings["login"] = "failed"
                section.fail_with(error, FIX_SETTINGS)
                return None
            access = _answer(error)
            refused.setdefault((access, error.fix), []).append(probe.endpoint)
        endpoints.append({"name": probe.name, "endpoint": probe.endpoint, "access": access})
    for (access, fix), names in refused.items():
        section.fail(f"no access ({access}) to {', '.join(names)}", fix)
    section.findings["login"] = "ok"
    section.findings["endpoints"] = endpoints
    return payloads


def _check_keys(section: Section, probe: Probe, payload: Any) -> set[str]:
    """Record the endpoint's keys; returns {probe.name} if a required one is absent."""
    findings = _key_findings(probe, payload)
    section.findings.setdefault("keys", []).extend(findings)
    absent = [f for f in findings if f["required"] and f["missing"]]
    for finding in absent:
        section.fail(
            f"required key {finding['key']} is absent at {finding['looked_for']} in "
            f"{finding['missing']} of {finding['entries']} entries of {finding['endpoint']}",
            f"confirm where Yobi reports it and put that path in KEYS[{finding['key']!r}] in "
            "engagement_ranker/clients/yobi.py",
        )
    return {probe.name} if absent else set()


def _tenants(
    section: Section, client: YobiClient, payloads: Mapping[str, Any]
) -> pd.DataFrame | None:
    """The tenant frame the job builds, parsed from the payloads already fetched."""
    try:
        tenants = tenant_frame(
            client.tenants(payloads["tenants"]), client.locations(payloads["locations"])
        )
    except ClientError as error:
        section.fail_with(error, FIX_CONTRACT)
        return None
    section.findings["tenants"] = _tenant_findings(tenants)
    return tenants


def _counters(
    section: Section, client: YobiClient, week: Week, payloads: Mapping[str, Any]
) -> dict[int, int]:
    """The week's counters as the job sums them, from the payloads already fetched; returns
    each tenant's activity for ties."""
    try:
        counters = client.weekly_counters(
            week.dates, {source.name: payloads[source.name] for source in STATS_SOURCES}
        )
    except ClientError as error:
        section.fail_with(error, FIX_CONTRACT)
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
        section.fail_with(error, FIX_CONTRACT)
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
def _best_tenant(suggestions: list[str]) -> int | None:
    """The tenant id of the best suggestion ("<tenant id> <name> (<score>)"), if any."""
    return int(suggestions[0].split(" ", 1)[0]) if suggestions else None


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
        minimum = parse_fraction(
            _setting(env, Env.MAPPING_COVERAGE_MIN),
            DEFAULT_MAPPING_COVERAGE_MIN,
            Env.MAPPING_COVERAGE_MIN,
        )
        generic = parse_generic_domains(_setting(env, Env.GENERIC_EMAIL_DOMAINS))
        overrides = parse_overrides(
            overrides_text(
                _setting(env, Env.TENANT_MAPPING_OVERRIDES_JSON),
                _setting(env, Env.TENANT_MAPPING_OVERRIDES_FILE),
            ),
            set(yobi.tenants["tenant_id"]),
        )
    except ValueError as error:
        section.fail_with(error, FIX_SETTINGS)
        return section
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
        for row in lost.itertuples(index=False)
    ]
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
        overrides_draft={u["company_id"]: _best_tenant(u["suggestions"]) for u in unmapped},
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
        lines.append("  response keys (the client's KEYS table):")
        lines += [
            f"    {_key_status(k):<22} {k['key']:<28} {k['path'] or k['looked_for']}"
            + ("" if k["required"] else "  (optional)")
            for k in yobi["keys"]
        ]
    if "buckets" in yobi:
        lines.append(
            "  trend buckets: "
            + ", ".join(f"{n} {b['first']}..{b['last']}" for n, b in yobi["buckets"].items())
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
    if mapping["unmapped"]:
        lines += [
            f"  overrides draft (replace each null with a tenant id, then merge into "
            f"{Env.TENANT_MAPPING_OVERRIDES_JSON}):",
            *(
                f"  {line}"
                for line in json.dumps(mapping["overrides_draft"], indent=2).splitlines()
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
