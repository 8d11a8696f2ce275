"""Per-week asset checks: the spec's fail-fast rules, each attached to the asset it checks.

Every check is blocking: it stops the rest of its run when it fails, and in any later run the
write gate (defs/gate.py) refuses unless every one of them passed. A check reads only its
asset and that asset's ancestors, so the checks that join the counters with the mapping sit on
`tenant_mapping` (which reads `weekly_metrics`): an asset backfill, which may run each asset of
a week in a run of its own, always finds their inputs stored.

The data alarms (core/alarms.py) are found by the asset they concern, which reports them as
anomalies (so the summary lists them); a check per family turns them into a verdict whose
severity is a setting (ALARM_SEVERITIES): error stops the write, warn shows in the
dashboards and lets it go ahead.
"""

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import dagster as dg
import pandas as pd

from engagement_ranker.core.alarms import AlarmSeverity, of_kinds, severity_of
from engagement_ranker.core.anomalies import AnomalyKind
from engagement_ranker.core.coverage import counter_problems, coverage_problems, short_tenants
from engagement_ranker.core.integrity import listed, ranking_problems
from engagement_ranker.core.tenants import tenant_ids
from engagement_ranker.core.universe import included
from engagement_ranker.core.week import WeekRole
from engagement_ranker.core.writeplan import CompanyOutcome, property_problems
from engagement_ranker.defs.keys import (
    CUSTOMER_COMPANIES,
    HUBSPOT_WRITEBACK,
    RANKED_SCORES,
    TENANT_MAPPING,
    WEEKLY_METRICS,
    YOBI_TENANTS,
)
from engagement_ranker.defs.metadata import MetadataEntry
from engagement_ranker.defs.partitions import WeekCalendar, week_of, weekly_partitions
from engagement_ranker.defs.resources import HubSpotResource, SettingsResource
from engagement_ranker.defs.warehouse import Reported

MAX_LISTED = 10


def _listed(values: Sequence[object]) -> str:
    return listed(values, MAX_LISTED)


def _result(
    problems: Sequence[str],
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    **metadata: MetadataEntry,
) -> dg.AssetCheckResult:
    """Pass when there are no problems; otherwise fail with every problem in the description."""
    return dg.AssetCheckResult(
        passed=not problems,
        severity=severity,
        description="; ".join(problems) if problems else None,
        metadata={"problems": dg.MetadataValue.json(list(problems)), **metadata},
    )


@dataclass(frozen=True)
class _Check:
    """One rule about one asset's week: a function named for the check, its docstring the
    check's description. Called, it returns its result under the check's key."""

    spec: dg.AssetCheckSpec
    rule: Callable[..., dg.AssetCheckResult]

    def __call__(self, *args: Any, **kwargs: Any) -> dg.AssetCheckResult:
        return self.rule(*args, **kwargs)._replace(
            asset_key=self.spec.asset_key, check_name=self.spec.name
        )

    def on(self, *args: Any, **kwargs: Any) -> "_Pending":
        """The check with its arguments, evaluated only if the run selected it."""
        return _Pending(self.spec.key, functools.partial(self, *args, **kwargs))


class _Pending(NamedTuple):
    """A check bound to its arguments (`_Check.on`), not yet evaluated."""

    key: dg.AssetCheckKey
    evaluate: Callable[[], dg.AssetCheckResult]


def _check(
    asset: dg.AssetKey, *, reads: Sequence[dg.AssetKey] = ()
) -> Callable[[Callable[..., dg.AssetCheckResult]], _Check]:
    """A per-week blocking check on `asset` that gates the write; `reads` are the other assets
    it reads (the lineage shows them)."""

    def check(rule: Callable[..., dg.AssetCheckResult]) -> _Check:
        spec = dg.AssetCheckSpec(
            rule.__name__,
            asset=asset,
            description=inspect.getdoc(rule),
            additional_deps=reads,
            blocking=True,
            partitions_def=weekly_partitions,
        )
        return _Check(spec, rule)

    return check


