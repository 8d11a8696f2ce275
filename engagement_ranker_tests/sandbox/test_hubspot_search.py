"""The search engine's HubSpot semantics: operators, caps, sorting, paging, caching, index lag."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_ranker.constants import (
    HUBSPOT_SEARCH_BODY_MAX_CHARS,
    HUBSPOT_SEARCH_PAGE_MAX,
    HUBSPOT_SEARCH_RESULT_CAP,
)
from engagement_ranker.sandbox.hubspot_search import (
    DEFAULT_PAGE_SIZE,
    MAX_FILTER_GROUPS,
    MAX_FILTERS_PER_GROUP,
    MAX_FILTERS_TOTAL,
    SearchIndex,
    SearchRequestError,
    parse_search_request,
)

RECORDS: dict[str, dict[str, str | None]] = {
    "9": {
        "hs_object_id": "9",
        "email": "ana@Gmail.com",
        "lifecyclestage": "customer",
        "createdate": "2024-01-17T19:55:04.281Z",
        "score": "37",
    },
    "10": {
        "hs_object_id": "10",
        "email": "bo@smile-dental.com",
        "lifecyclestage": "lead",
        "createdate": "2024-03-01T00:00:00.000Z",
        "score": "5",
    },
    "100": {
        "hs_object_id": "100",
        "email": None,
        "lifecyclestage": "Customer",
        "createdate": "2023-12-31T23:59:59.999Z",
        "score": "37.0",
    },
    "11": {
        "hs_object_id": "11",
        "email": "",
        "lifecyclestage": "other",
        "createdate": "2024-02-10T12:00:00.000Z",
        "score": None,
    },
}


class ManualClock:
    """A clock the test moves by hand, so lag is exact without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def index(records: dict[str, dict[str, str | None]] | None = None, clock=None) -> SearchIndex:
    data = RECORDS if records is None else records
    return SearchIndex(lambda: data, searchable=("email",), clock=clock or ManualClock())


def ids(body: dict, records=None) -> list[str]:
    page = index(records).search(parse_search_request(json.dumps({"limit": 200, **body})))
    return [rid for rid, _ in page.results]


def one(name: str, operator: str, **extra) -> dict:
    return {"filterGroups": [{"filters": [{"propertyName": name, "operator": operator, **extra}]}]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (one("lifecyclestage", "EQ", value="customer"), ["9", "100"]),
        (one("score", "EQ", value="37"), ["9", "100"]),
        (one("score", "EQ", value=37), ["9", "100"]),
        (one("lifecyclestage", "NEQ", value="customer"), ["10", "11"]),
        (one("hs_object_id", "GT", value="10"), ["11", "100"]),
        (one("hs_object_id", "LTE", value="10"), ["9", "10"]),
        (one("createdate", "LT", value="1704067200000"), ["100"]),
        (one("createdate", "GTE", value="2024-02-10T12:00:00Z"), ["10", "11"]),
        (one("score", "BETWEEN", value="5", highValue="36"), ["10"]),
        (one("hs_object_id", "IN", values=["100", "11", "12"]), ["11", "100"]),
        (one("lifecyclestage", "NOT_IN", values=["customer", "lead"]), ["11"]),
        (one("email", "HAS_PROPERTY"), ["9", "10"]),
        (one("email", "NOT_HAS_PROPERTY"), ["11", "100"]),
        (one("email", "CONTAINS_TOKEN", value="*@gmail.com"), ["9"]),
        (one("email", "CONTAINS_TOKEN", value="smile"), ["10"]),
        (one("email", "NOT_CONTAINS_TOKEN", value="smile"), ["9", "11", "100"]),
        (one("email", "CONTAINS_TOKEN", value="smi"), []),
    ],
)
def test_each_operator_matches_as_hubspot_does(body: dict, expected: list[str]) -> None:
    assert ids(body) == expected


def test_filters_within_a_group_are_anded_and_groups_ored() -> None:
    customer = {"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"}
    has_email = {"propertyName": "email", "operator": "HAS_PROPERTY"}
    is_eleven = {"propertyName": "hs_object_id", "operator": "EQ", "value": "11"}
    body = {"filterGroups": [{"filters": [customer, has_email]}, {"filters": [is_eleven]}]}
    assert ids(body) == ["9", "11"]


def test_text_query_looks_in_the_searchable_properties() -> None:
    assert ids({"query": "SMILE-dental"}) == ["10"]


def _filters(count: int) -> list[dict]:
    return [{"propertyName": "hs_object_id", "operator": "HAS_PROPERTY"}] * count


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"filterGroups": [{"filters": _filters(1)}] * (MAX_FILTER_GROUPS + 1)}, "filterGroups"),
        ({"filterGroups": [{"filters": _filters(MAX_FILTERS_PER_GROUP + 1)}]}, "in a group"),
        (
            {"filterGroups": [{"filters": _filters(4)}] * MAX_FILTER_GROUPS},
            f"at most {MAX_FILTERS_TOTAL}",
        ),
        ({"sorts": ["name", "email"]}, "sorts"),
        ({"sorts": [{"propertyName": "name", "direction": "UP"}]}, "ASCENDING"),
        ({"limit": HUBSPOT_SEARCH_PAGE_MAX + 1}, f"at most {HUBSPOT_SEARCH_PAGE_MAX}"),
        ({"limit": 0}, "positive"),
        ({"limit": "200"}, "positive"),
        ({"after": "ten"}, "numeric offset"),
        ({"after": str(HUBSPOT_SEARCH_RESULT_CAP - 100), "limit": 200}, "hs_object_id GT"),
        (one("email", "EQ"), "needs a `value`"),
        (one("email", "IN", values=[]), "non-empty `values`"),
        (one("score", "BETWEEN", value="1"), "highValue"),
        (one("email", "LIKE", value="x"), "LIKE"),
        (one("email", "EQ", value={"x": 1}), "string, number or boolean"),
    ],
)
def test_invalid_requests_are_rejected_with_the_reason(body: dict, says: str) -> None:
    with pytest.raises(SearchRequestError) as error:
        parse_search_request(json.dumps(body))
    assert says in str(error.value)


