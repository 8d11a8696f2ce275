"""Reads of earlier weeks from the warehouse: the prior week's ranks give movers their delta."""

from __future__ import annotations

import pandas as pd
from dagster_duckdb import DuckDBResource

from engagement_ranker.core.week import Week
from engagement_ranker.defs.resources import WAREHOUSE_SCHEMA


def prior_week_ranks(warehouse: DuckDBResource, week: Week) -> pd.DataFrame | None:
    """`company_id, rank, n` of a stored week, or None when that week was never ranked."""
    frame = stored_week(warehouse, "ranked_scores", week.key)
    if frame is None:
        return None
    return (
        frame[["company_id", "rank"]]
        .assign(n=len(frame))
        .sort_values("rank")
        .reset_index(drop=True)
    )


def stored_week(warehouse: DuckDBResource, table: str, week_key: str) -> pd.DataFrame | None:
    """One asset's stored rows for a week, or None when it was never materialized."""
    with warehouse.get_connection() as connection:
        exists = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [WAREHOUSE_SCHEMA, table],
        ).fetchone()
        if not exists or exists[0] == 0:
            return None
        frame = connection.execute(
            f"SELECT * FROM {WAREHOUSE_SCHEMA}.{table} WHERE week = ?", [week_key]
        ).df()
    return None if frame.empty else frame