def _checks_on(
    asset: dg.AssetKey, *checks: _Check
) -> Callable[[Callable[..., Iterator[_Pending]]], dg.AssetChecksDefinition]:
    """One step evaluates the `checks` on `asset`, which the decorated body (its first parameter
    `context`) yields bound to their arguments (`check.on(...)`), in order: a run has a check
    step per checked asset, not per check (each step logs its own events and loads its inputs
    again: a fault row's run took 17 % less CPU with five than with fifteen). The step
    evaluates only the checks its run selected, so one check executed from the UI is that
    check alone (and reads HubSpot only if it is the check that does). A check that raises
    does not hide the others' verdicts: they are evaluated, then the step fails naming it."""
    elsewhere = [check.spec.name for check in checks if check.spec.asset_key != asset]
    if elsewhere:  # a wiring mistake, caught when the definitions load, not when a week runs
        raise ValueError(f"checks {elsewhere} are not on {asset.to_user_string()}")

    def step(body: Callable[..., Iterator[_Pending]]) -> dg.AssetChecksDefinition:
        # Dagster reads the body's parameters (inputs, resources) through `functools.wraps`.
        @functools.wraps(body)
        def evaluate(
            context: dg.AssetCheckExecutionContext, *args: Any, **kwargs: Any
        ) -> Iterator[dg.AssetCheckResult]:
            selected = context.selected_asset_check_keys
            raised: dict[dg.AssetCheckKey, Exception] = {}
            for pending in body(context, *args, **kwargs):
                if pending.key not in selected:
                    continue
                try:
                    result = pending.evaluate()
                except Exception as error:  # reported once the step's other checks have run
                    raised[pending.key] = error
                    continue
                yield result
            if raised:
                raise dg.Failure(
                    description="; ".join(
                        f"check {key.to_user_string()} could not be evaluated: "
                        f"{str(error) or type(error).__name__}"
                        for key, error in raised.items()
                    )
                ) from next(iter(raised.values()))

        return dg.multi_asset_check(specs=[check.spec for check in checks], can_subset=True)(
            evaluate
        )

    return step


@_check(CUSTOMER_COMPANIES)
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


@_check(CUSTOMER_COMPANIES)
def company_ids_unique(customer_companies: pd.DataFrame) -> dg.AssetCheckResult:
    """One row per company: a duplicate would be ranked twice."""
    duplicated = customer_companies.loc[customer_companies["company_id"].duplicated(), "company_id"]
    problems = [f"duplicate company ids: {_listed(list(duplicated))}"] if len(duplicated) else []
    return _result(problems)


@_check(TENANT_MAPPING, reads=[YOBI_TENANTS])
def overrides_valid(settings: SettingsResource, yobi_tenants: pd.DataFrame) -> dg.AssetCheckResult:
    """Every override names a tenant that exists: a stale override would map to nothing."""
    ranking = settings.value.ranking
    overrides = ranking.overrides
    problems = ranking.unknown_tenants(tenant_ids(yobi_tenants))
    return _result(
        problems, by_company=len(overrides.by_company), by_domain=len(overrides.by_domain)
    )


@_check(TENANT_MAPPING, reads=[CUSTOMER_COMPANIES])
def mapping_coverage(
    settings: SettingsResource, tenant_mapping: pd.DataFrame, customer_companies: pd.DataFrame
) -> dg.AssetCheckResult:
    """Enough companies found their tenant (MAPPING_COVERAGE_MIN) for the ranking to mean much."""
    total = len(included(customer_companies))
    mapped = int(tenant_mapping["tenant_id"].notna().sum())
    coverage = mapped / total if total else 0.0
    minimum = settings.value.ranking.mapping_coverage_min
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


@_check(TENANT_MAPPING)
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


@_check(TENANT_MAPPING, reads=[WEEKLY_METRICS])
def mapped_tenants_have_counters(
    weekly_metrics: pd.DataFrame, tenant_mapping: pd.DataFrame
) -> dg.AssetCheckResult:
    """All four counters are present and non-negative for every tenant we rank."""
    return _result(counter_problems(weekly_metrics, tenant_mapping))


