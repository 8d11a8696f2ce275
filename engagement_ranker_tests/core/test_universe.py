"""The customer universe: companies of customer contacts, deduplicated, exclusions recorded."""

from __future__ import annotations

import pytest

from engagement_ranker.core.universe import (
    DEFAULT_EXCLUSION_RULES,
    ExclusionRulesError,
    build_universe,
    describe_exclusion_rules,
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


def test_custom_rules_add_to_the_defaults_and_name_their_properties() -> None:
    rules = parse_exclusion_rules(
        '[{"property": "tier_flag", "value": true, "reason": "pilot"}, '
        '{"property": "customer_status", "value": "paused"}]'
    )
    assert [(r.property, r.value, r.reason) for r in rules] == [
        ("is_internal_test", "true", "internal test company"),
        ("customer_status", "churned", "churned"),
        ("tier_flag", "true", "pilot"),
        ("customer_status", "paused", "customer_status = paused"),
    ]
    assert rule_properties(rules) == ("is_internal_test", "customer_status", "tier_flag")
    assert parse_exclusion_rules("  ") == DEFAULT_EXCLUSION_RULES
    assert parse_exclusion_rules("[]") == DEFAULT_EXCLUSION_RULES


def test_one_custom_rule_keeps_churned_and_internal_test_companies_out() -> None:
    rules = parse_exclusion_rules('[{"property": "customer_status", "value": "paused"}]')
    universe = build_universe(CONTACTS, COMPANIES_OF, PROPERTIES, rules)
    reasons = dict(zip(universe["company_id"], universe["excluded_reason"], strict=True))
    assert reasons == {"7": "churned", "99": "internal test company", "100": None}


def test_a_custom_rule_equal_to_a_default_is_listed_once() -> None:
    rules = parse_exclusion_rules('[{"property": "customer_status", "value": " Churned"}]')
    assert rules == DEFAULT_EXCLUSION_RULES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"replace_defaults": true, "rules": [{"property": "customer_status", "value": "paused"}]}',
            [("customer_status", "paused")],
        ),
        ('{"replace_defaults": true, "rules": []}', []),
        (
            '{"rules": [{"property": "tier_flag", "value": "pilot"}]}',
            [("is_internal_test", "true"), ("customer_status", "churned"), ("tier_flag", "pilot")],
        ),
        (
            '{"replace_defaults": false, "rules": []}',
            [("is_internal_test", "true"), ("customer_status", "churned")],
        ),
    ],
)
def test_the_object_form_says_whether_custom_rules_replace_the_defaults(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert [(r.property, r.value) for r in parse_exclusion_rules(text)] == expected


def test_replaced_defaults_let_churned_companies_in() -> None:
    rules = parse_exclusion_rules(
        '{"replace_defaults": true, "rules": [{"property": "is_internal_test", "value": true}]}'
    )
    universe = build_universe(CONTACTS, COMPANIES_OF, PROPERTIES, rules)
    assert list(included(universe)["company_id"]) == ["7", "100"]


def test_the_rules_in_effect_are_described_in_words() -> None:
    assert describe_exclusion_rules(DEFAULT_EXCLUSION_RULES) == (
        'is_internal_test is "true": internal test company (default)',
        'customer_status is "churned": churned (default)',
    )
    added = parse_exclusion_rules(
        '[{"property": "tier_flag", "value": "pilot", "reason": "pilot practice"}, '
        '{"property": "customer_status", "value": "paused"}]'
    )
    assert describe_exclusion_rules(added)[2:] == (
        'tier_flag is "pilot": pilot practice (custom)',
        'customer_status is "paused" (custom)',
    )
    replaced = parse_exclusion_rules(
        '{"replace_defaults": true, "rules": [{"property": "customer_status", "value": "paused"}]}'
    )
    assert describe_exclusion_rules(replaced) == (
        'customer_status is "paused" (custom)',
        'not applied: is_internal_test is "true": internal test company (default, replaced '
        "by HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON)",
        'not applied: customer_status is "churned": churned (default, replaced by '
        "HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON)",
    )
    nothing = describe_exclusion_rules(())
    assert nothing[0] == "none: no customer company is excluded"
    assert len(nothing) == 3


def test_read_properties_add_the_rules_properties_once_after_the_fixed_ones() -> None:
    fixed = (
        "name",
        "domain",
        "customer_engagement_score",
        "customer_engagement_rank",
        "customer_engagement_tier",
        "is_internal_test",
        "customer_status",
        "hubspot_owner_id",
    )
    assert read_properties(DEFAULT_EXCLUSION_RULES) == fixed
    rules = parse_exclusion_rules(
        '[{"property": "tier_flag", "value": true}, {"property": "domain", "value": "x.com"}, '
        '{"property": "tier_flag", "value": "yes"}]'
    )
    assert read_properties(rules) == (*fixed, "tier_flag")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("{not json", ["not valid JSON", '[{"property": "customer_status"']),
        ('"churned"', ["must be a JSON list of rules", "got str", '"replace_defaults": true']),
        ('{"property": "x"}', ["unknown key(s) 'property'", '"replace_defaults"', '"rules"']),
        ('{"replace_defaults": true}', ["'rules' is missing", '"rules": [']),
        ('{"rules": {"property": "x"}}', ["'rules' must be a list", "got dict"]),
        (
            '{"replace_defaults": "yes", "rules": []}',
            ["'replace_defaults' is \"yes\"", "write true (use only the rules listed) or false"],
        ),
        ('[{"property": 3, "value": "x"}]', ["entry 0", '{"property": 3, "value": "x"}']),
        ('[{"property": "x"}]', ["entry 0", "string 'property'"]),
        ('{"rules": [{"property": "x", "value": 1}]}', ["entry 0", "string or boolean 'value'"]),
    ],
)
def test_bad_rules_name_the_variable_the_value_and_the_fix(text: str, fragments: list[str]) -> None:
    with pytest.raises(ExclusionRulesError) as error:
        parse_exclusion_rules(text)
    assert str(error.value).startswith("HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON")
    for fragment in fragments:
        assert fragment in str(error.value)
