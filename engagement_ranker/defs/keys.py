"""The asset keys of the weekly graph, named once: assets, checks, inputs and the gate refer
to an asset by its key, never by a string."""

from __future__ import annotations

import dagster as dg

CUSTOMER_COMPANIES = dg.AssetKey("customer_companies")
YOBI_TENANTS = dg.AssetKey("yobi_tenants")
WEEKLY_METRICS = dg.AssetKey("weekly_metrics")
TENANT_MAPPING = dg.AssetKey("tenant_mapping")
RANKED_SCORES = dg.AssetKey("ranked_scores")
HUBSPOT_WRITEBACK = dg.AssetKey("hubspot_writeback")
SLACK_SUMMARY = dg.AssetKey("slack_summary")
OWNER_DIGESTS = dg.AssetKey("owner_digests")

# The week's tables in the order the graph makes them, up to the write: what a run's report
# and `explain` read of a week.
WEEK_TABLES: tuple[dg.AssetKey, ...] = (
    CUSTOMER_COMPANIES,
    YOBI_TENANTS,
    WEEKLY_METRICS,
    TENANT_MAPPING,
    RANKED_SCORES,
    HUBSPOT_WRITEBACK,
)
