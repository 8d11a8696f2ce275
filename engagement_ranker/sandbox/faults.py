"""The sandbox's fault model: one JSON document, settable at start and at runtime.

Faults exist so tests and demos can prove the product survives what real HubSpot, Yobi,
Slack and SMTP do on a bad day. The document is replaced whole by ``POST /_sandbox/faults``
(``{}`` clears every fault) or given as ``SandboxConfig(faults=...)``. Every key is optional::

    {
      "seed": 0,                     # seeds the random error rates (same seed, same failures)
      "latency_ms": 0,               # added to every request of every HTTP service
      "timeout_seconds": 30,         # longest a "timeout" stalls before the socket is closed
      "routes": {                    # per route; key: "METHOD /template", "<service> *" or "*"
        "POST /crm/objects/2026-09/contacts/search": {
          "latency_ms": 200,
          "error_rate": 0.1,                    # random share of calls that fail (seeded)
          "error_statuses": [500, 502, 503],    # drawn from for error_rate
          "bursts": [                           # calls nth .. nth+count-1 (1-based) fail
            {"nth": 3, "count": 2, "error": 503},
            {"nth": 9, "error": "drop"},        # also "timeout" and "malformed"
            {"nth": 12, "error": 429, "retry_after": 2},
            {"nth": 14, "count": 9, "error": "hold"}
          ]
        }
      },
      "hubspot": {
        "rate_limit_storm": 0,               # the next K HubSpot API calls get 429
        "auth": "ok",                        # "revoked": 401; "missing_write_scope": 403 on writes
        "properties": {                      # company property definition overrides
          "customer_engagement_tier": null,  # null: the property does not exist (404)
          "customer_engagement_score": {"type": "string", "fieldType": "text"},  # merged in
          "customer_engagement_rank": {"readOnlyValue": true},
          "customer_engagement_tier": {"drop_options": ["Bottom 30%"]}
        },
        "batch_update_rejections": [         # the nth batch update is rejected whole (400)
          {"nth": 2, "code": "INVALID_INTEGER", "property": "customer_engagement_score"}
        ],
        "search_index_lag_seconds": 0,       # written records stay stale in search this long
        "associations_page_size": 500,       # per-input page size of associations batch read
        "validation_rules": [                # the portal's admin-configured rules on companies
          # a conditional rule: writing the property needs `requires` set on the company
          # (enforced from the 2026-09 paths on; the property validation API does not list it)
          {"property": "customer_engagement_tier", "requires": "customer_status"},
          # a property validation rule, listed by the property validation API and enforced on
          # writes in both path families; ruleType one of RULE_TYPES
          {"property": "customer_engagement_score", "ruleType": "MAX_NUMBER",
           "ruleArguments": ["100"]}
        ]
      },
      "yobi": {
        "login_fails": false,                # every login answers 401
        "token_ttl_seconds": 3600,           # lifetime of issued tokens
        "non_admin": false,                  # admin endpoints answer 403
        "drop_keys": [],                     # keys removed from stats payloads: "new_patients"
        "trend_short_days": 0,               # the newest D trend buckets are missing
        "legacy_shapes": false,              # older payloads: id/name/domain, appointment_count
        "scale": {"calls": 0.4}              # a counter times this for every tenant and day
                                             # (rounded down): a half-synced week, or 0 for a
                                             # field Yobi stopped filling
      },
      "smtp": {"down": false}                # every SMTP transaction answers 421
    }

A HubSpot route key applies to its operation in both path families (the legacy template and
the 2026-09 one name the same operation, `constants.HUBSPOT_ROUTES`), with one call counter:
a fault stays put whichever version the client speaks. Slack faults are route faults on ``POST /services/{team}/{channel}/{token}`` (e.g. a burst of 429 with
``retry_after``). Errors: 400/401/403/404/429/500/502/503/504 answer that status with the
service's own error body; "drop" closes the socket without a response; "timeout" stalls
until the client gives up (bounded by ``timeout_seconds``); "malformed" answers 200 with
truncated JSON; "drop_after" serves the request (a write is applied) and then closes the socket
without a response, as when a connection dies after the server acted; "hold" keeps the request
unanswered until ``POST /_sandbox/release`` (then serves it, and every later "hold" passes
straight through, until the fault document is replaced) or, like "timeout", until the client
gives up (bounded by ``timeout_seconds``): a test holds a process mid-call for as long as
another needs to reach a point, however slow the machine, without resetting the call counters.
Counters (nth call, storm, batch rejections) start when the faults are set.

``corrupt`` entries name a route ("METHOD /template") and a dotted ``path`` into its JSON answer
and do one thing there: ``value`` sets it (any JSON, null included; a missing last key is
added), ``duplicate`` inserts a copy of the list item right after it (``true``: an exact copy;
an object ``{"trend.0.total_calls": 999}``: a copy with those values set, each at a dotted path
into the copy, so two rows for one record disagree), ``invalid_utf8`` makes the string end in
bytes that are not UTF-8. A step is a list index (negative from the end), an
object key, ``*`` (every item) or ``key=value`` (the list items whose ``key`` is ``value``,
perhaps none, as a page may not hold that record: "results.tenant_id=217.tenant_name"). An
index or key that is absent makes the server answer 500 naming it, so a mistyped fault never
passes silently.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engagement_ranker.constants import HUBSPOT_ROUTES, METRICS

ERROR_STATUSES: frozenset[int] = frozenset({400, 401, 403, 404, 429, 500, 502, 503, 504})
ERROR_KINDS: frozenset[str] = frozenset({"drop", "timeout", "malformed", "drop_after", "hold"})
HUBSPOT_AUTH_MODES: frozenset[str] = frozenset({"ok", "revoked", "missing_write_scope"})
REJECTION_CODES: frozenset[str] = frozenset(
    {
        "INVALID_INTEGER",
        "INVALID_LONG",
        "INVALID_OPTION",
        "PROPERTY_DOESNT_EXIST",
        "READ_ONLY_VALUE",
    }
)
DEFAULT_ERROR_STATUSES: tuple[int, ...] = (500, 502, 503)
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_TOKEN_TTL_SECONDS = 3600
DEFAULT_ASSOCIATIONS_PAGE_SIZE = 500
# The property validation rule types the HubSpot stand-in enforces (HubSpot has more; a rule it
# would not enforce is refused rather than served and ignored).
RULE_TYPES: frozenset[str] = frozenset(
    {"MAX_NUMBER", "MIN_NUMBER", "MAX_LENGTH", "MIN_LENGTH", "REGEX"}
)
ALL_ROUTES = "*"
CORRUPT_OPERATIONS: tuple[str, ...] = ("value", "duplicate", "invalid_utf8")
# Stands in for the non-UTF-8 bytes until the answer is serialized (JSON cannot carry them).
INVALID_UTF8_MARK = "\ue000sandbox-invalid-utf8\ue000"
INVALID_UTF8_BYTES = b"\xff\xfe"

Error = int | str


class FaultsError(ValueError):
    """A fault document that cannot be applied; the message names the key, value and fix."""


@dataclass(frozen=True)
class Action:
    """What a server must do to one request: wait, then maybe fail in one of the listed ways."""

    latency_ms: float = 0.0
    error: Error | None = None
    retry_after: int | None = None
    reason: str = ""  # "burst", "rate", "storm": lets a service word its error body


@dataclass(frozen=True)
class Burst:
    """Calls nth .. nth+count-1 to a route fail with `error`."""

    nth: int
    count: int
    error: Error
    retry_after: int | None


@dataclass
class RouteFaults:
    """Faults for the calls one routes-key applies to; `calls` counts those calls."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = DEFAULT_ERROR_STATUSES
    bursts: tuple[Burst, ...] = ()
    calls: int = 0


