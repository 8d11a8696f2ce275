"""The weekly asset graph: universe, tenants, metrics, mapping, ranks, writeback, summary.

Each asset fetches through a client, calls the core, and returns a DataFrame (stored per week
in the embedded warehouse) with metadata; anomalies ride along as metadata so every output
renders the same list.
"""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from engagement_ranker.constants import (
    METRICS,
    SUMMARY_TOP_N,
    WriteMode,
)
from engagement_ranker.core.anomalies import Anomaly, AnomalyKind, company_label
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
from engagement_ranker.core.render import markdown
from engagement_ranker.core.scoring import rank_companies, rank_text
from engagement_ranker.core.summary import build_summary
from engagement_ranker.core.tenants import tenant_frame
from engagement_ranker.core.universe import build_universe, included, read_properties
from engagement_ranker.defs.anomaly_metadata import (
    anomalies_metadata,
    collect_anomalies,
    warnings_as_anomalies,
)
from engagement_ranker.defs.history import prior_week_ranks, stored_week
from engagement_ranker.defs.metadata import frame_metadata, markdown_table
from engagement_ranker.defs.partitions import latest_week_key, week_of, weekly_partitions
from engagement_ranker.defs.resources import (
    HubSpotResource,
    NotifierResource,
    RankerSettings,
    YobiResource,
)
from engagement_ranker.defs.writer import WritebackConfig, write_week

OWNERS = ["team:revenue-data"]
# The warehouse keeps every week: rows carry their week's Sunday, which is the partition key.
WEEKLY_TABLE = {"partition_expr": "CAST(week AS TIMESTAMP)"}
COMMON = {
    "partitions_def": weekly_partitions,
    "owners": OWNERS,
    "io_manager_key": "warehouse_io",
    "metadata": WEEKLY_TABLE,
}


def _stamped(frame: pd.DataFrame, week_key: str) -> pd.DataFrame:
    """The frame with its week as the first column, as the warehouse partitions on it.

    Column names become plain strings (enum-named columns cannot be serialized as metadata).
    """
    frame = frame.rename(columns=lambda column: str(column))
    # Text columns are typed as text even when every value is null, so the warehouse table
    # keeps one schema from week to week.
    text = {c: "string" for c in frame.columns if frame[c].dtype == object}
    return frame.astype(text).assign(week=week_key)[["week", *frame.columns]]


def _output(
    context: dg.AssetExecutionContext,
    frame: pd.DataFrame,
    anomalies: list[Anomaly] | None = None,
    **extra: object,
) -> dg.Output[pd.DataFrame]:
    stored = _stamped(frame, context.partition_key)
    metadata = frame_metadata(stored, extra)
    if anomalies is not None:
        metadata["anomalies"] = anomalies_metadata(anomalies)
    return dg.Output(stored, metadata=metadata)


@dg.asset(group_name="hubspot", kinds={"hubspot", "pandas", "duckdb"}, **COMMON)
def customer_companies(
    context: dg.AssetExecutionContext, hubspot: HubSpotResource, settings: RankerSettings
) -> dg.Output[pd.DataFrame]:
    """Companies of contacts whose lifecycle stage is customer, deduplicated, exclusions marked."""
    # The first step of the universe: bad configuration stops the run before anything is written.
    if problems := settings.problems():
        raise dg.Failure(
            description="Bad configuration, nothing was written: " + "; ".join(problems)
        )
    rules = settings.exclusion_rules()
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
        for row in excluded.itertuples(index=False)
    ]
    anomalies += warnings_as_anomalies("HubSpot", warnings)
    anomalies += [
        Anomaly(
            AnomalyKind.API_WARNING,
            f"company {company_id} is associated with a customer contact but HubSpot "
            "could not read it (deleted or merged)",
            company_id=company_id,
        )
        for company_id in found.missing
    ]
    return _output(
        context,
        universe,
        anomalies,
        customer_contacts=len(found.contacts),
        companies=len(universe),
        excluded=len(excluded),
    )


@dg.asset(group_name="yobi", kinds={"python", "pandas", "duckdb"}, **COMMON)
def yobi_tenants(context: dg.AssetExecutionContext, yobi: YobiResource) -> dg.Output[pd.DataFrame]:
    """Yobi's tenants with their locations, websites and names normalized for matching."""
    fetched = yobi.tenants()
    tenants = tenant_frame(fetched.tenants, fetched.locations)
    return _output(
        context,
        tenants,
        warnings_as_anomalies("Yobi", fetched.warnings),
        with_website=int(tenants["domain_key"].notna().sum()),
    )


