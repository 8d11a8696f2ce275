"""The /_sandbox/ control API over a real socket, through the whole sandbox."""

from __future__ import annotations

import time

import httpx
import pytest

from engagement_ranker.constants import PROP_SCORE
from engagement_ranker.sandbox import Sandbox
from engagement_ranker.sandbox.control import ENDPOINTS, SandboxControlError

TIMEOUT = 5.0


def _hubspot(box: Sandbox) -> httpx.Client:
    return httpx.Client(
        base_url=box.env["HUBSPOT_BASE_URL"],
        headers={"Authorization": f"Bearer {box.env['HUBSPOT_ACCESS_TOKEN']}"},
        timeout=TIMEOUT,
    )


def _first_company(box: Sandbox) -> str:
    return min(box.control.truth(), key=int)


def test_writes_are_logged_and_reset_restores_the_seeded_world(sandbox: Sandbox) -> None:
    company_id = _first_company(sandbox)
    seeded = sandbox.control.company(company_id)
    with _hubspot(sandbox) as hubspot:
        response = hubspot.post(
            "/crm/v3/objects/companies/batch/update",
            json={"inputs": [{"id": company_id, "properties": {PROP_SCORE: "37"}}]},
        )
    assert response.status_code == 200, response.text
    (write,) = sandbox.control.writes()
    assert write["company_id"] == company_id
    assert write["before"] == {PROP_SCORE: seeded[PROP_SCORE]}
    assert write["after"] == {PROP_SCORE: "37"}
    assert write["at"].endswith("Z")
    assert sandbox.control.company(company_id)[PROP_SCORE] == "37"
    sandbox.control.reset()
    assert sandbox.control.writes() == []
    assert sandbox.control.company(company_id) == seeded


def test_requests_count_both_apis_by_route_and_status(sandbox: Sandbox) -> None:
    with _hubspot(sandbox) as hubspot:
        hubspot.get("/crm/v3/properties/companies/customer_engagement_score")
        hubspot.get("/crm/v3/properties/companies/not_a_property")
    httpx.get(f"{sandbox.env['YOBI_BASE_URL']}/admin/pms/locations", timeout=TIMEOUT)
    summary = sandbox.control.requests()
    route = "GET /crm/v3/properties/companies/{propertyName}"
    assert summary["counts"] == {route: 2, "GET /admin/pms/locations": 1}
    assert summary["statuses"] == {"200": 1, "401": 1, "404": 1, "429": 0}
    assert summary["by_service"]["yobi"]["statuses"] == {"200": 0, "401": 1, "429": 0}
    # Control calls themselves are never counted.
    assert sandbox.control.requests()["counts"] == summary["counts"]


def test_requests_tell_when_the_first_came_and_the_last_was_answered(sandbox: Sandbox) -> None:
    assert sandbox.control.requests()["first_request_at"] is None
    before = time.time()
    with _hubspot(sandbox) as hubspot:
        hubspot.get("/crm/v3/properties/companies/customer_engagement_score")
        hubspot.get("/crm/v3/properties/companies/customer_engagement_rank")
    after = time.time()
    summary = sandbox.control.requests()
    assert before <= summary["first_request_at"] <= summary["last_response_at"] <= after
    sandbox.control.reset()
    assert sandbox.control.requests()["last_response_at"] is None


def test_truth_lists_every_company_with_the_overrides(sandbox: Sandbox) -> None:
    truth = sandbox.control.truth()
    assert len(truth) == 150
    assert set(next(iter(truth.values()))) >= {
        "company_id",
        "name",
        "expected",
        "tenant_id",
        "method",
        "reason",
    }
    payload = httpx.get(f"{sandbox.control.url}/_sandbox/truth", timeout=TIMEOUT).json()
    assert payload["overrides_json"] == sandbox.env["TENANT_MAPPING_OVERRIDES_JSON"]


def test_unknown_company_and_endpoint_are_404s_that_say_what_exists(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxControlError, match="company '42' does not exist"):
        sandbox.control.company("42")
    response = httpx.get(f"{sandbox.control.url}/_sandbox/nothing", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json()["endpoints"] == list(ENDPOINTS)


def test_faults_are_set_read_back_cleared_and_validated(sandbox: Sandbox) -> None:
    document = {"yobi": {"non_admin": True}}
    sandbox.control.set_faults(document)
    url = f"{sandbox.control.url}/_sandbox/faults"
    assert httpx.get(url, timeout=TIMEOUT).json() == {"faults": document}
    with pytest.raises(SandboxControlError, match=r"unknown key\(s\) \['yobbi'\]"):
        sandbox.control.set_faults({"yobbi": {}})
    assert httpx.get(url, timeout=TIMEOUT).json() == {"faults": document}  # unchanged
    bad_json = httpx.post(url, content=b"{nope", timeout=TIMEOUT)
    assert bad_json.status_code == 400 and "Invalid JSON" in bad_json.json()["error"]
    sandbox.control.set_faults({})
    assert httpx.get(url, timeout=TIMEOUT).json() == {"faults": {}}


def test_reset_clears_messages_logs_and_faults(sandbox: Sandbox) -> None:
    httpx.post(sandbox.env["SLACK_WEBHOOK_URL"], json={"text": "hi"}, timeout=TIMEOUT)
    sandbox.control.set_faults({"smtp": {"down": True}})
    assert sandbox.control.slack() == [{"text": "hi"}]
    sandbox.control.reset()
    assert sandbox.control.slack() == [] and sandbox.control.emails() == []
    assert sandbox.control.requests()["counts"] == {}
    assert sandbox.state.faults.smtp.down is False


def test_companies_are_read_all_at_once_as_each_is_read_alone(sandbox: Sandbox) -> None:
    company_id = _first_company(sandbox)
    sandbox.control.edit_company(company_id, {PROP_SCORE: "12"})
    companies = sandbox.control.companies()
    assert sorted(companies, key=int) == sorted(sandbox.control.truth(), key=int)
    assert companies[company_id][PROP_SCORE] == "12"
    assert all(companies[c] == sandbox.control.company(c) for c in companies)
