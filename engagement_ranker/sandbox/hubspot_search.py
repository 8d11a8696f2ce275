"""HubSpot CRM search semantics over string-valued records, fast enough for 50,000 contacts.

The rules clients trip over live here, apart from HTTP: the operators (numeric comparison when
both sides are numbers, as HubSpot does for `hs_object_id`; epoch milliseconds against
datetimes), groups ORed and filters ANDed within the 5/6/18 caps, one sort, `limit` 1..200,
`after` as a string offset, the 10,000-result window, the 3,000-character body and index lag
(a record written less than `lag` seconds ago is still found, and returned, as it was before).
A rejected request raises `SearchRequestError`; the server answers it with a 400.

Each distinct query shape (filters, sort, text query) caches its sorted id list until the next
write, so paging is a slice. The index is not locked by itself: the server calls it under the
sandbox state's lock, which also guards the records it reads.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from engagement_ranker.constants import (
    HUBSPOT_SEARCH_BODY_MAX_CHARS,
    HUBSPOT_SEARCH_PAGE_MAX,
    HUBSPOT_SEARCH_RESULT_CAP,
)

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS_TOTAL = 18
MAX_SORTS = 1
DEFAULT_PAGE_SIZE = 10
CACHED_QUERIES = 32
ID_PROPERTY = "hs_object_id"

Record = Mapping[str, str | None]
Predicate = Callable[[Record], bool]

_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TOKEN_SPLIT = re.compile(r"[^0-9a-z]+")


class SearchRequestError(ValueError):
    """A search body HubSpot would reject with 400 VALIDATION_ERROR."""


class Operator(StrEnum):
    """HubSpot's search filter operators."""

    EQ = "EQ"
    NEQ = "NEQ"
    LT = "LT"
    LTE = "LTE"
    GT = "GT"
    GTE = "GTE"
    BETWEEN = "BETWEEN"
    IN = "IN"
    NOT_IN = "NOT_IN"
    HAS_PROPERTY = "HAS_PROPERTY"
    NOT_HAS_PROPERTY = "NOT_HAS_PROPERTY"
    CONTAINS_TOKEN = "CONTAINS_TOKEN"
    NOT_CONTAINS_TOKEN = "NOT_CONTAINS_TOKEN"


_ORDERINGS: dict[Operator, Callable[[float, float], bool] | Callable[[str, str], bool]] = {
    Operator.LT: lambda a, b: a < b,
    Operator.LTE: lambda a, b: a <= b,
    Operator.GT: lambda a, b: a > b,
    Operator.GTE: lambda a, b: a >= b,
}
_NEGATIONS: dict[Operator, Operator] = {
    Operator.NEQ: Operator.EQ,
    Operator.NOT_IN: Operator.IN,
    Operator.NOT_CONTAINS_TOKEN: Operator.CONTAINS_TOKEN,
    Operator.NOT_HAS_PROPERTY: Operator.HAS_PROPERTY,
}


@dataclass(frozen=True)
class Filter:
    """One filter as sent; values already turned into HubSpot's string form."""

    property_name: str
    operator: Operator
    value: str | None = None
    high_value: str | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sort:
    """The single sort rule HubSpot allows."""

    property_name: str
    descending: bool = False


@dataclass(frozen=True)
class SearchRequest:
    """A validated search body; `properties` None means the object's default properties."""

    filter_groups: tuple[tuple[Filter, ...], ...] = ()
    sort: Sort | None = None
    query: str | None = None
    properties: tuple[str, ...] | None = None
    limit: int = DEFAULT_PAGE_SIZE
    after: int = 0

    @property
    def shape(self) -> tuple[object, ...]:
        """What decides the ordered id list (paging and properties do not)."""
        return (self.filter_groups, self.sort, self.query)


@dataclass(frozen=True)
class SearchPage:
    """One page: the full match count, the page's records as indexed, the next offset."""

    total: int
    results: tuple[tuple[str, Record], ...]
    next_after: str | None


def _scalar(text: str) -> float | None:
    """A number, or a date/datetime as epoch milliseconds (HubSpot compares those to numbers)."""
    if _NUMBER.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else None
    if _ISO_DATE.match(text):
        try:
            instant = datetime.fromisoformat(text)
        except ValueError:
            return None
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        return instant.timestamp() * 1000
    return None


def _sort_key(text: str) -> tuple[int, float, str]:
    """Numbers (and instants) before text, each in natural order."""
    number = _scalar(text)
    return (0, number, "") if number is not None else (1, 0.0, text.casefold())


