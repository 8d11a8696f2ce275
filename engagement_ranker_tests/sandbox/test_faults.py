"""The fault document: validated with errors naming the key, and counted exactly as documented."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engagement_ranker.constants import HUBSPOT_ROUTES, HubSpotApiVersion, HubSpotOperation
from engagement_ranker.sandbox.dataset import build_dataset
from engagement_ranker.sandbox.faults import Action, Faults, FaultsError, ValidationRule

SEARCHES = tuple(
    HUBSPOT_ROUTES[version][HubSpotOperation.CONTACTS_SEARCH] for version in HubSpotApiVersion
)
ROUTE, OTHER_FAMILY = SEARCHES
UPDATE = HUBSPOT_ROUTES[HubSpotApiVersion.LEGACY][HubSpotOperation.COMPANIES_UPDATE]
DEFINITIONS = build_dataset(7, 5, datetime(2026, 11, 22, tzinfo=UTC)).company_property_definitions


def _errors(faults: Faults, calls: int, service: str = "hubspot", route: str = ROUTE) -> list[Any]:
    return [(a.error if a else None) for a in (faults.take(service, route) for _ in range(calls))]


def test_no_faults_means_no_action() -> None:
    assert Faults().take("hubspot", ROUTE) is None
    assert Faults({}).take("yobi", "GET /admin/pms/locations") is None


def test_burst_fails_calls_nth_to_nth_plus_count_minus_one() -> None:
    faults = Faults({"routes": {ROUTE: {"bursts": [{"nth": 2, "count": 3, "error": 503}]}}})
    assert _errors(faults, 6) == [None, 503, 503, 503, None, None]


def test_bursts_of_each_kind_and_retry_after() -> None:
    bursts = [
        {"nth": 1, "error": "drop"},
        {"nth": 2, "error": "timeout"},
        {"nth": 3, "error": "malformed"},
        {"nth": 4, "error": 429, "retry_after": 3},
    ]
    faults = Faults({"routes": {ROUTE: {"bursts": bursts}}})
    actions = [faults.take("hubspot", ROUTE) for _ in range(4)]
    assert [a.error for a in actions if a] == ["drop", "timeout", "malformed", 429]
    assert actions[3] == Action(error=429, retry_after=3, reason="burst")


def test_rules_by_route_service_and_everything_count_their_own_calls() -> None:
    faults = Faults(
        {
            "routes": {
                "yobi *": {"bursts": [{"nth": 2, "error": 502}]},
                "*": {"latency_ms": 5},
            }
        }
    )
    first = faults.take("yobi", "GET /admin/pms/locations")
    assert first == Action(latency_ms=5)
    assert faults.take("hubspot", ROUTE) == Action(latency_ms=5)
    second = faults.take("yobi", "POST /users/login")  # the 2nd yobi call, any route
    assert second is not None and second.error == 502


@pytest.mark.parametrize("keyed", SEARCHES)
def test_a_route_fault_applies_to_its_operation_in_both_path_families(keyed: str) -> None:
    """Whichever family a fault names, the client's calls in either meet it, counted once."""
    faults = Faults({"routes": {keyed: {"bursts": [{"nth": 2, "count": 2, "error": 503}]}}})
    errors = [faults.take("hubspot", route) for route in (ROUTE, OTHER_FAMILY, ROUTE, ROUTE)]
    assert [a.error if a else None for a in errors] == [None, 503, 503, None]
    assert faults.take("hubspot", UPDATE) is None
    corrupt = Faults({"corrupt": [{"route": keyed, "path": "total", "value": 0}]})
    assert set(corrupt.corrupt) == set(SEARCHES)


def test_latency_adds_up() -> None:
    faults = Faults(
        {"latency_ms": 10, "routes": {ROUTE: {"latency_ms": 20}, "*": {"latency_ms": 1}}}
    )
    action = faults.take("hubspot", ROUTE)
    assert action is not None and action.latency_ms == 31 and action.error is None


def test_random_errors_are_seeded_and_drawn_from_the_statuses() -> None:
    spec = {"seed": 4, "routes": {ROUTE: {"error_rate": 0.5, "error_statuses": [502, 504]}}}
    first, second = _errors(Faults(spec), 40), _errors(Faults(spec), 40)
    assert first == second
    assert {None, 502, 504} == set(first)
    other = _errors(Faults({**spec, "seed": 5}), 40)
    assert other != first


def test_rate_limit_storm_hits_only_hubspot_and_only_k_calls() -> None:
    faults = Faults({"hubspot": {"rate_limit_storm": 2}})
    assert faults.take("yobi", "GET /admin/pms/locations") is None
    assert _errors(faults, 3) == [429, 429, None]


def test_batch_rejection_on_the_kth_batch() -> None:
    faults = Faults(
        {"hubspot": {"batch_update_rejections": [{"nth": 2, "code": "INVALID_OPTION"}]}}
    )
    first, second, third = (faults.take_batch_rejection() for _ in range(3))
    assert first is None and third is None
    assert second is not None
    assert (second.code, second.property) == ("INVALID_OPTION", "customer_engagement_score")


