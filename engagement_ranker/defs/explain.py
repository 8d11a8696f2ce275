"""`engagement-ranker explain`: one company's stored week, read from the warehouse (as
`defs/report.py` reads a run's outputs), told by `core/explain.py`."""

from __future__ import annotations

from dagster_duckdb import DuckDBResource

from engagement_ranker.core.explain import ExplainError, WeekTables, company_story
from engagement_ranker.core.identity import is_record_id
from engagement_ranker.core.render import text
from engagement_ranker.core.week import parse_week_key
from engagement_ranker.defs.keys import WEEK_TABLES
from engagement_ranker.defs.warehouse import stored_week


def week_tables(warehouse: DuckDBResource, week_key: str) -> WeekTables:
    """The week's stored tables (WeekTables' fields are WEEK_TABLES, in order; None for one
    the warehouse holds no rows of that week)."""
    frames = [stored_week(warehouse, key, week_key) for key in WEEK_TABLES]
    return WeekTables(parse_week_key(week_key), *frames)


def explain_company(warehouse: DuckDBResource, company_id: str, week_key: str) -> str:
    """One company's week as plain text; ExplainError says why it cannot be told."""
    if not is_record_id(company_id):
        raise ExplainError(
            f"--company {company_id!r} is not a HubSpot company id: give the record id, digits "
            "only (HubSpot shows it in the company's URL)"
        )
    return text(company_story(week_tables(warehouse, week_key), company_id))
