"""The weekly asset graph: universe, tenants, metrics, mapping, ranks, writeback, summary.

Each asset fetches through a client, calls the core, and returns its week's table with what a
person should look at in it (`Reported`); both are stored in the warehouse, so the summary and
the report take the anomalies from the assets' outputs like any other input.
"""

from collections.abc import Iterable, Sequence
from typing import TypedDict

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from engagement_ranker.clients.errors import ApiError
from engagement_ranker.clients.hubspot_writes import WriteFailed, write_batches
from engagement_ranker.constants import (
    ALARM_HISTORY_WEEKS,
    ENGAGEMENT_PROPERTIES,
    METRICS,
    PROP_OWNER,
    Env,
)
from engagement_ranker.core.alarms import (
    counter_alarms,
    mapped_share_alarms,
    tenant_jump_alarms,
    universe_alarms,
)
from engagement_ranker.core.anomalies import Anomaly, AnomalyKind, company_label
from engagement_ranker.core.charts import CHART_WEEKS, summary_chart
from engagement_ranker.core.coverage import counter_problems, coverage_problems
from engagement_ranker.core.frames import Cell, rows
from engagement_ranker.core.identity import (
    AMBIGUOUS,
    COMPANY_COLUMNS,
    DUPLICATE_CLAIM,
    TENANT_INPUT_COLUMNS,
    UNMAPPED,
    resolve_tenants,
    weekly_activity,
)
from engagement_ranker.core.movers import activity_anomalies, attach_prior
from engagement_ranker.core.owners import DIGEST_COLUMNS, SENT
from engagement_ranker.core.owners import owner_digests as build_owner_digests
from engagement_ranker.core.render import (
    fenced_plain_text,
    markdown,
    markdown_escape,
    ranking_markdown,
)
from engagement_ranker.core.scoring import rank_companies, rank_text
from engagement_ranker.core.summary import build_summary
from engagement_ranker.core.tenants import tenant_ids
from engagement_ranker.core.universe import (
    build_universe,
    describe_exclusion_rules,
    included,
    read_properties,
)
from engagement_ranker.core.week import WeekRole
from engagement_ranker.core.writeplan import (
    CompanyOutcome,
    batches,
    intended_values,
    plan_writes,
    property_problems,
    unwritten_allowlist,
)
from engagement_ranker.defs import gate
from engagement_ranker.defs.journal import JournalRecorder, WriteStore, converge, holding
from engagement_ranker.defs.keys import (
    CUSTOMER_COMPANIES,
    HUBSPOT_WRITEBACK,
    OWNER_DIGESTS,
    RANKED_SCORES,
    SLACK_SUMMARY,
    TENANT_MAPPING,
    WEEKLY_METRICS,
    YOBI_TENANTS,
)
from engagement_ranker.defs.metadata import (
    PREVIEW_ROWS,
    MetadataEntry,
    anomalies_table,
    frame_metadata,
    markdown_table,
)
from engagement_ranker.defs.partitions import WeekCalendar, week_of, weekly_partitions
from engagement_ranker.defs.resources import (
    HubSpotResource,
    NotifierResource,
    SettingsResource,
    YobiResource,
)
from engagement_ranker.defs.runmode import announce_mode, last_write
from engagement_ranker.defs.warehouse import (
    Reported,
    stored_rows_before,
    stored_week,
    weeks_before,
)
from engagement_ranker.defs.writeback import (
    WritebackConfig,
    WriteRefused,
    audit_frame,
    audited_mode,
    resolve_intent,
    write_failure,
)
from engagement_ranker.settings import SettingError

OWNERS = ["team:revenue-data"]
# The whole week's ranking in the UI; beyond this the warehouse table holds the rest (a
# Markdown entry of tens of thousands of rows would weigh on every page that loads it).
RANKING_MAX_ROWS = 2_000
RANK_COLUMNS = ("company_id", "rank")
NOT_SENT_HISTORICAL = "not sent: historical week"
# The warehouse keeps every week: rows carry their week's Sunday, which is the partition key.
WEEKLY_TABLE = {"partition_expr": "CAST(week AS TIMESTAMP)"}


