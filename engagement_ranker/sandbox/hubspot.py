"""The HubSpot CRM stand-in: the endpoints the product and the official client use, as HubSpot
answers them (reference/hubspot-api.md).

Served, in both path families (`constants.HUBSPOT_ROUTES`: the date-versioned 2026-09 paths and
the legacy v3/v4 ones): contacts and companies search, contact->company associations batch
read, companies batch read and batch update, one company or contact by id, company property
definitions, the property validation API, the owners list, and `/_sandbox/*` (delegated to the
control module).
The families answer alike but where HubSpot's differ: on the 2026-09 paths a batch update
echoes each input's `objectWriteTraceId` in its results and names it in every error (a missing
company is one 207 error per input), and the portal's conditional validation rules apply to
writes; property validation rules apply in both. Every request passes, in order: the faults
(shared HTTP layer), Bearer auth (401; 403 MISSING_SCOPES on writes when the faults revoke the
write scope), the rate limits (429 bodies as HubSpot's, headers on non-search responses), then
the handler. Values travel as strings, requested-but-unset properties as null, ids as strings
(`toObjectId` as a number, as real traffic has it), errors in HubSpot's standard body with a
correlation id that is deterministic per seed.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from engagement_ranker.constants import (
    CONTACT_PROPERTIES,
    HUBSPOT_ASSOCIATIONS_BATCH_MAX,
    HUBSPOT_BATCH_READ_MAX,
    HUBSPOT_BATCH_UPDATE_MAX,
    HUBSPOT_COMPANY_OBJECT_TYPE_ID,
    HUBSPOT_ID_PROPERTY,
    HUBSPOT_ROUTES,
    TIMEZONE,
    HubSpotApiVersion,
    HubSpotOperation,
)
from engagement_ranker.sandbox.dataset import hubspot_timestamp
from engagement_ranker.sandbox.faults import Action, BatchRejection, ValidationRule
from engagement_ranker.sandbox.http import (
    HttpError,
    JsonService,
    Request,
    Response,
    Route,
    RunningServer,
    json_response,
    route,
    start_server,
)
from engagement_ranker.sandbox.hubspot_search import (
    SearchIndex,
    SearchRequestError,
    as_text,
    parse_search_request,
)
from engagement_ranker.sandbox.ratelimit import Policy, RateLimiter, rate_limit_body
from engagement_ranker.sandbox.state import SandboxState

SERVICE = "hubspot"
CREATED = "createdate"
MODIFIED = "lastmodifieddate"
WRITE_SCOPE = "crm.objects.companies.write"
CORRELATION_HEADER = "X-HubSpot-Correlation-Id"
PRIMARY_ASSOCIATION = {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}
UNLABELED_ASSOCIATION = {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
SCOPES_MESSAGE = "This app hasn't been granted all required scopes to make this call."
CATEGORIES: dict[int, str] = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    429: "RATE_LIMITS",
}
SERVER_ERROR_CATEGORY = "INTERNAL_ERROR"
# The code of a conditional rule's refusal: a property the rule requires is not set.
CONDITIONAL_RULE_CODE = "CONDITIONALLY_REQUIRED_PROPERTY"
# The objectTypeId path segment of the property validation API, by the ids and names it takes.
OBJECT_TYPE_IDS: dict[str, str] = {
    HUBSPOT_COMPANY_OBJECT_TYPE_ID: "companies",
    "companies": "companies",
    "0-1": "contacts",
    "contacts": "contacts",
}
TRACE_ID = "objectWriteTraceId"
OWNERS_DEFAULT_LIMIT = 100
OWNERS_MAX_LIMIT = 500
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_CURSOR_PREFIX = "offset:"
Op = HubSpotOperation
V2026_09 = HubSpotApiVersion.V2026_09


@dataclass(frozen=True)
class Refusal:
    """Why a batch update is refused: `property` `code` `message`, for the inputs `traces`."""

    property: str
    code: str
    message: str
    traces: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectType:
    """One CRM object type as served: its records, default and always-returned properties."""

    plural: str  # "contacts", the path segment
    singular: str  # "contact", in association messages
    label: str  # "CONTACT", in batch error messages
    defaults: tuple[str, ...]
    searchable: tuple[str, ...]
    records: Callable[[], dict[str, dict[str, str | None]]]
    # Search columns built at start: what every sync filters and sorts on.
    indexed: tuple[str, ...] = (HUBSPOT_ID_PROPERTY,)
    always: tuple[str, ...] = (CREATED, HUBSPOT_ID_PROPERTY, MODIFIED)


class HubSpotService(JsonService):
    """HubSpot's CRM API over one `SandboxState`; start it with `start_hubspot_server`."""

    name = SERVICE
    serves_control = True

    def __init__(self, state: SandboxState, tier: str = "free") -> None:
        super().__init__(state)
        zone = ZoneInfo(TIMEZONE)
        self.limits = RateLimiter(tier, today=lambda: state.clock().astimezone(zone).date())
        self.contacts = ObjectType(
            "contacts",
            "contact",
            "CONTACT",
            defaults=("email", "firstname", "lastname"),
            searchable=("email", "firstname", "lastname"),
            records=lambda: state.contacts,
            indexed=(*CONTACT_PROPERTIES, HUBSPOT_ID_PROPERTY),
        )
        self.companies = ObjectType(
            "companies",
            "company",
            "COMPANY",
            defaults=("domain", "name"),
            searchable=("domain", "name"),
            records=lambda: state.companies,
        )
        self.indexes = {
            obj.plural: SearchIndex(obj.records, obj.searchable)
            for obj in (self.contacts, self.companies)
        }
        with state.lock:
            self._warm()
            self.contact_properties = frozenset(
                name for record in state.contacts.values() for name in record
            )
            self.system_company_properties = frozenset(
                name
                for record in state.companies.values()
                for name in record
                if name not in state.dataset.company_property_definitions
            )
        self._correlation = random.Random(state.dataset.seed)
        self._correlation_lock = threading.Lock()
        self._versions = {
            template: version
            for version, table in HUBSPOT_ROUTES.items()
            for template in table.values()
        }
        state.on_reset(self._reset)

    def _warm(self) -> None:
        """Index the records now, so the first search is as fast as the next."""
        for obj in (self.contacts, self.companies):
            self.indexes[obj.plural].warm(obj.indexed)

    def _reset(self) -> None:
        """The world was restored: re-index it and start the rate budgets afresh."""
        for index in self.indexes.values():
            index.reset()
        self._warm()
        self.limits.reset()

    def correlation_id(self) -> str:
        """A uuid4-shaped id, the same sequence for the same seed."""
        with self._correlation_lock:
            return str(uuid.UUID(int=self._correlation.getrandbits(128), version=4))

    # --- hooks of the shared HTTP layer ------------------------------------------------------
    def routes(self) -> Iterable[Route]:
        handlers: dict[HubSpotOperation, Callable[[Request], Response]] = {
            Op.CONTACTS_SEARCH: self._searcher(self.contacts),
            Op.COMPANIES_SEARCH: self._searcher(self.companies),
            Op.CONTACT_COMPANIES: self._associations,
            Op.COMPANIES_READ: self._batch_read,
            Op.COMPANIES_UPDATE: self._batch_update,
            Op.COMPANY: self._getter(self.companies),
            Op.CONTACT: self._getter(self.contacts),
            Op.COMPANY_PROPERTIES: self._property_list,
            Op.COMPANY_PROPERTY: self._property,
            Op.PROPERTY_VALIDATIONS: self._validations,
            Op.PROPERTY_VALIDATION: self._validation,
            Op.OWNERS: self._owners,
        }
        return tuple(
            route(template.split(" ", 1)[0], template, handlers[operation])
            for table in HUBSPOT_ROUTES.values()
            for operation, template in table.items()
        )

    def _version(self, request: Request) -> HubSpotApiVersion:
        """The path family `request` came in on."""
        return self._versions[request.route]

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """HubSpot's standard error body."""
        category = CATEGORIES.get(status, SERVER_ERROR_CATEGORY)
        return self._error(message, category)

    def _error(self, message: str, category: str, **extra: Any) -> dict[str, Any]:
        return {
            "status": "error",
            "message": message,
            "correlationId": self.correlation_id(),
            "category": category,
            **extra,
        }

    def fault_response(self, action: Action, request: Request) -> Response:
        """Injected 429s look like HubSpot's own (no Retry-After unless the fault asks)."""
        if action.error != 429:
            return super().fault_response(action, request)
        policy = Policy.SECONDLY if _is_search(request) else Policy.TEN_SECONDLY_ROLLING
        headers = {} if action.retry_after is None else {"Retry-After": str(action.retry_after)}
        return json_response(rate_limit_body(policy, self.correlation_id()), 429, headers)

    def before(self, request: Request) -> Response | None:
        """Auth, then the rate limits, then the write scope."""
        with self.state.lock:
            faults = self.state.faults
            token = self.state.credentials.hubspot_token
        if faults.hubspot.auth == "revoked" or request.headers.get("Authorization") != (
            f"Bearer {token}"
        ):
            raise HttpError(401, AUTH_MESSAGE)
        refused = self.limits.admit(search=_is_search(request))
        if refused is not None:
            return json_response(rate_limit_body(refused, self.correlation_id()), 429)
        if faults.hubspot.auth == "missing_write_scope" and request.route.endswith("/update"):
            detail = {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": [WRITE_SCOPE]},
            }
            payload = self._error(
                SCOPES_MESSAGE,
                CATEGORIES[403],
                errors=[detail],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            )
            raise HttpError(403, SCOPES_MESSAGE, payload)
        return None

    def after(self, request: Request, response: Response) -> Response:
        """Correlation id on every response; rate-limit headers on all but search."""
        correlation = None
        if response.status >= 400 and response.body:
            try:
                correlation = json.loads(response.body).get("correlationId")
            except (ValueError, AttributeError):
                correlation = None
        response.headers.setdefault(CORRELATION_HEADER, correlation or self.correlation_id())
        if not _is_search(request):
            for name, value in self.limits.headers().items():
                response.headers.setdefault(name, value)
        return response

    # --- objects -----------------------------------------------------------------------------
    def _exists(self, obj: ObjectType, name: str) -> bool:
        """Whether property `name` exists now (faults can remove company properties)."""
        if obj is self.contacts:
            return name in self.contact_properties
        return name in self.system_company_properties or (
            self.state.property_definition(name) is not None
        )

    def _names(self, obj: ObjectType, requested: Sequence[str] | None) -> list[str]:
        """Returned properties: requested (or the defaults) plus the always-present ones."""
        wanted = set(obj.defaults if requested is None else requested) | set(obj.always)
        return sorted(name for name in wanted if self._exists(obj, name))

    @staticmethod
    def _object(
        record_id: str, record: Mapping[str, str | None], names: Sequence[str]
    ) -> dict[str, Any]:
        return {
            "id": record_id,
            "properties": {name: record.get(name) for name in names},
            "createdAt": record.get(CREATED),
            "updatedAt": record.get(MODIFIED),
            "archived": False,
        }

    def _batch_envelope(self, results: list[dict], errors: list[dict], started: str) -> Response:
        """A batch response: 200, or 207 with `numErrors`/`errors` when some inputs failed."""
        payload: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            payload |= {"numErrors": len(errors), "errors": errors}
        payload |= {"startedAt": started, "completedAt": self._now()}
        return json_response(payload, 207 if errors else 200)

    def _now(self) -> str:
        return hubspot_timestamp(self.state.clock())

    # --- search ------------------------------------------------------------------------------
    def _searcher(self, obj: ObjectType) -> Callable[[Request], Response]:
        index = self.indexes[obj.plural]

        def search(request: Request) -> Response:
            try:
                query = parse_search_request(request.body.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise HttpError(400, f"The request body is not UTF-8: {exc}") from None
            except SearchRequestError as exc:
                raise HttpError(400, str(exc)) from None
            with self.state.lock:
                page = index.search(query)
                names = self._names(obj, query.properties)
            payload: dict[str, Any] = {
                "total": page.total,
                "results": [self._object(rid, record, names) for rid, record in page.results],
            }
            if page.next_after is not None:
                payload["paging"] = {"next": {"after": page.next_after}}
            return json_response(payload)

        return search

    # --- associations ------------------------------------------------------------------------
    def _associations(self, request: Request) -> Response:
        """Each contact's companies, paged per input; contacts without any reported as 207."""
        started = self._now()
        inputs = _inputs(request.json(), HUBSPOT_ASSOCIATIONS_BATCH_MAX)
        with self.state.lock:
            page_size = self.state.faults.hubspot.associations_page_size
            contacts = self.state.contacts
            links = self.state.dataset.contact_companies
            results: list[dict] = []
            errors: list[dict] = []
            for item in inputs:
                contact_id = item["id"]
                start = _decode_cursor(item.get("after"))
                companies = links.get(contact_id, []) if contact_id in contacts else []
                if not companies:
                    errors.append(self._no_associations(contact_id))
                    continue
                end = start + page_size
                result: dict[str, Any] = {
                    "from": {"id": contact_id},
                    "to": [
                        {
                            "toObjectId": int(company_id),
                            "associationTypes": (
                                [PRIMARY_ASSOCIATION, UNLABELED_ASSOCIATION]
                                if position == 0
                                else [UNLABELED_ASSOCIATION]
                            ),
                        }
                        for position, company_id in enumerate(companies[start:end], start=start)
                    ],
                }
                if end < len(companies):
                    result["paging"] = {"next": {"after": _encode_cursor(end)}}
                results.append(result)
        return self._batch_envelope(results, errors, started)

    def _no_associations(self, contact_id: str) -> dict[str, Any]:
        return {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "message": f"No {self.companies.singular} is associated with "
            f"{self.contacts.singular} {contact_id}.",
            "context": {
                "fromObjectId": [contact_id],
                "fromObjectType": [self.contacts.singular],
                "toObjectType": [self.companies.singular],
            },
            "errors": [],
            "links": {},
        }

    # --- companies batch read ----------------------------------------------------------------
    def _batch_read(self, request: Request) -> Response:
        """Companies by id in input order; missing ids reported together as a 207."""
        started = self._now()
        body = request.json()
        inputs = _inputs(body, HUBSPOT_BATCH_READ_MAX)
        requested = _property_names(body.get("properties"), "properties")
        _no_extras(body)
        with self.state.lock:
            names = self._names(self.companies, requested)
            records = self.state.companies
            ids = list(dict.fromkeys(item["id"] for item in inputs))
            results = [self._object(cid, records[cid], names) for cid in ids if cid in records]
            missing = [cid for cid in ids if cid not in records]
        return self._batch_envelope(results, self._not_found(missing), started)

    def _not_found(
        self, missing: list[str], context: Mapping[str, list[str]] | None = None
    ) -> list[dict[str, Any]]:
        if not missing:
            return []
        return [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {self.companies.label} objects, they may be "
                "deleted or not exist. Check that ids are valid.",
                "context": {"ids": missing, **(context or {})},
                "errors": [],
                "links": {},
            }
        ]

    # --- companies batch update --------------------------------------------------------------
    def _batch_update(self, request: Request) -> Response:
        """All-or-nothing on validation; missing ids are a 207; applied writes are logged."""
        started = self._now()
        dated = self._version(request) is V2026_09
        inputs = _inputs(request.json(), HUBSPOT_BATCH_UPDATE_MAX)
        updates = [(item["id"], _update_properties(item, n)) for n, item in enumerate(inputs)]
        traces = [_trace(item, n) for n, item in enumerate(inputs)]
        ids = [company_id for company_id, _ in updates]
        duplicates = sorted({cid for cid in ids if ids.count(cid) > 1}, key=int)
        if duplicates:
            raise HttpError(
                400,
                f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. "
                "IDs must be unique",
            )
        with self.state.lock:
            faults = self.state.faults
            rejection = faults.take_batch_rejection()
            problems = (
                [self._planned_rejection(rejection, updates, traces)]
                if rejection is not None
                else [
                    Refusal(name, code, message, (trace,) if trace else ())
                    for (_, props), trace in zip(updates, traces, strict=True)
                    for name, _, code, message in self._invalid_values(props)
                ]
            )
            if problems:
                body = self._invalid("Property values were not valid", problems, dated)
                raise HttpError(400, "Property values were not valid", body)
            refusals = self._rule_refusals(updates, traces, faults.hubspot.validation_rules, dated)
            if refusals:
                body = self._invalid("Validation rules were not met", refusals, dated)
                raise HttpError(400, "Validation rules were not met", body)
            lag = faults.hubspot.search_index_lag_seconds
            records = self.state.companies
            index = self.indexes[self.companies.plural]
            now = self._now()
            results = []
            for (company_id, props), trace in zip(updates, traces, strict=True):
                current = records.get(company_id)
                if current is None:
                    continue
                before = {name: current.get(name) for name in props}
                records[company_id] = {**current, **props, MODIFIED: now}
                index.note_write(company_id, current, lag)
                self.state.record_write(company_id, before, props)
                names = sorted(set(props) | set(self.companies.always))
                result = self._object(company_id, records[company_id], names)
                results.append({**result, TRACE_ID: trace} if dated and trace else result)
            gone = [
                (cid, trace) for cid, trace in zip(ids, traces, strict=True) if cid not in records
            ]
        if dated:  # one error per input, naming its trace id
            errors = [
                error
                for cid, trace in gone
                for error in self._not_found([cid], {TRACE_ID: [trace]} if trace else {})
            ]
        else:
            errors = self._not_found([cid for cid, _ in gone])
        return self._batch_envelope(results, errors, started)

    def _invalid_values(self, props: Mapping[str, str | None]) -> list[tuple[str, str, str, str]]:
        """(property, value, code, message) for each value HubSpot would refuse."""
        problems = []
        for name, value in props.items():
            text = value or ""
            definition = self.state.property_definition(name)
            if definition is None:
                if name in self.system_company_properties:
                    problems.append((name, text, "READ_ONLY_VALUE", _read_only(name)))
                else:
                    problems.append((name, text, "PROPERTY_DOESNT_EXIST", _doesnt_exist(name)))
            elif definition.get("modificationMetadata", {}).get("readOnlyValue"):
                problems.append((name, text, "READ_ONLY_VALUE", _read_only(name)))
            elif text and definition["type"] == "number" and not _PLAIN_NUMBER.fullmatch(text):
                problems.append((name, text, "INVALID_INTEGER", f"{text} was not a valid number."))
            elif text and definition["type"] in ("enumeration", "bool"):
                allowed = [option["value"] for option in definition.get("options", [])]
                if text not in allowed:
                    problems.append((name, text, "INVALID_OPTION", _not_an_option(text, allowed)))
        return problems

    def _invalid(self, summary: str, refusals: list[Refusal], dated: bool) -> dict[str, Any]:
        """HubSpot's whole-batch 400; on the 2026-09 paths each finding names its inputs."""
        listed = [
            {"isValid": False, "message": r.message, "error": r.code, "name": r.property}
            for r in refusals
        ]
        return self._error(
            f"{summary}: " + json.dumps(listed, separators=(",", ":")),
            CATEGORIES[400],
            errors=[
                {
                    "message": r.message,
                    "code": r.code,
                    "in": r.property,
                    "context": {
                        "propertyName": [r.property],
                        **({TRACE_ID: list(r.traces)} if dated and r.traces else {}),
                    },
                }
                for r in refusals
            ],
        )

    def _rule_refusals(
        self,
        updates: list[tuple[str, dict[str, str | None]]],
        traces: list[str | None],
        rules: Sequence[ValidationRule],
        dated: bool,
    ) -> list[Refusal]:
        """What the portal's rules refuse: property validation rules on every path, the
        conditional ones (a property required when another is written) from 2026-09."""
        refusals: list[Refusal] = []
        for (company_id, props), trace in zip(updates, traces, strict=True):
            record = self.state.companies.get(company_id)
            if record is None:
                continue
            after = {**record, **props}
            for rule in rules:
                value = props.get(rule.property)
                if not value:
                    continue
                traced = (trace,) if trace else ()
                if rule.requires is not None:
                    if dated and not after.get(rule.requires):
                        message = f"{rule.requires} is required when {rule.property} is set."
                        refusals.append(
                            Refusal(rule.requires, CONDITIONAL_RULE_CODE, message, traced)
                        )
                elif _breaks(rule, value):
                    message = (
                        f'"{value}" does not meet the {rule.rule_type} rule '
                        f"({', '.join(rule.arguments)}) of {rule.property}."
                    )
                    refusals.append(Refusal(rule.property, str(rule.rule_type), message, traced))
        return refusals

    def _planned_rejection(
        self,
        rejection: BatchRejection,
        updates: list[tuple[str, dict[str, str | None]]],
        traces: list[str | None],
    ) -> Refusal:
        """The fault's whole-batch rejection, worded as HubSpot words that code, for the first
        input that writes the property."""
        name = rejection.property
        first = next(
            (
                (given, trace)
                for (_, p), trace in zip(updates, traces, strict=True)
                if (given := p.get(name))
            ),
            None,
        )
        value, trace = first or ("", None)
        definition = self.state.property_definition(name) or {}
        allowed = [option["value"] for option in definition.get("options", [])]
        messages = {
            "INVALID_INTEGER": f"{value} was not a valid integer.",
            "INVALID_LONG": f"{value} was not a valid long.",
            "INVALID_OPTION": _not_an_option(value, allowed),
            "PROPERTY_DOESNT_EXIST": _doesnt_exist(name),
            "READ_ONLY_VALUE": _read_only(name),
        }
        traced = (trace,) if trace else ()
        return Refusal(name, rejection.code, messages[rejection.code], traced)

    # --- single objects and property definitions ---------------------------------------------
    def _getter(self, obj: ObjectType) -> Callable[[Request], Response]:
        def get(request: Request) -> Response:
            record_id = next(iter(request.params.values()))
            if request.arg("idProperty") not in (None, HUBSPOT_ID_PROPERTY):
                raise HttpError(400, "The sandbox looks records up by id only; drop idProperty.")
            requested = [
                name
                for value in request.query.get("properties", [])
                for name in value.split(",")
                if name
            ]
            with self.state.lock:
                record = obj.records().get(record_id)
                if record is None:
                    payload = self._error(
                        "Object not found.  objectId are usually numeric.",
                        CATEGORIES[404],
                        context={"id": [record_id]},
                    )
                    raise HttpError(404, "Object not found", payload)
                names = self._names(obj, requested or None)
                return json_response(self._object(record_id, record, names))

        return get

    def _property(self, request: Request) -> Response:
        name = request.params["propertyName"]
        definition = self.state.property_definition(name)
        if definition is None:
            raise HttpError(404, f"Unable to find property {name} for object type companies")
        return json_response(definition)

    def _property_list(self, request: Request) -> Response:
        names = sorted(self.state.dataset.company_property_definitions)
        definitions = [self.state.property_definition(name) for name in names]
        return json_response({"results": [d for d in definitions if d is not None]})

    # --- owners ------------------------------------------------------------------------------
    def _owners(self, request: Request) -> Response:
        """The account's owners, a page at a time (`limit`, `after`), active ones unless
        `archived=true`, optionally one `email`; an owner without an e-mail has no `email`."""
        raw_limit = request.arg("limit") or str(OWNERS_DEFAULT_LIMIT)
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= OWNERS_MAX_LIMIT:
            raise HttpError(400, f"limit must be 1..{OWNERS_MAX_LIMIT}, got {raw_limit!r}.")
        archived = (request.arg("archived") or "false").lower() == "true"
        email = (request.arg("email") or "").lower()
        listed = [
            owner
            for owner in self.state.dataset.owners
            if owner["archived"] is archived
            and (not email or str(owner.get("email", "")).lower() == email)
        ]
        start, limit = _decode_cursor(request.arg("after")), int(raw_limit)
        payload: dict[str, Any] = {"results": listed[start : start + limit]}
        if start + limit < len(listed):
            after = _encode_cursor(start + limit)
            payload["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return json_response(payload)

    # --- the property validation API ---------------------------------------------------------
    def _listed_rules(self, request: Request) -> dict[str, list[dict[str, Any]]]:
        """Property name -> its property validation rules, for the request's object type.

        Conditional rules are not property validation rules: this API does not list them.
        """
        object_type = request.params["objectTypeId"]
        plural = OBJECT_TYPE_IDS.get(object_type)
        if plural is None:
            raise HttpError(400, f"Unable to infer object type from: {object_type}")
        with self.state.lock:
            rules = self.state.faults.hubspot.validation_rules
        listed: dict[str, list[dict[str, Any]]] = {}
        for rule in rules:
            if plural == self.companies.plural and rule.rule_type is not None:
                listed.setdefault(rule.property, []).append(
                    {
                        "ruleType": rule.rule_type,
                        "ruleArguments": list(rule.arguments),
                        "shouldApplyNormalization": False,
                    }
                )
        return listed

    def _validations(self, request: Request) -> Response:
        listed = self._listed_rules(request)
        return json_response(
            {
                "results": [
                    {"propertyName": name, "propertyValidationRules": listed[name]}
                    for name in sorted(listed)
                ]
            }
        )

    def _validation(self, request: Request) -> Response:
        listed = self._listed_rules(request)
        name = request.params["propertyName"]
        plural = OBJECT_TYPE_IDS[request.params["objectTypeId"]]
        obj = self.companies if plural == self.companies.plural else self.contacts
        if not self._exists(obj, name):
            raise HttpError(404, f"Unable to find property {name} for object type {plural}")
        return json_response({"results": listed.get(name, [])})


def _is_search(request: Request) -> bool:
    return request.route.endswith("/search")


def _inputs(body: Any, maximum: int) -> list[dict[str, Any]]:
    """A batch's `inputs`, each with its id as a digit string, within the batch maximum."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise HttpError(400, "The request body must be a JSON object with an `inputs` list.")
    inputs = body["inputs"]
    if len(inputs) > maximum:
        raise HttpError(400, f"Too many inputs: {len(inputs)}; a batch takes at most {maximum}.")
    normalized = []
    for n, item in enumerate(inputs):
        raw = item.get("id") if isinstance(item, dict) else None
        record_id = None if isinstance(raw, bool) else as_text(raw)
        if record_id is None or not record_id.isdigit():
            raise HttpError(400, f"inputs[{n}].id must be a numeric record id, got {raw!r}.")
        normalized.append({**item, "id": record_id})
    return normalized


def _property_names(value: Any, field: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise HttpError(400, f"{field} must be a list of property names, got {value!r}.")
    return value


def _no_extras(body: Mapping[str, Any]) -> None:
    """Refuse the batch-read options the sandbox does not emulate rather than ignore them."""
    if body.get("propertiesWithHistory"):
        raise HttpError(400, "propertiesWithHistory is not emulated by the sandbox; send [].")
    if body.get("idProperty") not in (None, HUBSPOT_ID_PROPERTY):
        raise HttpError(400, "The sandbox reads companies by id only; drop idProperty.")


def _trace(item: Mapping[str, Any], n: int) -> str | None:
    """An input's `objectWriteTraceId`, if it carries one."""
    trace = item.get(TRACE_ID)
    if trace is not None and (not isinstance(trace, str) or not trace):
        raise HttpError(400, f"inputs[{n}].{TRACE_ID} must be a non-empty string, got {trace!r}.")
    return trace


def _breaks(rule: ValidationRule, value: str) -> bool:
    """Whether `value` breaks the property validation rule `rule`."""
    (argument,) = rule.arguments
    if rule.rule_type == "REGEX":
        return re.fullmatch(argument, value) is None
    if rule.rule_type in ("MAX_LENGTH", "MIN_LENGTH"):
        limit = int(argument)
        return len(value) > limit if rule.rule_type == "MAX_LENGTH" else len(value) < limit
    if not _PLAIN_NUMBER.fullmatch(value):
        return True
    bound = float(argument)
    return float(value) > bound if rule.rule_type == "MAX_NUMBER" else float(value) < bound


def _update_properties(item: Mapping[str, Any], n: int) -> dict[str, str | None]:
    """One input's new values as HubSpot stores them ("" clears a value)."""
    props = item.get("properties")
    if not isinstance(props, dict) or not props:
        raise HttpError(400, f"inputs[{n}].properties must be a non-empty object.")
    values: dict[str, str | None] = {}
    for name, value in props.items():
        text = "" if value is None else as_text(value)
        if text is None:
            raise HttpError(
                400, f"inputs[{n}].properties.{name} must be a string or number, got {value!r}."
            )
        values[name] = text or None
    return values


def _not_an_option(value: str, allowed: list[str]) -> str:
    return f"{value} was not one of the allowed options: [{', '.join(allowed)}]"


def _doesnt_exist(name: str) -> str:
    return f'Property "{name}" does not exist'


def _read_only(name: str) -> str:
    return f'"{name}" is a read only property; its value cannot be set.'


def _encode_cursor(offset: int) -> str:
    """An opaque `after` cursor, as HubSpot's are."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: object) -> int:
    if cursor in (None, ""):
        return 0
    try:
        padded = str(cursor) + "=" * (-len(str(cursor)) % 4)
        text = base64.urlsafe_b64decode(padded).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    offset = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not offset.isdigit():
        raise HttpError(400, f"after {cursor!r} is not a cursor this API returned.")
    return int(offset)


def start_hubspot_server(
    state: SandboxState, host: str = "127.0.0.1", port: int = 0, tier: str = "free"
) -> RunningServer:
    """HubSpot on host:port (0: a free port); `.url` says where, `.shutdown()` stops it."""
    return start_server(HubSpotService(state, tier), host, port)