@_check(TENANT_MAPPING, reads=[WEEKLY_METRICS])
def week_covered_by_trends(
    weekly_metrics: pd.DataFrame, tenant_mapping: pd.DataFrame
) -> dg.AssetCheckResult:
    """Daily buckets cover all seven days for every tenant we rank: a partial week is never
    scaled up or guessed. Gaps in tenants nobody maps to are shown, but block nothing."""
    short, unmapped_short = short_tenants(weekly_metrics, tenant_mapping)
    return _result(
        coverage_problems(weekly_metrics, tenant_mapping),
        mapped_tenants_short=len(short),
        unmapped_tenants_short=unmapped_short,
    )


@_check(RANKED_SCORES)
def ranking_integrity(ranked_scores: pd.DataFrame) -> dg.AssetCheckResult:
    """Scores, ranks 1..N, tie-break order, ceil-based tiers and rank text all follow the spec."""
    return _result(ranking_problems(ranked_scores), ranked=len(ranked_scores))


@_check(RANKED_SCORES)
def hubspot_properties_writable(
    context: dg.AssetCheckExecutionContext, hubspot: HubSpotResource, calendar: WeekCalendar
) -> dg.AssetCheckResult:
    """HubSpot's three property definitions accept our values (number, text, tier labels).

    Historical weeks are not written, so HubSpot's state cannot block their backfill; the
    writer validates the definitions again before any write.
    """
    if calendar.role(week_of(context)) is WeekRole.HISTORICAL:
        return dg.AssetCheckResult(
            passed=True, description="historical week: HubSpot is not written, not checked"
        )
    with hubspot.client() as client:
        return _result(property_problems(hubspot.engagement_definitions(client)))


@_check(HUBSPOT_WRITEBACK)
def readback_matches(hubspot_writeback: pd.DataFrame) -> dg.AssetCheckResult:
    """What HubSpot holds after the write equals what was written."""
    written = hubspot_writeback[hubspot_writeback["outcome"] == CompanyOutcome.WRITTEN]
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


SEVERITIES: dict[AlarmSeverity, dg.AssetCheckSeverity] = {
    AlarmSeverity.ERROR: dg.AssetCheckSeverity.ERROR,
    AlarmSeverity.WARN: dg.AssetCheckSeverity.WARN,
}


def _alarms(
    settings: SettingsResource, reported: Reported, *kinds: AnomalyKind
) -> dg.AssetCheckResult:
    """The verdict on the alarms of `kinds` the asset found: pass when there are none, else
    fail with each one's reason and fix, as severe as ALARM_SEVERITIES makes them."""
    found = of_kinds(reported.anomalies, kinds)
    severity = severity_of(found, settings.value.alarms.severities)
    return _result(
        [a.message for a in found],
        SEVERITIES[severity],
        alarm_severity=severity.value if found else "none",
    )


@_check(WEEKLY_METRICS)
def counters_not_all_zero(
    settings: SettingsResource, weekly_metrics: Reported
) -> dg.AssetCheckResult:
    """No counter is zero for every tenant: that is a renamed or dropped Yobi field, not a
    quiet week, and ranking it would move every company."""
    return _alarms(settings, weekly_metrics, AnomalyKind.COUNTER_ALL_ZERO)


@_check(WEEKLY_METRICS)
def counter_totals_near_median(
    settings: SettingsResource, weekly_metrics: Reported
) -> dg.AssetCheckResult:
    """Each counter's total is within ALARM_COUNTER_BAND of its trailing 4-week median."""
    return _alarms(settings, weekly_metrics, AnomalyKind.COUNTER_SHIFT)


@_check(WEEKLY_METRICS)
def tenant_activity_near_median(
    settings: SettingsResource, weekly_metrics: Reported
) -> dg.AssetCheckResult:
    """No tenant's activity is above ALARM_TENANT_JUMP times its own trailing median."""
    return _alarms(settings, weekly_metrics, AnomalyKind.TENANT_JUMP)