class _Common(TypedDict):
    """What every asset here passes to dg.asset, typed so the call is checked."""

    partitions_def: dg.PartitionsDefinition
    owners: list[str]
    io_manager_key: str
    metadata: dict[str, str]


COMMON: _Common = {
    "partitions_def": weekly_partitions,
    "owners": OWNERS,
    "io_manager_key": "warehouse_io",
    "metadata": WEEKLY_TABLE,
}
# The previous week of the same asset: backfills run in order, and the lineage shows it. The
# first week has none (an empty table).
PREVIOUS_WEEK = dg.TimeWindowPartitionMapping(
    start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
)
# The stored weeks a week's data alarms compare it with (core/alarms.py): the same asset's
# trailing weeks, as an input, so the lineage shows what the yardstick is.
TRAILING_WEEKS = dg.TimeWindowPartitionMapping(
    start_offset=-ALARM_HISTORY_WEEKS, end_offset=-1, allow_nonexistent_upstream_partitions=True
)


def _trailing(key: dg.AssetKey) -> dict[str, dg.AssetIn]:
    """The `history` input: the asset's own stored weeks before this one."""
    return {"history": dg.AssetIn(key=key, partition_mapping=TRAILING_WEEKS)}


def _stamped(frame: pd.DataFrame, week_key: str) -> pd.DataFrame:
    """The frame with its week as the first column, as the warehouse partitions on it.

    Column names become plain strings (enum-named columns cannot be serialized as metadata).
    Text columns are typed as text even when every value is null, so the warehouse table
    keeps one schema from week to week; columns of lists (day-by-day counters) stay lists.
    """
    frame = frame.rename(columns=lambda column: str(column))
    text = {
        c: "string"
        for c in frame.columns
        if frame[c].dtype == object
        and not frame[c].map(lambda value: isinstance(value, list)).any()
    }
    return frame.astype(text).assign(week=week_key)[["week", *frame.columns]]


def _reported(
    context: dg.AssetExecutionContext,
    frame: pd.DataFrame,
    anomalies: Iterable[Anomaly] = (),
    **extra: MetadataEntry,
) -> dg.Output[Reported]:
    """The week's table and its anomalies, with the metadata the asset page shows."""
    stored = _stamped(frame, context.partition_key)
    found = tuple(anomalies)
    metadata = frame_metadata(stored, extra)
    if found:
        metadata["anomalies"] = dg.MetadataValue.md(anomalies_table(found))
    metadata["anomaly_count"] = dg.MetadataValue.int(len(found))
    return dg.Output(Reported(stored, found), metadata=metadata)


def _api_warnings(service: str, warnings: Sequence[str]) -> list[Anomaly]:
    """Client retries and oddities, reported rather than hidden (they are already secret-free)."""
    return [Anomaly(AnomalyKind.API_WARNING, f"{service}: {w}") for w in warnings]


@dg.asset(
    key=CUSTOMER_COMPANIES,
    group_name="hubspot",
    kinds={"hubspot", "pandas", "duckdb"},
    ins=_trailing(CUSTOMER_COMPANIES),
    **COMMON,
)
def customer_companies(
    context: dg.AssetExecutionContext,
    hubspot: HubSpotResource,
    settings: SettingsResource,
    history: pd.DataFrame,
) -> dg.Output[Reported]:
    """Companies of contacts whose lifecycle stage is customer, deduplicated, exclusions marked,
    with each company's owner (its account manager)."""
    rules = settings.value.ranking.exclusion_rules
    with hubspot.client() as client:
        found = client.customer_universe(read_properties(rules))
        warnings = list(client.warnings)
    universe = build_universe(found.contacts, found.companies_of, found.companies, rules)
    excluded = universe[universe["excluded_reason"].notna()]
    anomalies = [
        Anomaly(
            AnomalyKind.EXCLUDED,
            f"{company_label(row.name, row.company_id)} excluded: {row.excluded_reason}",
            company_id=row.company_id,
            company_name=row.name,
        )
        for row in rows(excluded)
    ]
    anomalies += [
        Anomaly(
            AnomalyKind.API_WARNING,
            f"company {company_id} is associated with a customer contact but HubSpot "
            "could not read it (deleted or merged)",
            company_id=company_id,
        )
        for company_id in found.missing
    ]
    alarms = universe_alarms(universe, history, settings.value.alarms.universe_band)
    return _reported(
        context,
        universe,
        [*alarms, *anomalies, *_api_warnings("HubSpot", warnings)],
        customer_contacts=len(found.contacts),
        companies=len(universe),
        excluded=len(excluded),
        exclusion_rules=dg.MetadataValue.md(
            "\n".join(f"- {markdown_escape(line)}" for line in describe_exclusion_rules(rules))
        ),
    )


