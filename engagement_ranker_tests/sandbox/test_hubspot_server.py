"""The HubSpot stand-in over real sockets: every endpoint, limit and error the product meets.

One server per module on a small seeded dataset; every test starts from `reset()` (records,
logs, faults, rate-limit budgets), so tests are independent and each stays within the limits
it does not test.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from engagement_ranker.constants import (
    CUSTOMER_LIFECYCLE_STAGE,
    HUBSPOT_ASSOCIATIONS_BATCH_MAX,
    HUBSPOT_BATCH_READ_MAX,
    HUBSPOT_BATCH_UPDATE_MAX,
    HUBSPOT_SEARCH_BODY_MAX_CHARS,
    HUBSPOT_SEARCH_PAGE_MAX,
    HUBSPOT_SEARCH_PER_SECOND,
    HUBSPOT_SEARCH_RESULT_CAP,
    HUBSPOT_TIER_LIMITS,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
    TIER_BOTTOM,
    TIER_LABELS,
    TIER_TOP,
)
from engagement_ranker.sandbox.dataset import build_dataset
from engagement_ranker.sandbox.http import RunningServer
from engagement_ranker.sandbox.hubspot import start_hubspot_server
from engagement_ranker.sandbox.state import SandboxState

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
COMPANIES = 60
SEARCH = "/crm/v3/objects/contacts/search"
COMPANY_SEARCH = "/crm/v3/objects/companies/search"
ASSOCIATIONS = "/crm/v4/associations/contacts/companies/batch/read"
BATCH_READ = "/crm/v3/objects/companies/batch/read"
BATCH_UPDATE = "/crm/v3/objects/companies/batch/update"
CUSTOMERS = {
    "filterGroups": [
        {
            "filters": [
                {
                    "propertyName": "lifecyclestage",
                    "operator": "EQ",
                    "value": CUSTOMER_LIFECYCLE_STAGE,
                }
            ]
        }
    ]
}
# Searches paced a little under the limit, as a client must (the window is a rolling second).
SEARCH_PACE_SECONDS = 2 / HUBSPOT_SEARCH_PER_SECOND
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@dataclass
class HubSpotWorld:
    """The running server and the state behind it."""

    state: SandboxState
    server: RunningServer

    @property
    def token(self) -> str:
        return self.state.credentials.hubspot_token

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=10)

    def faults(self, spec: dict[str, Any]) -> None:
        """Set faults through the control endpoint the HubSpot server delegates."""
        response = httpx.post(f"{self.server.url}/_sandbox/faults", json=spec, timeout=10)
        assert response.status_code == 200, response.text


@contextmanager
def running_world(tier: str = "free") -> Iterator[HubSpotWorld]:
    """A HubSpot server on a free port over a fresh small dataset, stopped afterwards."""
    state = SandboxState(build_dataset(seed=7, companies=COMPANIES, now=NOW), now=NOW)
    server = start_hubspot_server(state, tier=tier)
    try:
        yield HubSpotWorld(state, server)
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def world() -> Iterator[HubSpotWorld]:
    with running_world() as running:
        yield running


@pytest.fixture
def hubspot(world: HubSpotWorld) -> Iterator[httpx.Client]:
    world.state.reset()
    with world.client() as client:
        yield client


def assert_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    """HubSpot's standard error body, with a uuid correlation id echoed in the header."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert UUID.fullmatch(body["correlationId"])
    assert response.headers["X-HubSpot-Correlation-Id"] == body["correlationId"]
    return body


def customer_ids(state: SandboxState) -> list[str]:
    return sorted(
        (cid for cid, c in state.contacts.items() if c["lifecyclestage"] == "customer"), key=int
    )


# --- auth ----------------------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "pat-na1-wrong"])
def test_requests_without_the_right_bearer_token_get_401(world, hubspot, token) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = httpx.post(world.server.url + SEARCH, json=CUSTOMERS, headers=headers)
    body = assert_error(response, 401, "INVALID_AUTHENTICATION")
    assert body["message"].startswith("Authentication credentials not found.")
    assert world.token not in response.text


def test_a_revoked_token_gets_401_even_when_correct(world, hubspot) -> None:
    world.faults({"hubspot": {"auth": "revoked"}})
    assert_error(hubspot.post(SEARCH, json=CUSTOMERS), 401, "INVALID_AUTHENTICATION")


