"""HubSpotClient against the sandbox: complete reads, minimal calls, writes, typed errors, retries."""

from __future__ import annotations

import math
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from engagement_ranker.clients.errors import (
    AuthError,
    MalformedResponse,
    NotFoundError,
    PropertyCode,
    RateLimitExhausted,
    ScopeError,
    UpstreamUnavailable,
    ValidationError,
)
from engagement_ranker.clients.http import RetryPolicy
from engagement_ranker.clients.hubspot import CONCURRENCY
from engagement_ranker.constants import (
    COMPANY_READ_PROPERTIES,
    CUSTOMER_LIFECYCLE_STAGE,
    ENGAGEMENT_PROPERTIES,
    HUBSPOT_ASSOCIATIONS_BATCH_MAX,
    HUBSPOT_BATCH_READ_MAX,
    HUBSPOT_SEARCH_PAGE_MAX,
    HUBSPOT_TIER_LIMITS,
    HUBSPOT_WINDOW_SECONDS,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
)
from engagement_ranker.sandbox import SandboxConfig
from engagement_ranker_tests.clients.conftest import (
    ASSOCIATIONS,
    PROPERTY,
    READ,
    SEARCH,
    calls,
    hubspot_client,
    path,
    routes,
    statuses,
)

ABSENT_IDS = ["99999999901", "99999999902"]


def customer_contacts_of(sandbox):
    contacts = sandbox.state.dataset.contacts
    return sorted(
        (cid for cid, p in contacts.items() if p["lifecyclestage"] == CUSTOMER_LIFECYCLE_STAGE),
        key=int,
    )


def new_values(company_id: str) -> dict[str, str]:
    return {PROP_SCORE: str(int(company_id) % 997), PROP_RANK: "1 out of 2", PROP_TIER: "Top 30%"}


# --- complete reads with the fewest calls ---------------------------------------------------


def test_customer_universe_is_every_customer_its_companies_and_their_properties_in_fewest_calls(
    sandbox,
    api_version,
):
    r = routes(api_version)
    expected = customer_contacts_of(sandbox)
    dataset = sandbox.state.dataset
    with hubspot_client(sandbox, api_version=api_version) as client:
        found = client.customer_universe(COMPANY_READ_PROPERTIES)
    assert [c["contact_id"] for c in found.contacts] == expected
    first = found.contacts[0]
    assert first == {
        "contact_id": first["contact_id"],
        "email": dataset.contacts[first["contact_id"]]["email"],
        "lifecyclestage": CUSTOMER_LIFECYCLE_STAGE,
    }
    assert found.companies_of == {
        c: sorted(dataset.contact_companies.get(c, []), key=int) for c in expected
    }
    company_ids = sorted({c for ids in found.companies_of.values() for c in ids}, key=int)
    assert list(found.companies) == company_ids and found.missing == []
    for company_id in company_ids:
        assert found.companies[company_id] == {
            p: dataset.companies[company_id].get(p) for p in COMPANY_READ_PROPERTIES
        }
    assert sandbox.control.requests()["counts"] == {
        r.search: math.ceil(len(expected) / HUBSPOT_SEARCH_PAGE_MAX),
        r.associations: math.ceil(len(expected) / HUBSPOT_ASSOCIATIONS_BATCH_MAX),
        r.read: math.ceil(len(company_ids) / HUBSPOT_BATCH_READ_MAX),
    }


def test_customer_universe_pages_each_contacts_companies_and_packs_the_follow_ups(
    sandbox, api_version
):
    r = routes(api_version)
    # One company per page: a contact with k companies needs k pages.
    sandbox.control.set_faults({"hubspot": {"associations_page_size": 1}})
    contact_ids = customer_contacts_of(sandbox)
    links = sandbox.state.dataset.contact_companies
    with hubspot_client(sandbox, api_version=api_version) as client:
        companies = client.customer_universe(["name"]).companies_of
    assert list(companies) == contact_ids
    for contact_id in contact_ids:
        assert companies[contact_id] == sorted(links.get(contact_id, []), key=int)
    assert any(not found for found in companies.values()), "no contact without companies"
    depth = max(len(found) for found in companies.values())
    assert depth >= 2, "the dataset has no contact with several companies"
    rounds = [
        sum(1 for found in companies.values() if len(found) >= page or page == 1)
        for page in range(1, depth + 1)
    ]
    minimum = sum(math.ceil(n / HUBSPOT_ASSOCIATIONS_BATCH_MAX) for n in rounds)
    assert calls(sandbox, r.associations) == minimum