@dg.asset(key=YOBI_TENANTS, group_name="yobi", kinds={"python", "pandas", "duckdb"}, **COMMON)
def yobi_tenants(context: dg.AssetExecutionContext, yobi: YobiResource) -> dg.Output[Reported]:
    """Yobi's tenants with their locations, websites and names normalized for matching."""
    tenants, warnings = yobi.tenant_frame()
    return _reported(
        context,
        tenants,
        _api_warnings("Yobi", warnings),
        with_website=int(tenants["domain_key"].notna().sum()),
    )


@dg.asset(
    key=WEEKLY_METRICS,
    group_name="yobi",
    kinds={"python", "pandas", "duckdb"},
    ins=_trailing(WEEKLY_METRICS),
    **COMMON,
)
def weekly_metrics(
    context: dg.AssetExecutionContext,
    yobi: YobiResource,
    settings: SettingsResource,
    yobi_tenants: pd.DataFrame,
    history: pd.DataFrame,
) -> dg.Output[Reported]:
    """The four counters of every tenant for exactly this Sun–Sat week, from daily trend buckets,
    and day by day."""
    week = week_of(context)
    tenants = tenant_ids(yobi_tenants)
    counters, warnings = yobi.weekly_counters(week.dates, tenants)
    metrics = (
        yobi_tenants[["tenant_id"]]
        .merge(counters.frame, on="tenant_id", how="left")
        .assign(period=counters.period)
        .merge(counters.by_day, on="tenant_id", how="left")
    )
    metrics[["missing_days", "absent_from"]] = metrics[["missing_days", "absent_from"]].fillna("")
    limits = settings.value.alarms
    alarms = [
        *counter_alarms(metrics, history, limits.counter_band),
        *tenant_jump_alarms(metrics, history, limits.tenant_jump),
    ]
    # Gaps block the week only for tenants we rank (week_covered_by_trends); all are reported.
    gaps = [
        Anomaly(
            AnomalyKind.MISSING_METRICS,
            f"Yobi tenant {row.tenant_id}: no trend bucket for {row.missing_days}",
            tenant_id=int(row.tenant_id),
        )
        for row in rows(metrics[metrics["missing_days"] != ""])
    ]
    absent = [
        Anomaly(
            AnomalyKind.MISSING_METRICS,
            f"Yobi tenant {row.tenant_id}: no row in {row.absent_from} (sparse trends), "
            "counted as zero",
            tenant_id=int(row.tenant_id),
        )
        for row in rows(metrics[metrics["absent_from"] != ""])
    ]
    repeated = [
        Anomaly(AnomalyKind.API_WARNING, duplicate.note, tenant_id=duplicate.tenant_id)
        for duplicate in counters.duplicates
    ]
    return _reported(
        context,
        metrics,
        [*alarms, *gaps, *absent, *repeated, *_api_warnings("Yobi", warnings)],
        week_start=week.start.isoformat(),
        week_end=week.end.isoformat(),
        period=counters.period,
        **{f"total_{m.value}": int(metrics[m.value].sum()) for m in METRICS},
    )