@dataclass(frozen=True)
class BatchRejection:
    """The nth batch update is refused whole with HubSpot's validation error `code`."""

    nth: int
    code: str
    property: str


@dataclass(frozen=True)
class Corruption:
    """One edit to the JSON answers of `route`: at `path`, do `operation` (with `value`)."""

    route: str
    path: tuple[str | int, ...]
    operation: str
    value: Any = None
    edits: tuple[Corruption, ...] = ()  # "duplicate": values set in the copy, paths into it

    def apply(self, payload: Any) -> None:
        """Edit `payload` in place; FaultsError when an index or key on the path is absent."""
        holders = [payload]
        for step in self.path[:-1]:
            holders = [container[key] for h in holders for container, key in self._slots(h, step)]
        slots = [slot for h in holders for slot in self._slots(h, self.path[-1], last=True)]
        if self.operation == "duplicate":
            if any(not isinstance(container, list) for container, _ in slots):
                raise FaultsError(f"corrupt path {self.where} must end at list items")
            # Back to front, so an inserted copy never shifts an item still to be copied.
            for container, index in sorted(slots, key=lambda slot: slot[1], reverse=True):
                copy = _deep_copy(container[index])
                for edit in self.edits:
                    edit.apply(copy)
                container.insert(index + 1, copy)
            return
        for container, key in slots:
            if self.operation == "value":
                container[key] = _deep_copy(self.value)
            else:
                current = container[key] if isinstance(container, list) else container.get(key)
                text = current if isinstance(current, str) else ""
                container[key] = f"{text}{INVALID_UTF8_MARK}"

    def _slots(self, holder: Any, step: str | int, last: bool = False) -> list[tuple[Any, Any]]:
        """(container, key) pairs one step selects: an index, a key, "*", or "key=value"."""
        if isinstance(holder, list):
            if step == "*":
                return [(holder, i) for i in range(len(holder))]
            if isinstance(step, int) and -len(holder) <= step < len(holder):
                return [(holder, step % len(holder))]
            if isinstance(step, str) and "=" in step:
                name, _, wanted = step.partition("=")
                return [
                    (holder, i)
                    for i, item in enumerate(holder)
                    if isinstance(item, dict) and str(item.get(name)) == wanted
                ]
        elif isinstance(holder, dict):
            if step == "*":
                return [(holder, key) for key in holder]
            if str(step) in holder or (last and self.operation != "duplicate"):
                return [(holder, str(step))]
        raise FaultsError(
            f"corrupt path {self.where} does not resolve at {step!r}; "
            "check it against the route's answer"
        )

    @property
    def where(self) -> str:
        return f"{'.'.join(str(step) for step in self.path)!r} of {self.route}"


