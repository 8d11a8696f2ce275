"""HubSpot's official Python client, unchanged, against the sandbox: every call the product makes
deserializes into the client's own models (which validate required fields), so the sandbox's
responses have the shape real HubSpot's have.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.companies.exceptions import ApiException as CompaniesApiException
from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from engagement_ranker.constants import (
    CONTACT_PROPERTIES,
    CUSTOMER_LIFECYCLE_STAGE,
    ENGAGEMENT_PROPERTIES,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
    TIER_LABELS,
    TIER_MIDDLE,
)
from engagement_ranker_tests.sandbox.test_hubspot_server import (
    HubSpotWorld,
    customer_ids,
    running_world,
)


@pytest.fixture(scope="module")
def world() -> Iterator[HubSpotWorld]:
    with running_world() as running:
        yield running


@pytest.fixture
def client(world: HubSpotWorld) -> Iterator[HubSpot]:
    world.state.reset()
    yield HubSpot(access_token=world.token, host=world.server.url)


def test_contacts_search_deserializes_with_paging(world: HubSpotWorld, client: HubSpot) -> None:
    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(
                filters=[
                    Filter(
                        property_name="lifecyclestage",
                        operator="EQ",
                        value=CUSTOMER_LIFECYCLE_STAGE,
                    )
                ]
            )
        ],
        properties=list(CONTACT_PROPERTIES),
        sorts=["hs_object_id"],
        limit=100,
    )
    page = client.crm.contacts.search_api.do_search(public_object_search_request=request)
    expected = customer_ids(world.state)
    assert page.total == len(expected)
    assert [r.id for r in page.results] == expected[:100]
    assert page.paging.next.after == "100"
    first = page.results[0]
    assert first.properties["lifecyclestage"] == CUSTOMER_LIFECYCLE_STAGE
    assert first.created_at.tzinfo is not None


def test_associations_v4_batch_read_deserializes_with_and_without_errors(
    world: HubSpotWorld, client: HubSpot
) -> None:
    links = world.state.dataset.contact_companies
    linked = sorted(links, key=int)[:2]
    orphan = next(cid for cid in sorted(world.state.contacts, key=int) if cid not in links)
    api = client.crm.associations.v4.batch_api

    def read(ids: list[str]):
        inputs = [PublicFetchAssociationsBatchRequest(id=cid) for cid in ids]
        return api.get_page(
            from_object_type="contacts",
            to_object_type="companies",
            batch_input_public_fetch_associations_batch_request=(
                BatchInputPublicFetchAssociationsBatchRequest(inputs=inputs)
            ),
        )

    complete = read(linked)
    assert {r._from.id: [t.to_object_id for t in r.to] for r in complete.results} == {
        cid: links[cid] for cid in linked
    }
    partial = read([*linked, orphan])
    assert partial.num_errors == 1
    assert partial.errors[0].context["fromObjectId"] == [orphan]
    assert partial.results[0].to[0].association_types[0].label == "Primary"


def test_companies_batch_read_and_update_deserialize_and_write(
    world: HubSpotWorld, client: HubSpot
) -> None:
    batch = client.crm.companies.batch_api
    company_id = next(iter(world.state.companies))
    read = batch.read(
        batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=company_id), SimplePublicObjectId(id="1")],
            properties=["name", *ENGAGEMENT_PROPERTIES],
            properties_with_history=[],
        )
    )
    assert [r.id for r in read.results] == [company_id]
    assert read.errors[0].context == {"ids": ["1"]}

    values = {PROP_SCORE: "12", PROP_RANK: "40 out of 60", PROP_TIER: TIER_MIDDLE}
    updated = batch.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=company_id, properties=values)]
        )
    )
    assert updated.status == "COMPLETE"
    assert {k: updated.results[0].properties[k] for k in values} == values
    assert [w["after"] for w in world.state.writes] == [values]


def test_an_invalid_update_raises_the_clients_exception_with_hubspots_body(
    world: HubSpotWorld, client: HubSpot
) -> None:
    company_id = next(iter(world.state.companies))
    with pytest.raises(CompaniesApiException) as raised:
        client.crm.companies.batch_api.update(
            batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
                inputs=[SimplePublicObjectBatchInput(id=company_id, properties={PROP_TIER: "A"})]
            )
        )
    assert raised.value.status == 400
    assert "INVALID_OPTION" in raised.value.body
    assert world.state.writes == []


def test_property_definitions_deserialize_and_404_raises(client: HubSpot) -> None:
    core = client.crm.properties.core_api
    tier = core.get_by_name(object_type="companies", property_name=PROP_TIER)
    assert (tier.type, tier.field_type) == ("enumeration", "select")
    assert [o.value for o in tier.options] == list(TIER_LABELS)
    assert tier.modification_metadata.read_only_value is False
    everything = core.get_all(object_type="companies")
    assert {PROP_SCORE, PROP_RANK, PROP_TIER} <= {p.name for p in everything.results}
    with pytest.raises(PropertiesApiException) as raised:
        core.get_by_name(object_type="companies", property_name="no_such_property")
    assert raised.value.status == 404


def test_company_by_id_deserializes(world: HubSpotWorld, client: HubSpot) -> None:
    company_id = next(iter(world.state.companies))
    company = client.crm.companies.basic_api.get_by_id(company_id=company_id, properties=["name"])
    assert company.properties["name"] == world.state.companies[company_id]["name"]
    assert company.updated_at >= company.created_at
