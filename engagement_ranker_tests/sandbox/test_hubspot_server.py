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
    DEFAULT_HUBSPOT_API_VERSION,
    HUBSPOT_ASSOCIATIONS_BATCH_MAX,
    HUBSPOT_BATCH_READ_MAX,
    HUBSPOT_BATCH_UPDATE_MAX,
    HUBSPOT_ROUTES,
    HUBSPOT_SEARCH_BODY_MAX_CHARS,
    HUBSPOT_SEARCH_PAGE_MAX,
    HUBSPOT_SEARCH_PER_SECOND,
    HUBSPOT_SEARCH_RESULT_CAP,
    HUBSPOT_TIER_LIMITS,
    PROP_CUSTOMER_STATUS,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
    TIER_BOTTOM,
    TIER_LABELS,
    TIER_TOP,
    HubSpotApiVersion,
    HubSpotOperation,
)
from engagement_ranker.sandbox.dataset import build_dataset
from engagement_ranker.sandbox.http import RunningServer
from engagement_ranker.sandbox.hubspot import CONDITIONAL_RULE_CODE, start_hubspot_server
from engagement_ranker.sandbox.state import SandboxState

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
COMPANIES = 60
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


@dataclass(frozen=True)
class Paths:
    """The paths of one HubSpot path family, as a client sends them."""

    version: HubSpotApiVersion

    def route(self, operation: HubSpotOperation) -> str:
        """The request-log key ("METHOD /template") of `operation` in this family."""
        return HUBSPOT_ROUTES[self.version][operation]

    def path(self, operation: HubSpotOperation, **params: str) -> str:
        return self.route(operation).split(" ", 1)[1].format(**params)

    @property
    def search(self) -> str:
        return self.path(HubSpotOperation.CONTACTS_SEARCH)

    @property
    def company_search(self) -> str:
        return self.path(HubSpotOperation.COMPANIES_SEARCH)

    @property
    def associations(self) -> str:
        return self.path(HubSpotOperation.CONTACT_COMPANIES)

    @property
    def batch_read(self) -> str:
        return self.path(HubSpotOperation.COMPANIES_READ)

    @property
    def batch_update(self) -> str:
        return self.path(HubSpotOperation.COMPANIES_UPDATE)

    @property
    def properties(self) -> str:
        return self.path(HubSpotOperation.COMPANY_PROPERTIES)

    def property(self, name: str) -> str:
        return self.path(HubSpotOperation.COMPANY_PROPERTY, propertyName=name)

    def company(self, company_id: str) -> str:
        return self.path(HubSpotOperation.COMPANY, companyId=company_id)

    def contact(self, contact_id: str) -> str:
        return self.path(HubSpotOperation.CONTACT, contactId=contact_id)

    def validations(self, object_type: str) -> str:
        return self.path(HubSpotOperation.PROPERTY_VALIDATIONS, objectTypeId=object_type)

    def validation(self, object_type: str, name: str) -> str:
        return self.path(
            HubSpotOperation.PROPERTY_VALIDATION, objectTypeId=object_type, propertyName=name
        )


DEFAULT = Paths(DEFAULT_HUBSPOT_API_VERSION)
DATED, LEGACY = Paths(HubSpotApiVersion.V2026_09), Paths(HubSpotApiVersion.LEGACY)


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


@pytest.fixture(params=[DATED, LEGACY], ids=lambda paths: paths.version.value)
def paths(request: pytest.FixtureRequest) -> Paths:
    """Each path family in turn, for behaviour both must share."""
    return request.param


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
def test_requests_without_the_right_bearer_token_get_401(paths, world, hubspot, token) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = httpx.post(world.server.url + paths.search, json=CUSTOMERS, headers=headers)
    body = assert_error(response, 401, "INVALID_AUTHENTICATION")
    assert body["message"].startswith("Authentication credentials not found.")
    assert world.token not in response.text


def test_a_revoked_token_gets_401_even_when_correct(paths, world, hubspot) -> None:
    world.faults({"hubspot": {"auth": "revoked"}})
    assert_error(hubspot.post(paths.search, json=CUSTOMERS), 401, "INVALID_AUTHENTICATION")


