"""A full HubSpot run over 10,000 companies (~25,000 customer contacts) at Free-tier limits.

One test on purpose: the search floor alone (125 pages at 5/s) is 25 s, so every claim about
scale is checked on the same run: complete across the 10,000-result cap, the fewest calls
the batch sizes allow, and not one 429 although the run needs far more than 100 calls.
"""

from __future__ import annotations

import math

from engagement_ranker.clients.http import DEFAULT_RETRY
from engagement_ranker.constants import (
    COMPANY_READ_PROPERTIES,
    CUSTOMER_LIFECYCLE_STAGE,
    ENGAGEMENT_PROPERTIES,
    HUBSPOT_ASSOCIATIONS_BATCH_MAX,
    HUBSPOT_BATCH_READ_MAX,
    HUBSPOT_BATCH_UPDATE_MAX,
    HUBSPOT_SEARCH_PAGE_MAX,
    HUBSPOT_SEARCH_RESULT_CAP,
    HUBSPOT_TIER_LIMITS,
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
    UPDATE,
    hubspot_client,
)

COMPANIES = 10_000
WRITE_BATCHES = 20


def test_a_full_free_tier_run_over_25000_contacts_is_complete_minimal_and_never_429(
    make_sandbox,
):
    sandbox = make_sandbox(SandboxConfig(companies=COMPANIES, hubspot_tier="free"))
    dataset = sandbox.state.dataset
    expected = sorted(
        (c for c, p in dataset.contacts.items() if p["lifecyclestage"] == CUSTOMER_LIFECYCLE_STAGE),
        key=int,
    )
    assert len(expected) > 2 * HUBSPOT_SEARCH_RESULT_CAP

    with hubspot_client(sandbox, retry=DEFAULT_RETRY) as reader:
        universe = reader.customer_universe(COMPANY_READ_PROPERTIES)
        warnings = reader.warnings
    contacts, companies = universe.contacts, universe.companies_of
    company_ids = sorted({c for found in companies.values() for c in found}, key=int)
    # A second client, as the writeback asset opens one: it must share the account's window.
    with hubspot_client(sandbox, retry=DEFAULT_RETRY) as writer:
        definitions = [writer.company_property(name) for name in ENGAGEMENT_PROPERTIES]
        written = company_ids[: WRITE_BATCHES * HUBSPOT_BATCH_UPDATE_MAX]
        for start in range(0, len(written), HUBSPOT_BATCH_UPDATE_MAX):
            writer.update_companies(
                [
                    (cid, {PROP_SCORE: "1", PROP_RANK: "1 out of 1", PROP_TIER: "Top 30%"})
                    for cid in written[start : start + HUBSPOT_BATCH_UPDATE_MAX]
                ]
            )
        warnings += writer.warnings

    assert [c["contact_id"] for c in contacts] == expected
    assert all(
        companies[c] == sorted(dataset.contact_companies.get(c, []), key=int) for c in expected
    )
    assert list(universe.companies) == company_ids and universe.missing == []
    assert all(d is not None for d in definitions)
    assert len(sandbox.control.writes()) == len(written)

    log = sandbox.control.requests()
    total = sum(log["counts"].values())
    assert total > 2 * HUBSPOT_TIER_LIMITS["free"], "the run never needed the limiter"
    assert log["statuses"]["429"] == 0
    assert set(log["statuses"]) <= {"200", "207", "429"}
    assert warnings == []
    assert log["counts"] == {
        SEARCH: math.ceil(len(expected) / HUBSPOT_SEARCH_PAGE_MAX),
        ASSOCIATIONS: math.ceil(len(expected) / HUBSPOT_ASSOCIATIONS_BATCH_MAX),
        READ: math.ceil(len(company_ids) / HUBSPOT_BATCH_READ_MAX),
        PROPERTY: len(ENGAGEMENT_PROPERTIES),
        UPDATE: WRITE_BATCHES,
    }
