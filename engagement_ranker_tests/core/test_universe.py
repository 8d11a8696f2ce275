"""The customer universe: companies of customer contacts, deduplicated, exclusions recorded."""

from __future__ import annotations

import pytest

from engagement_ranker.core.universe import (
    DEFAULT_EXCLUSION_RULES,
    ExclusionRulesError,
    build_universe,
    included,
    parse_exclusion_rules,
    read_properties,
    rule_properties,
)

CONTACTS = [
    {"contact_id": "1", "email": "ana@smile.com"},
    {"contact_id": "2", "email": "bo@Smile.com"},
    {"contact_id": "3", "email": "cy@gmail.com"},
    {"contact_id": "4", "email": None},
]
COMPANIES_OF = {"1": ["100", "99"], "2": ["100"], "3": ["7"], "4": ["404"]}
PROPERTIES = {
    "100": {
        "name": "Smile Dental",
        "domain": "smile.com",
        "customer_engagement_rank": "3 out of 9",
    },
    "99": {"name": "Internal Test Co", "domain": None, "is_internal_test": "true"},
    "7": {"name": "Gone Dental", "domain": "gone.com", "customer_status": "Churned "},
}


def test_companies_are_deduplicated_in_numeric_id_order_with_contact_domains() -> None:
    universe = build_universe(CONTACTS, COMPANIES_OF, PROPERTIES, DEFAULT_EXCLUSION_RULES)

    assert list(universe["company_id"]) == ["7", "99", "100"]  # 404 could not be read
    smile = universe.set_index("company_id").loc["100"]
    assert smile["customer_contacts"] == 2
    assert smile["contact_email_domains"] == "smile.com"
    assert smile["prior_rank_text"] == "3 out of 9"
    assert universe.set_index("company_id").loc["7", "contact_email_domains"] == "gmail.com"


def test_exclusions_are_recorded_not_dropped() -> None:
    universe = build_universe(CONTACTS, COMPANIES_OF, PROPERTIES, DEFAULT_EXCLUSION_RULES)

    reasons = dict(zip(universe["company_id"], universe["excluded_reason"], strict=True))
    assert reasons == {"7": "churned", "99": "internal test company", "100": None}
    assert list(included(universe)["company_id"]) == ["100"]


def test_custom_rules_replace_the_defaults_and_name_their_properties() -> None:
    rules = parse_exclusion_rules(
        '[{"property": "tier_flag", "value": true, "reason": "pilot"}, '
        '{"property": "customer_status", "value": "paused"}]'
    )
    assert [(r.property, r.value, r.reason) for r in rules] == [
        ("tier_flag", "true", "pilot"),
        ("customer_status", "paused", "customer_status = paused"),
    ]
    assert rule_properties(rules) == ("tier_flag", "customer_status")
    assert parse_exclusion_rules("  ") == DEFAULT_EXCLUSION_RULES


def test_read_properties_add_the_rules_properties_once_after_the_fixed_ones() -> None:
    fixed = (
        "name",
        "domain",
        "customer_engagement_score",
        "customer_engagement_rank",
        "customer_engagement_tier",
        "is_internal_test",
        "customer_status",
    )
    assert read_properties(DEFAULT_EXCLUSION_RULES) == fixed
    rules = parse_exclusion_rules(
        '[{"property": "tier_flag", "value": true}, {"property": "domain", "value": "x.com"}, '
        '{"property": "tier_flag", "value": "yes"}]'
    )
    assert read_properties(rules) == (*fixed, "tier_flag")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"property": "x"}', "must be a JSON list"),
        ('[{"property": 3, "value": "x"}]', "entry 0"),
        ('[{"property": "x"}]', "entry 0"),
    ],
)
def test_bad_rules_name_the_variable_and_the_entry(text: str, fragment: str) -> None:
    with pytest.raises(ExclusionRulesError) as error:
        parse_exclusion_rules(text)
    assert "HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON" in str(error.value)
    assert fragment in str(error.value)
