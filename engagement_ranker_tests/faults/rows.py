"""The matrix: one row per fault, with what must happen and how to tell.

Faults go in through the sandbox (its fault document, including `corrupt` edits for untrusted
data) or through the environment the product reads; each row runs end to end through Dagster.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from engagement_ranker.clients.http import DEFAULT_RETRY
from engagement_ranker.clients.yobi import TOKEN_REFRESH_MARGIN_SECONDS
from engagement_ranker.clients.yobi_contract import BUILT_IN
from engagement_ranker.constants import (
    DEFAULT_HUBSPOT_API_VERSION,
    HTTP_TIMEOUT_SECONDS,
    HUBSPOT_ROUTES,
    PROP_CUSTOMER_STATUS,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
    TIER_BOTTOM,
    TIMEZONE,
    Env,
    HubSpotApiVersion,
    HubSpotOperation,
    WriteMode,
)
from engagement_ranker.core.anomalies import AnomalyKind
from engagement_ranker.sandbox.slack import WEBHOOK_ROUTE
from engagement_ranker_tests.faults.model import HubSpotState, Observation, Outcome, Row
from engagement_ranker_tests.faults.procedures import (
    after_a_clean_write,
    killed_then_recovered,
    killed_while_writing,
    narrowed_writeback_after_the_universe_changed,
    only_refused_before_values_stay,
    person_edits_a_written_company,
    recover_said_so,
    rerun_finished_the_job,
    revoked_mid_write_then_rerun,
    same_outputs_no_rewrite,
    same_week_three_times,
    second_writer,
    second_writer_named_the_first,
    second_writer_waited_for_the_first,
    the_churned_company_kept_its_values,
    the_persons_edit_stands,
    the_rerun_converged_from_the_journal,
    tier_loses_bottom_option,
    while_writing,
)
from engagement_ranker_tests.faults.trial import Trial

Setup = Callable[[Trial], None]
Check = Callable[[Observation], list[str]]

# HubSpot's routes as the job speaks them by default; a route fault applies to its operation
# in either path family (sandbox/faults.py), so the rows hold whichever the job speaks.
_HUBSPOT = HUBSPOT_ROUTES[DEFAULT_HUBSPOT_API_VERSION]
SEARCH = _HUBSPOT[HubSpotOperation.CONTACTS_SEARCH]
ASSOCIATIONS = _HUBSPOT[HubSpotOperation.CONTACT_COMPANIES]
READ = _HUBSPOT[HubSpotOperation.COMPANIES_READ]
UPDATE = _HUBSPOT[HubSpotOperation.COMPANIES_UPDATE]
TENANT_LIST = BUILT_IN.tenants.route
CALLS = BUILT_IN.endpoint("calls").route
SLACK = f"POST {WEBHOOK_ROUTE}"
# Every attempt at one call failing takes ~16 s (6 attempts, backoff from 0.5 s doubling).
RETRY_ATTEMPTS = DEFAULT_RETRY.attempts
STORM = RETRY_ATTEMPTS - 2  # 429s in a row that one call's retries outlast
LONG_NAME = ("Northside Family Dental Studio " * 400)[:10_000]
UNKNOWN_TENANT = 987_654_321
JUNK_RANK = "banana out of -3"
# A conditional rule of the portal: a company's engagement tier may only be written while its
# customer_status is set (HubSpot applies such rules to API writes from 2026-09).
TIER_NEEDS_STATUS = {"property": PROP_TIER, "requires": PROP_CUSTOMER_STATUS}
BASELINE = "no fault (baseline)"


# --- building blocks --------------------------------------------------------------------------


def faults(document: Mapping[str, Any]) -> Setup:
    return lambda trial: trial.set_faults(document)


def routes(route: str, **rule: Any) -> dict[str, Any]:
    return {"routes": {route: rule}}


def burst(route: str, error: int | str, nth: int = 1, count: int = 1) -> dict[str, Any]:
    return routes(route, bursts=[{"nth": nth, "count": count, "error": error}])


def _domain_mapped_tenant(trial: Trial) -> int:
    return int(trial.mapped("domain")[0]["tenant_id"])


def _domain_mapped_company(trial: Trial) -> str:
    return str(trial.mapped("domain")[0]["company_id"])


def counter(value: Any) -> Setup:
    """Yobi reports `value` as a mapped tenant's calls on the week's Wednesday."""

    def setup(trial: Trial) -> None:
        tenant = _domain_mapped_tenant(trial)
        day = trial.week.dates[3].isoformat()
        path = f"results.stats.tenant_id={tenant}.trend.date={day}.total_calls"
        trial.set_faults({"corrupt": [{"route": CALLS, "path": path, "value": value}]})
        trial.notes["error"] = (f"tenant {tenant}", repr(str(value)))

    return setup


def tenant(field: str, **operation: Any) -> Setup:
    """One edit to a domain-mapped tenant in Yobi's tenant list (`field` "" = the row)."""

    def setup(trial: Trial) -> None:
        path = f"results.tenant_id={_domain_mapped_tenant(trial)}" + (f".{field}" if field else "")
        trial.set_faults({"corrupt": [{"route": TENANT_LIST, "path": path, **operation}]})

    return setup