def test_body_over_the_character_limit_is_rejected_and_at_the_limit_accepted() -> None:
    base = json.dumps({"query": ""})
    at_limit = json.dumps({"query": "x" * (HUBSPOT_SEARCH_BODY_MAX_CHARS - len(base))})
    assert len(at_limit) == HUBSPOT_SEARCH_BODY_MAX_CHARS
    parse_search_request(at_limit)
    with pytest.raises(SearchRequestError, match=str(HUBSPOT_SEARCH_BODY_MAX_CHARS + 1)):
        parse_search_request(at_limit[:-2] + 'x"}')


def test_last_page_inside_the_result_window_is_allowed() -> None:
    request = parse_search_request(
        json.dumps({"after": str(HUBSPOT_SEARCH_RESULT_CAP - 200), "limit": 200})
    )
    assert request.after + request.limit == HUBSPOT_SEARCH_RESULT_CAP


def test_sorting_is_numeric_for_numbers_nulls_last_and_ties_by_id() -> None:
    by_score = {"sorts": [{"propertyName": "score", "direction": "DESCENDING"}]}
    assert ids(by_score) == ["9", "100", "10", "11"]
    assert ids({"sorts": ["score"]}) == ["10", "9", "100", "11"]
    assert ids({"sorts": ["-email"]}) == ["10", "9", "11", "100"]
    assert ids({}) == ["9", "10", "11", "100"]


def test_paging_defaults_to_ten_and_stops_on_the_last_page() -> None:
    many = {str(n): {"hs_object_id": str(n)} for n in range(1, 26)}
    search = index(many)
    first = search.search(parse_search_request("{}"))
    assert len(first.results) == DEFAULT_PAGE_SIZE
    assert (first.total, first.next_after) == (25, "10")
    last = search.search(parse_search_request(json.dumps({"after": "20"})))
    assert [rid for rid, _ in last.results] == [str(n) for n in range(21, 26)]
    assert last.next_after is None


def test_a_write_shows_in_search_only_after_the_index_lag() -> None:
    records = {rid: dict(props) for rid, props in RECORDS.items()}
    clock = ManualClock()
    search = index(records, clock)
    customers = parse_search_request(json.dumps(one("lifecyclestage", "EQ", value="customer")))
    assert [rid for rid, _ in search.search(customers).results] == ["9", "100"]

    previous = records["10"]
    records["10"] = {**previous, "lifecyclestage": "customer"}
    search.note_write("10", previous, lag_seconds=3)
    clock.now += 2.9
    stale = search.search(customers)
    assert [rid for rid, _ in stale.results] == ["9", "100"]
    clock.now += 0.2
    fresh = search.search(customers)
    assert [rid for rid, _ in fresh.results] == ["9", "10", "100"]
    assert dict(fresh.results)["10"]["lifecyclestage"] == "customer"


def test_a_lagging_record_is_returned_as_it_was_indexed() -> None:
    records = {rid: dict(props) for rid, props in RECORDS.items()}
    clock = ManualClock()
    search = index(records, clock)
    for score in ("1", "2"):
        previous = records["9"]
        records["9"] = {**previous, "score": score}
        search.note_write("9", previous, lag_seconds=5)
    page = search.search(parse_search_request(json.dumps(one("hs_object_id", "EQ", value="9"))))
    assert page.results[0][1]["score"] == "37"


def test_without_lag_a_write_invalidates_the_cached_query_at_once() -> None:
    records = {rid: dict(props) for rid, props in RECORDS.items()}
    search = index(records)
    leads = parse_search_request(json.dumps(one("lifecyclestage", "EQ", value="lead")))
    assert search.search(leads).total == 1
    previous = records["11"]
    records["11"] = {**previous, "lifecyclestage": "lead"}
    search.note_write("11", previous, lag_seconds=0)
    assert search.search(leads).total == 2


@settings(max_examples=60)
@given(
    stages=st.lists(st.sampled_from(["customer", "lead", None]), min_size=0, max_size=60),
    limit=st.integers(min_value=1, max_value=25),
    descending=st.booleans(),
)
def test_pages_concatenate_to_the_full_ordered_result(
    stages: list[str | None], limit: int, descending: bool
) -> None:
    records = {
        str(n + 1): {"hs_object_id": str(n + 1), "lifecyclestage": stage}
        for n, stage in enumerate(stages)
    }
    search = index(records)
    body: dict = {**one("lifecyclestage", "HAS_PROPERTY"), "limit": limit}
    body["sorts"] = [
        {"propertyName": "hs_object_id", "direction": "DESCENDING" if descending else "ASCENDING"}
    ]
    seen: list[str] = []
    after: str | None = "0"
    while after is not None:
        page = search.search(parse_search_request(json.dumps({**body, "after": after})))
        seen.extend(rid for rid, _ in page.results)
        after = page.next_after
    expected = sorted((rid for rid, p in records.items() if p["lifecyclestage"]), key=int)
    assert seen == (expected[::-1] if descending else expected)
    assert page.total == len(expected)