def _id_order(record_id: str) -> tuple[int, str]:
    """Numeric order for digit-string ids without parsing them."""
    return (len(record_id), record_id)


def as_text(value: object) -> str | None:
    """A JSON value as HubSpot stores it: strings as-is, numbers and booleans as text, else None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _text(value: object, where: str) -> str:
    """A filter value as text, or the 400 naming the field."""
    text = as_text(value)
    if text is None:
        raise SearchRequestError(f"{where} must be a string, number or boolean, got {value!r}.")
    return text


def _equal_to(expected: str) -> Callable[[str], bool]:
    """HubSpot equality: numeric when both sides are numbers, otherwise case-insensitive."""
    number = _scalar(expected)
    folded = expected.casefold()
    if number is None:
        return lambda actual: actual.casefold() == folded
    return lambda actual: _scalar(actual) == number or actual.casefold() == folded


def _ordered(operator: Operator, bound: str) -> Callable[[str], bool]:
    """LT/LTE/GT/GTE against one bound: numeric when both sides are, else by folded text."""
    compare = _ORDERINGS[operator]
    number = _scalar(bound)
    folded = bound.casefold()

    def check(actual: str) -> bool:
        if number is not None:
            actual_number = _scalar(actual)
            if actual_number is not None:
                return compare(actual_number, number)  # type: ignore[arg-type]
        return compare(actual.casefold(), folded)  # type: ignore[arg-type]

    return check


def _contains_token(pattern: str) -> Callable[[str], bool]:
    """Token match on words of the value; `*` is a wildcard ("*@example.com")."""
    folded = pattern.casefold()
    if "*" in folded:
        wildcard = re.compile(".*".join(re.escape(part) for part in folded.split("*")))
        return lambda actual: (
            bool(wildcard.fullmatch(actual.casefold()))
            or any(
                wildcard.fullmatch(token)
                for token in _TOKEN_SPLIT.split(actual.casefold())
                if token
            )
        )
    return lambda actual: (
        actual.casefold() == folded or folded in _TOKEN_SPLIT.split(actual.casefold())
    )


def _value_test(spec: Filter) -> Callable[[str], bool]:
    """The test a present, non-empty value must pass for a positive operator."""
    operator = spec.operator
    if operator is Operator.EQ:
        return _equal_to(spec.value or "")
    if operator in _ORDERINGS:
        return _ordered(operator, spec.value or "")
    if operator is Operator.BETWEEN:
        low = _ordered(Operator.GTE, spec.value or "")
        high = _ordered(Operator.LTE, spec.high_value or "")
        return lambda actual: low(actual) and high(actual)
    if operator is Operator.IN:
        tests = [_equal_to(value) for value in spec.values]
        return lambda actual: any(test(actual) for test in tests)
    if operator is Operator.CONTAINS_TOKEN:
        return _contains_token(spec.value or "")
    return lambda actual: True  # HAS_PROPERTY: presence is the whole test


def compile_filter(spec: Filter) -> Predicate:
    """A predicate over a record; negated operators also match records without the property."""
    positive = _NEGATIONS.get(spec.operator, spec.operator)
    test = _value_test(dataclasses.replace(spec, operator=positive))
    name = spec.property_name

    def matches(record: Record) -> bool:
        actual = record.get(name)
        return actual is not None and actual != "" and test(actual)

    if positive is spec.operator:
        return matches
    return lambda record: not matches(record)


def _parse_filter(raw: object, where: str) -> Filter:
    """One filter object, checked for the fields its operator needs."""
    if not isinstance(raw, dict):
        raise SearchRequestError(f"{where} must be an object, got {raw!r}.")
    name = raw.get("propertyName")
    if not isinstance(name, str) or not name:
        raise SearchRequestError(f"{where}.propertyName is required and must be a string.")
    try:
        operator = Operator(raw.get("operator"))
    except ValueError:
        allowed = ", ".join(Operator)
        raise SearchRequestError(
            f"{where}.operator {raw.get('operator')!r} is not one of: {allowed}."
        ) from None
    value = high_value = None
    values: tuple[str, ...] = ()
    if operator in (Operator.IN, Operator.NOT_IN):
        listed = raw.get("values")
        if not isinstance(listed, list) or not listed:
            raise SearchRequestError(f"{where}: {operator} needs a non-empty `values` list.")
        values = tuple(_text(item, f"{where}.values[]") for item in listed)
    elif operator not in (Operator.HAS_PROPERTY, Operator.NOT_HAS_PROPERTY):
        if raw.get("value") is None:
            raise SearchRequestError(f"{where}: {operator} needs a `value`.")
        value = _text(raw["value"], f"{where}.value")
        if operator is Operator.BETWEEN:
            if raw.get("highValue") is None:
                raise SearchRequestError(f"{where}: BETWEEN needs a `highValue`.")
            high_value = _text(raw["highValue"], f"{where}.highValue")
    return Filter(name, operator, value, high_value, values)


def _parse_groups(raw: object) -> tuple[tuple[Filter, ...], ...]:
    """filterGroups within HubSpot's caps: 5 groups, 6 filters a group, 18 filters in all."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SearchRequestError(f"filterGroups must be a list, got {raw!r}.")
    if len(raw) > MAX_FILTER_GROUPS:
        raise SearchRequestError(
            f"Too many filterGroups: {len(raw)}; at most {MAX_FILTER_GROUPS} are allowed."
        )
    groups: list[tuple[Filter, ...]] = []
    for g, group in enumerate(raw):
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise SearchRequestError(f"filterGroups[{g}] must be an object with a `filters` list.")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise SearchRequestError(
                f"Too many filters in filterGroups[{g}]: {len(filters)}; "
                f"at most {MAX_FILTERS_PER_GROUP} are allowed in a group."
            )
        where = f"filterGroups[{g}].filters"
        groups.append(tuple(_parse_filter(f, f"{where}[{i}]") for i, f in enumerate(filters)))
    total = sum(len(group) for group in groups)
    if total > MAX_FILTERS_TOTAL:
        raise SearchRequestError(
            f"Too many filters: {total} across all filterGroups; at most {MAX_FILTERS_TOTAL}."
        )
    return tuple(groups)


