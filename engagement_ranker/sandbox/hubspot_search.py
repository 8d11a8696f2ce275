"""HubSpot CRM search semantics over string-valued records, fast enough for 50,000 contacts.

The rules clients trip over live here, apart from HTTP: the operators (numeric comparison when
both sides are numbers, as HubSpot does for `hs_object_id`; epoch milliseconds against
datetimes), groups ORed and filters ANDed within the 5/6/18 caps, one sort, `limit` 1..200,
`after` as a string offset, the 10,000-result window, the 3,000-character body and index lag
(a record written less than `lag` seconds ago is still found, and returned, as it was before).
A rejected request raises `SearchRequestError`; the server answers it with a 400.

The index keeps each property as a column (numpy arrays of folded text and parsed numbers), so a
query is a few vectorised masks; each query shape (filters, sort, text query) caches its ordered
rows until the next write, so paging is a slice. The index is not locked by itself: the server
calls it under the sandbox state's lock, which also guards the records it reads.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np

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

Record = Mapping[str, str | None]

_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMERIC_STARTS = frozenset("-.0123456789")
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


# Applied to whole numpy columns at once: elementwise comparisons.
_ORDERINGS: dict[Operator, Callable[[np.ndarray, object], np.ndarray]] = {
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
    if text.isascii() and text.isdigit():  # ids and counts: the hot path, no regex
        return float(text)
    if text[:1] not in _NUMERIC_STARTS:  # plain text: no regex either
        return None
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


class _Column:
    """One property across every row (record) as the index holds it.

    Presence is built at once; folded text and parsed numbers only when a query needs them.
    """

    def __init__(self, values: list[str | None]) -> None:
        self.values = values
        self.present = np.fromiter((bool(v) for v in values), dtype=bool, count=len(values))
        self._folded: np.ndarray | None = None
        self._numbers: np.ndarray | None = None

    @property
    def folded(self) -> np.ndarray:
        """Case-folded text ("" where unset), as HubSpot's index compares text."""
        if self._folded is None:
            self._folded = np.array([_fold(v) for v in self.values], dtype=object)
        return self._folded

    @property
    def numbers(self) -> np.ndarray:
        """Numbers and instants (epoch ms); NaN where the value is neither."""
        if self._numbers is None:
            self._numbers = np.fromiter(
                (_number(v) for v in self.values), dtype=float, count=len(self.values)
            )
        return self._numbers

    def build(self) -> None:
        """Compute the lazy arrays now rather than on first use."""
        self._folded = self.folded
        self._numbers = self.numbers

    def update(self, row: int, value: str | None) -> None:
        """Re-index one row after a write became visible."""
        self.values[row] = value
        self.present[row] = bool(value)
        if self._folded is not None:
            self._folded[row] = _fold(value)
        if self._numbers is not None:
            self._numbers[row] = _number(value)


def _fold(value: str | None) -> str:
    return value.casefold() if value else ""


def _number(value: str | None) -> float:
    number = _scalar(value) if value else None
    return math.nan if number is None else number


def _equal_mask(column: _Column, expected: str) -> np.ndarray:
    """HubSpot equality: numeric when both sides are numbers, otherwise case-insensitive."""
    mask = column.folded == expected.casefold()
    number = _scalar(expected)
    if number is not None:
        mask |= column.numbers == number
    return mask & column.present


def _ordered_mask(column: _Column, operator: Operator, bound: str) -> np.ndarray:
    """LT/LTE/GT/GTE against one bound: numeric where both sides are, else by folded text."""
    compare = _ORDERINGS[operator]
    number = _scalar(bound)
    if number is None:
        return compare(column.folded, bound.casefold()) & column.present
    numbers = column.numbers
    with np.errstate(invalid="ignore"):
        mask = compare(numbers, number)
    textual = np.isnan(numbers) & column.present
    if textual.any():
        mask = np.where(textual, compare(column.folded, bound.casefold()), mask)
    return mask & column.present