def test_property_overrides_never_touch_the_dataset() -> None:
    faults = Faults(
        {
            "hubspot": {
                "properties": {
                    "customer_engagement_tier": {"drop_options": ["Bottom 30%"]},
                    "customer_engagement_score": {"type": "string", "fieldType": "text"},
                    "customer_engagement_rank": {"readOnlyValue": True},
                    "domain": None,
                }
            }
        }
    )
    tier = faults.property_definition(
        "customer_engagement_tier", DEFINITIONS["customer_engagement_tier"]
    )
    assert tier is not None
    assert [o["value"] for o in tier["options"]] == ["Top 30%", "Middle 40%"]
    score = faults.property_definition(
        "customer_engagement_score", DEFINITIONS["customer_engagement_score"]
    )
    assert score is not None and (score["type"], score["fieldType"]) == ("string", "text")
    rank = faults.property_definition(
        "customer_engagement_rank", DEFINITIONS["customer_engagement_rank"]
    )
    assert rank is not None and rank["modificationMetadata"]["readOnlyValue"] is True
    assert faults.property_definition("domain", DEFINITIONS["domain"]) is None
    assert faults.property_definition("name", DEFINITIONS["name"]) == DEFINITIONS["name"]
    assert faults.property_definition("nope", None) is None
    assert len(DEFINITIONS["customer_engagement_tier"]["options"]) == 3
    assert DEFINITIONS["customer_engagement_rank"]["modificationMetadata"]["readOnlyValue"] is False


def test_validation_rules_are_read_in_both_kinds() -> None:
    faults = Faults(
        {
            "hubspot": {
                "validation_rules": [
                    {"property": "customer_engagement_tier", "requires": "customer_status"},
                    {
                        "property": "customer_engagement_score",
                        "ruleType": "MAX_NUMBER",
                        "ruleArguments": ["100"],
                    },
                ]
            }
        }
    )
    assert faults.hubspot.validation_rules == (
        ValidationRule("customer_engagement_tier", requires="customer_status"),
        ValidationRule("customer_engagement_score", rule_type="MAX_NUMBER", arguments=("100",)),
    )


def test_service_specific_settings_are_read() -> None:
    faults = Faults(
        {
            "timeout_seconds": 2,
            "hubspot": {
                "auth": "revoked",
                "search_index_lag_seconds": 3,
                "associations_page_size": 2,
            },
            "yobi": {
                "login_fails": True,
                "token_ttl_seconds": 1,
                "non_admin": True,
                "drop_keys": ["new_patients"],
                "trend_short_days": 2,
                "legacy_shapes": True,
            },
            "smtp": {"down": True},
        }
    )
    assert faults.timeout_seconds == 2
    assert (faults.hubspot.auth, faults.hubspot.search_index_lag_seconds) == ("revoked", 3)
    assert faults.hubspot.associations_page_size == 2
    assert faults.yobi.drop_keys == {"new_patients"} and faults.yobi.trend_short_days == 2
    assert faults.yobi.login_fails and faults.yobi.non_admin and faults.yobi.legacy_shapes
    assert faults.yobi.token_ttl_seconds == 1 and faults.smtp.down


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ([], "faults is []; use a JSON object"),
        ({"latency": 5}, "unknown key(s) ['latency']"),
        ({"latency_ms": -1}, "faults.latency_ms is -1; use a number >= 0"),
        ({"seed": "x"}, "faults.seed is 'x'"),
        ({"routes": {ROUTE: {"error_rate": 2}}}, "error_rate is 2"),
        ({"routes": {ROUTE: {"error_statuses": [200]}}}, "error_statuses[0] is 200"),
        ({"routes": {ROUTE: {"bursts": [{"nth": 1}]}}}, "has no 'error'"),
        ({"routes": {ROUTE: {"bursts": [{"error": "explode"}]}}}, "error is 'explode'"),
        ({"routes": {ROUTE: {"bursts": [{"error": 500, "nth": 0}]}}}, "nth is 0"),
        ({"routes": {ROUTE: {"bursts": [{"error": True}]}}}, "error is True"),
        ({"hubspot": {"auth": "maybe"}}, "faults.hubspot.auth is 'maybe'"),
        ({"hubspot": {"batch_update_rejections": [{"code": "NOPE"}]}}, "code is 'NOPE'"),
        ({"hubspot": {"properties": {"x": {"drop_options": "Top"}}}}, "drop_options is 'Top'"),
        ({"yobi": {"drop_keys": "new_patients"}}, "drop_keys is 'new_patients'"),
        ({"yobi": {"non_admin": "yes"}}, "faults.yobi.non_admin is 'yes'; use true or false"),
        ({"smtp": {"up": False}}, "faults.smtp has unknown key(s) ['up']"),
        (
            {"routes": {ROUTE: {"latency_ms": 1}, OTHER_FAMILY: {"latency_ms": 2}}},
            "one operation in two path families; key it once",
        ),
        *(
            ({"hubspot": {"validation_rules": [rule]}}, fragment)
            for rule, fragment in (
                ({"requires": "x"}, "needs a 'property' and exactly one of 'requires'"),
                ({"property": "a", "requires": "b", "ruleType": "REGEX"}, "exactly one of"),
                ({"property": "", "requires": "b"}, "validation_rules[0].property is ''"),
                ({"property": "a", "requires": "b", "ruleArguments": ["1"]}, "drop it"),
                (
                    {"property": "a", "ruleType": "EMAIL", "ruleArguments": []},
                    "ruleType is 'EMAIL'",
                ),
                ({"property": "a", "ruleType": "MAX_NUMBER"}, "ruleArguments is None"),
                ({"property": "a", "ruleType": "MAX_NUMBER", "ruleArguments": ["ten"]}, "'ten'"),
                ({"property": "a", "ruleType": "REGEX", "ruleArguments": ["("]}, "'('"),
            )
        ),
    ],
)
def test_invalid_documents_name_the_key_the_value_and_the_fix(spec: Any, fragment: str) -> None:
    with pytest.raises(FaultsError) as error:
        Faults(spec)
    assert fragment in str(error.value)