def company(field: str, **operation: Any) -> Setup:
    """One edit to a domain-mapped company in HubSpot's batch read answers (`field` "" = the
    record): for what a user cannot type, such as bytes that are not UTF-8."""

    def setup(trial: Trial) -> None:
        company_id = _domain_mapped_company(trial)
        trial.notes["company"] = company_id
        path = f"results.id={company_id}" + (f".properties.{field}" if field else "")
        trial.set_faults({"corrupt": [{"route": READ, "path": path, **operation}]})

    return setup


def edited(field: str, value: str | None) -> Setup:
    """A HubSpot user sets a domain-mapped company's `field` to `value` before the run."""

    def setup(trial: Trial) -> None:
        company_id = _domain_mapped_company(trial)
        trial.notes["company"] = company_id
        trial.control.edit_company(company_id, {field: value})
        trial.before = trial.hubspot()  # the edit is HubSpot's state before the run

    return setup


def overrides(pick: Callable[[Trial], str]) -> Setup:
    """TENANT_MAPPING_OVERRIDES_JSON as `pick` writes it for this dataset."""
    return lambda trial: trial.set_env(Env.TENANT_MAPPING_OVERRIDES_JSON, pick(trial))


def _unknown_tenant(trial: Trial) -> str:
    return json.dumps({_domain_mapped_company(trial): UNKNOWN_TENANT})


def _one_tenant_twice(trial: Trial) -> str:
    first, second = trial.mapped("domain")[:2]
    return json.dumps(
        {first["company_id"]: first["tenant_id"], second["company_id"]: first["tenant_id"]}
    )


def _cut_off(trial: Trial) -> str:
    return json.dumps({_domain_mapped_company(trial): _domain_mapped_tenant(trial)})[:-4]


def _trend_short(trial: Trial) -> None:
    """Trend buckets stop before the week's Saturday (the newest days are missing)."""
    today = trial.sandbox.state.clock().astimezone(ZoneInfo(TIMEZONE)).date()
    saturday = trial.week.dates[-1]
    trial.set_faults({"yobi": {"trend_short_days": (today - saturday).days + 1}})
    trial.notes["error"] = (saturday.isoformat(),)


def _no_customers(trial: Trial) -> None:
    """HubSpot's contact search finds nobody with lifecyclestage=customer."""
    edits = {"results": [], "total": 0, "paging": None}
    trial.set_faults(
        {
            "corrupt": [
                {"route": SEARCH, "path": key, "value": value} for key, value in edits.items()
            ]
        }
    )


def _anonymous_tenants(trial: Trial) -> None:
    """Yobi's tenants carry no website and one shared name; no overrides: nothing can match."""
    edits = {"results.*.tenant_name": "Practice", "results.*.website": None}
    trial.set_faults(
        {
            "corrupt": [
                {"route": TENANT_LIST, "path": path, "value": value}
                for path, value in edits.items()
            ]
        }
    )
    trial.set_env(Env.TENANT_MAPPING_OVERRIDES_JSON, None)


def _tier_needs_status(trial: Trial) -> None:
    """The portal's rule, and the companies it will refuse (no customer_status)."""
    companies = trial.control.companies()
    trial.notes["lacking"] = sorted(
        (c for c in trial.truth if not companies[c].get(PROP_CUSTOMER_STATUS)), key=int
    )
    trial.set_faults({"hubspot": {"validation_rules": [TIER_NEEDS_STATUS]}})


def _token_expiry(trial: Trial) -> None:
    """Tokens the client must renew a second after each login, and Yobi refusing one as
    expired in the middle of the stats."""
    ttl = TOKEN_REFRESH_MARGIN_SECONDS + 1
    trial.set_faults({"yobi": {"token_ttl_seconds": ttl}, **burst(CALLS, 401)})


# --- the rows' own checks ---------------------------------------------------------------------


def reports_retries(service: str) -> Check:
    """The summary's anomalies say that `service` needed retries (spec: report API retries)."""

    def check(obs: Observation) -> list[str]:
        warnings = [a["message"] for a in obs.anomalies if a["kind"] == AnomalyKind.API_WARNING]
        if any(service in message and "retr" in message for message in warnings):
            return []
        return [f"no anomaly reports the {service} retries; API warnings: {warnings}"]

    return check


def names_the_companies_to_fix(obs: Observation) -> list[str]:
    """The alert says on which companies to set the property, and each of them lacks it."""
    error = " ".join((obs.report.get("alert") or {}).get("error", "").split())  # unwrapped
    named = re.search(rf"set {PROP_CUSTOMER_STATUS} on companies ([\d, ]+)", error)
    if named is None:
        return [f"the alert names no company to set {PROP_CUSTOMER_STATUS} on: {error!r}"]
    companies = {c.strip() for c in named.group(1).split(",") if c.strip()}
    holding = sorted(companies - set(obs.notes["lacking"]), key=int)
    return [f"the alert names companies {holding}, which hold a status"] if holding else []


def speaks_only(version: HubSpotApiVersion) -> Check:
    """Every HubSpot call of the trial went to a path of `version`'s family."""

    def check(obs: Observation) -> list[str]:
        used = set(obs.requests["by_service"]["hubspot"]["counts"])
        strays = sorted(used - set(HUBSPOT_ROUTES[version].values()))
        return [f"HubSpot was called outside its {version} paths: {strays}"] if strays else []

    return check