def _token_test(pattern: str) -> Callable[[str], bool]:
    """Token match on words of a folded value; `*` is a wildcard ("*@example.com")."""
    folded = pattern.casefold()
    if "*" in folded:
        wildcard = re.compile(".*".join(re.escape(part) for part in folded.split("*")))
        return lambda actual: (
            bool(wildcard.fullmatch(actual))
            or any(wildcard.fullmatch(token) for token in _TOKEN_SPLIT.split(actual) if token)
        )
    return lambda actual: actual == folded or folded in _TOKEN_SPLIT.split(actual)


def _positive_mask(column: _Column, spec: Filter) -> np.ndarray:
    """Rows whose value is present and passes a positive (non-negated) operator."""
    operator = spec.operator
    if operator is Operator.EQ:
        return _equal_mask(column, spec.value or "")
    if operator in _ORDERINGS:
        return _ordered_mask(column, operator, spec.value or "")
    if operator is Operator.BETWEEN:
        low = _ordered_mask(column, Operator.GTE, spec.value or "")
        return low & _ordered_mask(column, Operator.LTE, spec.high_value or "")
    if operator is Operator.IN:
        return np.logical_or.reduce([_equal_mask(column, value) for value in spec.values])
    if operator is Operator.CONTAINS_TOKEN:
        test = _token_test(spec.value or "")
        folded = column.folded
        return np.fromiter((bool(v) and test(v) for v in folded), dtype=bool, count=len(folded))
    return column.present.copy()  # HAS_PROPERTY: presence is the whole test


