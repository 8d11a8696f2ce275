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