def logged_in_again(obs: Observation) -> list[str]:
    logins = obs.requests["by_service"]["yobi"]["counts"].get(BUILT_IN.login.route)
    return [] if (logins or 0) > 1 else [f"Yobi was logged into {logins} time(s), expected more"]


def no_write_after_the_first_run(obs: Observation) -> list[str]:
    later = [w["company_id"] for run in obs.runs[1:] for w in run.writes]
    return [f"the second run wrote {len(later)} companies again"] if later else []


def _edited_rows(obs: Observation) -> tuple[str, list[dict[str, Any]]]:
    company_id = obs.notes["company"]
    return company_id, [row for row in obs.ranked if row["company_id"] == company_id]


def ranked_once(obs: Observation) -> list[str]:
    """The edited company is ranked exactly once."""
    company_id, rows = _edited_rows(obs)
    return [] if len(rows) == 1 else [f"company {company_id} is ranked {len(rows)} times"]


def ranked_named(expected: str | None) -> Check:
    """The edited company is ranked once, under the name HubSpot gave."""

    def check(obs: Observation) -> list[str]:
        company_id, rows = _edited_rows(obs)
        if len(rows) == 1 and rows[0]["name"] != expected:
            return [f"company {company_id} is ranked as {str(rows[0]['name'])[:60]!r}"]
        return ranked_once(obs)

    return check


def prior_rank_unknown(obs: Observation) -> list[str]:
    company_id = obs.notes["company"]
    prior = [row["prior_rank"] for row in obs.ranked if row["company_id"] == company_id]
    return [] if prior == [None] else [f"junk prior rank read as {prior}"]


def claim_reported(obs: Observation) -> list[str]:
    """The company that lost its tenant to another is reported, unranked, untouched."""
    losers = [t for t in obs.truth.values() if t["expected"] == "duplicate_claim"]
    if not losers:
        return ["the dataset holds no two companies claiming one tenant"]
    ranked = {row["company_id"] for row in obs.ranked}
    tenants = [row["tenant_id"] for row in obs.ranked]
    reported = {a["company_id"] for a in obs.anomalies if a["kind"] == AnomalyKind.DUPLICATE_CLAIM}
    problems = []
    for loser in losers:
        company_id, claimed = loser["company_id"], loser["claimed_tenant_id"]
        if company_id in ranked or company_id not in reported:
            problems.append(f"company {company_id} is ranked or not reported as a duplicate claim")
        if tenants.count(claimed) != 1:
            problems.append(f"tenant {claimed} is credited {tenants.count(claimed)} times")
    return problems


# --- issue 16: setups and checks ---------------------------------------------------------------
TASKS = BUILT_IN.endpoint("tasks").route
APPOINTMENTS = BUILT_IN.endpoint("appointments").route
REJECT_BATCH_2 = {
    "hubspot": {
        "batch_update_rejections": [{"nth": 2, "code": "INVALID_INTEGER", "property": PROP_SCORE}]
    }
}


def env(name: str, value: str | None) -> Setup:
    """The product's variable `name` set to `value` (None: unset)."""
    return lambda trial: trial.set_env(name, value)


def secret_pasted(secret: Env, into: Env) -> Setup:
    """The value of the secret variable `secret` pasted into the variable `into` as well."""
    return lambda trial: trial.set_env(into, os.environ[secret])


def yobi_repeats(endpoint: str, conflicting: bool) -> Setup:
    """Yobi lists a mapped tenant's row twice on `endpoint` (its locations' rows for the
    per-location appointments), identical or with another count on the week's Wednesday."""
    metric = {"calls": "total_calls", "tasks": "created", "appointments": "total_appointments"}

    def setup(trial: Trial) -> None:
        tenant = _domain_mapped_tenant(trial)
        rows = {"calls": "results.stats", "tasks": "results.by_tenant"}.get(
            endpoint, "results.locations"
        )
        day = trial.week.dates[3].isoformat()
        duplicate: Any = {f"trend.date={day}.{metric[endpoint]}": 999_999} if conflicting else True
        route = BUILT_IN.endpoint(endpoint).route
        trial.set_faults(
            {
                "corrupt": [
                    {"route": route, "path": f"{rows}.tenant_id={tenant}", "duplicate": duplicate}
                ]
            }
        )
        trial.notes["error"] = (str(tenant) if endpoint != "appointments" else "location",)
        trial.notes["repeated_tenant"] = tenant

    return setup


def reports_the_repeat(obs: Observation) -> list[str]:
    tenant = obs.notes["repeated_tenant"]
    said = [a for a in obs.anomalies if "twice with identical figures" in a["message"]]
    if not any(a["tenant_id"] == tenant for a in said):
        return [f"no anomaly says Yobi listed tenant {tenant} twice: {said}"]
    return []


def allowlist_with_strays(trial: Trial, row: Row) -> None:
    """An allowlist naming one ranked company, one excluded, one unmapped and one unknown id."""
    listed = {
        "ranked": _domain_mapped_company(trial),
        "excluded": next(c for c, t in sorted(trial.truth.items()) if t["expected"] == "excluded"),
        "unmapped": next(c for c, t in sorted(trial.truth.items()) if t["expected"] == "unmapped"),
        "unknown": "999999999999",
    }
    trial.notes["allowlist"] = {listed["ranked"]}
    trial.notes["strays"] = {listed[k]: k for k in ("excluded", "unmapped", "unknown")}
    trial.run(mode=WriteMode.ALLOWLIST.value, allow=tuple(listed.values()))