def test_missing_write_scope_refuses_writes_with_403_but_serves_reads(world, hubspot) -> None:
    world.faults({"hubspot": {"auth": "missing_write_scope"}})
    company_id = next(iter(world.state.companies))
    assert hubspot.post(BATCH_READ, json={"inputs": [{"id": company_id}]}).status_code == 200
    update = {"inputs": [{"id": company_id, "properties": {PROP_SCORE: "5"}}]}
    body = assert_error(hubspot.post(BATCH_UPDATE, json=update), 403, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.companies.write"]
    assert world.state.writes == []


# --- contacts search -----------------------------------------------------------------------
def test_search_pages_through_every_customer_in_id_order(world, hubspot) -> None:
    body = {
        **CUSTOMERS,
        "properties": ["email", "lifecyclestage"],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "limit": 50,
    }
    seen: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = hubspot.post(SEARCH, json={**body, **({"after": after} if after else {})})
        assert page.status_code == 200, page.text
        payload = page.json()
        seen += payload["results"]
        if "paging" not in payload:
            break
        after = payload["paging"]["next"]["after"]
        assert isinstance(after, str)
        time.sleep(SEARCH_PACE_SECONDS)
    assert payload["total"] == len(seen)
    assert [r["id"] for r in seen] == customer_ids(world.state)
    record = seen[0]
    contact = world.state.contacts[record["id"]]
    assert record == {
        "id": record["id"],
        "properties": {
            "createdate": contact["createdate"],
            "email": contact["email"],
            "hs_object_id": record["id"],
            "lastmodifieddate": contact["lastmodifieddate"],
            "lifecyclestage": "customer",
        },
        "createdAt": contact["createdate"],
        "updatedAt": contact["lastmodifieddate"],
        "archived": False,
    }
    assert any(r["properties"]["email"] is None for r in seen), "unset values come back as null"


def test_search_default_page_is_ten_and_default_properties_are_hubspots(hubspot) -> None:
    payload = hubspot.post(SEARCH, json=CUSTOMERS).json()
    assert len(payload["results"]) == 10
    assert payload["paging"] == {"next": {"after": "10"}}
    assert sorted(payload["results"][0]["properties"]) == [
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ]


def test_search_greater_than_on_id_is_numeric(world, hubspot) -> None:
    ids = customer_ids(world.state)
    body = {
        "filterGroups": [
            {
                "filters": [
                    *CUSTOMERS["filterGroups"][0]["filters"],
                    {"propertyName": "hs_object_id", "operator": "GT", "value": ids[-3]},
                ]
            }
        ],
        "sorts": ["hs_object_id"],
    }
    assert [r["id"] for r in hubspot.post(SEARCH, json=body).json()["results"]] == ids[-2:]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"limit": HUBSPOT_SEARCH_PAGE_MAX + 1}, "limit"),
        ({"after": str(HUBSPOT_SEARCH_RESULT_CAP), "limit": 10}, "hs_object_id GT"),
        ({"filterGroups": CUSTOMERS["filterGroups"] * 6}, "filterGroups"),
        ({"sorts": ["email", "hs_object_id"]}, "sorts"),
        ({"query": "x" * HUBSPOT_SEARCH_BODY_MAX_CHARS}, str(HUBSPOT_SEARCH_BODY_MAX_CHARS)),
    ],
)
def test_search_limits_answer_400_validation_error(hubspot, change, says) -> None:
    body = assert_error(hubspot.post(SEARCH, json={**CUSTOMERS, **change}), 400, "VALIDATION_ERROR")
    assert says in body["message"]


def test_the_last_page_inside_the_result_window_is_served(hubspot) -> None:
    after = str(HUBSPOT_SEARCH_RESULT_CAP - HUBSPOT_SEARCH_PAGE_MAX)
    response = hubspot.post(SEARCH, json={"after": after, "limit": HUBSPOT_SEARCH_PAGE_MAX})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_search_allows_five_a_second_and_carries_no_rate_limit_headers(hubspot) -> None:
    responses = [hubspot.post(SEARCH, json=CUSTOMERS) for _ in range(HUBSPOT_SEARCH_PER_SECOND + 1)]
    assert [r.status_code for r in responses] == [200] * HUBSPOT_SEARCH_PER_SECOND + [429]
    refused = responses[-1].json()
    assert refused["policyName"] == "SECONDLY"
    assert refused["errorType"] == "RATE_LIMIT"
    assert "Retry-After" not in responses[-1].headers
    for response in responses:
        assert not [h for h in response.headers if h.lower().startswith("x-hubspot-ratelimit")]