def test_customer_universe_reads_companies_while_the_search_is_still_paging(make_sandbox):
    """The search is bound by 5 pages a second; the reads must not wait for its end."""
    sandbox = make_sandbox(SandboxConfig(companies=1_000))
    contacts = len(customer_contacts_of(sandbox))
    pages = math.ceil(contacts / HUBSPOT_SEARCH_PAGE_MAX)
    batches_before_last_page = ((pages - 1) * HUBSPOT_SEARCH_PAGE_MAX) // (
        HUBSPOT_ASSOCIATIONS_BATCH_MAX
    )
    assert batches_before_last_page >= 2, "too few contacts to show the overlap"
    # The last page hangs until the client's timeout; only its retry can end the search, so
    # reads seen while the search has made at most `pages` calls were made during the search.
    sandbox.control.set_faults(
        {
            "timeout_seconds": 10,
            "routes": {SEARCH: {"bursts": [{"nth": pages, "error": "timeout"}]}},
        }
    )
    with hubspot_client(sandbox, timeout=5.0) as client, ThreadPoolExecutor(1) as pool:
        universe = pool.submit(client.customer_universe, ["name"])
        deadline = time.monotonic() + 30
        while True:
            counts = sandbox.control.requests()["counts"]
            assert counts.get(SEARCH, 0) <= pages, "the reads waited for the search to end"
            if counts.get(ASSOCIATIONS, 0) >= batches_before_last_page and counts.get(READ, 0):
                break
            assert time.monotonic() < deadline, f"no reads during the search: {counts}"
            time.sleep(0.05)
        found = universe.result(timeout=60)
    assert [c["contact_id"] for c in found.contacts] == customer_contacts_of(sandbox)
    company_ids = {c for ids in found.companies_of.values() for c in ids}
    assert set(found.companies) == company_ids
    assert calls(sandbox, READ) == math.ceil(len(company_ids) / HUBSPOT_BATCH_READ_MAX)


def test_a_failed_read_stops_the_search_at_its_next_page(make_sandbox, api_version):
    r = routes(api_version)
    sandbox = make_sandbox(SandboxConfig(companies=1_000))
    pages = math.ceil(len(customer_contacts_of(sandbox)) / HUBSPOT_SEARCH_PAGE_MAX)
    # The first association read (sent once 1,000 contacts are found) is refused.
    sandbox.control.set_faults({"routes": {r.associations: {"bursts": [{"nth": 1, "error": 400}]}}})
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(ValidationError),
    ):
        client.customer_universe(["name"])
    counts = sandbox.control.requests()["counts"]
    assert counts[r.associations] == 1
    assert counts[r.search] < pages, "the search paged on after a read had failed"


def test_an_association_result_for_a_contact_of_another_batch_is_malformed(
    make_sandbox, api_version
):
    r = routes(api_version)
    sandbox = make_sandbox(SandboxConfig(companies=1_000))
    first = customer_contacts_of(sandbox)[0]
    # Every association answer claims its first result is the very first contact's, which
    # only the first batch asked about.
    sandbox.control.set_faults(
        {"corrupt": [{"route": r.associations, "path": "results.0.from.id", "value": first}]}
    )
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(MalformedResponse, match="not asked"),
    ):
        client.customer_universe(["name"])


def test_read_companies_returns_every_property_and_names_the_missing_ids(sandbox, api_version):
    r = routes(api_version)
    records = sandbox.state.dataset.companies
    ids = sorted(records, key=int)
    with hubspot_client(sandbox, api_version=api_version) as client:
        found, missing = client.read_companies(
            [*reversed(ids), *ABSENT_IDS, ids[0]], COMPANY_READ_PROPERTIES
        )
    assert missing == ABSENT_IDS
    assert list(found) == ids
    for company_id in ids:
        assert found[company_id] == {p: records[company_id].get(p) for p in COMPANY_READ_PROPERTIES}
    assert calls(sandbox, r.read) == math.ceil((len(ids) + 2) / HUBSPOT_BATCH_READ_MAX)


def test_company_property_returns_the_definition_or_none_when_it_does_not_exist(
    sandbox, api_version
):
    r = routes(api_version)
    with hubspot_client(sandbox, api_version=api_version) as client:
        tier = client.company_property(PROP_TIER)
        sandbox.control.set_faults({"hubspot": {"properties": {PROP_TIER: None}}})
        gone = client.company_property(PROP_TIER)
    assert tier is not None and tier["name"] == PROP_TIER and tier["type"] == "enumeration"
    assert gone is None
    assert calls(sandbox, r.property) == 2