def names_each_stray_and_why(obs: Observation) -> list[str]:
    said = {
        a["company_id"]: a["message"] for a in obs.anomalies if a["kind"] == AnomalyKind.NOT_WRITTEN
    }
    why = {"excluded": "excluded", "unmapped": "no Yobi tenant", "unknown": "not a customer"}
    return [
        f"allowlisted {kind} company {cid} is not named with why: {said.get(cid)!r}"
        for cid, kind in obs.notes["strays"].items()
        if why[kind] not in (said.get(cid) or "")
    ]


def hostile_names(trial: Trial) -> None:
    """Two mapped companies renamed with Markdown that would link, embed and head, and with
    NUL and bidirectional overrides."""
    first, second = (c["company_id"] for c in trial.mapped("domain")[:2])
    trial.control.edit_company(first, {"name": MARKDOWN_NAME})
    trial.control.edit_company(second, {"name": INVISIBLE_NAME})
    trial.notes["renamed"] = [first, second]


MARKDOWN_NAME = "[click](https://evil.example) ![x](https://evil.example/x.png)\n# Heading"
INVISIBLE_NAME = "Smile\x00 Dental \u202eoC\u2066 lasiv\u2069"


def nothing_renders_live(obs: Observation) -> list[str]:
    """No rendering of the week holds a live link, an image, a heading or an invisible
    character from the hostile names."""
    problems = []
    markdown = "\n".join(obs.notes.get("markdown", []))
    for live in (r"(?<!\\)\]\(", r"(?<!\\)!\[", r"(?m)^#+ Heading", r"(?<!\\)://evil"):
        if re.search(live, markdown):
            problems.append(f"the UI's Markdown holds {live!r}")
    sent = json.dumps([obs.slack, obs.emails], ensure_ascii=False)
    for hidden in ("\x00", "\u0000", "\u202e", "\u2066"):
        if hidden in sent or hidden in markdown:
            problems.append(f"{hidden!r} reached Slack, e-mail or the UI")
    return problems


def run_and_read_markdown(trial: Trial, row: Row) -> None:
    """One run; every Markdown the Dagster UI shows for its materializations and checks."""
    row.setup(trial)
    trial.run()
    trial.notes["markdown"] = trial.markdown_metadata()


# --- the matrix -------------------------------------------------------------------------------

FETCH_FAILS = {"expect": Outcome.FAILS_BEFORE_WRITE, "hubspot": HubSpotState.UNCHANGED}
COMPLETES = {"expect": Outcome.COMPLETES, "hubspot": HubSpotState.COMPLETE}
RETRIED = {"expect": Outcome.COMPLETES_AFTER_RETRIES, "hubspot": HubSpotState.COMPLETE}
RESTORES = {"expect": Outcome.FAILS_AND_RESTORES, "hubspot": HubSpotState.RESTORED}
SUMMARY_FAILS = {"expect": Outcome.FAILS_AFTER_WRITE, "hubspot": HubSpotState.COMPLETE}
TENANT_CONTRACT = f"name that file in {Env.YOBI_CONTRACT_FILE}"