@_check(CUSTOMER_COMPANIES)
def universe_size_near_median(
    settings: SettingsResource, customer_companies: Reported
) -> dg.AssetCheckResult:
    """The customer universe is not halved, and within ALARM_UNIVERSE_BAND of its trailing
    4-week median."""
    return _alarms(
        settings, customer_companies, AnomalyKind.UNIVERSE_HALVED, AnomalyKind.UNIVERSE_SHIFT
    )


@_check(TENANT_MAPPING)
def mapped_share_near_median(
    settings: SettingsResource, tenant_mapping: Reported
) -> dg.AssetCheckResult:
    """The share of companies that found a tenant is within ALARM_MAPPED_SHARE_BAND of its
    trailing 4-week median."""
    return _alarms(settings, tenant_mapping, AnomalyKind.MAPPED_SHARE_SHIFT)


# One step per checked asset (see _checks_on); each asset is read once, as the rules need it.


@_checks_on(CUSTOMER_COMPANIES, universe_not_empty, company_ids_unique, universe_size_near_median)
def customer_companies_checks(
    context: dg.AssetCheckExecutionContext, settings: SettingsResource, customer_companies: Reported
) -> Iterator[_Pending]:
    yield universe_not_empty.on(customer_companies.table)
    yield company_ids_unique.on(customer_companies.table)
    yield universe_size_near_median.on(settings, customer_companies)


@_checks_on(
    WEEKLY_METRICS, counters_not_all_zero, counter_totals_near_median, tenant_activity_near_median
)
def weekly_metrics_checks(
    context: dg.AssetCheckExecutionContext, settings: SettingsResource, weekly_metrics: Reported
) -> Iterator[_Pending]:
    yield counters_not_all_zero.on(settings, weekly_metrics)
    yield counter_totals_near_median.on(settings, weekly_metrics)
    yield tenant_activity_near_median.on(settings, weekly_metrics)


@_checks_on(
    TENANT_MAPPING,
    overrides_valid,
    mapping_coverage,
    one_company_per_tenant,
    mapped_tenants_have_counters,
    week_covered_by_trends,
    mapped_share_near_median,
)
def tenant_mapping_checks(
    context: dg.AssetCheckExecutionContext,
    settings: SettingsResource,
    tenant_mapping: Reported,
    customer_companies: pd.DataFrame,
    yobi_tenants: pd.DataFrame,
    weekly_metrics: pd.DataFrame,
) -> Iterator[_Pending]:
    mapping = tenant_mapping.table
    yield overrides_valid.on(settings, yobi_tenants)
    yield mapping_coverage.on(settings, mapping, customer_companies)
    yield one_company_per_tenant.on(mapping)
    yield mapped_tenants_have_counters.on(weekly_metrics, mapping)
    yield week_covered_by_trends.on(weekly_metrics, mapping)
    yield mapped_share_near_median.on(settings, tenant_mapping)


@_checks_on(RANKED_SCORES, ranking_integrity, hubspot_properties_writable)
def ranked_scores_checks(
    context: dg.AssetCheckExecutionContext,
    hubspot: HubSpotResource,
    calendar: WeekCalendar,
    ranked_scores: pd.DataFrame,
) -> Iterator[_Pending]:
    yield ranking_integrity.on(ranked_scores)
    yield hubspot_properties_writable.on(context, hubspot, calendar)


@_checks_on(HUBSPOT_WRITEBACK, readback_matches)
def hubspot_writeback_checks(
    context: dg.AssetCheckExecutionContext, hubspot_writeback: pd.DataFrame
) -> Iterator[_Pending]:
    yield readback_matches.on(hubspot_writeback)


ALL_CHECKS = [
    customer_companies_checks,
    weekly_metrics_checks,
    tenant_mapping_checks,
    ranked_scores_checks,
    hubspot_writeback_checks,
]