@dg.asset(
    key=TENANT_MAPPING,
    group_name="identity",
    kinds={"python", "pandas", "duckdb"},
    ins=_trailing(TENANT_MAPPING),
    **COMMON,
)
def tenant_mapping(
    context: dg.AssetExecutionContext,
    settings: SettingsResource,
    customer_companies: pd.DataFrame,
    yobi_tenants: pd.DataFrame,
    weekly_metrics: pd.DataFrame,
    history: pd.DataFrame,
) -> dg.Output[Reported]:
    """Each included company's Yobi tenant: overrides, domain, e-mail domain, then name."""
    ranking = settings.value.ranking
    result = resolve_tenants(
        included(customer_companies)[list(COMPANY_COLUMNS)],
        yobi_tenants[list(TENANT_INPUT_COLUMNS)],
        # Entries naming an unknown tenant are left out here and fail `overrides_valid`.
        overrides=ranking.overrides.for_tenants(tenant_ids(yobi_tenants)),
        generic_domains=ranking.generic_email_domains,
        activity=weekly_activity(weekly_metrics),
    )
    mapping = result.mapping
    counts = mapping["status"].value_counts()
    by_method = mapping["method"].value_counts()
    mapped = int(mapping["tenant_id"].notna().sum())
    alarms = mapped_share_alarms(mapping, history, settings.value.alarms.mapped_share_band)
    return _reported(
        context,
        mapping,
        [*alarms, *result.anomalies],
        mapped=mapped,
        # A plain number, so the asset's Plots tab draws it week by week.
        mapped_share=dg.MetadataValue.float(
            round(mapped / len(mapping), 4) if len(mapping) else 0.0
        ),
        unmapped=int(counts.get(UNMAPPED, 0)),
        ambiguous=int(counts.get(AMBIGUOUS, 0)),
        duplicate_claims=int(counts.get(DUPLICATE_CLAIM, 0)),
        by_method=dg.MetadataValue.json({str(k): int(v) for k, v in by_method.items()}),
    )


def _previous_ranks(previous: pd.DataFrame) -> pd.DataFrame | None:
    """`company_id, rank, n` and the four counters of the previous week's stored ranking (the
    counters say why each company moved); None if it has none."""
    if previous.empty:
        return None
    return (
        previous[["company_id", "rank", *(m.value for m in METRICS)]]
        .assign(n=len(previous))
        .sort_values("rank")
        .reset_index(drop=True)
    )


def _hubspot_priors(
    customer_companies: pd.DataFrame, earlier: pd.DataFrame | None
) -> dict[str, str | None]:
    """HubSpot's rank text per company, as this week's first ranking read it.

    HubSpot holds the last written week. A re-run of the week may find this week's own ranks
    there by now (written by the earlier run), so the priors the earlier ranking read are kept.
    """
    priors = dict(
        zip(customer_companies["company_id"], customer_companies["prior_rank_text"], strict=True)
    )
    if earlier is not None:
        priors.update(
            (row.company_id, _prior_text(row.prior_rank, row.prior_n))
            if row.prior_source == "hubspot"
            else (row.company_id, None)
            for row in earlier.itertuples(index=False)
        )
    return priors


def _prior_text(rank: Cell, n: Cell) -> str:
    """A prior kept from the earlier run, as text that parses back to the same prior."""
    return str(int(rank)) if pd.isna(n) else rank_text(int(rank), int(n))