ROWS: tuple[Row, ...] = (
    Row(BASELINE, checks=(speaks_only(DEFAULT_HUBSPOT_API_VERSION),), **COMPLETES),
    Row(
        f"HubSpot legacy paths ({Env.HUBSPOT_API_VERSION}=legacy)",
        setup=lambda trial: trial.set_env(Env.HUBSPOT_API_VERSION, HubSpotApiVersion.LEGACY),
        checks=(speaks_only(HubSpotApiVersion.LEGACY),),
        **COMPLETES,
    ),
    # --- HubSpot while reading ---------------------------------------------------------------
    Row(
        "HubSpot 401: token revoked",
        setup=faults({"hubspot": {"auth": "revoked"}}),
        step="customer_companies",
        error=("HTTP 401", "check HUBSPOT_ACCESS_TOKEN"),
        **FETCH_FAILS,
    ),
    Row(
        f"HubSpot 429 storm ({STORM} calls)",
        setup=faults({"hubspot": {"rate_limit_storm": STORM}}),
        checks=(reports_retries("HubSpot"),),
        **RETRIED,
    ),
    Row(
        "HubSpot 429 storm outlasting the retries",
        setup=faults({"hubspot": {"rate_limit_storm": RETRY_ATTEMPTS * 10}}),
        step="customer_companies",
        error=("HTTP 429", "rerun later", "HUBSPOT_TIER"),
        slow=True,
        **FETCH_FAILS,
    ),
    Row(
        "HubSpot 5xx bursts (search, associations, reads)",
        setup=faults(
            {
                "routes": {
                    SEARCH: {"bursts": [{"nth": 1, "count": 2, "error": 503}]},
                    ASSOCIATIONS: {"bursts": [{"nth": 1, "error": 502}]},
                    READ: {"bursts": [{"nth": 1, "error": 500}]},
                }
            }
        ),
        checks=(reports_retries("HubSpot"),),
        **RETRIED,
    ),
    Row(
        "HubSpot down (every call 503)",
        setup=faults(routes("hubspot *", error_rate=1.0, error_statuses=[503])),
        step="customer_companies",
        error=("HTTP 503", "status.hubspot.com"),
        slow=True,
        **FETCH_FAILS,
    ),
    Row(
        f"HubSpot timeout (a read unanswered past {HTTP_TIMEOUT_SECONDS:.0f} s)",
        setup=faults({"timeout_seconds": 2 * HTTP_TIMEOUT_SECONDS, **burst(READ, "timeout")}),
        checks=(reports_retries("HubSpot"),),
        slow=True,
        **RETRIED,
    ),
    Row(
        "HubSpot connection dropped twice",
        setup=faults(burst(ASSOCIATIONS, "drop", count=2)),
        checks=(reports_retries("HubSpot"),),
        **RETRIED,
    ),
    Row(
        "HubSpot malformed JSON (truncated body)",
        setup=faults(burst(READ, "malformed")),
        step="customer_companies",
        error=("body is not JSON", "rerun"),
        **FETCH_FAILS,
    ),
    Row(
        "HubSpot search index lagging behind a write",
        setup=faults({"hubspot": {"search_index_lag_seconds": 3600}}),
        procedure=after_a_clean_write,
        checks=(no_write_after_the_first_run,),
        **COMPLETES,
    ),
    # --- HubSpot property definitions ----------------------------------------------------------
    Row(
        "HubSpot property missing (tier)",
        setup=faults({"hubspot": {"properties": {PROP_TIER: None}}}),
        step="hubspot_properties_writable",
        error=(f"{PROP_TIER} does not exist", "create it"),
        **FETCH_FAILS,
    ),
    Row(
        "HubSpot property of the wrong type (score as text)",
        setup=faults(
            {"hubspot": {"properties": {PROP_SCORE: {"type": "string", "fieldType": "text"}}}}
        ),
        step="hubspot_properties_writable",
        error=(f"{PROP_SCORE} is type 'string'", "recreate it"),
        **FETCH_FAILS,
    ),
    Row(
        f"HubSpot tier dropdown lacking {TIER_BOTTOM!r}",
        setup=faults({"hubspot": {"properties": {PROP_TIER: {"drop_options": [TIER_BOTTOM]}}}}),
        step="hubspot_properties_writable",
        error=(repr(TIER_BOTTOM), "add options"),
        **FETCH_FAILS,
    ),
    # --- HubSpot while writing (2 batches: 100 + 40) -------------------------------------------
    Row(
        "HubSpot 403: write scope missing",
        setup=faults({"hubspot": {"auth": "missing_write_scope"}}),
        step="hubspot_writeback",
        error=("HTTP 403", "crm.objects.companies.write"),
        **FETCH_FAILS,
    ),
    Row(
        "HubSpot batch 1 of 2 rejected (400)",
        setup=faults(
            {
                "hubspot": {
                    "batch_update_rejections": [
                        {"nth": 1, "code": "INVALID_OPTION", "property": PROP_TIER}
                    ]
                }
            }
        ),
        step="hubspot_writeback",
        error=("batch update 1 of 2", "INVALID_OPTION", "Fix:"),
        **FETCH_FAILS,
    ),
    Row(
        "HubSpot batch 2 of 2 rejected (400)",
        setup=faults(
            {
                "hubspot": {
                    "batch_update_rejections": [
                        {"nth": 2, "code": "INVALID_INTEGER", "property": PROP_SCORE}
                    ]
                }
            }
        ),
        step="hubspot_writeback",
        error=("batch update 2 of 2", "INVALID_INTEGER", "restored 100 companies"),
        **RESTORES,
    ),
    Row(
        "HubSpot validation rule refuses batch 1 of 2 (tier needs customer_status)",
        setup=_tier_needs_status,
        step="hubspot_writeback",
        error=(
            "batch update 1 of 2",
            f"{PROP_CUSTOMER_STATUS} is required when {PROP_TIER} is set",
            f"Fix: set {PROP_CUSTOMER_STATUS} on companies",
            "exempt this app from that rule",
        ),
        checks=(names_the_companies_to_fix,),
        **FETCH_FAILS,
    ),
    Row(
        "HubSpot connection drops on batch 2 of 2 (not applied)",
        setup=faults(burst(UPDATE, "drop", nth=2, count=RETRY_ATTEMPTS)),
        step="hubspot_writeback",
        error=("batch update 2 of 2", "restored 140 companies"),
        slow=True,
        **RESTORES,
    ),
    Row(
        "HubSpot answer lost after batch 2 of 2 applied",
        setup=faults(burst(UPDATE, "drop_after", nth=2, count=RETRY_ATTEMPTS)),
        step="hubspot_writeback",
        error=("batch update 2 of 2", "restored 140 companies"),
        slow=True,
        **RESTORES,
    ),
    Row(
        "HubSpot answer lost once after batch 2 applied",
        setup=faults(burst(UPDATE, "drop_after", nth=2)),
        checks=(reports_retries("HubSpot"),),
        **RETRIED,
    ),
    Row(
        "HubSpot 503s outlast a restore call's retries after batch 2 of 2 failed",
        setup=faults(
            {
                "hubspot": {
                    "batch_update_rejections": [
                        {"nth": 2, "code": "INVALID_INTEGER", "property": PROP_SCORE}
                    ]
                },
                **burst(UPDATE, 503, nth=3, count=RETRY_ATTEMPTS),
            }
        ),
        step="hubspot_writeback",
        error=("batch update 2 of 2", "Nothing is left half-written", "restored 100 companies"),
        expect=Outcome.FAILS_AND_RESTORES,
        hubspot=HubSpotState.RESTORED,
        slow=True,
    ),
    # --- Yobi ------------------------------------------------------------------------------------
    Row(
        "Yobi login refused (401)",
        setup=faults({"yobi": {"login_fails": True}}),
        step="yobi_tenants",
        error=("HTTP 401", "check YOBI_EMAIL and YOBI_PASSWORD"),
        **FETCH_FAILS,
    ),
    Row(
        "Yobi token expiring mid-run",
        setup=_token_expiry,
        checks=(logged_in_again,),
        **RETRIED,
    ),
    Row(
        "Yobi account not an admin (403)",
        setup=faults({"yobi": {"non_admin": True}}),
        step="yobi_tenants",
        error=("HTTP 403", "not an admin"),
        **FETCH_FAILS,
    ),
    Row(
        "Yobi required key absent (new_patients)",
        setup=faults({"yobi": {"drop_keys": ["new_patients"]}}),
        step="weekly_metrics",
        error=("new_patients is absent", TENANT_CONTRACT),
        **FETCH_FAILS,
    ),
    Row(
        "Yobi trend buckets short of the week",
        setup=_trend_short,
        step="week_covered_by_trends",
        error=("do not cover the week", "rerun once Yobi has the whole week"),
        **FETCH_FAILS,
    ),
    Row(
        "Yobi 5xx bursts",
        setup=faults(burst("yobi *", 503, count=2)),
        checks=(reports_retries("Yobi"),),
        **RETRIED,
    ),
    Row(
        "Yobi down (every call 502)",
        setup=faults(routes("yobi *", error_rate=1.0, error_statuses=[502])),
        step="yobi_tenants",
        error=("HTTP 502", "check YOBI_BASE_URL"),
        slow=True,
        **FETCH_FAILS,
    ),
    # --- Notifications ---------------------------------------------------------------------------
    Row(
        "Slack webhook answering 500",
        setup=faults(routes(SLACK, error_rate=1.0, error_statuses=[500])),
        step="slack_summary",
        error=("Slack answered 500", "HubSpot was written", "re-materialize slack_summary"),
        channel_down="slack",
        **SUMMARY_FAILS,
    ),
    Row(
        "SMTP server down (421)",
        setup=faults({"smtp": {"down": True}}),
        step="slack_summary",
        error=("421", "HubSpot was written", "SMTP_HOST"),
        channel_down="email",
        **SUMMARY_FAILS,
    ),
    # --- Configuration and identity --------------------------------------------------------------
    Row(
        "Overrides JSON malformed",
        setup=overrides(_cut_off),
        step="settings",
        error=("TENANT_MAPPING_OVERRIDES_JSON", "JSON"),
        **FETCH_FAILS,
    ),
    Row(
        "Overrides naming an unknown tenant",
        setup=overrides(_unknown_tenant),
        step="overrides_valid",
        error=(str(UNKNOWN_TENANT), "TENANT_MAPPING_OVERRIDES_JSON"),
        **FETCH_FAILS,
    ),
    Row(
        "Overrides pinning two companies to one tenant",
        setup=overrides(_one_tenant_twice),
        step="settings",
        error=("TENANT_MAPPING_OVERRIDES_JSON",),
        **FETCH_FAILS,
    ),
    Row(
        "Empty universe (no customer contacts)",
        setup=_no_customers,
        step="universe_not_empty",
        error=("no customer companies", "lifecyclestage=customer"),
        **FETCH_FAILS,
    ),
    Row(
        "Every company unmappable",
        setup=_anonymous_tenants,
        step="mapping_coverage",
        error=("only 0 of", "TENANT_MAPPING_OVERRIDES_JSON"),
        **FETCH_FAILS,
    ),
    Row(
        "Two companies claiming one tenant (domain vs name)",
        checks=(claim_reported,),
        **COMPLETES,
    ),
    # --- Untrusted data from Yobi ----------------------------------------------------------------
    *(
        Row(
            f"Yobi counter {label}",
            setup=counter(value),
            step="weekly_metrics",
            error=("expected a whole number", TENANT_CONTRACT),
            **FETCH_FAILS,
        )
        for label, value in (
            ("negative (-5)", -5),
            ("fractional (12.5)", 12.5),
            ("huge (10^15)", 10**15),
            ("a string ('12')", "12"),
        )
    ),
    Row(
        "Yobi tenant listed twice (duplicate id)",
        setup=tenant("", duplicate=True),
        step="yobi_tenants",
        error=("listed twice", TENANT_CONTRACT),
        **FETCH_FAILS,
    ),
    Row(
        "Yobi tenant with a null name",
        setup=tenant("tenant_name", value=None),
        step="yobi_tenants",
        error=("tenant_name", "is absent", TENANT_CONTRACT),
        **FETCH_FAILS,
    ),
    Row(
        "Yobi tenant name of 10,000 characters",
        setup=tenant("tenant_name", value=LONG_NAME),
        **COMPLETES,
    ),
    Row(
        "Yobi answer not UTF-8",
        setup=tenant("tenant_name", invalid_utf8=True),
        step="yobi_tenants",
        error=("not JSON", TENANT_CONTRACT),
        **FETCH_FAILS,
    ),
    # --- Untrusted data from HubSpot -------------------------------------------------------------
    Row(
        "HubSpot company with no name",
        setup=edited("name", None),
        checks=(ranked_named(None),),
        **COMPLETES,
    ),
    Row(
        "HubSpot company name of 10,000 characters",
        setup=edited("name", LONG_NAME),
        checks=(ranked_named(LONG_NAME),),
        **COMPLETES,
    ),
    Row(
        "HubSpot answer not UTF-8 (company name)",
        setup=company("name", invalid_utf8=True),
        step="customer_companies",
        error=("not JSON", "rerun"),
        **FETCH_FAILS,
    ),
    Row(
        "HubSpot company returned twice (duplicate id)",
        setup=company("", duplicate=True),
        checks=(ranked_once,),
        **COMPLETES,
    ),
    Row(
        "HubSpot prior rank that is junk",
        setup=edited(PROP_RANK, JUNK_RANK),
        checks=(prior_rank_unknown,),
        **COMPLETES,
    ),
    # --- Idempotency -----------------------------------------------------------------------------
    Row(
        "Same week run three times (prior week stored)",
        procedure=same_week_three_times(prior_week_stored=True),
        checks=(same_outputs_no_rewrite,),
        slow=True,
        **COMPLETES,
    ),
    Row(
        "Same week run three times (no prior week stored)",
        procedure=same_week_three_times(prior_week_stored=False),
        checks=(same_outputs_no_rewrite,),
        slow=True,
        **COMPLETES,
    ),
    Row(
        "Process killed during batch 2 of 2, then re-run",
        procedure=killed_while_writing,
        checks=(rerun_finished_the_job,),
        expect=Outcome.RERUN_CONVERGES,
        hubspot=HubSpotState.COMPLETE,
        slow=True,
    ),
    # --- Issue 16: writes that survive anything ---------------------------------------------------
    Row(
        "Second writer of the week while the first writes: refused, naming it",
        procedure=second_writer(wait_seconds=1),
        step="hubspot_writeback",
        error=("is being written to HubSpot by run", "wrote nothing"),
        checks=(second_writer_named_the_first,),
        expect=Outcome.FAILS_BEFORE_WRITE,
        hubspot=HubSpotState.COMPLETE,
        slow=True,
    ),
    Row(
        "Second writer while the first fails at batch 2 and restores: refused, never mixed",
        setup=faults(REJECT_BATCH_2),
        procedure=second_writer(wait_seconds=1),
        step="hubspot_writeback",
        error=("is being written to HubSpot by run",),
        checks=(second_writer_named_the_first,),
        expect=Outcome.FAILS_BEFORE_WRITE,
        hubspot=HubSpotState.RESTORED,
        slow=True,
    ),
    Row(
        "Second writer waits for the first, then finds the week written",
        procedure=second_writer(wait_seconds=120),
        checks=(second_writer_waited_for_the_first,),
        slow=True,
        **RETRIED,
    ),
    Row(
        f"HubSpot token pasted into {Env.YOBI_BASE_URL}",
        setup=secret_pasted(Env.HUBSPOT_ACCESS_TOKEN, Env.YOBI_BASE_URL),
        step="settings",
        error=(
            f"{Env.YOBI_BASE_URL} (value hidden) holds the value of {Env.HUBSPOT_ACCESS_TOKEN}",
        ),
        **FETCH_FAILS,
    ),
    Row(
        f"Slack webhook URL pasted into {Env.HUBSPOT_BASE_URL}",
        setup=secret_pasted(Env.SLACK_WEBHOOK_URL, Env.HUBSPOT_BASE_URL),
        step="settings",
        error=(
            f"{Env.HUBSPOT_BASE_URL} (value hidden) holds the value of {Env.SLACK_WEBHOOK_URL}",
        ),
        **FETCH_FAILS,
    ),
    Row(
        f"SMTP password pasted into {Env.SMTP_HOST}",
        setup=secret_pasted(Env.SMTP_PASSWORD, Env.SMTP_HOST),
        step="settings",
        error=(f"{Env.SMTP_HOST} (value hidden) holds the value of {Env.SMTP_PASSWORD}",),
        channel_down="email",
        **FETCH_FAILS,
    ),
    Row(
        "Yobi lists a tenant twice in calls-by-tenant (identical rows)",
        setup=yobi_repeats("calls", conflicting=False),
        checks=(reports_the_repeat,),
        **COMPLETES,
    ),
    Row(
        "Yobi lists a tenant twice in tasks/created (identical rows)",
        setup=yobi_repeats("tasks", conflicting=False),
        checks=(reports_the_repeat,),
        **COMPLETES,
    ),
    Row(
        "Yobi lists a tenant twice in calls-by-tenant with other counts",
        setup=yobi_repeats("calls", conflicting=True),
        step="weekly_metrics",
        error=(CALLS.split(" ", 1)[1],),
        **FETCH_FAILS,
    ),
    Row(
        "Yobi lists a location twice in appointments-by-location with other counts",
        setup=yobi_repeats("appointments", conflicting=True),
        step="weekly_metrics",
        error=(APPOINTMENTS.split(" ", 1)[1],),
        **FETCH_FAILS,
    ),
    Row(
        "HubSpot 429 storm of 30 calls from the restore on (batch 2 of 2 failed)",
        setup=faults({**REJECT_BATCH_2, **burst(UPDATE, 429, nth=3, count=30)}),
        step="hubspot_writeback",
        error=("batch update 2 of 2", "Nothing is left half-written"),
        slow=True,
        **RESTORES,
    ),
    Row(
        "HubSpot 500 storm of 30 calls from the restore on (batch 2 of 2 failed)",
        setup=faults({**REJECT_BATCH_2, **burst(UPDATE, 500, nth=3, count=30)}),
        step="hubspot_writeback",
        error=("batch update 2 of 2", "Nothing is left half-written"),
        slow=True,
        **RESTORES,
    ),
    Row(
        f"Tier dropdown loses {TIER_BOTTOM!r} mid-write: only those before values stay",
        procedure=while_writing(tier_loses_bottom_option),
        step="hubspot_writeback",
        error=("RESTORE INCOMPLETE", "now refuses the before values"),
        checks=(only_refused_before_values_stay,),
        expect=Outcome.RESTORE_INCOMPLETE,
        hubspot=HubSpotState.PARTIAL,
        slow=True,
    ),
    Row(
        "A person edits a written company's score during a failing write",
        setup=faults(REJECT_BATCH_2),
        procedure=while_writing(person_edits_a_written_company),
        step="hubspot_writeback",
        error=("batch update 2 of 2", "changed by someone else during the run"),
        checks=(the_persons_edit_stands,),
        slow=True,
        **RESTORES,
    ),
    Row(
        "HubSpot applies the restore but the answer is lost every time",
        setup=faults(
            {**REJECT_BATCH_2, **burst(UPDATE, "drop_after", nth=3, count=RETRY_ATTEMPTS)}
        ),
        step="hubspot_writeback",
        error=("batch update 2 of 2", "Nothing is left half-written", "restored 100 companies"),
        slow=True,
        **RESTORES,
    ),
    Row(
        "Process killed during batch 2 of 2, then `recover`",
        procedure=killed_then_recovered,
        checks=(recover_said_so,),
        expect=Outcome.RECOVERED,
        hubspot=HubSpotState.RESTORED,
        slow=True,
    ),
    Row(
        "HubSpot token revoked mid-write, then the next run converges from the journal",
        procedure=revoked_mid_write_then_rerun,
        checks=(the_rerun_converged_from_the_journal,),
        slow=True,
        **RETRIED,
    ),
    Row(
        "Markdown, NUL and bidirectional overrides in company names",
        setup=hostile_names,
        procedure=run_and_read_markdown,
        checks=(nothing_renders_live,),
        same_ranking=False,
        **COMPLETES,
    ),
    Row(
        f"{Env.SLACK_WEBHOOK_URL} with a trailing newline",
        setup=lambda trial: trial.set_env(
            Env.SLACK_WEBHOOK_URL, os.environ[Env.SLACK_WEBHOOK_URL] + "\n"
        ),
        step="settings",
        error=(f"{Env.SLACK_WEBHOOK_URL} (value hidden)", "line break"),
        channel_down="slack",
        **FETCH_FAILS,
    ),
    Row(
        f"{Env.SMTP_PORT}=abc",
        setup=env(Env.SMTP_PORT, "abc"),
        step="settings",
        error=(f"{Env.SMTP_PORT}='abc' is not a TCP port",),
        channel_down="email",
        **FETCH_FAILS,
    ),
    Row(
        f"{Env.HUBSPOT_ACCESS_TOKEN} unset",
        setup=env(Env.HUBSPOT_ACCESS_TOKEN, None),
        step="settings",
        error=(f"{Env.HUBSPOT_ACCESS_TOKEN} is not set: set it to",),
        **FETCH_FAILS,
    ),
    Row(
        "HubSpot token with a trailing newline",
        setup=lambda trial: trial.set_env(
            Env.HUBSPOT_ACCESS_TOKEN, os.environ[Env.HUBSPOT_ACCESS_TOKEN] + "\n"
        ),
        step="settings",
        error=(f"{Env.HUBSPOT_ACCESS_TOKEN} (value hidden) has a leading or trailing space",),
        **FETCH_FAILS,
    ),
    Row(
        "Writeback alone with its upstream as source assets, after the top company churned",
        procedure=narrowed_writeback_after_the_universe_changed,
        step="hubspot_writeback",
        error=("Refusing to write", "ranked_scores is older than the latest customer_companies"),
        checks=(the_churned_company_kept_its_values,),
        same_ranking=False,
        expect=Outcome.FAILS_BEFORE_WRITE,
        hubspot=HubSpotState.COMPLETE,
    ),
    Row(
        "Allowlist naming an excluded, an unmapped and an unknown company",
        procedure=allowlist_with_strays,
        checks=(names_each_stray_and_why,),
        **COMPLETES,
    ),
)
BY_NAME: dict[str, Row] = {row.name: row for row in ROWS}