@pytest.mark.parametrize("bad", ["Name With Spaces", "", "../companies"])
def test_company_property_refuses_a_name_that_is_no_internal_name(sandbox, api_version, bad):
    r = routes(api_version)
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(ValueError, match="internal names"),
    ):
        client.company_property(bad)
    assert calls(sandbox, r.property) == 0


# --- writes ---------------------------------------------------------------------------------


def test_update_companies_writes_a_full_batch_in_one_call(sandbox, api_version):
    r = routes(api_version)
    ids = sorted(sandbox.state.dataset.companies, key=int)[:100]
    with hubspot_client(sandbox, api_version=api_version) as client:
        client.update_companies([(cid, new_values(cid)) for cid in ids])
    assert calls(sandbox, r.update) == 1
    for company_id in (ids[0], ids[-1]):
        properties = sandbox.control.company(company_id)
        assert {p: properties[p] for p in ENGAGEMENT_PROPERTIES} == new_values(company_id)
    assert sorted((w["company_id"] for w in sandbox.control.writes()), key=int) == ids


def test_update_companies_names_the_companies_that_no_longer_exist(sandbox, api_version):
    r = routes(api_version)
    company_id = sorted(sandbox.state.dataset.companies, key=int)[0]
    batch = [(company_id, new_values(company_id)), (ABSENT_IDS[0], new_values(ABSENT_IDS[0]))]
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(NotFoundError) as caught,
    ):
        client.update_companies(batch)
    assert caught.value.ids == (ABSENT_IDS[0],)
    assert ABSENT_IDS[0] in str(caught.value) and "rest of the batch was written" in str(
        caught.value
    )
    assert [w["company_id"] for w in sandbox.control.writes()] == [company_id]
    assert calls(sandbox, r.update) == 1


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([(str(100 + i), {PROP_SCORE: "1"}) for i in range(101)], "exceeds HubSpot's 100"),
        ([("101", {PROP_SCORE: "1"}), ("101", {PROP_SCORE: "2"})], "repeats company ids"),
        ([("101", {PROP_SCORE: 37})], "is not a string"),
        ([("abc", {PROP_SCORE: "1"})], "is not a HubSpot record id"),
    ],
)
def test_update_companies_refuses_a_bad_batch_before_any_call(sandbox, api_version, batch, message):
    r = routes(api_version)
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(ValueError, match=message),
    ):
        client.update_companies(batch)
    assert calls(sandbox, r.update) == 0


# --- typed errors ---------------------------------------------------------------------------


def test_a_wrong_token_is_an_auth_error_naming_the_variable_and_never_retried(sandbox, api_version):
    r = routes(api_version)
    wrong = "pat-na1-00000000-dead-beef-0000-000000000000"
    with (
        hubspot_client(sandbox, api_version=api_version, access_token=wrong) as client,
        pytest.raises(AuthError) as caught,
    ):
        client.customer_universe(["name"])
    message = str(caught.value)
    assert f"HubSpot {r.search} failed: HTTP 401 INVALID_AUTHENTICATION (correlationId " in message
    assert "check HUBSPOT_ACCESS_TOKEN" in message
    assert caught.value.correlation_id
    assert wrong not in message and "dead-beef" not in message
    assert calls(sandbox, r.search) == 1


def test_a_missing_write_scope_is_a_scope_error_naming_the_scope(sandbox, api_version):
    r = routes(api_version)
    sandbox.control.set_faults({"hubspot": {"auth": "missing_write_scope"}})
    company_id = sorted(sandbox.state.dataset.companies, key=int)[0]
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(ScopeError) as caught,
    ):
        client.update_companies([(company_id, new_values(company_id))])
    assert caught.value.required_scopes == ("crm.objects.companies.write",)
    assert "HTTP 403 MISSING_SCOPES" in str(caught.value)
    assert "grant the private app the scope(s) crm.objects.companies.write" in str(caught.value)
    assert sandbox.control.writes() == []
    assert calls(sandbox, r.update) == 1


def test_a_wrong_base_url_is_a_not_found_error_naming_the_variable(sandbox, api_version):
    base_url = sandbox.env["HUBSPOT_BASE_URL"] + "/not-hubspot"
    with (
        hubspot_client(sandbox, api_version=api_version, base_url=base_url) as client,
        pytest.raises(NotFoundError) as e,
    ):
        client.read_companies(["101"], ["name"])
    assert "HTTP 404" in str(e.value) and "check HUBSPOT_BASE_URL" in str(e.value)


