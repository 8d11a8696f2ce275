"""Per-week asset checks. The blocking ones are the spec's fail-fast rules: when one fails, the
writeback does not run in that run, and the write gate refuses it in any later run."""

from collections.abc import Sequence

import dagster as dg
import pandas as pd

from engagement_ranker.constants import METRICS
from engagement_ranker.core.identity import OverridesError
from engagement_ranker.core.integrity import listed, ranking_problems
from engagement_ranker.core.universe import included
from engagement_ranker.core.writeplan import property_problems
from engagement_ranker.defs.partitions import latest_week_key, weekly_partitions
from engagement_ranker.defs.resources import HubSpotResource, RankerSettings

MAX_LISTED = 10


def _listed(values: Sequence[object]) -> str:
    return listed(values, MAX_LISTED)


def _result(problems: Sequence[str], **metadata: object) -> dg.AssetCheckResult:
    """Pass when there are no problems; otherwise fail with every problem in the description."""
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems) if problems else None,
        metadata={"problems": dg.MetadataValue.json(list(problems)), **metadata},
    )


def _check(asset: str, **kwargs: object):  # noqa: ANN202 - the decorator's own type
    """Every check here is per week and blocking unless it says otherwise."""
    kwargs.setdefault("blocking", True)
    return dg.asset_check(asset=asset, partitions_def=weekly_partitions, **kwargs)


@_check("customer_companies")
def universe_not_empty(customer_companies: pd.DataFrame) -> dg.AssetCheckResult:
    """At least one customer company remains after exclusions: an empty ranking is an outage."""
    count = len(included(customer_companies))
    problems = (
        []
        if count
        else [
            "no customer companies after exclusions: check that contacts have lifecyclestage="
            "customer and associated companies, and HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON"
        ]
    )
    return _result(problems, included=count)


@_check("customer_companies")
def company_ids_unique(customer_companies: pd.DataFrame) -> dg.AssetCheckResult:
    """One row per company: a duplicate would be ranked twice."""
    duplicated = customer_companies.loc[customer_companies["company_id"].duplicated(), "company_id"]
    problems = [f"duplicate company ids: {_listed(list(duplicated))}"] if len(duplicated) else []
    return _result(problems)


@_check("tenant_mapping", additional_ins={"yobi_tenants": dg.AssetIn("yobi_tenants")})
def overrides_valid(settings: RankerSettings, yobi_tenants: pd.DataFrame) -> dg.AssetCheckResult:
    """Every override names a tenant that exists: a stale override would map to nothing."""
    try:
        overrides = settings.overrides(set(yobi_tenants["tenant_id"].astype(int)))
    except OverridesError as error:
        return _result([str(error)])
    return _result([], by_company=len(overrides.by_company), by_domain=len(overrides.by_domain))


@_check("tenant_mapping", additional_ins={"customer_companies": dg.AssetIn("customer_companies")})
def mapping_coverage(
    settings: RankerSettings, tenant_mapping: pd.DataFrame, customer_companies: pd.DataFrame
) -> dg.AssetCheckResult:
    """Enough companies found their tenant (MAPPING_COVERAGE_MIN) for the ranking to mean much."""
    total = len(included(customer_companies))
    mapped = int(tenant_mapping["tenant_id"].notna().sum())
    coverage = mapped / total if total else 0.0
    minimum = settings.coverage_min()
    problems = (
        []
        if coverage >= minimum
        else [
            f"only {mapped} of {total} companies ({coverage:.0%}) map to a Yobi tenant, below "
            f"MAPPING_COVERAGE_MIN={minimum:.0%}: add entries to TENANT_MAPPING_OVERRIDES_JSON "
            "(see the suggestions in tenant_mapping) or lower the threshold"
        ]
    )
    return _result(problems, coverage=dg.MetadataValue.float(round(coverage, 4)), minimum=minimum)


@_check("tenant_mapping")
def one_company_per_tenant(tenant_mapping: pd.DataFrame) -> dg.AssetCheckResult:
    """A tenant's usage is credited to one company only, never double-counted."""
    mapped = tenant_mapping[tenant_mapping["tenant_id"].notna()]
    claimed = mapped[mapped["tenant_id"].duplicated(keep=False)]
    problems = (
        [f"tenants claimed by several companies: {_listed(sorted(set(claimed['tenant_id'])))}"]
        if len(claimed)
        else []
    )
    return _result(problems)