@dataclass(frozen=True)
class ValidationRule:
    """A portal rule on company property `property`: a property validation rule (`rule_type`
    with `arguments`) or a conditional one (`requires`: a write of the property needs that
    other property set on the company)."""

    property: str
    rule_type: str | None = None
    arguments: tuple[str, ...] = ()
    requires: str | None = None


@dataclass
class HubSpotFaults:
    """HubSpot-only faults, read by the HubSpot server."""

    rate_limit_storm: int = 0
    auth: str = "ok"
    properties: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    batch_update_rejections: tuple[BatchRejection, ...] = ()
    search_index_lag_seconds: float = 0.0
    associations_page_size: int = DEFAULT_ASSOCIATIONS_PAGE_SIZE
    validation_rules: tuple[ValidationRule, ...] = ()


@dataclass
class YobiFaults:
    """Yobi-only faults, read by the Yobi server."""

    login_fails: bool = False
    token_ttl_seconds: float = DEFAULT_TOKEN_TTL_SECONDS
    non_admin: bool = False
    drop_keys: frozenset[str] = frozenset()
    trend_short_days: int = 0
    legacy_shapes: bool = False
    scale: dict[str, float] = field(default_factory=dict)  # metric -> factor


@dataclass
class SmtpFaults:
    """SMTP-only faults, read by the SMTP handler."""

    down: bool = False