def test_companies_search_shows_a_write_only_after_the_index_lag(world, hubspot) -> None:
    lag = 1.0
    world.faults({"hubspot": {"search_index_lag_seconds": lag}})
    company_id = next(iter(world.state.companies))
    old_score = world.state.companies[company_id][PROP_SCORE]
    update = {"inputs": [{"id": company_id, "properties": {PROP_SCORE: "4242"}}]}
    written_at = time.monotonic()
    assert hubspot.post(BATCH_UPDATE, json=update).status_code == 200

    def by_score() -> dict[str, Any]:
        filters = [{"propertyName": PROP_SCORE, "operator": "EQ", "value": "4242"}]
        body = {"filterGroups": [{"filters": filters}], "properties": [PROP_SCORE]}
        return hubspot.post(COMPANY_SEARCH, json=body).json()

    by_id = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": company_id}]}
        ],
        "properties": [PROP_SCORE],
    }
    stale = hubspot.post(COMPANY_SEARCH, json=by_id).json()["results"][0]
    assert stale["properties"][PROP_SCORE] == old_score
    deadline = written_at + lag + 5
    while (found := by_score())["total"] == 0:
        assert time.monotonic() < deadline, "the write never reached the search index"
        time.sleep(SEARCH_PACE_SECONDS)
    assert time.monotonic() - written_at >= lag
    assert found["results"][0]["id"] == company_id


# --- rate limits ---------------------------------------------------------------------------
@pytest.mark.parametrize("tier", sorted(HUBSPOT_TIER_LIMITS))
def test_ten_second_window_allows_the_tier_limit_then_429s_as_hubspot(tier: str) -> None:
    with running_world(tier) as running:
        limit = HUBSPOT_TIER_LIMITS[tier]
        property_path = f"/crm/v3/properties/companies/{PROP_TIER}"
        with running.client() as client:
            responses = [client.get(property_path) for _ in range(limit + 1)]
        assert [r.status_code for r in responses] == [200] * limit + [429]
        first, last_ok, refused = responses[0], responses[-2], responses[-1]
        assert first.headers["X-HubSpot-RateLimit-Max"] == str(limit)
        assert first.headers["X-HubSpot-RateLimit-Remaining"] == str(limit - 1)
        assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert last_ok.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert int(first.headers["X-HubSpot-RateLimit-Daily-Remaining"]) > 0
        body = refused.json()
        assert UUID.fullmatch(body.pop("correlationId"))
        assert body == {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "policyName": "TEN_SECONDLY_ROLLING",
        }
        assert "Retry-After" not in refused.headers