@dg.asset(
    key=RANKED_SCORES,
    group_name="ranking",
    kinds={"python", "pandas", "duckdb"},
    ins={"previous": dg.AssetIn(key=RANKED_SCORES, partition_mapping=PREVIOUS_WEEK)},
    **COMMON,
)
def ranked_scores(
    context: dg.AssetExecutionContext,
    calendar: WeekCalendar,
    warehouse: DuckDBResource,
    customer_companies: pd.DataFrame,
    tenant_mapping: pd.DataFrame,
    weekly_metrics: pd.DataFrame,
    previous: pd.DataFrame,
) -> dg.Output[Reported]:
    """Score = 4·new patients + 3·appointments + 2·tasks + 1·calls; ranked, tiered, with movers
    against the previous week (else, for the latest week, HubSpot's rank text)."""
    week = week_of(context)
    unrankable = [
        *counter_problems(weekly_metrics, tenant_mapping),
        *coverage_problems(weekly_metrics, tenant_mapping),
    ]
    if unrankable:
        # The checks on tenant_mapping say the same in the dashboards; nothing is stored.
        raise dg.Failure(description=f"Not ranked: {'; '.join(unrankable)}")
    mapped = tenant_mapping[tenant_mapping["tenant_id"].notna()]
    counters = weekly_metrics[["tenant_id", *METRICS]]
    ranked = rank_companies(
        mapped[["company_id", "name", "tenant_id", "method"]].merge(
            counters, on="tenant_id", how="left"
        )
    )
    history = _previous_ranks(previous)
    from_hubspot = history is None and calendar.role(week) is WeekRole.LATEST
    hubspot_priors = (
        _hubspot_priors(customer_companies, stored_week(warehouse, RANKED_SCORES, week.key))
        if from_hubspot
        else {}
    )
    # HubSpot's text may carry no N ("7"): the N of the latest week stored before this one.
    fallback_n = stored_rows_before(warehouse, RANKED_SCORES, week.key) if from_hubspot else None
    ranked = attach_prior(ranked, history, hubspot_priors, fallback_n=fallback_n)
    return _reported(
        context,
        ranked,
        activity_anomalies(ranked),
        ranked=len(ranked),
        # What a person reads first, within the page; the whole week one click away.
        preview=dg.MetadataValue.md(ranking_markdown(ranked, PREVIEW_ROWS)),
        ranking=dg.MetadataValue.md(ranking_markdown(ranked, RANKING_MAX_ROWS)),
    )


@dg.asset(
    key=HUBSPOT_WRITEBACK, group_name="delivery", kinds={"hubspot", "pandas", "duckdb"}, **COMMON
)
def hubspot_writeback(
    context: dg.AssetExecutionContext,
    config: WritebackConfig,
    hubspot: HubSpotResource,
    settings: SettingsResource,
    calendar: WeekCalendar,
    customer_companies: pd.DataFrame,
    tenant_mapping: pd.DataFrame,
    ranked_scores: pd.DataFrame,
) -> dg.Output[Reported]:
    """Score, rank and tier onto each ranked company, only once every check has passed: gate,
    plan, before image, batches (restored on failure), read-back, audit. (The universe and the
    mapping say why an allowlisted company is not written.)"""
    week = week_of(context)
    refused = gate.refusals(context.instance, HUBSPOT_WRITEBACK, week.key)
    if refused:
        raise WriteRefused(
            description=f"Refusing to write to HubSpot: for week {week.key}, "
            f"{'; '.join(refused)}. Re-materialize the upstream assets for this week "
            "(their checks run with them).",
            metadata={"unmet_checks": dg.MetadataValue.json(refused)},
        )
    try:
        intent = resolve_intent(config, settings.value.write, calendar.role(week))
    except SettingError as error:
        raise WriteRefused(description=f"Nothing written: {error}") from error
    announce_mode(context, intent.mode, intent.effective)
    intended = intended_values(ranked_scores)
    names = dict(zip(ranked_scores["company_id"], ranked_scores["name"].fillna(""), strict=True))
    log, run_id = context.log, context.run_id
    # One writer per week: the lease and the journal live in the instance's own storage.
    store = WriteStore(context.instance) if intent.writes else None
    wait = settings.value.write.lease_wait_seconds

    with (
        hubspot.client() as client,
        holding(store, context.instance, week.key, run_id, wait, log) as held,
    ):
        if held is not None:
            raise WriteRefused(description=f"Nothing written: {held}")
        converged = converge(store, client, week.key, log) if store else []
        if leftover := [c.describe() for c in converged if not c.result.complete]:
            raise WriteRefused(
                description="Nothing written: an earlier run of this week left companies "
                f"that could not be put back: {'; '.join(leftover)}"
            )
        try:
            before, missing = client.read_companies(list(intended), ENGAGEMENT_PROPERTIES)
            problems = property_problems(hubspot.engagement_definitions(client))
        except ApiError as error:
            raise WriteRefused(description=f"Nothing written: {error}") from error
        if missing:
            raise WriteRefused(
                description=f"Nothing written: companies {', '.join(missing)} are ranked but "
                "HubSpot no longer has them (deleted or merged since the universe was read); "
                "re-materialize customer_companies and rerun."
            )
        if problems:
            raise WriteRefused(
                description="Nothing written: HubSpot property definitions do not accept our "
                f"values: {'; '.join(problems)}",
                metadata={"problems": dg.MetadataValue.json(problems)},
            )
        plan = plan_writes(intended, before, intent.effective, intent.allowlist)
        recorder = JournalRecorder(store, week.key, run_id) if store else None
        try:
            batch_of = (
                write_batches(client, batches(plan.changes), log, recorder)
                if intent.writes and plan.changes
                else {}
            )
        except WriteFailed as failure:
            if store is not None and failure.restored.complete:
                store.settle_run(week.key, run_id)
            raise write_failure(failure) from failure.cause
        readback: dict[str, dict[str, str | None]] = {}
        if batch_of:
            try:
                readback, _ = client.read_companies(list(batch_of), ENGAGEMENT_PROPERTIES)
            except ApiError as error:
                # The write went out; an unreadable result fails `readback_matches`, not this.
                log.error(f"read-back after writing failed: {error}")
        if store is not None:
            store.settle_run(week.key, run_id)
        warnings = list(client.warnings)

    audit = audit_frame(intent, plan, intended, before, names, batch_of, readback)
    outcomes = audit["outcome"]
    written = int((outcomes == CompanyOutcome.WRITTEN).sum())
    recovered = [Anomaly(AnomalyKind.API_WARNING, f"HubSpot: {c.describe()}") for c in converged]
    skipped = [
        Anomaly(
            AnomalyKind.NOT_WRITTEN,
            f"allowlisted company {company_id} was not written: {why}",
            company_id=company_id,
        )
        for company_id, why in unwritten_allowlist(
            intent.allowlist, intended, customer_companies, tenant_mapping
        )
    ]
    return _reported(
        context,
        audit,
        [*recovered, *skipped, *_api_warnings("HubSpot", warnings)],
        mode=intent.effective.value
        if intent.effective is intent.mode
        else f"{intent.mode.value} (historical week: not written)",
        written=written,
        unchanged=len(plan.unchanged),
        would_write=len(plan.changes) - written,
        batches=len(set(batch_of.values())),
        last_write=last_write(context.instance, week.key, written),
        changes=dg.MetadataValue.md(
            markdown_table(audit[outcomes != CompanyOutcome.UNCHANGED].head(20))
        ),
    )


