"""HubSpotClient's path families, trace ids and the validation rules HubSpot enforces on writes.

The rest of the client's behaviour is the same in both families and is tested over both in
test_hubspot.py; here is what the version decides, and what 2026-09 brought.
"""

from __future__ import annotations

import re
from dataclasses import astuple

import pytest

from engagement_ranker.clients.errors import (
    MalformedResponse,
    NotFoundError,
    ValidationError,
    ValidationRuleRefusal,
)
from engagement_ranker.constants import (
    COMPANY_READ_PROPERTIES,
    ENGAGEMENT_PROPERTIES,
    PROP_CUSTOMER_STATUS,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
    TIER_TOP,
    HubSpotApiVersion,
)
from engagement_ranker.sandbox import Sandbox
from engagement_ranker_tests.clients.conftest import calls, hubspot_client, routes

DATED, LEGACY = HubSpotApiVersion.V2026_09, HubSpotApiVersion.LEGACY
TIER_NEEDS_STATUS = {"property": PROP_TIER, "requires": PROP_CUSTOMER_STATUS}
SCORE_AT_MOST_100 = {"property": PROP_SCORE, "ruleType": "MAX_NUMBER", "ruleArguments": ["100"]}


def values(score: str = "7") -> dict[str, str]:
    return {PROP_SCORE: score, PROP_RANK: "1 out of 2", PROP_TIER: TIER_TOP}


def companies_by_status(sandbox: Sandbox) -> tuple[list[str], list[str]]:
    """(companies whose customer_status is set, those whose is not), in id order."""
    records = sandbox.state.dataset.companies
    ids = sorted(records, key=int)
    return (
        [c for c in ids if records[c][PROP_CUSTOMER_STATUS]],
        [c for c in ids if not records[c][PROP_CUSTOMER_STATUS]],
    )


@pytest.mark.parametrize(
    ("setting", "family"), [(None, DATED), ("2026-09", DATED), ("legacy", LEGACY)]
)
def test_the_client_speaks_one_path_family_2026_09_by_default(sandbox, setting, family):
    options = {} if setting is None else {"api_version": setting}
    with hubspot_client(sandbox, **options) as client:
        universe = client.customer_universe(COMPANY_READ_PROPERTIES)
        ids = sorted(universe.companies, key=int)
        client.read_companies(ids, ENGAGEMENT_PROPERTIES)
        client.property_definitions(ENGAGEMENT_PROPERTIES)
        client.validation_rules(ENGAGEMENT_PROPERTIES)
        client.update_companies([(cid, values()) for cid in ids[:10]])
        version = client.api_version
    assert version is family
    # Every operation the product calls, each in this family and no other.
    used = set(sandbox.control.requests()["by_service"]["hubspot"]["counts"])
    assert used == set(astuple(routes(family)))


def test_an_unknown_api_version_is_refused_naming_the_variable_and_the_choices(sandbox):
    message = "HUBSPOT_API_VERSION='v3' is not a HubSpot API version this client speaks: use one"
    with pytest.raises(ValueError, match=re.escape(message) + " of 2026-09, legacy"):
        hubspot_client(sandbox, api_version="v3")


def test_a_conditional_rule_refuses_a_2026_09_batch_naming_its_companies_and_the_fix(sandbox):
    sandbox.control.set_faults({"hubspot": {"validation_rules": [TIER_NEEDS_STATUS]}})
    holding, lacking = companies_by_status(sandbox)
    batch = sorted([*holding[:3], *lacking[:2]], key=int)
    with hubspot_client(sandbox) as client, pytest.raises(ValidationRuleRefusal) as caught:
        client.update_companies([(cid, values()) for cid in batch])
    refusal = caught.value
    assert isinstance(refusal, ValidationError), "the writer must take it as not applied"
    assert refusal.ids == tuple(lacking[:2])
    (code,) = refusal.codes
    assert (code.property, code.company_ids) == (PROP_CUSTOMER_STATUS, tuple(lacking[:2]))
    text = str(refusal)
    assert f"{PROP_CUSTOMER_STATUS} is required when {PROP_TIER} is set." in text
    assert f"Fix: set {PROP_CUSTOMER_STATUS} on companies {', '.join(lacking[:2])}" in text
    assert "exempt this app from that rule" in text
    assert sandbox.control.writes() == []