def _parse_sort(raw: object) -> Sort | None:
    """One sort rule, as {"propertyName", "direction"} or the string form ("-name" descending)."""
    if raw is None or raw == []:
        return None
    if not isinstance(raw, list):
        raise SearchRequestError(f"sorts must be a list, got {raw!r}.")
    if len(raw) > MAX_SORTS:
        raise SearchRequestError(f"Too many sorts: {len(raw)}; at most {MAX_SORTS} is allowed.")
    rule = raw[0]
    if isinstance(rule, str) and rule.lstrip("-"):
        return Sort(rule.lstrip("-"), rule.startswith("-"))
    if isinstance(rule, dict) and isinstance(rule.get("propertyName"), str):
        direction = rule.get("direction", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise SearchRequestError(
                f"sorts[0].direction {direction!r} must be ASCENDING or DESCENDING."
            )
        return Sort(rule["propertyName"], direction == "DESCENDING")
    raise SearchRequestError(f"sorts[0] must name a property, got {rule!r}.")


def _parse_paging(body: Mapping[str, object]) -> tuple[int, int]:
    """(limit, after) within the page maximum and the 10,000-result window."""
    limit = body.get("limit", DEFAULT_PAGE_SIZE)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise SearchRequestError(f"limit must be a positive integer, got {limit!r}.")
    if limit > HUBSPOT_SEARCH_PAGE_MAX:
        raise SearchRequestError(
            f"limit {limit} is too large: at most {HUBSPOT_SEARCH_PAGE_MAX} results a page."
        )
    raw_after = body.get("after")
    after_text = "0" if raw_after in (None, "") else str(raw_after)
    if isinstance(raw_after, bool) or not after_text.isdigit():
        raise SearchRequestError(f"after must be a numeric offset string, got {raw_after!r}.")
    after = int(after_text)
    if after + limit > HUBSPOT_SEARCH_RESULT_CAP:
        raise SearchRequestError(
            f"after={after} with limit={limit} pages past the {HUBSPOT_SEARCH_RESULT_CAP} "
            "results a search can return. Sort by hs_object_id ASCENDING and start a new "
            "search filtered on hs_object_id GT the last id seen."
        )
    return limit, after


def parse_search_request(raw: str) -> SearchRequest:
    """The request body as HubSpot validates it, or `SearchRequestError` saying what to fix."""
    if len(raw) > HUBSPOT_SEARCH_BODY_MAX_CHARS:
        raise SearchRequestError(
            f"The search request body is {len(raw)} characters; HubSpot accepts at most "
            f"{HUBSPOT_SEARCH_BODY_MAX_CHARS}. Use fewer filters or shorter IN lists."
        )
    try:
        body = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as error:
        raise SearchRequestError(f"Invalid input JSON: {error.msg} at {error.pos}.") from None
    if not isinstance(body, dict):
        raise SearchRequestError("The search request body must be a JSON object.")
    properties = body.get("properties")
    if properties is not None and not (
        isinstance(properties, list) and all(isinstance(name, str) for name in properties)
    ):
        raise SearchRequestError(f"properties must be a list of names, got {properties!r}.")
    query = body.get("query")
    if query is not None and not isinstance(query, str):
        raise SearchRequestError(f"query must be a string, got {query!r}.")
    limit, after = _parse_paging(body)
    return SearchRequest(
        filter_groups=_parse_groups(body.get("filterGroups")),
        sort=_parse_sort(body.get("sorts")),
        query=query or None,
        properties=tuple(properties) if properties is not None else None,
        limit=limit,
        after=after,
    )


@dataclass
class _Pending:
    """A write the index has not caught up with: the record as indexed, until `visible_at`."""

    indexed: Record
    visible_at: float


@dataclass
class SearchIndex:
    """Search over one object type's records, as HubSpot's (lagging, cached) index sees them.

    `records` returns the live id -> properties mapping (read at search time, so a reset that
    replaces it is seen); `searchable` are the properties a text `query` looks in.
    """

    records: Callable[[], Mapping[str, Record]]
    searchable: Sequence[str]
    clock: Callable[[], float] = time.monotonic
    _pending: dict[str, _Pending] = field(default_factory=dict, init=False)
    _cache: OrderedDict[tuple[object, ...], list[str]] = field(
        default_factory=OrderedDict, init=False
    )

    def note_write(self, record_id: str, previous: Record, lag_seconds: float) -> None:
        """Call before applying a write: search keeps `previous` for `lag_seconds` more."""
        self._cache.clear()
        if lag_seconds <= 0:
            return
        now = self.clock()
        pending = self._pending.get(record_id)
        indexed = pending.indexed if pending else dict(previous)
        self._pending[record_id] = _Pending(indexed, now + lag_seconds)

    def reset(self) -> None:
        """Forget cached queries and pending writes (the records were restored)."""
        self._cache.clear()
        self._pending.clear()

    def _catch_up(self) -> None:
        """Index the writes whose lag has passed; their queries must be recomputed."""
        now = self.clock()
        caught_up = [rid for rid, pending in self._pending.items() if pending.visible_at <= now]
        for record_id in caught_up:
            del self._pending[record_id]
        if caught_up:
            self._cache.clear()

    def _indexed(self, record_id: str, record: Record) -> Record:
        pending = self._pending.get(record_id)
        return pending.indexed if pending else record

    def _matching_ids(self, request: SearchRequest) -> list[str]:
        """Every matching id in result order: filters, text query, then the sort rule."""
        groups = [[compile_filter(spec) for spec in group] for group in request.filter_groups]
        terms = request.query.casefold().split() if request.query else []
        matched: list[tuple[str, Record]] = []
        for record_id, live in self.records().items():
            record = self._indexed(record_id, live)
            if groups and not any(all(test(record) for test in group) for group in groups):
                continue
            if terms and not self._has_terms(record, terms):
                continue
            matched.append((record_id, record))
        sort = request.sort
        if sort is None:
            return sorted((rid for rid, _ in matched), key=_id_order)
        name = sort.property_name
        in_id_order = sorted(matched, key=lambda item: _id_order(item[0]))
        with_value = [(rid, rec[name]) for rid, rec in in_id_order if rec.get(name)]
        # A stable sort, even reversed, keeps ties in id order.
        with_value.sort(key=lambda item: _sort_key(item[1] or ""), reverse=sort.descending)
        without = [rid for rid, rec in in_id_order if not rec.get(name)]
        return [rid for rid, _ in with_value] + without

    def _has_terms(self, record: Record, terms: list[str]) -> bool:
        """Text query: every term appears in one of the searchable properties."""
        text = " ".join((record.get(name) or "") for name in self.searchable).casefold()
        return all(term in text for term in terms)

    def search(self, request: SearchRequest) -> SearchPage:
        """One page of results; the id list is cached per query shape until the next write."""
        self._catch_up()
        ids = self._cache.get(request.shape)
        if ids is None:
            ids = self._matching_ids(request)
            self._cache[request.shape] = ids
            if len(self._cache) > CACHED_QUERIES:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(request.shape)
        end = request.after + request.limit
        live = self.records()
        page = tuple((rid, self._indexed(rid, live[rid])) for rid in ids[request.after : end])
        return SearchPage(
            total=len(ids), results=page, next_after=str(end) if end < len(ids) else None
        )