def test_a_rejected_batch_is_a_validation_error_with_the_property_codes_and_no_retry(
    sandbox, api_version
):
    r = routes(api_version)
    sandbox.control.set_faults(
        {"hubspot": {"batch_update_rejections": [{"nth": 1, "code": "INVALID_INTEGER"}]}}
    )
    ids = sorted(sandbox.state.dataset.companies, key=int)[:3]
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(ValidationError) as caught,
    ):
        client.update_companies([(cid, new_values(cid)) for cid in ids])
    (code,) = caught.value.codes
    assert (code.property, code.code) == (PROP_SCORE, "INVALID_INTEGER")
    assert isinstance(code, PropertyCode)
    assert "HTTP 400 VALIDATION_ERROR" in str(caught.value)
    assert f"{PROP_SCORE}: INVALID_INTEGER" in str(caught.value)
    assert sandbox.control.writes() == []
    assert calls(sandbox, r.update) == 1


def test_a_bad_value_is_rejected_by_hubspot_with_its_code(sandbox, api_version):
    company_id = sorted(sandbox.state.dataset.companies, key=int)[0]
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(ValidationError) as caught,
    ):
        client.update_companies([(company_id, {PROP_TIER: "Top 31%"})])
    assert [(c.property, c.code) for c in caught.value.codes] == [(PROP_TIER, "INVALID_OPTION")]


def test_malformed_json_is_a_malformed_response_and_not_retried(sandbox, api_version):
    r = routes(api_version)
    sandbox.control.set_faults(
        {"routes": {r.search: {"bursts": [{"nth": 1, "error": "malformed"}]}}}
    )
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(MalformedResponse) as caught,
    ):
        client.customer_universe(["name"])
    assert f"HubSpot {r.search} failed: HTTP 200: HTTP 200 body is not JSON" in str(caught.value)
    assert calls(sandbox, r.search) == 1


# --- recovery -------------------------------------------------------------------------------


def test_calls_another_app_made_on_the_same_budget_slow_the_client_instead_of_drawing_429s(
    make_sandbox,
):
    # A sandbox of its own: a fresh server window and a fresh token, so a fresh limiter.
    sandbox = make_sandbox()
    limit = HUBSPOT_TIER_LIMITS[sandbox.env["HUBSPOT_TIER"]]
    token = sandbox.env["HUBSPOT_ACCESS_TOKEN"]
    # Another integration spends all but the client's first parallel wave of the window.
    with httpx.Client(
        base_url=sandbox.env["HUBSPOT_BASE_URL"],
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ) as other:
        for _ in range(limit - CONCURRENCY):
            other.get(path(PROPERTY, propertyName=PROP_SCORE)).raise_for_status()
    ids = [str(100_000 + i) for i in range(3 * CONCURRENCY * HUBSPOT_BATCH_READ_MAX)]
    started = time.monotonic()
    with hubspot_client(sandbox) as client:
        client.read_companies(ids, ["name"])
        warnings = client.warnings
    # It waited for the other app's calls to leave the window, not for longer.
    assert time.monotonic() - started < 2 * HUBSPOT_WINDOW_SECONDS
    assert statuses(sandbox).get("429", 0) == 0
    assert warnings == []
    assert calls(sandbox, READ) == 3 * CONCURRENCY


def test_a_429_storm_is_ridden_out_and_reported(sandbox, api_version):
    r = routes(api_version)
    expected = customer_contacts_of(sandbox)
    sandbox.control.set_faults({"hubspot": {"rate_limit_storm": 3}})
    with hubspot_client(sandbox, api_version=api_version) as client:
        contacts = client.customer_universe(["name"]).contacts
        warnings = client.warnings
    assert [c["contact_id"] for c in contacts] == expected
    assert statuses(sandbox)["429"] == 3
    assert warnings == [f"HubSpot {r.search}: 3 retries (HTTP 429 x3)"]


def test_a_5xx_burst_and_dropped_connections_are_retried_until_the_read_completes(
    sandbox, api_version
):
    r = routes(api_version)
    sandbox.control.set_faults(
        {
            "routes": {
                r.read: {"bursts": [{"nth": 1, "count": 2, "error": 503}]},
                r.associations: {"bursts": [{"nth": 1, "count": 2, "error": "drop"}]},
            }
        }
    )
    with hubspot_client(sandbox, api_version=api_version) as client:
        universe = client.customer_universe(["name"])
        warnings = client.warnings
    ids = sorted({c for found in universe.companies_of.values() for c in found}, key=int)
    assert list(universe.companies) == ids and universe.missing == []
    assert warnings == sorted(
        [
            f"HubSpot {r.read}: 2 retries (HTTP 503 x2)",
            f"HubSpot {r.associations}: 2 retries (RemoteProtocolError x2)",
        ]
    )
    assert statuses(sandbox)["0"] == 2


