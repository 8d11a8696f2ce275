"""HubSpot CRM client: complete paging, minimal batching, pacing under the limits, typed errors.

Everything above can assume every record was fetched, every write was sent as asked or
raised, and no rate limit was exceeded: a client-side limiter keeps under the app's 10-second
budget and, apart from it as HubSpot counts them, search's 5 per second. The limiters are
shared by every client of the same app in this process, and the 10-second one follows the
`X-HubSpot-RateLimit-Remaining` header, so calls made elsewhere (another run, another
process) slow this one down instead of drawing 429s. Retries (429, 5xx, timeouts, dropped
connections) are safe because every call here is idempotent: reads, searches, and batch
updates that set absolute values.

It speaks one of HubSpot's path families, chosen once (`api_version`, HUBSPOT_API_VERSION):
the date-versioned 2026-09 by default, or the legacy v3/v4 paths until they retire; the paths
of both are the one table `constants.HUBSPOT_ROUTES`. Every batch write input carries an
`objectWriteTraceId`, through which each error names its company.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx

from engagement_ranker.clients.errors import (
    ApiError,
    AuthError,
    MalformedResponse,
    NotFoundError,
    PropertyCode,
    RateLimitExhausted,
    ScopeError,
    UpstreamUnavailable,
    ValidationError,
    ValidationRuleRefusal,
    listed,
)
from engagement_ranker.clients.http import (
    DEFAULT_RETRY,
    ClosingClient,
    RetriesExhausted,
    RetryLog,
    RetryPolicy,
    SlidingWindowLimiter,
    check_base_url,
    make_timeout,
    redact,
    send_with_retries,
    tls,
)
from engagement_ranker.constants import (
    CONTACT_PROPERTIES,
    CUSTOMER_LIFECYCLE_STAGE,
    DEFAULT_HUBSPOT_API_VERSION,
    DEFAULT_HUBSPOT_BASE_URL,
    HTTP_TIMEOUT_SECONDS,
    HUBSPOT_ASSOCIATIONS_BATCH_MAX,
    HUBSPOT_BATCH_READ_MAX,
    HUBSPOT_BATCH_UPDATE_MAX,
    HUBSPOT_COMPANY_OBJECT_TYPE_ID,
    HUBSPOT_DEFINITION_CODES,
    HUBSPOT_ID_PROPERTY,
    HUBSPOT_OWNERS_PAGE_MAX,
    HUBSPOT_ROUTES,
    HUBSPOT_SEARCH_PAGE_MAX,
    HUBSPOT_SEARCH_PER_SECOND,
    HUBSPOT_SEARCH_RESULT_CAP,
    HUBSPOT_SEARCH_WINDOW_SECONDS,
    HUBSPOT_TIER_LIMITS,
    HUBSPOT_WINDOW_SECONDS,
    Env,
    HubSpotApiVersion,
    HubSpotOperation,
)
from engagement_ranker.core.identity import is_record_id
from engagement_ranker.core.owners import Owner

SERVICE = "HubSpot"
Op = HubSpotOperation

REMAINING_HEADER = "X-HubSpot-RateLimit-Remaining"
NO_ASSOCIATIONS = "crm.associations.NO_ASSOCIATIONS_FOUND"
OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
# A call counts from its answer, which the server saw earlier (on arrival); this margin only
# keeps a closed server window from meeting the next call exactly on its edge.
WINDOW_MARGIN_SECONDS = 0.01
# Enough parallel batch calls to hide latency; the limiter, not this, bounds the rate.
CONCURRENCY = 4

_PROPERTY_NAME = re.compile(r"[a-z0-9_]+")

FIX_AUTH = f"check {Env.HUBSPOT_ACCESS_TOKEN}: the private app token is missing, revoked or expired"
FIX_NOT_FOUND = f"check {Env.HUBSPOT_BASE_URL} points at the HubSpot API and the record exists"
FIX_UNAVAILABLE = (
    f"HubSpot is down or unreachable: check https://status.hubspot.com and "
    f"{Env.HUBSPOT_BASE_URL}, then rerun"
)
FIX_RATE = (
    "HubSpot kept rate-limiting: another app may share this account's limit; rerun later, "
    f"and set {Env.HUBSPOT_TIER} to the account's real tier"
)
FIX_VALIDATION = "correct the listed values to fit each property's definition (type, options)"
FIX_RULES_PAGE = "HubSpot Settings > Properties > {name} > Rules"
TRACE_PREFIX = "company-"
# The code of a finding HubSpot gave none: no ground to call it a rule's refusal.
NO_CODE = "?"
FIX_MALFORMED = "HubSpot answered outside its documented contract: rerun; if it persists, report it"

_limiters: dict[tuple[str, str, str], tuple[SlidingWindowLimiter, SlidingWindowLimiter]] = {}
_limiters_lock = threading.Lock()


def _account_limiters(
    base_url: str, access_token: str, tier: str
) -> tuple[SlidingWindowLimiter, SlidingWindowLimiter]:
    """The (10-second, search) limiters of one account, shared by its clients in this process."""
    key = (base_url, hashlib.sha256(access_token.encode()).hexdigest(), tier)
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = (
                SlidingWindowLimiter(
                    HUBSPOT_TIER_LIMITS[tier], HUBSPOT_WINDOW_SECONDS + WINDOW_MARGIN_SECONDS
                ),
                SlidingWindowLimiter(
                    HUBSPOT_SEARCH_PER_SECOND, HUBSPOT_SEARCH_WINDOW_SECONDS + WINDOW_MARGIN_SECONDS
                ),
            )
        return _limiters[key]


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _cursor(holder: object) -> str | None:
    """`paging.next.after` of a page or an association result, or None on the last page."""
    paging = holder.get("paging") if isinstance(holder, dict) else None
    following = paging.get("next") if isinstance(paging, dict) else None
    after = following.get("after") if isinstance(following, dict) else None
    return None if after is None else str(after)


def _dict(value: object) -> dict[str, Any]:
    """A JSON object (e.g. an error's `context`), or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


def _dicts(items: object) -> list[dict[str, Any]]:
    """The objects of a JSON list (e.g. a 207's `errors`), ignoring anything else."""
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _unique_ids(ids: Iterable[str], what: str) -> list[str]:
    """Validate HubSpot record ids (digit strings) and return them unique, in numeric order."""
    unique: set[str] = set()
    for record_id in ids:
        if not is_record_id(record_id):
            raise ValueError(
                f"{what} {record_id!r} is not a HubSpot record id: pass ids as digit strings"
            )
        unique.add(record_id)
    return sorted(unique, key=int)


def _numeric_key(item: tuple[str, Any]) -> int:
    return int(item[0])


@dataclass(frozen=True)
class CustomerUniverse:
    """What HubSpot holds about the customer universe, before any exclusion rule."""

    contacts: list[dict[str, Any]]  # contact_id and CONTACT_PROPERTIES, in numeric id order
    companies_of: dict[str, list[str]]  # contact id -> its company ids; [] for none
    companies: dict[str, dict[str, str | None]]  # company id -> the properties asked for
    missing: list[str]  # associated company ids HubSpot could not read (deleted or merged)


class _UniverseReads:
    """The association and company reads of `customer_universe`, on a pool beside the search.

    Work submitted from the pool's own threads (a company read found by an association read)
    is tracked in the same list, so `finish` waits for everything. A failed read stops the
    search at its next page and `finish` at once, whatever else is still in flight.
    """

    def __init__(self, client: HubSpotClient, names: Sequence[str]) -> None:
        self._client = client
        self._names = names
        self._pool = ThreadPoolExecutor(CONCURRENCY)
        self._lock = threading.Lock()
        self._futures: list[Future[None]] = []
        self._contacts: list[dict[str, str]] = []
        self._cursors: list[dict[str, str]] = []
        self._seen: set[str] = set()
        self._companies: list[str] = []
        self.companies_of: dict[str, set[str]] = {}
        self.found: dict[str, dict[str, str | None]] = {}
        self.missing: list[str] = []

    def add_contacts(self, contact_ids: Sequence[str]) -> None:
        """Queue contacts for association reads; send every full batch of 1,000 at once."""
        self._raise_failure()
        for contact_id in contact_ids:
            self.companies_of[contact_id] = set()
            self._contacts.append({"id": contact_id})
        while len(self._contacts) >= HUBSPOT_ASSOCIATIONS_BATCH_MAX:
            self._submit(self._associations, self._contacts[:HUBSPOT_ASSOCIATIONS_BATCH_MAX])
            del self._contacts[:HUBSPOT_ASSOCIATIONS_BATCH_MAX]

    def finish(self) -> None:
        """Send the partial batches, page on contacts with more companies, wait for all."""
        pending, self._contacts = self._contacts, []
        while pending:
            for chunk in _chunks(pending, HUBSPOT_ASSOCIATIONS_BATCH_MAX):
                self._submit(self._associations, chunk)
            self._wait()
            with self._lock:
                pending = sorted(self._cursors, key=lambda c: int(c["id"]))
                self._cursors = []
        with self._lock:
            remainder, self._companies = self._companies, []
        for chunk in _chunks(remainder, HUBSPOT_BATCH_READ_MAX):
            self._submit(self._read, chunk)
        self._wait()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, work: Callable[[Sequence[Any]], None], chunk: Sequence[Any]) -> None:
        self._raise_failure()
        with self._lock:
            self._futures.append(self._pool.submit(work, list(chunk)))

    def _raise_failure(self) -> None:
        """Raise the error of a read that failed, if any has."""
        with self._lock:
            futures = list(self._futures)
        for future in futures:
            error = future.exception() if future.done() and not future.cancelled() else None
            if error is not None:
                raise error

    def _wait(self) -> None:
        """Wait for every read, those submitted meanwhile included; raise at the first failure."""
        while True:
            self._raise_failure()
            with self._lock:
                pending = [future for future in self._futures if not future.done()]
            if not pending:
                return
            wait(pending, return_when=FIRST_EXCEPTION)

    def _associations(self, inputs: Sequence[dict[str, str]]) -> None:
        cursors = self._client._associations_page(inputs, self.companies_of)
        found = {c for item in inputs for c in self.companies_of[item["id"]]}
        with self._lock:
            self._cursors.extend(cursors)
            fresh = sorted(found - self._seen, key=int)
            self._seen.update(fresh)
            self._companies.extend(fresh)
            full = len(self._companies) - len(self._companies) % HUBSPOT_BATCH_READ_MAX
            ready, self._companies = self._companies[:full], self._companies[full:]
        for chunk in _chunks(ready, HUBSPOT_BATCH_READ_MAX):
            self._submit(self._read, chunk)

    def _read(self, ids: Sequence[str]) -> None:
        found, missing = self._client._companies_page(ids, self._names)
        with self._lock:
            self.found.update(found)
            self.missing.extend(missing)