def test_missing_write_scope_refuses_writes_with_403_but_serves_reads(
    paths, world, hubspot
) -> None:
    world.faults({"hubspot": {"auth": "missing_write_scope"}})
    company_id = next(iter(world.state.companies))
    assert hubspot.post(paths.batch_read, json={"inputs": [{"id": company_id}]}).status_code == 200
    update = {"inputs": [{"id": company_id, "properties": {PROP_SCORE: "5"}}]}
    body = assert_error(hubspot.post(paths.batch_update, json=update), 403, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.companies.write"]
    assert world.state.writes == []


# --- contacts search -----------------------------------------------------------------------
def test_search_pages_through_every_customer_in_id_order(paths, world, hubspot) -> None:
    body = {
        **CUSTOMERS,
        "properties": ["email", "lifecyclestage"],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "limit": 50,
    }
    seen: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = hubspot.post(paths.search, json={**body, **({"after": after} if after else {})})
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


def test_search_default_page_is_ten_and_default_properties_are_hubspots(paths, hubspot) -> None:
    payload = hubspot.post(paths.search, json=CUSTOMERS).json()
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


def test_search_greater_than_on_id_is_numeric(paths, world, hubspot) -> None:
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
    assert [r["id"] for r in hubspot.post(paths.search, json=body).json()["results"]] == ids[-2:]


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
def test_search_limits_answer_400_validation_error(paths, hubspot, change, says) -> None:
    body = assert_error(
        hubspot.post(paths.search, json={**CUSTOMERS, **change}), 400, "VALIDATION_ERROR"
    )
    assert says in body["message"]


def test_the_last_page_inside_the_result_window_is_served(paths, hubspot) -> None:
    after = str(HUBSPOT_SEARCH_RESULT_CAP - HUBSPOT_SEARCH_PAGE_MAX)
    response = hubspot.post(paths.search, json={"after": after, "limit": HUBSPOT_SEARCH_PAGE_MAX})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_search_allows_five_a_second_and_carries_no_rate_limit_headers(paths, hubspot) -> None:
    responses = [
        hubspot.post(paths.search, json=CUSTOMERS) for _ in range(HUBSPOT_SEARCH_PER_SECOND + 1)
    ]
    assert [r.status_code for r in responses] == [200] * HUBSPOT_SEARCH_PER_SECOND + [429]
    refused = responses[-1].json()
    assert refused["policyName"] == "SECONDLY"
    assert refused["errorType"] == "RATE_LIMIT"
    assert "Retry-After" not in responses[-1].headers
    for response in responses:
        assert not [h for h in response.headers if h.lower().startswith("x-hubspot-ratelimit")]


def test_companies_search_shows_a_write_only_after_the_index_lag(paths, world, hubspot) -> None:
    lag = 1.0
    world.faults({"hubspot": {"search_index_lag_seconds": lag}})
    company_id = next(iter(world.state.companies))
    old_score = world.state.companies[company_id][PROP_SCORE]
    update = {"inputs": [{"id": company_id, "properties": {PROP_SCORE: "4242"}}]}
    written_at = time.monotonic()
    assert hubspot.post(paths.batch_update, json=update).status_code == 200

    def by_score() -> dict[str, Any]:
        filters = [{"propertyName": PROP_SCORE, "operator": "EQ", "value": "4242"}]
        body = {"filterGroups": [{"filters": filters}], "properties": [PROP_SCORE]}
        return hubspot.post(paths.company_search, json=body).json()

    by_id = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": company_id}]}
        ],
        "properties": [PROP_SCORE],
    }
    stale = hubspot.post(paths.company_search, json=by_id).json()["results"][0]
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
        property_path = DEFAULT.property(PROP_TIER)
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