@_check("tenant_mapping", additional_ins={"weekly_metrics": dg.AssetIn("weekly_metrics")})
def mapped_tenants_have_counters(
    tenant_mapping: pd.DataFrame, weekly_metrics: pd.DataFrame
) -> dg.AssetCheckResult:
    """All four counters are present and non-negative for every tenant we will rank."""
    mapped = tenant_mapping.loc[tenant_mapping["tenant_id"].notna(), ["company_id", "tenant_id"]]
    joined = mapped.astype({"tenant_id": "int64"}).merge(weekly_metrics, on="tenant_id", how="left")
    counters = joined[[m.value for m in METRICS]]
    missing = joined[counters.isna().any(axis=1)]
    negative = joined[(counters.fillna(0) < 0).any(axis=1)]
    problems = []
    if len(missing):
        problems.append(
            f"Yobi reported no counters for mapped tenants {_listed(list(missing['tenant_id']))}"
        )
    if len(negative):
        problems.append(f"negative counters for tenants {_listed(list(negative['tenant_id']))}")
    return _result(problems)


@_check("tenant_mapping", additional_ins={"weekly_metrics": dg.AssetIn("weekly_metrics")})
def week_covered_by_trends(
    tenant_mapping: pd.DataFrame, weekly_metrics: pd.DataFrame
) -> dg.AssetCheckResult:
    """Daily buckets cover all seven days for every tenant we rank: a partial week is never
    scaled up or guessed. Gaps in tenants nobody maps to are shown, but block nothing."""
    mapped = set(tenant_mapping["tenant_id"].dropna().astype(int))
    short = weekly_metrics[weekly_metrics["missing_days"].fillna("") != ""]
    ranked_short = short[short["tenant_id"].astype(int).isin(mapped)]
    problems = (
        [
            f"trend buckets do not cover the week for {len(ranked_short)} mapped tenants "
            f"(e.g. tenant {ranked_short.iloc[0]['tenant_id']}: "
            f"{ranked_short.iloc[0]['missing_days']}); rerun once Yobi has the whole week"
        ]
        if len(ranked_short)
        else []
    )
    return _result(
        problems,
        mapped_tenants_short=len(ranked_short),
        unmapped_tenants_short=len(short) - len(ranked_short),
    )


@_check("ranked_scores")
def ranking_integrity(ranked_scores: pd.DataFrame) -> dg.AssetCheckResult:
    """Scores, ranks 1..N, tie-break order, ceil-based tiers and rank text all follow the spec."""
    return _result(ranking_problems(ranked_scores), ranked=len(ranked_scores))


@_check("ranked_scores")
def hubspot_properties_writable(
    context: dg.AssetCheckExecutionContext, hubspot: HubSpotResource
) -> dg.AssetCheckResult:
    """HubSpot's three property definitions accept our values (number, text, tier labels).

    Historical weeks are not written, so HubSpot's state cannot block their backfill; the
    writer validates the definitions again before any write.
    """
    if context.partition_key != latest_week_key():
        return dg.AssetCheckResult(
            passed=True, description="historical week: HubSpot is not written, not checked"
        )
    with hubspot.client() as client:
        return _result(property_problems(hubspot.engagement_definitions(client)))


@_check("hubspot_writeback")
def readback_matches(hubspot_writeback: pd.DataFrame) -> dg.AssetCheckResult:
    """What HubSpot holds after the write equals what was written."""
    written = hubspot_writeback[hubspot_writeback["outcome"] == "written"]
    mismatched = written[~written["readback_ok"].astype(bool)]
    problems = (
        [
            f"HubSpot holds other values than written for companies "
            f"{_listed(list(mismatched['company_id']))}; see hubspot_writeback's audit"
        ]
        if len(mismatched)
        else []
    )
    return _result(problems, written=len(written))


ALL_CHECKS = [
    universe_not_empty,
    company_ids_unique,
    overrides_valid,
    mapping_coverage,
    one_company_per_tenant,
    mapped_tenants_have_counters,
    week_covered_by_trends,
    ranking_integrity,
    hubspot_properties_writable,
    readback_matches,
]

# The writeback's own gate: blocking checks of every asset upstream of it.
UPSTREAM_OF_WRITEBACK = (
    "customer_companies",
    "yobi_tenants",
    "weekly_metrics",
    "tenant_mapping",
    "ranked_scores",
)
GATING_CHECK_KEYS: tuple[dg.AssetCheckKey, ...] = tuple(
    spec.key
    for checks in ALL_CHECKS
    for spec in checks.check_specs
    if spec.blocking and spec.asset_key.path[-1] in UPSTREAM_OF_WRITEBACK
)