def test_a_429_storm_fault_refuses_the_next_calls_then_recovers(world, hubspot) -> None:
    world.faults({"hubspot": {"rate_limit_storm": 2}})
    path = f"/crm/v3/properties/companies/{PROP_SCORE}"
    statuses = [hubspot.get(path).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert world.state.requests_summary()["statuses"]["429"] == 2


# --- associations --------------------------------------------------------------------------
def test_associations_give_numeric_company_ids_primary_first_and_207_without_any(
    world, hubspot
) -> None:
    links = world.state.dataset.contact_companies
    linked = sorted(links, key=int)[:3]
    orphan = next(cid for cid in sorted(world.state.contacts, key=int) if cid not in links)
    inputs = [{"id": cid} for cid in [*linked, orphan, "999"]]
    response = hubspot.post(ASSOCIATIONS, json={"inputs": inputs})
    assert response.status_code == 207
    payload = response.json()
    assert payload["status"] == "COMPLETE"
    results = {r["from"]["id"]: r for r in payload["results"]}
    assert list(results) == linked
    for contact_id in linked:
        targets = results[contact_id]["to"]
        assert [t["toObjectId"] for t in targets] == [int(c) for c in links[contact_id]]
        assert targets[0]["associationTypes"][0] == {
            "category": "HUBSPOT_DEFINED",
            "typeId": 1,
            "label": "Primary",
        }
    assert payload["numErrors"] == 2
    error = payload["errors"][0]
    assert error["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert error["message"] == f"No company is associated with contact {orphan}."
    assert error["context"]["fromObjectId"] == [orphan]


def test_associations_page_per_input_with_the_cursor_returned(world, hubspot) -> None:
    links = world.state.dataset.contact_companies
    contact_id, companies = next((c, cs) for c, cs in links.items() if len(cs) > 1)
    world.faults({"hubspot": {"associations_page_size": 1}})
    collected: list[int] = []
    request: dict[str, Any] = {"id": contact_id}
    for _ in range(len(companies)):
        page = hubspot.post(ASSOCIATIONS, json={"inputs": [request]}).json()["results"][0]
        collected += [t["toObjectId"] for t in page["to"]]
        if "paging" not in page:
            break
        request = {"id": contact_id, "after": page["paging"]["next"]["after"]}
    assert "paging" not in page
    assert collected == [int(c) for c in companies]


def test_associations_refuse_a_forged_cursor_and_oversized_batches(hubspot) -> None:
    forged = {"inputs": [{"id": "1", "after": "not-a-cursor"}]}
    assert_error(hubspot.post(ASSOCIATIONS, json=forged), 400, "VALIDATION_ERROR")
    too_many = {"inputs": [{"id": str(n)} for n in range(HUBSPOT_ASSOCIATIONS_BATCH_MAX + 1)]}
    body = assert_error(hubspot.post(ASSOCIATIONS, json=too_many), 400, "VALIDATION_ERROR")
    assert str(HUBSPOT_ASSOCIATIONS_BATCH_MAX) in body["message"]


# --- companies batch read ------------------------------------------------------------------
def test_batch_read_returns_strings_and_nulls_and_207_for_missing_ids(world, hubspot) -> None:
    state = world.state
    unscored = next(cid for cid, c in state.companies.items() if c[PROP_SCORE] is None)
    scored = next(cid for cid, c in state.companies.items() if c[PROP_SCORE] is not None)
    body = {
        "inputs": [{"id": scored}, {"id": unscored}, {"id": "1"}],
        "properties": ["name", PROP_SCORE, "no_such_property"],
        "propertiesWithHistory": [],
    }
    response = hubspot.post(BATCH_READ, json=body)
    assert response.status_code == 207
    payload = response.json()
    results = {r["id"]: r["properties"] for r in payload["results"]}
    assert list(results) == [scored, unscored]
    assert results[scored][PROP_SCORE] == state.companies[scored][PROP_SCORE]
    assert isinstance(results[scored][PROP_SCORE], str)
    assert results[unscored][PROP_SCORE] is None
    assert "no_such_property" not in results[scored]
    assert payload["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert payload["errors"][0]["context"] == {"ids": ["1"]}
    assert "X-HubSpot-RateLimit-Remaining" in response.headers


def test_batch_read_of_found_ids_is_200_and_caps_inputs(world, hubspot) -> None:
    ids = list(world.state.companies)[:2]
    response = hubspot.post(BATCH_READ, json={"inputs": [{"id": i} for i in ids]})
    assert response.status_code == 200
    assert "errors" not in response.json()
    too_many = {"inputs": [{"id": str(n)} for n in range(HUBSPOT_BATCH_READ_MAX + 1)]}
    assert_error(hubspot.post(BATCH_READ, json=too_many), 400, "VALIDATION_ERROR")


# --- companies batch update ----------------------------------------------------------------
def test_batch_update_applies_logs_before_and_after_and_bumps_modified(world, hubspot) -> None:
    state = world.state
    company_id = next(iter(state.companies))
    before = dict(state.companies[company_id])
    values = {PROP_SCORE: "37", PROP_RANK: "3 out of 60", PROP_TIER: TIER_TOP}
    response = hubspot.post(
        BATCH_UPDATE, json={"inputs": [{"id": company_id, "properties": values}]}
    )
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert {k: result["properties"][k] for k in values} == values
    assert result["updatedAt"] > before["lastmodifieddate"]
    control = httpx.get(f"{world.server.url}/_sandbox/companies/{company_id}").json()
    assert {k: control["properties"][k] for k in values} == values
    (write,) = httpx.get(f"{world.server.url}/_sandbox/writes").json()["writes"]
    assert write["company_id"] == company_id
    assert write["before"] == {k: before[k] for k in values}
    assert write["after"] == values


def test_batch_update_accepts_json_numbers_as_hubspot_strings(world, hubspot) -> None:
    company_id = next(iter(world.state.companies))
    update = {"inputs": [{"id": company_id, "properties": {PROP_SCORE: 41}}]}
    assert hubspot.post(BATCH_UPDATE, json=update).status_code == 200
    assert world.state.companies[company_id][PROP_SCORE] == "41"


@pytest.mark.parametrize(
    ("values", "faults", "code", "message"),
    [
        ({PROP_SCORE: "3rd"}, {}, "INVALID_INTEGER", "3rd was not a valid number."),
        (
            {PROP_TIER: "Top 25%"},
            {},
            "INVALID_OPTION",
            f"Top 25% was not one of the allowed options: [{', '.join(TIER_LABELS)}]",
        ),
        (
            {PROP_TIER: TIER_BOTTOM},
            {"properties": {PROP_TIER: {"drop_options": [TIER_BOTTOM]}}},
            "INVALID_OPTION",
            f"{TIER_BOTTOM} was not one of the allowed options:",
        ),
        ({"engagement": "1"}, {}, "PROPERTY_DOESNT_EXIST", 'Property "engagement" does not exist'),
        (
            {PROP_RANK: "1 out of 2"},
            {"properties": {PROP_RANK: None}},
            "PROPERTY_DOESNT_EXIST",
            f'Property "{PROP_RANK}" does not exist',
        ),
        (
            {PROP_RANK: "1 out of 2"},
            {"properties": {PROP_RANK: {"readOnlyValue": True}}},
            "READ_ONLY_VALUE",
            f'"{PROP_RANK}" is a read only property',
        ),
        ({"createdate": "2020-01-01"}, {}, "READ_ONLY_VALUE", '"createdate" is a read only'),
    ],
)
def test_one_invalid_value_rejects_the_whole_batch(world, hubspot, values, faults, code, message):
    world.faults({"hubspot": faults})
    good, bad = list(world.state.companies)[:2]
    inputs = [
        {"id": good, "properties": {PROP_SCORE: "12"}},
        {"id": bad, "properties": values},
    ]
    response = hubspot.post(BATCH_UPDATE, json={"inputs": inputs})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    (name,) = values
    assert body["errors"][0]["code"] == code
    assert body["errors"][0]["message"].startswith(message)
    assert body["errors"][0]["context"] == {"propertyName": [name]}
    listed = json.loads(body["message"].removeprefix("Property values were not valid: "))
    assert listed == [
        {"isValid": False, "message": body["errors"][0]["message"], "error": code, "name": name}
    ]
    assert world.state.writes == []
    assert world.state.companies[good] == world.state.dataset.companies[good]


def test_a_planned_rejection_refuses_exactly_the_nth_batch(world, hubspot) -> None:
    rejection = {"nth": 2, "code": "INVALID_INTEGER", "property": PROP_SCORE}
    world.faults({"hubspot": {"batch_update_rejections": [rejection]}})
    first, second, third = list(world.state.companies)[:3]
    statuses = []
    for company_id in (first, second, third):
        update = {"inputs": [{"id": company_id, "properties": {PROP_SCORE: "1.5"}}]}
        response = hubspot.post(BATCH_UPDATE, json=update)
        statuses.append(response.status_code)
        if response.status_code == 400:
            assert response.json()["errors"][0]["message"] == "1.5 was not a valid integer."
    assert statuses == [200, 400, 200]
    assert [w["company_id"] for w in world.state.writes] == [first, third]


def test_duplicate_ids_are_refused_as_hubspot_words_it(world, hubspot) -> None:
    company_id = next(iter(world.state.companies))
    inputs = [{"id": company_id, "properties": {PROP_SCORE: str(n)}} for n in range(2)]
    body = assert_error(
        hubspot.post(BATCH_UPDATE, json={"inputs": inputs}), 400, "VALIDATION_ERROR"
    )
    assert (
        body["message"] == f"Duplicate IDs found in batch input: [{company_id}]. IDs must be unique"
    )
    assert world.state.writes == []


def test_missing_ids_in_an_update_are_207_and_the_rest_applied(world, hubspot) -> None:
    company_id = next(iter(world.state.companies))
    inputs = [
        {"id": company_id, "properties": {PROP_SCORE: "9"}},
        {"id": "77", "properties": {PROP_SCORE: "9"}},
    ]
    response = hubspot.post(BATCH_UPDATE, json={"inputs": inputs})
    assert response.status_code == 207
    payload = response.json()
    assert [r["id"] for r in payload["results"]] == [company_id]
    assert payload["errors"][0]["context"] == {"ids": ["77"]}
    assert [w["company_id"] for w in world.state.writes] == [company_id]


def test_update_batches_over_the_maximum_are_refused(world, hubspot) -> None:
    inputs = [
        {"id": str(n), "properties": {PROP_SCORE: "1"}} for n in range(HUBSPOT_BATCH_UPDATE_MAX + 1)
    ]
    body = assert_error(
        hubspot.post(BATCH_UPDATE, json={"inputs": inputs}), 400, "VALIDATION_ERROR"
    )
    assert str(HUBSPOT_BATCH_UPDATE_MAX) in body["message"]


# --- single records and property definitions -----------------------------------------------
def test_company_and_contact_by_id_and_404_when_missing(world, hubspot) -> None:
    company_id = next(iter(world.state.companies))
    company = hubspot.get(
        f"/crm/v3/objects/companies/{company_id}", params={"properties": f"name,{PROP_TIER}"}
    )
    assert company.status_code == 200
    assert company.json()["properties"]["name"] == world.state.companies[company_id]["name"]
    assert PROP_TIER in company.json()["properties"]
    contact_id = next(iter(world.state.contacts))
    assert hubspot.get(f"/crm/v3/objects/contacts/{contact_id}").json()["id"] == contact_id
    missing = hubspot.get("/crm/v3/objects/companies/1")
    assert assert_error(missing, 404, "OBJECT_NOT_FOUND")["context"] == {"id": ["1"]}


def test_property_definitions_as_hubspot_describes_them_and_404_when_missing(
    world, hubspot
) -> None:
    tier = hubspot.get(f"/crm/v3/properties/companies/{PROP_TIER}").json()
    assert (tier["type"], tier["fieldType"]) == ("enumeration", "select")
    assert [o["value"] for o in tier["options"]] == list(TIER_LABELS)
    assert tier["modificationMetadata"]["readOnlyValue"] is False
    listed = hubspot.get("/crm/v3/properties/companies").json()["results"]
    assert {PROP_SCORE, PROP_RANK, PROP_TIER} <= {d["name"] for d in listed}
    world.faults(
        {
            "hubspot": {
                "properties": {
                    PROP_RANK: None,
                    PROP_SCORE: {"type": "string", "fieldType": "text"},
                }
            }
        }
    )
    body = assert_error(
        hubspot.get(f"/crm/v3/properties/companies/{PROP_RANK}"), 404, "OBJECT_NOT_FOUND"
    )
    assert PROP_RANK in body["message"]
    score = hubspot.get(f"/crm/v3/properties/companies/{PROP_SCORE}").json()
    assert (score["type"], score["fieldType"]) == ("string", "text")
    listed = hubspot.get("/crm/v3/properties/companies").json()["results"]
    assert PROP_RANK not in {d["name"] for d in listed}


# --- the server around the API -------------------------------------------------------------
def test_control_endpoints_are_served_without_auth_and_requests_are_logged_by_template(
    world, hubspot
) -> None:
    company_id = next(iter(world.state.companies))
    hubspot.get(f"/crm/v3/objects/companies/{company_id}")
    hubspot.get("/crm/v3/no/such/route")
    summary = httpx.get(f"{world.server.url}/_sandbox/requests").json()
    assert summary["counts"] == {
        "GET /crm/v3/no/such/route": 1,
        "GET /crm/v3/objects/companies/{companyId}": 1,
    }
    assert summary["statuses"] == {"200": 1, "404": 1, "429": 0}
    truth = httpx.get(f"{world.server.url}/_sandbox/truth").json()["truth"]
    assert len(truth) == COMPANIES


def test_reset_restores_records_and_forgets_the_search_index_lag(world, hubspot) -> None:
    world.faults({"hubspot": {"search_index_lag_seconds": 600}})
    company_id = next(iter(world.state.companies))
    original = world.state.companies[company_id][PROP_SCORE]
    update = {"inputs": [{"id": company_id, "properties": {PROP_SCORE: "4242"}}]}
    assert hubspot.post(BATCH_UPDATE, json=update).status_code == 200
    assert httpx.post(f"{world.server.url}/_sandbox/reset").status_code == 200
    assert world.state.companies[company_id][PROP_SCORE] == original
    world.faults({})
    hubspot.post(BATCH_UPDATE, json=update)
    filters = [{"propertyName": PROP_SCORE, "operator": "EQ", "value": "4242"}]
    found = hubspot.post(COMPANY_SEARCH, json={"filterGroups": [{"filters": filters}]}).json()
    assert [r["id"] for r in found["results"]] == [company_id]


def test_correlation_ids_are_uuid4_and_the_same_sequence_for_the_same_seed() -> None:
    def first_ids() -> list[str]:
        with running_world() as running:
            return [
                httpx.get(running.server.url + SEARCH).headers["X-HubSpot-Correlation-Id"]
                for _ in range(3)
            ]

    first, second = first_ids(), first_ids()
    assert first == second
    assert len(set(first)) == 3
    assert all(uuid.UUID(cid).version == 4 for cid in first)