def test_a_stalled_call_times_out_and_is_retried(sandbox):
    sandbox.control.set_faults(
        {"timeout_seconds": 5, "routes": {PROPERTY: {"bursts": [{"nth": 1, "error": "timeout"}]}}}
    )
    with hubspot_client(sandbox, timeout=0.3) as client:
        definition = client.company_property(PROP_SCORE)
        warnings = client.warnings
    assert definition is not None and definition["name"] == PROP_SCORE
    assert warnings == [
        f"HubSpot GET {path(PROPERTY, propertyName=PROP_SCORE)}: 1 retries (ReadTimeout x1)"
    ]


def test_a_batch_update_is_retried_after_a_5xx_and_applied_once(sandbox, api_version):
    r = routes(api_version)
    sandbox.control.set_faults({"routes": {r.update: {"bursts": [{"nth": 1, "error": 502}]}}})
    ids = sorted(sandbox.state.dataset.companies, key=int)[:5]
    with hubspot_client(sandbox, api_version=api_version) as client:
        client.update_companies([(cid, new_values(cid)) for cid in ids])
    assert calls(sandbox, r.update) == 2
    assert [w["company_id"] for w in sandbox.control.writes()] == ids


def test_a_storm_longer_than_the_policy_is_rate_limit_exhausted(sandbox):
    sandbox.control.set_faults({"hubspot": {"rate_limit_storm": 50}})
    policy = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02, max_total=5)
    with hubspot_client(sandbox, retry=policy) as client, pytest.raises(RateLimitExhausted) as e:
        client.read_companies(["101"], ["name"])
    assert "HTTP 429 TEN_SECONDLY_ROLLING" in str(e.value)
    assert "HTTP 429 after 3 attempts" in str(e.value)
    assert "another app may share this account's limit" in str(e.value)
    assert calls(sandbox, READ) == 3


def test_an_outage_is_upstream_unavailable_after_the_bounded_attempts(sandbox):
    sandbox.control.set_faults(
        {"routes": {"hubspot *": {"error_rate": 1.0, "error_statuses": [503]}}}
    )
    with hubspot_client(sandbox) as client, pytest.raises(UpstreamUnavailable) as caught:
        client.company_property(PROP_SCORE)
    assert "HTTP 503" in str(caught.value) and "after 4 attempts" in str(caught.value)
    assert "status.hubspot.com" in str(caught.value)
    assert calls(sandbox, PROPERTY) == 4


# --- secrets --------------------------------------------------------------------------------


def test_no_secret_reaches_an_error_a_warning_or_a_log_line(sandbox, api_version, all_logs):
    r = routes(api_version)
    token = sandbox.env["HUBSPOT_ACCESS_TOKEN"]
    texts: list[str] = []
    sandbox.control.set_faults(
        {
            "hubspot": {"rate_limit_storm": 2, "auth": "missing_write_scope"},
            "routes": {r.read: {"bursts": [{"nth": 1, "error": "drop"}, {"nth": 2, "error": 500}]}},
        }
    )
    with hubspot_client(sandbox, api_version=api_version) as client:
        client.read_companies(["101"], ["name"])
        with pytest.raises(ScopeError) as scope:
            client.update_companies([("101", {PROP_SCORE: "1"})])
        texts += client.warnings
    sandbox.control.set_faults({"hubspot": {"auth": "revoked"}})
    with (
        hubspot_client(sandbox, api_version=api_version) as client,
        pytest.raises(AuthError) as auth,
    ):
        client.customer_universe(["name"])
    for error in (scope.value, auth.value):
        texts += [str(error), repr(error), *map(str, error.args)]
    texts += [record.getMessage() for record in all_logs.records]
    assert any("retrying" in text for text in texts), "the retries were not logged"
    assert all(token not in text for text in texts)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"access_token": "  "}, "HUBSPOT_ACCESS_TOKEN is empty"),
        ({"tier": "enterprise"}, "HUBSPOT_TIER='enterprise' is not a known tier: use one of free"),
        ({"base_url": "api.hubapi.com"}, "HUBSPOT_BASE_URL='api.hubapi.com' is not an http"),
        ({"timeout": 0}, "HTTP timeout 0 s is not positive"),
    ],
)
def test_bad_settings_fail_at_construction_naming_the_setting(sandbox, overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        hubspot_client(sandbox, **overrides)
    assert sum(sandbox.control.requests()["counts"].values()) == 0
