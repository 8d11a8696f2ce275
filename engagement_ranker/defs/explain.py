"""`engagement-ranker explain`: one company's stored week, read through the code location's IO
manager (as `defs/report.py` reads a run's outputs), told by `core/explain.py`."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from engagement_ranker.core.explain import ExplainError, WeekTables, company_story
from engagement_ranker.core.identity import is_record_id
from engagement_ranker.core.render import text
from engagement_ranker.core.week import parse_week_key
from engagement_ranker.definitions import build_definitions
from engagement_ranker.defs.keys import WEEK_TABLES


def _materialized(instance: dg.DagsterInstance, key: dg.AssetKey, week_key: str) -> bool:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[week_key]), limit=1
    ).records
    return bool(records)


def week_tables(
    definitions: dg.Definitions, instance: dg.DagsterInstance, week_key: str
) -> WeekTables:
    """The week's stored tables (WeekTables' fields are WEEK_TABLES, in order; None for one
    never materialized that week)."""
    frames: list[pd.DataFrame | None] = []
    with definitions.get_asset_value_loader(instance) as loader:
        for key in WEEK_TABLES:
            stored = _materialized(instance, key, week_key)
            frames.append(
                loader.load_asset_value(key, python_type=pd.DataFrame, partition_key=week_key)
                if stored
                else None
            )
    return WeekTables(parse_week_key(week_key), *frames)


def explain_company(instance: dg.DagsterInstance, company_id: str, week_key: str) -> str:
    """One company's week as plain text; ExplainError says why it cannot be told."""
    if not is_record_id(company_id):
        raise ExplainError(
            f"--company {company_id!r} is not a HubSpot company id: give the record id, digits "
            "only (HubSpot shows it in the company's URL)"
        )
    tables = week_tables(build_definitions(), instance, week_key)
    return text(company_story(tables, company_id))