class SummaryConfig(dg.Config):
    """Whether to send the summary for a historical week too (backfills stay quiet by default)."""

    send_for_historical_week: bool = False


@dg.asset(key=SLACK_SUMMARY, group_name="delivery", kinds={"slack", "email", "duckdb"}, **COMMON)
def slack_summary(
    context: dg.AssetExecutionContext,
    config: SummaryConfig,
    notifier: NotifierResource,
    settings: SettingsResource,
    calendar: WeekCalendar,
    warehouse: DuckDBResource,
    customer_companies: Reported,
    yobi_tenants: Reported,
    weekly_metrics: Reported,
    tenant_mapping: Reported,
    ranked_scores: Reported,
    hubspot_writeback: Reported,
) -> dg.Output[Reported]:
    """Top 10, bottom 10, biggest movers and anomalies, to Slack, e-mail and this page."""
    week = week_of(context)
    universe, mapping, audit = (
        customer_companies.table,
        tenant_mapping.table,
        hubspot_writeback.table,
    )
    outcomes = audit["outcome"]
    summary = build_summary(
        ranked_scores.table,
        week=week,
        mode=audited_mode(audit),
        universe=len(universe),
        excluded=int(universe["excluded_reason"].notna().sum()),
        mapped=int(mapping["tenant_id"].notna().sum()),
        written=int((outcomes == CompanyOutcome.WRITTEN).sum()),
        unchanged=int((outcomes == CompanyOutcome.UNCHANGED).sum()),
        held_back=int((outcomes == CompanyOutcome.NOT_ON_ALLOWLIST).sum()),
        exclusion_rules=settings.value.ranking.exclusion_rules,
        anomalies=[
            anomaly
            for step in (
                customer_companies,
                yobi_tenants,
                weekly_metrics,
                tenant_mapping,
                ranked_scores,
                hubspot_writeback,
            )
            for anomaly in step.anomalies
        ],
        run_url=settings.value.links.run_url(context.run_id),
    )
    report = markdown(summary)
    delivered: list[str] = []
    if calendar.role(week) is WeekRole.LATEST or config.send_for_historical_week:
        # The e-mail's picture (only where e-mail goes): the movers' past ranks, stored weeks.
        images = (
            (
                summary_chart(
                    summary,
                    weeks_before(warehouse, RANKED_SCORES, week.key, CHART_WEEKS - 1, RANK_COLUMNS),
                ),
            )
            if notifier.emails_configured
            else ()
        )
        delivered, errors = notifier.deliver(summary, images)
        if errors:
            # HubSpot is already written; failing here lets the summary be retried alone.
            raise dg.Failure(
                description=f"Summary not delivered: {'; '.join(errors)}. HubSpot was written; "
                "re-materialize slack_summary for this week to resend.",
                metadata={"summary": dg.MetadataValue.md(report)},
            )
    else:
        context.log.info(f"{week.label} is a historical week: summary stored, not sent")
    sent = pd.DataFrame(
        [{"mode": summary.mode.value, "ranked": summary.ranked, "delivered": ",".join(delivered)}]
    )
    return _reported(
        context,
        sent,
        summary=dg.MetadataValue.md(report),
        summary_text=dg.MetadataValue.md(fenced_plain_text(summary)),
        delivered=",".join(delivered) or "none",
    )


