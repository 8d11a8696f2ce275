"""HubSpot's owners API in both path families: every page, e-mails as HubSpot holds them (an
owner without one stays without), archived owners left out, malformed answers refused."""

from __future__ import annotations

import pytest

from engagement_ranker.clients.errors import MalformedResponse
from engagement_ranker.constants import HUBSPOT_ROUTES, HubSpotApiVersion, HubSpotOperation
from engagement_ranker.sandbox import Sandbox
from engagement_ranker_tests.clients.conftest import hubspot_client


@pytest.mark.parametrize("family", list(HubSpotApiVersion), ids=str)
def test_owners_are_read_whole_on_either_path_family(sandbox: Sandbox, family) -> None:
    with hubspot_client(sandbox, api_version=family.value) as client:
        owners = client.owners()

    seeded = sandbox.control.owners()
    active = [o for o in seeded if not o["archived"]]
    assert list(owners) == sorted((o["id"] for o in active), key=int)
    for owner in active:
        assert owners[owner["id"]].email == owner.get("email")
        assert owners[owner["id"]].name == f"{owner['firstName']} {owner['lastName']}"
    assert sum(o.email is None for o in owners.values()) == 1  # never guessed
    counts = sandbox.control.requests()["by_service"]["hubspot"]["counts"]
    assert counts == {HUBSPOT_ROUTES[family][HubSpotOperation.OWNERS]: 1}


def test_owners_page_until_hubspot_says_there_are_no_more(sandbox, monkeypatch) -> None:
    monkeypatch.setattr("engagement_ranker.clients.hubspot.HUBSPOT_OWNERS_PAGE_MAX", 2)
    with hubspot_client(sandbox) as client:
        owners = client.owners()

    active = [o["id"] for o in sandbox.control.owners() if not o["archived"]]
    assert list(owners) == sorted(active, key=int) and len(active) > 2
    [(route, calls)] = sandbox.control.requests()["by_service"]["hubspot"]["counts"].items()
    assert route == HUBSPOT_ROUTES[HubSpotApiVersion.V2026_09][HubSpotOperation.OWNERS]
    assert calls == -(-len(active) // 2)


def test_an_owner_without_a_usable_id_is_refused(sandbox) -> None:
    route = HUBSPOT_ROUTES[HubSpotApiVersion.V2026_09][HubSpotOperation.OWNERS]
    sandbox.control.set_faults({"corrupt": [{"route": route, "path": "results.0.id", "value": 7}]})
    with hubspot_client(sandbox) as client, pytest.raises(MalformedResponse, match="an owner has"):
        client.owners()
