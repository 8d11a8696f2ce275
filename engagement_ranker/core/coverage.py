"""Whether a week's counters can be ranked: every tenant a company maps to has all four
counters, none negative, and daily buckets for all seven days.

One definition for the two places that must agree: the checks on `weekly_metrics` that show
it in Dagster's asset-check dashboards, and `ranked_scores`, which refuses to rank a week
that fails it (a partial week is never scaled up, guessed or stored as history).
"""

from __future__ import annotations

import pandas as pd

from engagement_ranker.constants import METRICS
from engagement_ranker.core.integrity import listed

MAX_LISTED = 10


def _mapped(mapping: pd.DataFrame) -> pd.DataFrame:
    return mapping.loc[mapping["tenant_id"].notna(), ["company_id", "tenant_id"]].astype(
        {"tenant_id": "int64"}
    )


def counter_problems(metrics: pd.DataFrame, mapping: pd.DataFrame) -> list[str]:
    """Mapped tenants without all four counters, or with a negative one ([] if none)."""
    joined = _mapped(mapping).merge(metrics, on="tenant_id", how="left")
    counters = joined[[m.value for m in METRICS]]
    missing = joined[counters.isna().any(axis=1)]
    negative = joined[(counters.fillna(0) < 0).any(axis=1)]
    problems = []
    if len(missing):
        problems.append(
            "Yobi reported no counters for mapped tenants "
            f"{listed(list(missing['tenant_id']), MAX_LISTED)}"
        )
    if len(negative):
        problems.append(
            f"negative counters for tenants {listed(list(negative['tenant_id']), MAX_LISTED)}"
        )
    return problems


def short_tenants(metrics: pd.DataFrame, mapping: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(mapped tenants whose buckets miss a day of the week, how many unmapped ones do):
    gaps in tenants nobody maps to are shown, but block nothing."""
    short = metrics[metrics["missing_days"].fillna("") != ""]
    ranked = short[short["tenant_id"].astype(int).isin(set(_mapped(mapping)["tenant_id"]))]
    return ranked, len(short) - len(ranked)


def coverage_problems(metrics: pd.DataFrame, mapping: pd.DataFrame) -> list[str]:
    """The week's gap for mapped tenants, with an example and the fix ([] if covered)."""
    short, _ = short_tenants(metrics, mapping)
    if short.empty:
        return []
    first = short.iloc[0]
    return [
        f"trend buckets do not cover the week for {len(short)} mapped tenants (e.g. tenant "
        f"{first['tenant_id']}: {first['missing_days']}); rerun once Yobi has the whole week"
    ]