class DigestConfig(dg.Config):
    """Whether to send the digests for a historical week too (backfills stay quiet by default)."""

    send_for_historical_week: bool = False


@dg.asset(
    key=OWNER_DIGESTS,
    group_name="delivery",
    kinds={"hubspot", "email", "duckdb"},
    **COMMON,
)
def owner_digests(
    context: dg.AssetExecutionContext,
    config: DigestConfig,
    hubspot: HubSpotResource,
    notifier: NotifierResource,
    settings: SettingsResource,
    calendar: WeekCalendar,
    customer_companies: pd.DataFrame,
    tenant_mapping: pd.DataFrame,
    ranked_scores: pd.DataFrame,
    hubspot_writeback: pd.DataFrame,
) -> dg.Output[Reported]:
    """Each account manager's own accounts, by e-mail to them alone (opt-in, OWNER_DIGESTS):
    rank, tier, move and why; those that need a look; their companies without a tenant."""
    week = week_of(context)
    email = settings.value.email
    if not email.owner_digests:
        off = pd.DataFrame(columns=list(DIGEST_COLUMNS))
        return _reported(context, off, delivered=f"off ({Env.OWNER_DIGESTS} is not on)")
    with hubspot.client() as client:
        owners = client.owners()
        warnings = list(client.warnings)
    digests, table, undeliverable = build_owner_digests(
        customer_companies,
        tenant_mapping,
        ranked_scores,
        owners,
        week=week,
        mode=audited_mode(hubspot_writeback),
        fall_places=email.owner_digest_fall_places,
        run_url=settings.value.links.run_url(context.run_id),
    )
    if calendar.role(week) is WeekRole.LATEST or config.send_for_historical_week:
        errors = [error for digest in digests if (error := notifier.send_digest(digest))]
        if errors:
            raise dg.Failure(
                description=f"{len(errors)} of {len(digests)} owner digests not delivered: "
                f"{'; '.join(errors)}. Re-materialize owner_digests for this week to resend "
                "them (every owner gets theirs again).",
            )
    else:
        context.log.info(f"{week.label} is a historical week: digests built, not sent")
        table.loc[table["outcome"] == SENT, "outcome"] = NOT_SENT_HISTORICAL
    unowned = included(customer_companies)[PROP_OWNER].isna().sum()
    return _reported(
        context,
        table,
        [*undeliverable, *_api_warnings("HubSpot", warnings)],
        sent=int((table["outcome"] == SENT).sum()),
        undeliverable=len(undeliverable),
        companies_without_owner=int(unowned),
    )