def test_a_429_storm_fault_refuses_the_next_calls_then_recovers(paths, world, hubspot) -> None:
    world.faults({"hubspot": {"rate_limit_storm": 2}})
    path = paths.property(PROP_SCORE)
    statuses = [hubspot.get(path).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert world.state.requests_summary()["statuses"]["429"] == 2


# --- associations --------------------------------------------------------------------------
def test_associations_give_numeric_company_ids_primary_first_and_207_without_any(
    paths, world, hubspot
) -> None:
    links = world.state.dataset.contact_companies
    linked = sorted(links, key=int)[:3]
    orphan = next(cid for cid in sorted(world.state.contacts, key=int) if cid not in links)
    inputs = [{"id": cid} for cid in [*linked, orphan, "999"]]
    response = hubspot.post(paths.associations, json={"inputs": inputs})
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


def test_associations_page_per_input_with_the_cursor_returned(paths, world, hubspot) -> None:
    links = world.state.dataset.contact_companies
    contact_id, companies = next((c, cs) for c, cs in links.items() if len(cs) > 1)
    world.faults({"hubspot": {"associations_page_size": 1}})
    collected: list[int] = []
    request: dict[str, Any] = {"id": contact_id}
    for _ in range(len(companies)):
        page = hubspot.post(paths.associations, json={"inputs": [request]}).json()["results"][0]
        collected += [t["toObjectId"] for t in page["to"]]
        if "paging" not in page:
            break
        request = {"id": contact_id, "after": page["paging"]["next"]["after"]}
    assert "paging" not in page
    assert collected == [int(c) for c in companies]


def test_associations_refuse_a_forged_cursor_and_oversized_batches(paths, hubspot) -> None:
    forged = {"inputs": [{"id": "1", "after": "not-a-cursor"}]}
    assert_error(hubspot.post(paths.associations, json=forged), 400, "VALIDATION_ERROR")
    too_many = {"inputs": [{"id": str(n)} for n in range(HUBSPOT_ASSOCIATIONS_BATCH_MAX + 1)]}
    body = assert_error(hubspot.post(paths.associations, json=too_many), 400, "VALIDATION_ERROR")
    assert str(HUBSPOT_ASSOCIATIONS_BATCH_MAX) in body["message"]


# --- companies batch read ------------------------------------------------------------------
def test_batch_read_returns_strings_and_nulls_and_207_for_missing_ids(
    paths, world, hubspot
) -> None:
    state = world.state
    unscored = next(cid for cid, c in state.companies.items() if c[PROP_SCORE] is None)
    scored = next(cid for cid, c in state.companies.items() if c[PROP_SCORE] is not None)
    body = {
        "inputs": [{"id": scored}, {"id": unscored}, {"id": "1"}],
        "properties": ["name", PROP_SCORE, "no_such_property"],
        "propertiesWithHistory": [],
    }
    response = hubspot.post(paths.batch_read, json=body)
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


def test_batch_read_of_found_ids_is_200_and_caps_inputs(paths, world, hubspot) -> None:
    ids = list(world.state.companies)[:2]
    response = hubspot.post(paths.batch_read, json={"inputs": [{"id": i} for i in ids]})
    assert response.status_code == 200
    assert "errors" not in response.json()
    too_many = {"inputs": [{"id": str(n)} for n in range(HUBSPOT_BATCH_READ_MAX + 1)]}
    assert_error(hubspot.post(paths.batch_read, json=too_many), 400, "VALIDATION_ERROR")


# --- companies batch update ----------------------------------------------------------------
def test_batch_update_applies_logs_before_and_after_and_bumps_modified(
    paths, world, hubspot
) -> None:
    state = world.state
    company_id = next(iter(state.companies))
    before = dict(state.companies[company_id])
    values = {PROP_SCORE: "37", PROP_RANK: "3 out of 60", PROP_TIER: TIER_TOP}
    response = hubspot.post(
        paths.batch_update, json={"inputs": [{"id": company_id, "properties": values}]}
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


def test_batch_update_accepts_json_numbers_as_hubspot_strings(paths, world, hubspot) -> None:
    company_id = next(iter(world.state.companies))
    update = {"inputs": [{"id": company_id, "properties": {PROP_SCORE: 41}}]}
    assert hubspot.post(paths.batch_update, json=update).status_code == 200
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
def test_one_invalid_value_rejects_the_whole_batch(
    paths, world, hubspot, values, faults, code, message
):
    world.faults({"hubspot": faults})
    good, bad = list(world.state.companies)[:2]
    inputs = [
        {"id": good, "properties": {PROP_SCORE: "12"}},
        {"id": bad, "properties": values},
    ]
    response = hubspot.post(paths.batch_update, json={"inputs": inputs})
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


def test_a_planned_rejection_refuses_exactly_the_nth_batch(paths, world, hubspot) -> None:
    rejection = {"nth": 2, "code": "INVALID_INTEGER", "property": PROP_SCORE}
    world.faults({"hubspot": {"batch_update_rejections": [rejection]}})
    first, second, third = list(world.state.companies)[:3]
    statuses = []
    for company_id in (first, second, third):
        update = {"inputs": [{"id": company_id, "properties": {PROP_SCORE: "1.5"}}]}
        response = hubspot.post(paths.batch_update, json=update)
        statuses.append(response.status_code)
        if response.status_code == 400:
            assert response.json()["errors"][0]["message"] == "1.5 was not a valid integer."
    assert statuses == [200, 400, 200]
    assert [w["company_id"] for w in world.state.writes] == [first, third]


def test_duplicate_ids_are_refused_as_hubspot_words_it(paths, world, hubspot) -> None:
    company_id = next(iter(world.state.companies))
    inputs = [{"id": company_id, "properties": {PROP_SCORE: str(n)}} for n in range(2)]
    body = assert_error(
        hubspot.post(paths.batch_update, json={"inputs": inputs}), 400, "VALIDATION_ERROR"
    )
    assert (
        body["message"] == f"Duplicate IDs found in batch input: [{company_id}]. IDs must be unique"
    )
    assert world.state.writes == []


def test_missing_ids_in_an_update_are_207_and_the_rest_applied(paths, world, hubspot) -> None:
    company_id = next(iter(world.state.companies))
    inputs = [
        {"id": company_id, "properties": {PROP_SCORE: "9"}},
        {"id": "77", "properties": {PROP_SCORE: "9"}},
    ]
    response = hubspot.post(paths.batch_update, json={"inputs": inputs})
    assert response.status_code == 207
    payload = response.json()
    assert [r["id"] for r in payload["results"]] == [company_id]
    assert payload["errors"][0]["context"] == {"ids": ["77"]}
    assert [w["company_id"] for w in world.state.writes] == [company_id]


def test_update_batches_over_the_maximum_are_refused(paths, world, hubspot) -> None:
    inputs = [
        {"id": str(n), "properties": {PROP_SCORE: "1"}} for n in range(HUBSPOT_BATCH_UPDATE_MAX + 1)
    ]
    body = assert_error(
        hubspot.post(paths.batch_update, json={"inputs": inputs}), 400, "VALIDATION_ERROR"
    )
    assert str(HUBSPOT_BATCH_UPDATE_MAX) in body["message"]


def test_2026_09_updates_echo_trace_ids_and_name_them_in_each_207_error(world, hubspot) -> None:
    company_id = next(iter(world.state.companies))
    inputs = [
        {"id": company_id, "properties": {PROP_SCORE: "9"}, "objectWriteTraceId": "t-1"},
        {"id": "77", "properties": {PROP_SCORE: "9"}, "objectWriteTraceId": "t-2"},
        {"id": "78", "properties": {PROP_SCORE: "9"}, "objectWriteTraceId": "t-3"},
    ]
    dated = hubspot.post(DATED.batch_update, json={"inputs": inputs})
    assert dated.status_code == 207
    payload = dated.json()
    assert [(r["id"], r["objectWriteTraceId"]) for r in payload["results"]] == [(company_id, "t-1")]
    assert payload["numErrors"] == 2
    assert [e["context"] for e in payload["errors"]] == [
        {"ids": ["77"], "objectWriteTraceId": ["t-2"]},
        {"ids": ["78"], "objectWriteTraceId": ["t-3"]},
    ]
    legacy = hubspot.post(LEGACY.batch_update, json={"inputs": inputs}).json()
    assert "objectWriteTraceId" not in legacy["results"][0]
    assert [e["context"] for e in legacy["errors"]] == [{"ids": ["77", "78"]}]


def test_2026_09_validation_errors_name_the_trace_ids_of_the_inputs_at_fault(
    world, hubspot
) -> None:
    good, bad = list(world.state.companies)[:2]
    inputs = [
        {"id": good, "properties": {PROP_SCORE: "12"}, "objectWriteTraceId": "good"},
        {"id": bad, "properties": {PROP_TIER: "Top 25%"}, "objectWriteTraceId": "bad"},
    ]
    body = assert_error(
        hubspot.post(DATED.batch_update, json={"inputs": inputs}), 400, "VALIDATION_ERROR"
    )
    assert body["errors"][0]["context"] == {
        "propertyName": [PROP_TIER],
        "objectWriteTraceId": ["bad"],
    }
    assert world.state.writes == []


@pytest.mark.parametrize("trace", [7, "", ["t"]])
def test_a_trace_id_that_is_no_string_is_refused(world, hubspot, trace) -> None:
    company_id = next(iter(world.state.companies))
    inputs = [{"id": company_id, "properties": {PROP_SCORE: "1"}, "objectWriteTraceId": trace}]
    body = assert_error(
        hubspot.post(DATED.batch_update, json={"inputs": inputs}), 400, "VALIDATION_ERROR"
    )
    assert "objectWriteTraceId must be a non-empty string" in body["message"]


def _status_of(state: SandboxState, wanted: bool) -> str:
    """A company whose customer_status is set (`wanted`) or not."""
    return next(
        cid for cid, c in sorted(state.companies.items()) if bool(c[PROP_CUSTOMER_STATUS]) is wanted
    )


def test_a_conditional_rule_refuses_2026_09_writes_only(world, hubspot) -> None:
    rule = {"property": PROP_TIER, "requires": PROP_CUSTOMER_STATUS}
    world.faults({"hubspot": {"validation_rules": [rule]}})
    lacking, holding = _status_of(world.state, False), _status_of(world.state, True)
    inputs = [
        {"id": holding, "properties": {PROP_TIER: TIER_TOP}, "objectWriteTraceId": "ok"},
        {"id": lacking, "properties": {PROP_TIER: TIER_TOP}, "objectWriteTraceId": "refused"},
    ]
    body = assert_error(
        hubspot.post(DATED.batch_update, json={"inputs": inputs}), 400, "VALIDATION_ERROR"
    )
    assert body["errors"] == [
        {
            "message": f"{PROP_CUSTOMER_STATUS} is required when {PROP_TIER} is set.",
            "code": CONDITIONAL_RULE_CODE,
            "in": PROP_CUSTOMER_STATUS,
            "context": {"propertyName": [PROP_CUSTOMER_STATUS], "objectWriteTraceId": ["refused"]},
        }
    ]
    assert world.state.writes == []
    # Setting the required property in the same write satisfies the rule.
    inputs[1]["properties"][PROP_CUSTOMER_STATUS] = "active"
    assert hubspot.post(DATED.batch_update, json={"inputs": inputs}).status_code == 200
    # The legacy paths predate the rule's enforcement on API writes.
    world.state.reset()
    world.faults({"hubspot": {"validation_rules": [rule]}})
    update = {"inputs": [{"id": lacking, "properties": {PROP_TIER: TIER_TOP}}]}
    assert hubspot.post(LEGACY.batch_update, json=update).status_code == 200


@pytest.mark.parametrize(
    ("name", "rule_type", "argument", "accepted", "refused"),
    [
        (PROP_SCORE, "MAX_NUMBER", "100", "100", "101"),
        (PROP_SCORE, "MIN_NUMBER", "1", "1", "0"),
        (PROP_RANK, "MAX_LENGTH", "12", "1 out of 140", "100 out of 140"),
        (PROP_RANK, "MIN_LENGTH", "9", "1 out of 9", "1 of 9"),
        (PROP_RANK, "REGEX", r"\d+ out of \d+", "3 out of 9", "third"),
    ],
)
def test_property_validation_rules_are_listed_and_enforced_on_both_families(
    paths, world, hubspot, name, rule_type, argument, accepted, refused
) -> None:
    rule = {"property": name, "ruleType": rule_type, "ruleArguments": [argument]}
    conditional = {"property": PROP_TIER, "requires": PROP_CUSTOMER_STATUS}
    world.faults({"hubspot": {"validation_rules": [rule, conditional]}})
    listed = [
        {"ruleType": rule_type, "ruleArguments": [argument], "shouldApplyNormalization": False}
    ]
    # Conditional rules are no property validation rules: the API does not list them.
    for object_type in ("0-2", "companies"):
        assert hubspot.get(paths.validations(object_type)).json() == {
            "results": [{"propertyName": name, "propertyValidationRules": listed}]
        }
    assert hubspot.get(paths.validation("0-2", name)).json() == {"results": listed}
    assert hubspot.get(paths.validation("0-2", PROP_TIER)).json() == {"results": []}
    assert hubspot.get(paths.validations("0-1")).json() == {"results": []}
    company_id = _status_of(world.state, True)
    update = {"inputs": [{"id": company_id, "properties": {name: refused}}]}
    body = assert_error(hubspot.post(paths.batch_update, json=update), 400, "VALIDATION_ERROR")
    (error,) = body["errors"]
    assert (error["code"], error["in"]) == (rule_type, name)
    assert f'"{refused}" does not meet the {rule_type} rule' in error["message"]
    assert world.state.writes == []
    update = {"inputs": [{"id": company_id, "properties": {name: accepted}}]}
    assert hubspot.post(paths.batch_update, json=update).status_code == 200


def test_the_validation_api_refuses_unknown_object_types_and_properties(paths, hubspot) -> None:
    body = assert_error(hubspot.get(paths.validations("0-99")), 400, "VALIDATION_ERROR")
    assert "0-99" in body["message"]
    body = assert_error(hubspot.get(paths.validation("0-2", "nope")), 404, "OBJECT_NOT_FOUND")
    assert "nope" in body["message"]


# --- single records and property definitions -----------------------------------------------
def test_company_and_contact_by_id_and_404_when_missing(paths, world, hubspot) -> None:
    company_id = next(iter(world.state.companies))
    company = hubspot.get(paths.company(company_id), params={"properties": f"name,{PROP_TIER}"})
    assert company.status_code == 200
    assert company.json()["properties"]["name"] == world.state.companies[company_id]["name"]
    assert PROP_TIER in company.json()["properties"]
    contact_id = next(iter(world.state.contacts))
    assert hubspot.get(paths.contact(contact_id)).json()["id"] == contact_id
    missing = hubspot.get(paths.company("1"))
    assert assert_error(missing, 404, "OBJECT_NOT_FOUND")["context"] == {"id": ["1"]}


def test_property_definitions_as_hubspot_describes_them_and_404_when_missing(
    paths, world, hubspot
) -> None:
    tier = hubspot.get(paths.property(PROP_TIER)).json()
    assert (tier["type"], tier["fieldType"]) == ("enumeration", "select")
    assert [o["value"] for o in tier["options"]] == list(TIER_LABELS)
    assert tier["modificationMetadata"]["readOnlyValue"] is False
    listed = hubspot.get(paths.properties).json()["results"]
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
    body = assert_error(hubspot.get(paths.property(PROP_RANK)), 404, "OBJECT_NOT_FOUND")
    assert PROP_RANK in body["message"]
    score = hubspot.get(paths.property(PROP_SCORE)).json()
    assert (score["type"], score["fieldType"]) == ("string", "text")
    listed = hubspot.get(paths.properties).json()["results"]
    assert PROP_RANK not in {d["name"] for d in listed}


# --- the server around the API -------------------------------------------------------------
def test_control_endpoints_are_served_without_auth_and_requests_are_logged_by_template(
    paths, world, hubspot
) -> None:
    company_id = next(iter(world.state.companies))
    hubspot.get(paths.company(company_id))
    hubspot.get("/crm/v3/no/such/route")
    summary = httpx.get(f"{world.server.url}/_sandbox/requests").json()
    assert summary["counts"] == {
        "GET /crm/v3/no/such/route": 1,
        paths.route(HubSpotOperation.COMPANY): 1,
    }
    assert summary["statuses"] == {"200": 1, "404": 1, "429": 0}
    truth = httpx.get(f"{world.server.url}/_sandbox/truth").json()["truth"]
    assert len(truth) == COMPANIES


def test_reset_restores_records_and_forgets_the_search_index_lag(paths, world, hubspot) -> None:
    world.faults({"hubspot": {"search_index_lag_seconds": 600}})
    company_id = next(iter(world.state.companies))
    original = world.state.companies[company_id][PROP_SCORE]
    update = {"inputs": [{"id": company_id, "properties": {PROP_SCORE: "4242"}}]}
    assert hubspot.post(paths.batch_update, json=update).status_code == 200
    assert httpx.post(f"{world.server.url}/_sandbox/reset").status_code == 200
    assert world.state.companies[company_id][PROP_SCORE] == original
    world.faults({})
    hubspot.post(paths.batch_update, json=update)
    filters = [{"propertyName": PROP_SCORE, "operator": "EQ", "value": "4242"}]
    found = hubspot.post(paths.company_search, json={"filterGroups": [{"filters": filters}]}).json()
    assert [r["id"] for r in found["results"]] == [company_id]


def test_correlation_ids_are_uuid4_and_the_same_sequence_for_the_same_seed() -> None:
    def first_ids() -> list[str]:
        with running_world() as running:
            return [
                httpx.get(running.server.url + DEFAULT.search).headers["X-HubSpot-Correlation-Id"]
                for _ in range(3)
            ]

    first, second = first_ids(), first_ids()
    assert first == second
    assert len(set(first)) == 3
    assert all(uuid.UUID(cid).version == 4 for cid in first)