def _parse_filter(raw: object, where: str) -> Filter:
    """One filter object, checked for the fields its operator needs."""
    if not isinstance(raw, dict):
        raise SearchRequestError(f"{where} must be an object, got {raw!r}.")
    name = raw.get("propertyName")
    if not isinstance(name, str) or not name:
        raise SearchRequestError(f"{where}.propertyName is required and must be a string.")
    try:
        operator = Operator(str(raw.get("operator")))
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

    `records` returns the live id -> properties mapping (a reset that replaces it is noticed);
    `searchable` are the properties a text `query` looks in. Rows are the records in id order;
    a query is numpy masks over per-property columns, so even a new query shape over 50,000
    contacts takes milliseconds, and its ordered row list is cached until the next write.
    """

    records: Callable[[], Mapping[str, Record]]
    searchable: Sequence[str]
    clock: Callable[[], float] = time.monotonic
    _source: Mapping[str, Record] | None = field(default=None, init=False)
    _ids: list[str] = field(default_factory=list, init=False)
    _rows: dict[str, int] = field(default_factory=dict, init=False)
    _columns: dict[str, _Column] = field(default_factory=dict, init=False)
    _pending: dict[str, _Pending] = field(default_factory=dict, init=False)
    _cache: OrderedDict[tuple[object, ...], np.ndarray] = field(
        default_factory=OrderedDict, init=False
    )

    def note_write(self, record_id: str, previous: Record, lag_seconds: float) -> None:
        """Call after applying a write: search keeps `previous` for `lag_seconds` more."""
        self._cache.clear()
        if lag_seconds <= 0:
            self._pending.pop(record_id, None)
            self._reindex(record_id)
            return
        pending = self._pending.get(record_id)
        indexed = pending.indexed if pending else dict(previous)
        self._pending[record_id] = _Pending(indexed, self.clock() + lag_seconds)

    def reset(self) -> None:
        """Forget everything indexed (the records were restored)."""
        self._source = None
        self._pending.clear()

    def warm(self, names: Iterable[str]) -> None:
        """Build the rows and these properties' columns now, so no query pays for them."""
        self._rebuild_if_replaced()
        for name in names:
            self._column(name).build()

    def _rebuild_if_replaced(self) -> None:
        live = self.records()
        if live is self._source and len(live) == len(self._ids):
            return
        self._source = live
        self._ids = sorted(live, key=_id_order)
        self._rows = {record_id: row for row, record_id in enumerate(self._ids)}
        self._columns.clear()
        self._cache.clear()

    def _reindex(self, record_id: str) -> None:
        """Bring one record's row up to its live values."""
        row = self._rows.get(record_id)
        if row is None or self._source is None:
            return
        record = self._source[record_id]
        for name, column in self._columns.items():
            column.update(row, record.get(name))

    def _catch_up(self) -> None:
        """Index the writes whose lag has passed; cached queries are recomputed."""
        now = self.clock()
        caught_up = [rid for rid, pending in self._pending.items() if pending.visible_at <= now]
        for record_id in caught_up:
            del self._pending[record_id]
            self._reindex(record_id)
        if caught_up:
            self._cache.clear()

    def _indexed(self, record_id: str) -> Record:
        pending = self._pending.get(record_id)
        return pending.indexed if pending else self.records()[record_id]

    def _column(self, name: str) -> _Column:
        column = self._columns.get(name)
        if column is None:
            live, pending = self.records(), self._pending
            column = _Column(
                [
                    (pending[rid].indexed if rid in pending else live[rid]).get(name)
                    for rid in self._ids
                ]
            )
            self._columns[name] = column
        return column

    def _mask(self, spec: Filter) -> np.ndarray:
        positive = _NEGATIONS.get(spec.operator, spec.operator)
        column = self._column(spec.property_name)
        mask = _positive_mask(column, dataclasses.replace(spec, operator=positive))
        return mask if positive is spec.operator else ~mask

    def _text_mask(self, query: str) -> np.ndarray:
        """Text query: every term appears in one of the searchable properties."""
        terms = query.casefold().split()
        columns = [self._column(name).folded for name in self.searchable]
        texts = (" ".join(parts) for parts in zip(*columns, strict=True))
        return np.fromiter(
            (all(term in text for term in terms) for text in texts),
            dtype=bool,
            count=len(self._ids),
        )

    def _matching_rows(self, request: SearchRequest) -> np.ndarray:
        """Every matching row in result order: filters, text query, then the sort rule."""
        mask = np.ones(len(self._ids), dtype=bool)
        if request.filter_groups:
            mask = np.logical_or.reduce(
                [
                    np.logical_and.reduce([self._mask(spec) for spec in group])
                    if group
                    else np.ones(len(self._ids), dtype=bool)
                    for group in request.filter_groups
                ]
            )
        if request.query:
            mask &= self._text_mask(request.query)
        rows = np.flatnonzero(mask)
        return rows if request.sort is None else self._sorted(rows, request.sort)

    def _sorted(self, rows: np.ndarray, sort: Sort) -> np.ndarray:
        """Numbers before text (reversed when descending), unset last; ties stay in id order."""
        column = self._column(sort.property_name)
        valued, unset = rows[column.present[rows]], rows[~column.present[rows]]
        is_number = ~np.isnan(column.numbers[valued])
        numbers, texts = valued[is_number], valued[~is_number]
        keys = column.numbers[numbers]
        numbers = numbers[np.argsort(-keys if sort.descending else keys, kind="stable")]
        if len(texts):
            folded = column.folded
            texts = np.array(
                sorted(texts.tolist(), key=folded.__getitem__, reverse=sort.descending),
                dtype=rows.dtype,
            )
        ordered = (texts, numbers) if sort.descending else (numbers, texts)
        return np.concatenate([*ordered, unset])

    def search(self, request: SearchRequest) -> SearchPage:
        """One page of results; the row list is cached per query shape until the next write."""
        self._rebuild_if_replaced()
        self._catch_up()
        rows = self._cache.get(request.shape)
        if rows is None:
            rows = self._matching_rows(request)
            self._cache[request.shape] = rows
            if len(self._cache) > CACHED_QUERIES:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(request.shape)
        end = request.after + request.limit
        page = tuple(
            (self._ids[row], self._indexed(self._ids[row])) for row in rows[request.after : end]
        )
        return SearchPage(
            total=len(rows), results=page, next_after=str(end) if end < len(rows) else None
        )