class Faults:
    """The active fault document plus its call counters; thread-safe."""

    def __init__(self, spec: Mapping[str, Any] | None = None) -> None:
        spec = _as_mapping({} if spec is None else spec, "faults")
        _only_keys(
            spec,
            "faults",
            {
                "seed",
                "latency_ms",
                "timeout_seconds",
                "routes",
                "corrupt",
                "hubspot",
                "yobi",
                "smtp",
            },
        )
        self.spec: dict[str, Any] = dict(spec)
        self._lock = threading.Lock()
        self._random = random.Random(_integer(spec.get("seed", 0), "faults.seed", minimum=0))
        self.latency_ms = _number(spec.get("latency_ms", 0), "faults.latency_ms")
        self.timeout_seconds = _number(
            spec.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS), "faults.timeout_seconds"
        )
        routes = _as_mapping(spec.get("routes", {}), "faults.routes")
        self.routes: dict[str, RouteFaults] = {}
        for key, value in routes.items():
            rule = _route_faults(value, f"faults.routes[{key!r}]")
            for alias in EQUIVALENT_ROUTES.get(key, (key,)):
                if alias in self.routes:
                    raise FaultsError(
                        f"faults.routes names {key!r} and {alias!r}, one operation in two path "
                        "families; key it once (the fault applies to both)"
                    )
                self.routes[alias] = rule
        self.corrupt: dict[str, tuple[Corruption, ...]] = {}
        for i, item in enumerate(_as_list(spec.get("corrupt", []), "faults.corrupt")):
            corruption = _corruption(item, f"faults.corrupt[{i}]")
            for alias in EQUIVALENT_ROUTES.get(corruption.route, (corruption.route,)):
                self.corrupt[alias] = (*self.corrupt.get(alias, ()), corruption)
        self.hubspot = _hubspot_faults(spec.get("hubspot", {}))
        self.yobi = _yobi_faults(spec.get("yobi", {}))
        smtp = _as_mapping(spec.get("smtp", {}), "faults.smtp")
        _only_keys(smtp, "faults.smtp", {"down"})
        self.smtp = SmtpFaults(down=_boolean(smtp.get("down", False), "faults.smtp.down"))
        self._storm_left = self.hubspot.rate_limit_storm
        self._batch_updates = 0
        self.released = threading.Event()  # "hold" requests are served from now on

    def take(self, service: str, route: str) -> Action | None:
        """Count one call to `route` of `service` and say what to do with it (None: serve it)."""
        with self._lock:
            latency = self.latency_ms
            error: Error | None = None
            retry_after: int | None = None
            reason = ""
            if service == "hubspot" and self._storm_left > 0:
                self._storm_left -= 1
                error, reason = 429, "storm"
            for key in (route, f"{service} {ALL_ROUTES}", ALL_ROUTES):
                rule = self.routes.get(key)
                if rule is None:
                    continue
                rule.calls += 1
                latency += rule.latency_ms
                if error is not None:
                    continue
                burst = next(
                    (b for b in rule.bursts if b.nth <= rule.calls < b.nth + b.count), None
                )
                if burst is not None:
                    error, retry_after, reason = burst.error, burst.retry_after, "burst"
                elif rule.error_rate and self._random.random() < rule.error_rate:
                    error, reason = self._random.choice(rule.error_statuses), "rate"
            if error is None and latency == 0:
                return None
            return Action(latency_ms=latency, error=error, retry_after=retry_after, reason=reason)

    def corrupt_body(self, route: str, body: bytes) -> bytes:
        """`route`'s JSON answer with its corruptions applied (FaultsError: a path is wrong)."""
        payload = json.loads(body)
        for corruption in self.corrupt.get(route, ()):
            corruption.apply(payload)
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        return text.encode().replace(INVALID_UTF8_MARK.encode(), INVALID_UTF8_BYTES)

    def take_batch_rejection(self) -> BatchRejection | None:
        """Count one batch update and return the rejection planned for it, if any."""
        with self._lock:
            self._batch_updates += 1
            return next(
                (r for r in self.hubspot.batch_update_rejections if r.nth == self._batch_updates),
                None,
            )

    def property_definition(
        self, name: str, definition: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """The company property definition `name` as the faults make it look (None: missing)."""
        if name not in self.hubspot.properties:
            return None if definition is None else _deep_copy(definition)
        override = self.hubspot.properties[name]
        if override is None or definition is None:
            return None
        result = _deep_copy(definition)
        dropped = set(override.get("drop_options", ()))
        for key, value in override.items():
            if key == "drop_options":
                result["options"] = [
                    option
                    for option in result.get("options", [])
                    if option["label"] not in dropped and option["value"] not in dropped
                ]
            elif key == "readOnlyValue":
                result.setdefault("modificationMetadata", {})["readOnlyValue"] = value
            else:
                result[key] = value
        return result


def _equivalent_routes() -> dict[str, tuple[str, ...]]:
    """Each HubSpot route template -> the templates of its operation in every path family."""
    by_operation: dict[str, list[str]] = {}
    for table in HUBSPOT_ROUTES.values():
        for operation, template in table.items():
            by_operation.setdefault(operation, []).append(template)
    return {t: tuple(templates) for templates in by_operation.values() for t in templates}


EQUIVALENT_ROUTES = _equivalent_routes()


def _deep_copy(value: Any) -> Any:
    """Copy JSON-shaped data, so callers can never mutate the dataset's definitions."""
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _route_faults(value: Any, where: str) -> RouteFaults:
    spec = _as_mapping(value, where)
    _only_keys(spec, where, {"latency_ms", "error_rate", "error_statuses", "bursts"})
    rate = _number(spec.get("error_rate", 0), f"{where}.error_rate")
    if rate > 1:
        raise FaultsError(f"{where}.error_rate is {rate!r}; use a share between 0 and 1")
    statuses = spec.get("error_statuses", list(DEFAULT_ERROR_STATUSES))
    if not isinstance(statuses, list) or not statuses:
        raise FaultsError(
            f"{where}.error_statuses is {statuses!r}; use a non-empty list of "
            f"{sorted(ERROR_STATUSES)}"
        )
    return RouteFaults(
        latency_ms=_number(spec.get("latency_ms", 0), f"{where}.latency_ms"),
        error_rate=rate,
        error_statuses=tuple(
            _status(s, f"{where}.error_statuses[{i}]") for i, s in enumerate(statuses)
        ),
        bursts=tuple(
            _burst(b, f"{where}.bursts[{i}]")
            for i, b in enumerate(_as_list(spec.get("bursts", []), f"{where}.bursts"))
        ),
    )


def _burst(value: Any, where: str) -> Burst:
    spec = _as_mapping(value, where)
    _only_keys(spec, where, {"nth", "count", "error", "retry_after"})
    if "error" not in spec:
        raise FaultsError(f"{where} has no 'error'; add one of {_error_choices()}")
    error = spec["error"]
    if isinstance(error, str) and error not in ERROR_KINDS:
        raise FaultsError(f"{where}.error is {error!r}; use one of {_error_choices()}")
    retry_after = spec.get("retry_after")
    return Burst(
        nth=_integer(spec.get("nth", 1), f"{where}.nth", minimum=1),
        count=_integer(spec.get("count", 1), f"{where}.count", minimum=1),
        error=error if isinstance(error, str) else _status(error, f"{where}.error"),
        retry_after=None
        if retry_after is None
        else _integer(retry_after, f"{where}.retry_after", minimum=0),
    )


def _corruption(value: Any, where: str) -> Corruption:
    spec = _as_mapping(value, where)
    _only_keys(spec, where, {"route", "path", *CORRUPT_OPERATIONS})
    route = spec.get("route")
    if not isinstance(route, str) or " " not in route:
        raise FaultsError(f"{where}.route is {route!r}; name one like 'GET /admin/pms/locations'")
    steps = _steps(spec.get("path"), f"{where}.path")
    operations = [name for name in CORRUPT_OPERATIONS if name in spec]
    if len(operations) != 1:
        raise FaultsError(
            f"{where} has {operations or 'none'}; give exactly one of {CORRUPT_OPERATIONS}"
        )
    (operation,) = operations
    given = spec[operation]
    edits: dict[str, Any] = {}
    if operation == "duplicate" and isinstance(given, Mapping) and given:
        edits = dict(given)
    elif operation != "value" and given is not True:
        also = ", or an object of edits for the copy" if operation == "duplicate" else ""
        raise FaultsError(f"{where}.{operation} is {given!r}; use true{also}")
    return Corruption(
        route=route,
        path=steps,
        operation=operation,
        value=spec.get("value"),
        edits=tuple(
            Corruption(route, _steps(path, f"{where}.duplicate[{path!r}]"), "value", edit)
            for path, edit in edits.items()
        ),
    )


def _steps(path: Any, where: str) -> tuple[str | int, ...]:
    """A dotted path's steps, list indexes as ints."""
    if not isinstance(path, str) or not path or "" in path.split("."):
        raise FaultsError(f"{where} is {path!r}; use a dotted path like 'results.0.name'")
    return tuple(int(step) if step.lstrip("-").isdigit() else step for step in path.split("."))


def _hubspot_faults(value: Any) -> HubSpotFaults:
    where = "faults.hubspot"
    spec = _as_mapping(value, where)
    _only_keys(
        spec,
        where,
        {
            "rate_limit_storm",
            "auth",
            "properties",
            "batch_update_rejections",
            "search_index_lag_seconds",
            "associations_page_size",
            "validation_rules",
        },
    )
    auth = spec.get("auth", "ok")
    if auth not in HUBSPOT_AUTH_MODES:
        raise FaultsError(f"{where}.auth is {auth!r}; use one of {sorted(HUBSPOT_AUTH_MODES)}")
    properties = _as_mapping(spec.get("properties", {}), f"{where}.properties")
    for name, override in properties.items():
        if override is not None:
            _property_override(override, f"{where}.properties[{name!r}]")
    rejections = _as_list(
        spec.get("batch_update_rejections", []), f"{where}.batch_update_rejections"
    )
    rules = _as_list(spec.get("validation_rules", []), f"{where}.validation_rules")
    return HubSpotFaults(
        rate_limit_storm=_integer(
            spec.get("rate_limit_storm", 0), f"{where}.rate_limit_storm", minimum=0
        ),
        auth=auth,
        properties={name: None if o is None else dict(o) for name, o in properties.items()},
        batch_update_rejections=tuple(
            _rejection(r, f"{where}.batch_update_rejections[{i}]") for i, r in enumerate(rejections)
        ),
        search_index_lag_seconds=_number(
            spec.get("search_index_lag_seconds", 0), f"{where}.search_index_lag_seconds"
        ),
        associations_page_size=_integer(
            spec.get("associations_page_size", DEFAULT_ASSOCIATIONS_PAGE_SIZE),
            f"{where}.associations_page_size",
            minimum=1,
        ),
        validation_rules=tuple(
            _validation_rule(r, f"{where}.validation_rules[{i}]") for i, r in enumerate(rules)
        ),
    )


def _property_override(value: Any, where: str) -> None:
    spec = _as_mapping(value, where)
    drop = spec.get("drop_options", [])
    if not isinstance(drop, list) or not all(isinstance(x, str) for x in drop):
        raise FaultsError(f"{where}.drop_options is {drop!r}; use a list of option labels")
    if "readOnlyValue" in spec:
        _boolean(spec["readOnlyValue"], f"{where}.readOnlyValue")


def _rejection(value: Any, where: str) -> BatchRejection:
    spec = _as_mapping(value, where)
    _only_keys(spec, where, {"nth", "code", "property"})
    code = spec.get("code", "INVALID_INTEGER")
    if code not in REJECTION_CODES:
        raise FaultsError(f"{where}.code is {code!r}; use one of {sorted(REJECTION_CODES)}")
    prop = spec.get("property", "customer_engagement_score")
    if not isinstance(prop, str) or not prop:
        raise FaultsError(f"{where}.property is {prop!r}; name a company property")
    nth = _integer(spec.get("nth", 1), f"{where}.nth", minimum=1)
    return BatchRejection(nth=nth, code=code, property=prop)


def _validation_rule(value: Any, where: str) -> ValidationRule:
    spec = _as_mapping(value, where)
    _only_keys(spec, where, {"property", "requires", "ruleType", "ruleArguments"})
    names = {key: spec.get(key) for key in ("property", "requires") if key in spec}
    for key, name in names.items():
        if not isinstance(name, str) or not name:
            raise FaultsError(f"{where}.{key} is {name!r}; name a company property")
    if "property" not in names or ("requires" in spec) == ("ruleType" in spec):
        raise FaultsError(
            f"{where} needs a 'property' and exactly one of 'requires' (a conditional rule) "
            "or 'ruleType' with 'ruleArguments' (a property validation rule)"
        )
    if "requires" in spec:
        if "ruleArguments" in spec:
            raise FaultsError(f"{where}.ruleArguments belongs to a ruleType rule; drop it")
        return ValidationRule(property=spec["property"], requires=spec["requires"])
    rule_type, arguments = spec["ruleType"], spec.get("ruleArguments")
    if rule_type not in RULE_TYPES:
        raise FaultsError(f"{where}.ruleType is {rule_type!r}; use one of {sorted(RULE_TYPES)}")
    if not isinstance(arguments, list) or len(arguments) != 1 or not isinstance(arguments[0], str):
        raise FaultsError(f"{where}.ruleArguments is {arguments!r}; give one string, e.g. ['100']")
    (argument,) = arguments
    try:
        if rule_type == "REGEX":
            re.compile(argument)
        elif rule_type.endswith("_LENGTH"):
            int(argument)
        else:
            float(argument)
    except (re.error, ValueError):
        raise FaultsError(
            f"{where}.ruleArguments[0] is {argument!r}, not a valid argument of {rule_type}"
        ) from None
    return ValidationRule(property=spec["property"], rule_type=rule_type, arguments=(argument,))


def _yobi_faults(value: Any) -> YobiFaults:
    where = "faults.yobi"
    spec = _as_mapping(value, where)
    _only_keys(
        spec,
        where,
        {
            "login_fails",
            "token_ttl_seconds",
            "non_admin",
            "drop_keys",
            "trend_short_days",
            "legacy_shapes",
            "scale",
        },
    )
    scale = _as_mapping(spec.get("scale", {}), f"{where}.scale")
    unknown = sorted(set(scale) - {m.value for m in METRICS})
    if unknown:
        raise FaultsError(
            f"{where}.scale names {unknown}; scale one of {[m.value for m in METRICS]}"
        )
    drop = spec.get("drop_keys", [])
    if not isinstance(drop, list) or not all(isinstance(x, str) for x in drop):
        raise FaultsError(f"{where}.drop_keys is {drop!r}; use a list of key names")
    ttl = _number(
        spec.get("token_ttl_seconds", DEFAULT_TOKEN_TTL_SECONDS), f"{where}.token_ttl_seconds"
    )
    return YobiFaults(
        login_fails=_boolean(spec.get("login_fails", False), f"{where}.login_fails"),
        token_ttl_seconds=ttl,
        non_admin=_boolean(spec.get("non_admin", False), f"{where}.non_admin"),
        drop_keys=frozenset(drop),
        trend_short_days=_integer(
            spec.get("trend_short_days", 0), f"{where}.trend_short_days", minimum=0
        ),
        legacy_shapes=_boolean(spec.get("legacy_shapes", False), f"{where}.legacy_shapes"),
        scale={name: _number(factor, f"{where}.scale.{name}") for name, factor in scale.items()},
    )


def _error_choices() -> str:
    return f"{sorted(ERROR_STATUSES)} or {sorted(ERROR_KINDS)}"


def _status(value: Any, where: str) -> int:
    if isinstance(value, bool) or value not in ERROR_STATUSES:
        raise FaultsError(f"{where} is {value!r}; use one of {_error_choices()}")
    return int(value)


def _as_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FaultsError(f"{where} is {value!r}; use a JSON object")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise FaultsError(f"{where} is {value!r}; use a JSON list")
    return value


def _only_keys(spec: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise FaultsError(
            f"{where} has unknown key(s) {unknown}; use only {sorted(allowed)} "
            "(see engagement_ranker/sandbox/faults.py)"
        )


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultsError(f"{where} is {value!r}; use a number >= 0")
    return float(value)


def _integer(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FaultsError(f"{where} is {value!r}; use an integer >= {minimum}")
    return value


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise FaultsError(f"{where} is {value!r}; use true or false")
    return value
