"""Explain's story for the companies that never reach a rank: excluded, without a tenant, in a
week only partly stored; and a clear refusal for a company or a week it cannot tell."""

from __future__ import annotations

import pandas as pd
import pytest

from engagement_ranker.core.explain import ExplainError, WeekTables, company_story
from engagement_ranker.core.render import text
from engagement_ranker.core.week import parse_week_key

WEEK = parse_week_key("2026-11-15")
UNIVERSE = pd.DataFrame(
    {
        "company_id": ["1", "2"],
        "name": ["Smile Dental", "Old Practice"],
        "domain": ["https://www.smile.com/", None],
        "contact_email_domains": ["smile.com", ""],
        "excluded_reason": [None, "churned"],
        "hubspot_owner_id": ["41", None],
    }
)
UNMAPPED = pd.DataFrame(
    {
        "company_id": ["1"],
        "name": ["Smile Dental"],
        "tenant_id": pd.array([None], "Int64"),
        "tenant_name": [None],
        "method": [None],
        "confidence": [None],
        "candidates": [""],
        "status": ["unmapped"],
        "suggestions": ["7 Smile Dental Care (96)"],
    }
)


def tables(**given: pd.DataFrame) -> WeekTables:
    names = ("yobi_tenants", "weekly_metrics", "tenant_mapping", "ranked_scores")
    return WeekTables(
        WEEK, UNIVERSE, *(given.get(name) for name in names), given.get("hubspot_writeback")
    )


def test_a_company_without_a_tenant_says_why_and_what_to_do() -> None:
    nobody = pd.DataFrame({"company_id": ["5"]})  # the week's ranking, without company 1
    story = text(company_story(tables(tenant_mapping=UNMAPPED, ranked_scores=nobody), "1"))
    assert story.startswith("Smile Dental (1) · Week of Sun Nov 15 – Sat Nov 21, 2026\n")
    assert "NOT RANKED: no Yobi tenant: not ranked" in story
    assert "Domain               smile.com (HubSpot holds 'https://www.smile.com/')" in story
    assert "look-alike tenants: 7 Smile Dental Care (96)" in story
    assert "TENANT_MAPPING_OVERRIDES_JSON" in story
    assert "COUNTERS PER DAY" not in story and "POINTS" not in story


def test_an_excluded_company_and_a_week_only_partly_stored() -> None:
    excluded = text(company_story(tables(), "2"))
    assert "EXCLUDED: not ranked: excluded (churned)" in excluded
    partial = text(company_story(tables(), "1"))
    assert "tenant_mapping not stored for this week" in partial
    assert "NOT RANKED: ranked_scores not stored for this week" in partial


def test_a_company_or_week_it_cannot_tell_is_refused_with_the_fix() -> None:
    with pytest.raises(ExplainError, match="company 9 is not among week 2026-11-15's customer"):
        company_story(tables(), "9")
    empty = WeekTables(WEEK, None, None, None, None, None, None)
    with pytest.raises(ExplainError, match="engagement-ranker run --week 2026-11-15"):
        company_story(empty, "1")