@dg.asset(group_name="yobi", kinds={"python", "pandas", "duckdb"}, **COMMON)
def weekly_metrics(
    context: dg.AssetExecutionContext, yobi: YobiResource, yobi_tenants: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """The four counters of every tenant for exactly this Sun–Sat week, from daily trend buckets."""
    week = week_of(context)
    fetched = yobi.weekly_counters(week)
    counters = fetched.counters
    metrics = (
        yobi_tenants[["tenant_id"]]
        .merge(counters.frame, on="tenant_id", how="left")
        .assign(period=counters.period)
    )
    metrics["missing_days"] = metrics["missing_days"].fillna("")
    # Gaps block the week only for tenants we rank (week_covered_by_trends); all are reported.
    gaps = [
        Anomaly(
            AnomalyKind.MISSING_METRICS,
            f"Yobi tenant {row.tenant_id}: no trend bucket for {row.missing_days}",
            tenant_id=int(row.tenant_id),
        )
        for row in metrics[metrics["missing_days"] != ""].itertuples(index=False)
    ]
    return _output(
        context,
        metrics,
        gaps + warnings_as_anomalies("Yobi", fetched.warnings),
        week_start=week.start.isoformat(),
        week_end=week.end.isoformat(),
        period=counters.period,
        **{f"total_{m.value}": int(metrics[m.value].sum()) for m in METRICS},
    )


@dg.asset(group_name="identity", kinds={"python", "pandas", "duckdb"}, **COMMON)
def tenant_mapping(
    context: dg.AssetExecutionContext,
    settings: RankerSettings,
    customer_companies: pd.DataFrame,
    yobi_tenants: pd.DataFrame,
    weekly_metrics: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Each included company's Yobi tenant: overrides, domain, e-mail domain, then name."""
    result = resolve_tenants(
        included(customer_companies)[list(COMPANY_COLUMNS)],
        yobi_tenants[list(TENANT_INPUT_COLUMNS)],
        # Entries naming an unknown tenant are left out here and fail `overrides_valid`.
        overrides=settings.overrides().for_tenants(set(yobi_tenants["tenant_id"].astype(int))),
        generic_domains=settings.generic_domains(),
        activity=weekly_activity(weekly_metrics),
    )
    mapping = result.mapping
    counts = mapping["status"].value_counts()
    by_method = mapping["method"].value_counts()
    return _output(
        context,
        mapping,
        result.anomalies,
        mapped=int(mapping["tenant_id"].notna().sum()),
        unmapped=int(counts.get(UNMAPPED, 0)),
        ambiguous=int(counts.get(AMBIGUOUS, 0)),
        duplicate_claims=int(counts.get(DUPLICATE_CLAIM, 0)),
        by_method=dg.MetadataValue.json({str(k): int(v) for k, v in by_method.items()}),
    )


@dg.asset(group_name="ranking", kinds={"python", "pandas", "duckdb"}, **COMMON)
def ranked_scores(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    customer_companies: pd.DataFrame,
    tenant_mapping: pd.DataFrame,
    weekly_metrics: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Score = 4·new patients + 3·appointments + 2·tasks + 1·calls; ranked, tiered, with movers."""
    week = week_of(context)
    mapped = tenant_mapping[tenant_mapping["tenant_id"].notna()]
    counters = weekly_metrics[["tenant_id", *METRICS]]
    ranked = rank_companies(
        mapped[["company_id", "name", "tenant_id", "method"]].merge(
            counters, on="tenant_id", how="left"
        )
    )
    # HubSpot holds the last written week; it is the prior week only for the latest week.
    hubspot_prior = (
        dict(
            zip(
                customer_companies["company_id"], customer_companies["prior_rank_text"], strict=True
            )
        )
        if week.key == latest_week_key()
        else {}
    )
    earlier = stored_week(warehouse, "ranked_scores", week.key) if hubspot_prior else None
    if earlier is not None:
        # A re-run of the week: HubSpot may hold this week's own ranks by now, written by the
        # earlier run, so keep the HubSpot priors the week's earlier ranking read.
        hubspot_prior.update(
            (row.company_id, rank_text(int(row.prior_rank), int(row.prior_n)))
            if row.prior_source == "hubspot"
            else (row.company_id, None)
            for row in earlier.itertuples(index=False)
        )
    ranked = attach_prior(ranked, prior_week_ranks(warehouse, week.previous()), hubspot_prior)
    top = ranked.head(SUMMARY_TOP_N)[["rank", "name", "score", "tier"]]
    return _output(
        context,
        ranked,
        activity_anomalies(ranked),
        ranked=len(ranked),
        top_10=markdown_table(top),
    )


@dg.asset(group_name="delivery", kinds={"hubspot", "pandas", "duckdb"}, **COMMON)
def hubspot_writeback(
    context: dg.AssetExecutionContext,
    config: WritebackConfig,
    hubspot: HubSpotResource,
    settings: RankerSettings,
    ranked_scores: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Score, rank and tier onto each ranked company — only if every blocking check passed."""
    result = write_week(context, config, hubspot, settings, ranked_scores)
    return _output(context, result.audit, result.anomalies, **result.metadata)


class SummaryConfig(dg.Config):
    """Whether to send the summary for a historical week too (backfills stay quiet by default)."""

    send_for_historical_week: bool = False


@dg.asset(group_name="delivery", kinds={"slack", "email", "duckdb"}, **COMMON)
def slack_summary(
    context: dg.AssetExecutionContext,
    config: SummaryConfig,
    notifier: NotifierResource,
    settings: RankerSettings,
    customer_companies: pd.DataFrame,
    tenant_mapping: pd.DataFrame,
    ranked_scores: pd.DataFrame,
    hubspot_writeback: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Top 10, bottom 10, biggest movers and anomalies, to Slack, e-mail and this page."""
    week = week_of(context)
    outcomes = hubspot_writeback["outcome"]
    summary = build_summary(
        ranked_scores,
        week=week,
        mode=WriteMode(hubspot_writeback["mode"].iloc[0]),
        universe=len(customer_companies),
        excluded=int(customer_companies["excluded_reason"].notna().sum()),
        mapped=int(tenant_mapping["tenant_id"].notna().sum()),
        written=int((outcomes == "written").sum()),
        unchanged=int((outcomes == "unchanged").sum()),
        held_back=int(outcomes.str.contains("allowlist").sum()),
        anomalies=collect_anomalies(context),
        run_url=settings.run_url(context.run_id),
    )
    report = markdown(summary)
    delivered: list[str] = []
    if week.key == latest_week_key() or config.send_for_historical_week:
        delivered, errors = notifier.deliver(summary)
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
    return _output(
        context, sent, summary=dg.MetadataValue.md(report), delivered=",".join(delivered) or "none"
    )