def test_the_legacy_paths_are_not_held_to_conditional_rules(sandbox):
    sandbox.control.set_faults({"hubspot": {"validation_rules": [TIER_NEEDS_STATUS]}})
    _, lacking = companies_by_status(sandbox)
    with hubspot_client(sandbox, api_version=LEGACY) as client:
        client.update_companies([(cid, values()) for cid in lacking[:2]])
    assert [w["company_id"] for w in sandbox.control.writes()] == lacking[:2]


def test_a_property_validation_rule_refusing_our_value_names_the_rule_to_exempt(
    sandbox, api_version
):
    sandbox.control.set_faults({"hubspot": {"validation_rules": [SCORE_AT_MOST_100]}})
    ids = sorted(sandbox.state.dataset.companies, key=int)[:4]
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(ValidationRuleRefusal) as caught,
    ):
        client.update_companies([(cid, values("101" if cid == ids[1] else "5")) for cid in ids])
    text = str(caught.value)
    assert f'"101" does not meet the MAX_NUMBER rule (100) of {PROP_SCORE}.' in text
    assert f"have a HubSpot admin exempt {PROP_SCORE} from its MAX_NUMBER rule" in text
    assert f"Settings > Properties > {PROP_SCORE} > Rules" in text
    # 2026-09 names the input through its trace id; the legacy answer names none.
    assert caught.value.ids == ((ids[1],) if api_version is DATED else ())
    assert sandbox.control.writes() == []


def test_a_value_its_property_refuses_stays_a_plain_validation_error_naming_its_company(
    sandbox, api_version
):
    ids = sorted(sandbox.state.dataset.companies, key=int)[:3]
    batch = [(cid, {PROP_TIER: "Top 31%" if cid == ids[2] else TIER_TOP}) for cid in ids]
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(ValidationError) as caught,
    ):
        client.update_companies(batch)
    assert type(caught.value) is ValidationError
    assert "correct the listed values" in str(caught.value)
    assert caught.value.ids == ((ids[2],) if api_version is DATED else ())


def test_a_missing_company_is_named_through_its_trace_id_on_2026_09(sandbox):
    """The error's trace id names the company, whatever else the error says."""
    company_id = sorted(sandbox.state.dataset.companies, key=int)[0]
    update = routes(DATED).update
    sandbox.control.set_faults(
        {"corrupt": [{"route": update, "path": "errors.0.context.ids", "value": ["1"]}]}
    )
    with hubspot_client(sandbox) as client, pytest.raises(NotFoundError) as caught:
        client.update_companies([(company_id, values()), ("99999999901", values())])
    assert caught.value.ids == ("99999999901",)


def test_a_result_echoing_a_trace_id_never_sent_is_malformed(sandbox):
    company_id = sorted(sandbox.state.dataset.companies, key=int)[0]
    update = routes(DATED).update
    corrupt = {"route": update, "path": "results.0.objectWriteTraceId", "value": "someone-else"}
    sandbox.control.set_faults({"corrupt": [corrupt]})
    with hubspot_client(sandbox) as client, pytest.raises(MalformedResponse, match="not sent"):
        client.update_companies([(company_id, values())])


def test_validation_rules_are_each_propertys_rules_read_in_one_call(sandbox, api_version):
    sandbox.control.set_faults(
        {"hubspot": {"validation_rules": [SCORE_AT_MOST_100, TIER_NEEDS_STATUS]}}
    )
    with hubspot_client(sandbox, api_version=api_version) as client:
        rules = client.validation_rules(ENGAGEMENT_PROPERTIES)
    assert rules == {
        PROP_SCORE: [
            {"ruleType": "MAX_NUMBER", "ruleArguments": ["100"], "shouldApplyNormalization": False}
        ],
        PROP_RANK: [],
        PROP_TIER: [],
    }
    assert calls(sandbox, routes(api_version).validations) == 1


def test_validation_rules_of_an_unexpected_shape_are_malformed(sandbox):
    sandbox.control.set_faults(
        {
            "hubspot": {"validation_rules": [SCORE_AT_MOST_100]},
            "corrupt": [
                {
                    "route": routes().validations,
                    "path": "results.0.propertyValidationRules.0.ruleType",
                    "value": None,
                }
            ],
        }
    )
    with hubspot_client(sandbox) as client, pytest.raises(MalformedResponse, match="ruleType"):
        client.validation_rules(ENGAGEMENT_PROPERTIES)