class HubSpotClient(ClosingClient):
    """Synchronous HubSpot CRM client for the job; concurrency and pacing are internal."""

    def __init__(
        self,
        access_token: str,
        base_url: str = DEFAULT_HUBSPOT_BASE_URL,
        tier: str = "free",
        timeout: float = HTTP_TIMEOUT_SECONDS,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        api_version: str = DEFAULT_HUBSPOT_API_VERSION,
    ) -> None:
        if not isinstance(access_token, str) or not access_token.strip():
            raise ValueError(
                f"{Env.HUBSPOT_ACCESS_TOKEN} is empty: set it to the private app's access token"
            )
        if tier not in HUBSPOT_TIER_LIMITS:
            raise ValueError(
                f"{Env.HUBSPOT_TIER}={tier!r} is not a known tier: use one of "
                + ", ".join(HUBSPOT_TIER_LIMITS)
            )
        try:
            self.api_version = HubSpotApiVersion(api_version)
        except ValueError:
            raise ValueError(
                f"{Env.HUBSPOT_API_VERSION}={api_version!r} is not a HubSpot API version this "
                "client speaks: use one of " + ", ".join(HubSpotApiVersion)
            ) from None
        self._routes = HUBSPOT_ROUTES[self.api_version]
        self._token = access_token
        base_url = check_base_url(base_url, Env.HUBSPOT_BASE_URL)
        self._burst, self._search = _account_limiters(base_url, access_token, tier)
        self._retry = retry
        self._log = RetryLog(SERVICE)
        self._notes: list[str] = []
        self._notes_lock = threading.Lock()
        self._http = httpx.Client(
            base_url=base_url,
            timeout=make_timeout(timeout),
            headers={"Authorization": f"Bearer {access_token}"},
            verify=tls(),
        )

    def route(self, operation: HubSpotOperation, **params: str) -> tuple[str, str]:
        """(method, path) of `operation` in this client's path family, `params` filled in."""
        method, template = self._routes[operation].split(" ", 1)
        return method, template.format(**params)

    @property
    def warnings(self) -> list[str]:
        """Retries and oddities seen so far, sorted, for the run's anomaly report."""
        with self._notes_lock:
            notes = sorted(set(self._notes))
        return self._log.lines() + notes

    # --- operations ----------------------------------------------------------------------

    def customer_universe(self, properties: Sequence[str]) -> CustomerUniverse:
        """Every customer contact, its companies, and those companies' `properties`.

        The search is bound by its 5 pages a second and leaves the 10-second window idle, so
        the reads overlap it: an association read for every 1,000 contacts found and a company
        read for every 100 new companies, as soon as they are known. The calls are the same
        as reading the three in turn: ceil(contacts / 1,000) association reads (plus rounds
        for contacts with more companies than one page) and ceil(companies / 100) reads.
        """
        reads = _UniverseReads(self, self._property_names(properties))
        contacts: dict[str, dict[str, Any]] = {}
        try:
            for page in self._customer_pages():
                fresh = [c for c in page if c["contact_id"] not in contacts]
                contacts.update((c["contact_id"], c) for c in fresh)
                reads.add_contacts([c["contact_id"] for c in fresh])
            reads.finish()
        finally:
            reads.close()
        return CustomerUniverse(
            contacts=sorted(contacts.values(), key=lambda c: int(c["contact_id"])),
            companies_of={
                contact_id: sorted(found, key=int)
                for contact_id, found in sorted(reads.companies_of.items(), key=_numeric_key)
            },
            companies=dict(sorted(reads.found.items(), key=_numeric_key)),
            missing=sorted(reads.missing, key=int),
        )

    def _customer_pages(self) -> Iterator[list[dict[str, Any]]]:
        """Pages of contacts with lifecyclestage=customer, in id order, across the 10,000 cap.

        Pages of 200 sorted by id; before a query would page past the cap, a fresh query
        continues with `hs_object_id GT <last id>`, so no call is wasted.
        """
        endpoint = self.endpoint(Op.CONTACTS_SEARCH)
        last_id: str | None = None
        while True:
            filters = [
                {
                    "propertyName": "lifecyclestage",
                    "operator": "EQ",
                    "value": CUSTOMER_LIFECYCLE_STAGE,
                }
            ]
            if last_id is not None:
                filters.append(
                    {"propertyName": HUBSPOT_ID_PROPERTY, "operator": "GT", "value": last_id}
                )
            body: dict[str, Any] = {
                "filterGroups": [{"filters": filters}],
                "properties": list(CONTACT_PROPERTIES),
                "sorts": [{"propertyName": HUBSPOT_ID_PROPERTY, "direction": "ASCENDING"}],
                "limit": HUBSPOT_SEARCH_PAGE_MAX,
            }
            chunk_start = last_id
            seen = 0
            while True:
                page = self._call(Op.CONTACTS_SEARCH, json=body)
                records = self._records(endpoint, page)
                yield [
                    {
                        "contact_id": record["id"],
                        **self._values(endpoint, record, CONTACT_PROPERTIES),
                    }
                    for record in records
                ]
                if records:
                    last_id = max((r["id"] for r in records), key=int)
                seen += len(records)
                after = _cursor(page)
                total = page.get("total")
                if not records or after is None or (isinstance(total, int) and seen >= total):
                    return
                if seen + HUBSPOT_SEARCH_PAGE_MAX > HUBSPOT_SEARCH_RESULT_CAP:
                    break
                body = {**body, "after": after}
            if last_id == chunk_start:
                raise self._malformed(
                    endpoint,
                    f"a query filtered on {HUBSPOT_ID_PROPERTY} GT {last_id} made no progress",
                )

    def read_companies(
        self, company_ids: Iterable[str], properties: Sequence[str]
    ) -> tuple[dict[str, dict[str, str | None]], list[str]]:
        """(found: id -> {property: value or None}, missing ids), both in numeric id order."""
        ids = _unique_ids(company_ids, "company id")
        names = self._property_names(properties)
        found: dict[str, dict[str, str | None]] = {}
        missing: list[str] = []
        for page_found, page_missing in self._parallel(
            lambda chunk: self._companies_page(chunk, names), _chunks(ids, HUBSPOT_BATCH_READ_MAX)
        ):
            found.update(page_found)
            missing.extend(page_missing)
        return dict(sorted(found.items(), key=_numeric_key)), sorted(missing, key=int)

    def update_companies(self, batch: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        """Set absolute property values on up to 100 companies in one call.

        HubSpot applies a batch whole or rejects it whole (400), so a repeat after a 429, 5xx
        or dropped connection cannot leave a different result: it is retried. A 400 raises
        `ValidationError`, or `ValidationRuleRefusal` when a portal validation rule refused it,
        naming the companies; nothing was written. A 207 (some companies gone) raises
        `NotFoundError` naming them; the others were written.
        """
        if len(batch) > HUBSPOT_BATCH_UPDATE_MAX:
            raise ValueError(
                f"update batch of {len(batch)} companies exceeds HubSpot's "
                f"{HUBSPOT_BATCH_UPDATE_MAX}: split it (core.writeplan.batches)"
            )
        ids = [company_id for company_id, _ in batch]
        if len(_unique_ids(ids, "company id")) != len(ids):
            raise ValueError(f"update batch repeats company ids {ids!r}: send each company once")
        for company_id, values in batch:
            self._property_names(list(values))
            for name, value in values.items():
                if not isinstance(value, str):
                    raise ValueError(
                        f"company {company_id} property {name} value {value!r} is not a string: "
                        "HubSpot takes every value as a string (e.g. '37')"
                    )
        if not batch:
            return
        endpoint = self.endpoint(Op.COMPANIES_UPDATE)
        traces = {f"{TRACE_PREFIX}{cid}": cid for cid, _ in batch}
        body = {
            "inputs": [
                {"id": cid, "properties": dict(values), "objectWriteTraceId": trace}
                for trace, (cid, values) in zip(traces, batch, strict=True)
            ]
        }
        try:
            page = self._call(Op.COMPANIES_UPDATE, json=body, traces=traces)
        except ValidationError as error:
            written = {name for _, values in batch for name in values}
            raise self._rule_refusal(error, written) or error from None
        echoed = {
            str(result["objectWriteTraceId"])
            for result in _dicts(page.get("results"))
            if "objectWriteTraceId" in result
        }
        if echoed - set(traces):
            raise self._malformed(
                endpoint, f"results carry trace ids not sent: {sorted(echoed - set(traces))}"
            )
        missing = self._not_found_ids(endpoint, page, traces)
        if missing:
            raise NotFoundError(
                SERVICE,
                endpoint,
                207,
                OBJECT_NOT_FOUND,
                fix="these companies were deleted or merged; the rest of the batch was written. "
                "Rerun so the universe is read afresh",
                detail="missing company ids " + ", ".join(missing),
                ids=missing,
            )

    def company_property(self, name: str) -> dict[str, Any] | None:
        """A company property's definition, or None when HubSpot says it does not exist."""
        (name,) = self._property_names([name])
        try:
            return self._call(Op.COMPANY_PROPERTY, {"propertyName": name})
        except NotFoundError as exc:
            if exc.category == OBJECT_NOT_FOUND:
                return None
            raise

    def property_definitions(self, names: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Each named company property's definition; None for one HubSpot does not have."""
        return {name: self.company_property(name) for name in names}

    def validation_rules(self, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The property validation rules on each named company property ([]: none), in one
        call to the property validation API; HubSpot holds API writes to every one of them."""
        names = self._property_names(names)
        params = {"objectTypeId": HUBSPOT_COMPANY_OBJECT_TYPE_ID}
        endpoint = self.endpoint(Op.PROPERTY_VALIDATIONS, **params)
        page = self._call(Op.PROPERTY_VALIDATIONS, params)
        rules: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        results = page.get("results")
        if not isinstance(results, list):
            raise self._malformed(endpoint, "the response has no list of results")
        for entry in results:
            name = entry.get("propertyName") if isinstance(entry, dict) else None
            listed_rules = entry.get("propertyValidationRules") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not isinstance(listed_rules, list):
                raise self._malformed(endpoint, "an entry lacks propertyName or its rules")
            for rule in listed_rules:
                if not (
                    isinstance(rule, dict)
                    and isinstance(rule.get("ruleType"), str)
                    and isinstance(rule.get("ruleArguments"), list)
                ):
                    raise self._malformed(endpoint, f"a rule on {name} lacks ruleType/arguments")
            if name in rules:
                rules[name].extend(listed_rules)
        return rules

    def owners(self) -> dict[str, Owner]:
        """Every active owner of the account, by owner id (the value companies hold in
        `hubspot_owner_id`), in numeric id order; archived owners (users who left) are not
        listed, as HubSpot leaves them out unless asked."""
        endpoint = self.endpoint(Op.OWNERS)
        found: dict[str, Owner] = {}
        query = {"limit": str(HUBSPOT_OWNERS_PAGE_MAX)}
        while True:
            page = self._call(Op.OWNERS, query=query)
            results = page.get("results")
            if not isinstance(results, list):
                raise self._malformed(endpoint, "the response has no list of results")
            for record in results:
                owner_id = record.get("id") if isinstance(record, dict) else None
                if not isinstance(owner_id, str) or not is_record_id(owner_id):
                    raise self._malformed(endpoint, f"an owner has id {owner_id!r}")
                texts = {k: record.get(k) for k in ("email", "firstName", "lastName")}
                odd = [k for k, v in texts.items() if v is not None and not isinstance(v, str)]
                if odd:
                    raise self._malformed(endpoint, f"owner {owner_id} has non-text {odd}")
                email = (texts["email"] or "").strip()
                found[owner_id] = Owner(
                    owner_id, email or None, texts["firstName"], texts["lastName"]
                )
            after = _cursor(page)
            if after is None or not results:
                return dict(sorted(found.items(), key=_numeric_key))
            query = {**query, "after": after}

    # --- paging helpers ------------------------------------------------------------------

    def _associations_page(
        self, inputs: Sequence[dict[str, str]], companies: dict[str, set[str]]
    ) -> list[dict[str, str]]:
        """One batch read; adds what it found to `companies`, returns inputs to page on."""
        endpoint = self.endpoint(Op.CONTACT_COMPANIES)
        page = self._call(Op.CONTACT_COMPANIES, json={"inputs": list(inputs)})
        cursors: list[dict[str, str]] = []
        asked = {item["id"] for item in inputs}
        results = page.get("results")
        if not isinstance(results, list):
            raise self._malformed(endpoint, "the response has no list of results")
        for result in results:
            source = result.get("from") if isinstance(result, dict) else None
            contact_id = str(source.get("id")) if isinstance(source, dict) else ""
            if contact_id not in asked:
                raise self._malformed(endpoint, f"a result for contact {contact_id!r} not asked")
            for target in _dicts(result.get("to")):
                company_id = target.get("toObjectId")
                if isinstance(company_id, bool) or not is_record_id(str(company_id)):
                    raise self._malformed(
                        endpoint, f"contact {contact_id} has toObjectId {company_id!r}"
                    )
                companies[contact_id].add(str(company_id))
            after = _cursor(result)
            if after is not None:
                cursors.append({"id": contact_id, "after": after})
        for error in _dicts(page.get("errors")):
            if error.get("subCategory") != NO_ASSOCIATIONS:
                ids = error.get("context", {}).get("fromObjectId", [])
                self._note(
                    f"{SERVICE} {endpoint}: {error.get('category')} "
                    f"{error.get('subCategory') or ''} for {len(ids)} contacts: "
                    f"{redact(str(error.get('message', '')), (self._token,))}"
                )
        return cursors

    def _companies_page(
        self, ids: Sequence[str], names: Sequence[str]
    ) -> tuple[dict[str, dict[str, str | None]], list[str]]:
        endpoint = self.endpoint(Op.COMPANIES_READ)
        body = {
            "inputs": [{"id": company_id} for company_id in ids],
            "properties": list(names),
            "propertiesWithHistory": [],
        }
        page = self._call(Op.COMPANIES_READ, json=body)
        found: dict[str, dict[str, str | None]] = {}
        for record in self._records(endpoint, page):
            found[record["id"]] = self._values(endpoint, record, names)
        missing = self._not_found_ids(endpoint, page)
        unaccounted = set(ids) - set(found) - set(missing)
        stray = set(found) - set(ids)
        if unaccounted or stray:
            raise self._malformed(
                endpoint,
                f"ids neither returned nor reported missing: {sorted(unaccounted)}; "
                f"ids not asked for: {sorted(stray)}",
            )
        return found, missing

    def _not_found_ids(
        self, endpoint: str, page: Mapping[str, Any], traces: Mapping[str, str] | None = None
    ) -> list[str]:
        """Ids of a 207's OBJECT_NOT_FOUND errors; any other batch error raises, naming its
        companies (a 207 applied the rest: the batch is not known to be unapplied)."""
        missing: list[str] = []
        for error in _dicts(page.get("errors")):
            context = _dict(error.get("context"))
            traced = self._companies(context, traces)
            if error.get("category") != OBJECT_NOT_FOUND:
                message = redact(str(error.get("message", "")), (self._token,))
                raise ApiError(
                    SERVICE,
                    endpoint,
                    207,
                    error.get("category"),
                    page.get("correlationId"),
                    fix=FIX_MALFORMED,
                    detail=f"{message} (companies {listed(traced)})" if traced else message,
                )
            missing.extend(traced or (str(i) for i in context.get("ids", [])))
        return sorted(set(missing), key=int)

    @staticmethod
    def _companies(context: Mapping[str, Any], traces: Mapping[str, str] | None) -> list[str]:
        """The companies an error's `context.objectWriteTraceId` names, through `traces`."""
        if not traces:
            return []
        named = context.get("objectWriteTraceId")
        return sorted(
            {traces[t] for t in named if t in traces} if isinstance(named, list) else set(),
            key=int,
        )

    def _records(self, endpoint: str, page: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The `results` of a search or batch read, checked for id and properties."""
        results = page.get("results")
        if not isinstance(results, list):
            raise self._malformed(endpoint, "the response has no list of results")
        for record in results:
            if (
                not isinstance(record, dict)
                or not isinstance(record.get("id"), str)
                or not is_record_id(record["id"])
                or not isinstance(record.get("properties"), dict)
            ):
                # Name the shape, never the record: it may hold a contact's personal data.
                shape = sorted(record) if isinstance(record, dict) else type(record).__name__
                raise self._malformed(endpoint, f"a result lacks an id or properties (has {shape})")
        return results

    def _values(
        self, endpoint: str, record: Mapping[str, Any], names: Sequence[str]
    ) -> dict[str, str | None]:
        """The requested properties of a record: strings, or None when unset."""
        values = {name: record["properties"].get(name) for name in names}
        odd = {k: v for k, v in values.items() if v is not None and not isinstance(v, str)}
        if odd:
            raise self._malformed(endpoint, f"record {record['id']} has non-string values {odd!r}")
        return values

    def _property_names(self, properties: Sequence[str]) -> list[str]:
        names = list(properties)
        bad = [p for p in names if not isinstance(p, str) or not _PROPERTY_NAME.fullmatch(p)]
        if bad or not names:
            raise ValueError(
                f"property names {bad or names!r} are not HubSpot internal names: "
                "pass lower-case names like 'customer_engagement_score'"
            )
        return names

    def _parallel(self, work: Callable[[Any], Any], chunks: list[Sequence[Any]]) -> list[Any]:
        """Run `work` over `chunks` on a small pool (results in chunk order); the limiter paces."""
        if len(chunks) <= 1:
            return [work(chunk) for chunk in chunks]
        with ThreadPoolExecutor(min(CONCURRENCY, len(chunks))) as pool:
            return list(pool.map(work, chunks))

    def _note(self, line: str) -> None:
        with self._notes_lock:
            self._notes.append(line)

    # --- one HTTP call -------------------------------------------------------------------

    def endpoint(self, operation: HubSpotOperation, **params: str) -> str:
        """How errors and warnings name a call: `operation`'s method and path as sent."""
        return " ".join(self.route(operation, **params))

    def _call(
        self,
        operation: HubSpotOperation,
        params: Mapping[str, str] | None = None,
        *,
        traces: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        **request: Any,
    ) -> Any:
        """Send one paced, retried call; return its JSON (200/207) or raise a typed error.

        `params` fill the path template, `query` is the query string. `traces` (trace id ->
        company id) lets an error name the companies it concerns.
        """
        method, path = self.route(operation, **(params or {}))
        if query:
            request["params"] = dict(query)
        endpoint = f"{method} {path}"
        search = path.endswith("/search")
        try:
            response = send_with_retries(
                self._http,
                method,
                path,
                endpoint=endpoint,
                policy=self._retry,
                log=self._log,
                slot=self._search.slot if search else self._burst.slot,
                **request,
            )
        except RetriesExhausted as exc:
            raise self._exhausted(endpoint, exc) from None
        remaining = response.headers.get(REMAINING_HEADER, "")
        if not search and remaining.isdigit():
            self._burst.observe_remaining(int(remaining), self._burst.granted_at())
        if response.status_code in (200, 207):
            try:
                body = response.json()
            except ValueError:
                raise self._malformed(
                    endpoint, f"HTTP {response.status_code} body is not JSON"
                ) from None
            if not isinstance(body, dict):
                raise self._malformed(endpoint, f"HTTP {response.status_code} body is no object")
            return body
        raise self._error(endpoint, response, traces)

    def _error(
        self, endpoint: str, response: httpx.Response, traces: Mapping[str, str] | None
    ) -> ApiError:
        body = _json_or_empty(response)
        status = response.status_code
        category = body.get("category") or body.get("policyName")
        correlation_id = body.get("correlationId") or response.headers.get(
            "X-HubSpot-Correlation-Id"
        )
        detail = redact(str(body.get("message") or response.reason_phrase), (self._token,))
        args = (SERVICE, endpoint, status, category, correlation_id)
        if status == 401:
            return AuthError(*args, fix=FIX_AUTH, detail=detail)
        if status == 403:
            scopes = sorted(
                {
                    scope
                    for error in _dicts(body.get("errors"))
                    for key in ("requiredGranularScopes", "requiredScopes")
                    for scope in (error.get("context") or {}).get(key, [])
                }
            )
            return ScopeError(
                *args,
                fix=f"grant the private app the scope(s) {', '.join(scopes) or 'named above'} "
                f"(Settings > Integrations > Private apps > Scopes), then rerun",
                detail=detail,
                required_scopes=scopes,
            )
        if status == 404:
            return NotFoundError(*args, fix=FIX_NOT_FOUND, detail=detail)
        if status == 400:
            return ValidationError(
                *args, fix=FIX_VALIDATION, detail=detail, codes=self._codes(body, traces)
            )
        return ApiError(*args, fix=FIX_MALFORMED, detail=detail)

    def _codes(
        self, body: Mapping[str, Any], traces: Mapping[str, str] | None
    ) -> list[PropertyCode]:
        """HubSpot's findings, one per property, code and message, with their companies."""
        grouped: dict[tuple[str | None, str, str], set[str]] = {}
        for error in _dicts(body.get("errors")):
            context = _dict(error.get("context"))
            names = context.get("propertyName") or [error.get("in") or error.get("name")]
            key = (
                names[0] if isinstance(names, list) and names else None,
                str(error.get("code") or error.get("subCategory") or NO_CODE),
                redact(str(error.get("message", "")), (self._token,)),
            )
            grouped.setdefault(key, set()).update(self._companies(context, traces))
        return [
            PropertyCode(name, code, message, tuple(sorted(ids, key=int)))
            for (name, code, message), ids in grouped.items()
        ]

    def _rule_refusal(
        self, error: ValidationError, written: set[str]
    ) -> ValidationRuleRefusal | None:
        """`error` as a validation rule's refusal, naming for each rule what fixes it; None
        when every finding is about a value and its property's definition (or has no code)."""
        rules = [
            code
            for code in error.codes
            if code.code not in HUBSPOT_DEFINITION_CODES and code.code != NO_CODE
        ]
        if not rules:
            return None
        fixes = []
        for code in rules:
            name = code.property or "the property HubSpot names"
            if code.property in written:
                fixes.append(
                    f"have a HubSpot admin exempt {name} from its {code.code} rule or loosen "
                    f"the rule to accept the engagement values ({FIX_RULES_PAGE.format(name=name)})"
                )
            else:
                where = f" on companies {listed(code.company_ids)}" if code.company_ids else ""
                fixes.append(
                    f"set {name}{where} in HubSpot (a validation rule of the portal, "
                    f"{code.code}, requires it for this write), or have a HubSpot admin exempt "
                    "this app from that rule"
                )
        if len(rules) < len(error.codes):
            fixes.append(FIX_VALIDATION)
        return ValidationRuleRefusal(
            SERVICE,
            error.endpoint,
            error.status,
            error.category,
            error.correlation_id,
            fix="; ".join(dict.fromkeys(fixes)) + "; then rerun",
            codes=error.codes,
        )

    def _exhausted(self, endpoint: str, exc: RetriesExhausted) -> ApiError:
        response = exc.last.response
        body = _json_or_empty(response) if response is not None else {}
        args = (
            SERVICE,
            endpoint,
            exc.status,
            body.get("policyName") or body.get("category"),
            body.get("correlationId"),
        )
        if exc.status == 429:
            return RateLimitExhausted(*args, fix=FIX_RATE, detail=str(exc))
        return UpstreamUnavailable(*args, fix=FIX_UNAVAILABLE, detail=str(exc))

    def _malformed(self, endpoint: str, detail: str) -> MalformedResponse:
        return MalformedResponse(
            SERVICE, endpoint, 200, fix=FIX_MALFORMED, detail=redact(detail, (self._token,))
        )
