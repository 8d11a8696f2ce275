"""Which Yobi tenant is this HubSpot company? Deterministic, layered, and never silent.

HubSpot does not store Yobi tenant ids, so each company is matched by the strongest evidence
available: an explicit override, then its domain, then its customer contacts' e-mail domains,
then its normalized name. Every weak or doubtful answer (name match, several candidates, one
tenant claimed twice, no match at all) becomes an anomaly a human will read, and fuzzy
look-alikes are offered only as suggestions for the overrides file, never used.
"""

from __future__ import annotations

import json
import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from types import MappingProxyType
from typing import Any, NamedTuple, TypeGuard

import pandas as pd
from cleanco import basename
from cleanco.clean import normalize_terms, remove_accents
from cleanco.termdata import terms_by_country, terms_by_type
from rapidfuzz import fuzz, process

from engagement_ranker.constants import (
    DEFAULT_GENERIC_EMAIL_DOMAINS,
    DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS,
    MATCH_CONFIDENCE,
    Env,
    MatchMethod,
    Metric,
)
from engagement_ranker.core.anomalies import (
    SUGGESTION_SEPARATOR,
    Anomaly,
    AnomalyKind,
    company_label,
)
from engagement_ranker.core.frames import Cell, require_columns

OVERRIDES_VARIABLE = Env.TENANT_MAPPING_OVERRIDES_JSON.value
COMPANY_COLUMNS: tuple[str, ...] = ("company_id", "name", "domain", "contact_email_domains")
# The tenant frame as core.tenants.tenant_frame builds it: names and websites normalized once.
TENANT_INPUT_COLUMNS: tuple[str, ...] = (
    "tenant_id",
    "tenant_name",
    "domain_key",
    "name_key",
    "loose_name_key",
)
MAPPING_COLUMNS: tuple[str, ...] = (
    "company_id",
    "name",
    "tenant_id",
    "tenant_name",
    "method",
    "confidence",
    "candidates",
    "status",
    "suggestions",
)
MAPPED, UNMAPPED, AMBIGUOUS, DUPLICATE_CLAIM = "mapped", "unmapped", "ambiguous", "duplicate_claim"
# Strongest first: the enum's declaration order is the precedence between layers.
METHOD_STRENGTH: dict[MatchMethod, int] = {method: i for i, method in enumerate(MatchMethod)}
SUGGESTIONS_MAX = 3
SUGGESTION_SCORE_CUTOFF = 70
SUGGESTION_CHUNK = 256
# The overrides draft pre-fills a suggestion only at this score or above, and only when no
# other tenant reaches it. 97 takes a one-letter typo in a name of 17 characters or more;
# shorter names one letter apart are usually different practices: in sandboxes of up to 20,000
# companies the best wrong suggestion, a namesake ("Dr. Rachel Rossi" / "Dr. Rachel Ross"),
# scores 96. Weaker ones are listed for a person to judge, never pre-filled.
STRONG_SUGGESTION_SCORE = 97


class Suggestion(NamedTuple):
    """A look-alike tenant for an unmapped company. `score` (0..100, as shown) is rapidfuzz's
    WRatio between the loose name keys, rounded down so a shown 97 is a real 97."""

    tenant_id: int
    tenant_name: str
    score: int

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.tenant_name} ({self.score})"


def strong_suggestion(suggestions: Sequence[Suggestion]) -> Suggestion | None:
    """The suggestion safe to pre-fill in an overrides draft: the only one scoring at least
    STRONG_SUGGESTION_SCORE. None when none does, or when two do (a guess between them)."""
    strong = [s for s in suggestions if s.score >= STRONG_SUGGESTION_SCORE]
    return strong[0] if len(strong) == 1 else None


def is_record_id(text: object) -> TypeGuard[str]:
    """A HubSpot record id: a string of ASCII digits (str.isdigit alone accepts '١٢' and '²')."""
    return isinstance(text, str) and text.isascii() and text.isdigit()


# --- names ----------------------------------------------------------------------------------
# Two keys. The spec's first: lower case, punctuation removed, whitespace collapsed, legal
# suffixes stripped. Where it finds no tenant, a looser one: accents folded, '&' read as 'and',
# punctuation as a word break, and professional designations (DDS) stripped too.
#
# cleanco's full international list strips real English words ("Spa", "Ok", "Pt", "Se"), so
# take the terms of the countries our customers are in, plus the professional-entity types.
_CLEANCO_SOURCES: tuple[list[str], ...] = (
    terms_by_country["United States of America"],
    terms_by_country["United Kingdom"],
    terms_by_country["Canada"],
    terms_by_type["Professional Corporation"],
    terms_by_type["Professional Limited Liability Company"],
)
# Professional-entity forms cleanco lacks, as they appear after a practice's name: legal
# suffixes in the spec's sense.
_ENTITY_SUFFIXES: tuple[str, ...] = (
    "pa",
    "pc",
    "psc",
    "apc",
    "apdc",
    "dpc",
    "pllc",
    "llp",
    "sc",
    "chtd",
    "chartered",
    "and co",
    "professional corporation",
    "professional association",
    "professional llc",
    "prof corp",
    "a professional corporation",
    "a professional dental corporation",
)
# Degrees after a dentist's name: not legal suffixes, so only the looser key drops them.
_DESIGNATIONS: tuple[str, ...] = ("dds", "dmd", "md", "ms")


def _suffix_terms(*extra: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    """Terms in cleanco's own structure: longest first, then alphabetical (deterministic)."""
    raw = {term for source in (*_CLEANCO_SOURCES, *extra) for term in source}
    parts = {tuple(term.split()) for term in normalize_terms(raw)}
    return [(len(p), list(p)) for p in sorted(parts, key=lambda p: (-len(p), p))]


_LEGAL_TERMS = _suffix_terms(_ENTITY_SUFFIXES)
_LOOSE_TERMS = _suffix_terms(_ENTITY_SUFFIXES, _DESIGNATIONS)
_JOINING_PUNCTUATION = re.compile(r"[.'’`]")  # "D.M.D." -> "dmd", "O'Brien" -> "obrien"
_SEPARATORS = re.compile(r"[\W_]+")
_ASCII_PUNCTUATION = frozenset(string.punctuation)


def _text(value: Cell) -> str | None:
    """A cell as stripped text; None, NA, NaN and blank are all "absent"."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _is_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def _strip_suffixes(text: str, terms: list[tuple[int, list[str]]]) -> str | None:
    """Suffixes stripped repeatedly ("smith dental dds pllc" -> "smith dental") but never down
    to nothing (a practice literally named "PC" keeps "pc")."""
    while text:
        stripped = basename(text, terms=terms)
        if not stripped or stripped == text:
            break
        text = stripped
    return text or None


def normalize_name(raw: str | None) -> str | None:
    """The spec's name key: lower case, punctuation removed, whitespace collapsed, legal
    suffixes (LLC, Inc, PLLC, P.C. ...) stripped. "Smith & Jones, PLLC" -> "smith jones"."""
    text = _text(raw)
    if text is None:
        return None
    kept = "".join(c for c in text.lower() if not _is_punctuation(c))
    return _strip_suffixes(" ".join(kept.split()), _LEGAL_TERMS)


def normalize_name_loosely(raw: str | None) -> str | None:
    """The looser key, for names the spec's finds no tenant for: accents folded, '&' -> 'and',
    punctuation as a word break, and designations (DDS, DMD) stripped with the legal suffixes.
    "Smith & Jones DDS, PLLC" -> "smith and jones"."""
    text = _text(raw)
    if text is None:
        return None
    text = remove_accents(text).replace("&", " and ")
    text = " ".join(_SEPARATORS.sub(" ", _JOINING_PUNCTUATION.sub("", text)).split())
    return _strip_suffixes(text, _LOOSE_TERMS)


# --- domains --------------------------------------------------------------------------------
_HOSTNAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
_HOSTNAME_MAX = 253
_WWW = "www."
_MAILTO = "mailto:"


def normalize_domain(raw: str | None) -> str | None:
    """The full host of a URL, e-mail or bare domain, lower-case; None if it is not a host.

    Keeps the full host rather than the registrable domain on purpose: dental practices often
    live on shared hosts (smile.wixsite.com, bright.business.site), and collapsing those to
    wixsite.com would merge unrelated practices into one "match". Only a leading "www." goes.
    """
    text = _text(raw)
    if text is None:
        return None
    host = text.lower()
    host = host.removeprefix(_MAILTO)
    host = host.split("://", 1)[1] if "://" in host else host.removeprefix("//")
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].strip(".")
    if host.startswith(_WWW) and "." in host.removeprefix(_WWW):
        host = host.removeprefix(_WWW)
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if len(host) > _HOSTNAME_MAX or not _HOSTNAME.fullmatch(host):
        return None
    return host


def email_domain(email: str | None) -> str | None:
    """The normalized domain of an address ("Jane <jane@Smile.com>" -> "smile.com")."""
    text = _text(email)
    if text is None:
        return None
    address = parseaddr(text.removeprefix(_MAILTO))[1] or text
    return normalize_domain(address.rsplit("@", 1)[1]) if "@" in address else None


def parse_email_domains(raw: str | None, default: Iterable[str], variable: str) -> frozenset[str]:
    """A list of e-mail domains (comma or whitespace separated) that replaces `default`."""
    text = _text(raw)
    if text is None:
        return frozenset(default)
    domains: set[str] = set()
    for entry in re.split(r"[,\s]+", text):
        if not entry:
            continue
        domain = normalize_domain(entry.lstrip("@"))
        if domain is None:
            raise ValueError(
                f"{variable} entry {entry!r} is not a domain; list domains separated by "
                "commas, e.g. gmail.com,yahoo.com"
            )
        domains.add(domain)
    return frozenset(domains)


def parse_generic_domains(raw: str | None) -> frozenset[str]:
    """GENERIC_EMAIL_DOMAINS replaces the default list of free-mail domains."""
    return parse_email_domains(raw, DEFAULT_GENERIC_EMAIL_DOMAINS, Env.GENERIC_EMAIL_DOMAINS.value)


def parse_internal_domains(raw: str | None) -> frozenset[str]:
    """INTERNAL_YOBI_USER_EMAIL_DOMAINS replaces the default list of Yobi staff domains, whose
    tasks are not customer activity."""
    return parse_email_domains(
        raw, DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS, Env.INTERNAL_YOBI_USER_EMAIL_DOMAINS.value
    )


# --- overrides ------------------------------------------------------------------------------
class OverridesError(ValueError):
    """The overrides JSON is unusable; the message names every bad entry and the fix."""


@dataclass(frozen=True)
class Overrides:
    """Explicit company -> tenant pins, by HubSpot company id or by (normalized) domain."""

    by_company: Mapping[str, int]
    by_domain: Mapping[str, int]

    @classmethod
    def none(cls) -> Overrides:
        return cls(MappingProxyType({}), MappingProxyType({}))

    def for_tenants(self, known_tenant_ids: Collection[int]) -> Overrides:
        """Only the entries naming a known tenant; the rest are reported by their own check."""
        known = frozenset(known_tenant_ids)
        return Overrides(
            MappingProxyType({k: t for k, t in self.by_company.items() if t in known}),
            MappingProxyType({k: t for k, t in self.by_domain.items() if t in known}),
        )


_OVERRIDES_EXAMPLE = '{"1234567": 42, "smile.com": 43}'


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise OverridesError(
                f"{OVERRIDES_VARIABLE}: entry {key!r} appears twice; keep one of them"
            )
        seen[key] = value
    return seen


def _unknown_tenant(key: str, tenant_id: int) -> str:
    return (
        f"entry {key!r}: tenant id {tenant_id} is not in Yobi's tenant list; check the id in "
        f"Yobi admin or remove the entry"
    )


def _tenant_id_problem(key: str, value: object, known: Collection[int] | None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        quoted = isinstance(value, str) and value.isascii() and value.isdigit()
        hint = f"; write it without quotes: {value}" if quoted else ""
        return (
            f"entry {key!r}: tenant id {value!r} ({type(value).__name__}) is not an integer "
            f"Yobi tenant id{hint}"
        )
    if value <= 0:
        return f"entry {key!r}: tenant id {value} must be a positive Yobi tenant id"
    if known is not None and value not in known:
        return _unknown_tenant(key, value)
    return None


def parse_overrides(text: str | None, known_tenant_ids: Collection[int] | None = None) -> Overrides:
    """Validate the overrides JSON object {"<company id>" | "<domain>": <tenant id>}.

    Every problem is collected, so one run shows the whole list to fix. Empty/None means no
    overrides. Two entries for one tenant are refused: a tenant is one customer.
    """
    source = _text(text)
    if source is None:
        return Overrides.none()
    try:
        data = json.loads(source, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise OverridesError(
            f"{OVERRIDES_VARIABLE} is not valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); write an object such as {_OVERRIDES_EXAMPLE}"
        ) from None
    if not isinstance(data, dict):
        raise OverridesError(
            f"{OVERRIDES_VARIABLE} must be a JSON object, got {type(data).__name__} "
            f"{source[:60]!r}; write an object such as {_OVERRIDES_EXAMPLE}"
        )
    known = None if known_tenant_ids is None else frozenset(known_tenant_ids)
    by_company: dict[str, int] = {}
    by_domain: dict[str, int] = {}
    owner: dict[int, str] = {}
    problems: list[str] = []
    for key, value in data.items():
        is_company_id = is_record_id(key)
        domain = None if is_company_id else normalize_domain(key)
        if not is_company_id and domain is None:
            problems.append(
                f"entry {key!r}: key is neither a HubSpot company id (digits, from the "
                f"company's URL) nor a domain such as smile.com"
            )
            continue
        if (problem := _tenant_id_problem(key, value, known)) is not None:
            problems.append(problem)
            continue
        if domain is not None and domain in by_domain:
            problems.append(f"entry {key!r}: domain {domain} is listed twice; keep one entry")
            continue
        if value in owner:
            problems.append(
                f"entry {key!r}: tenant {value} is already pinned by entry {owner[value]!r}; "
                f"a tenant belongs to one company, so keep one of the two"
            )
            continue
        owner[value] = key
        if domain is None:
            by_company[key] = value
        else:
            by_domain[domain] = value
    if problems:
        raise OverridesError(f"{OVERRIDES_VARIABLE}: " + "; ".join(problems))
    return Overrides(MappingProxyType(by_company), MappingProxyType(by_domain))


# --- resolution -----------------------------------------------------------------------------
@dataclass(frozen=True)
class IdentityResult:
    """The company -> tenant table (one row per company), what a human must look at, and each
    unmapped company's look-alike tenants, best first (the mapping's `suggestions` as data)."""

    mapping: pd.DataFrame
    anomalies: list[Anomaly]
    suggestions: Mapping[str, tuple[Suggestion, ...]]


@dataclass(frozen=True)
class _Company:
    company_id: str
    name: str | None
    domain: str | None
    email_domains: tuple[str, ...]
    name_key: str | None
    loose_name_key: str | None


@dataclass(frozen=True)
class _Match:
    method: MatchMethod
    candidates: tuple[int, ...]  # ascending tenant ids
    chosen: int


def _companies(frame: pd.DataFrame, generic: frozenset[str]) -> list[_Company]:
    require_columns(frame, COMPANY_COLUMNS, "companies frame")
    companies: list[_Company] = []
    for row in frame.itertuples(index=False):
        company_id = _text(row.company_id)
        if not is_record_id(company_id):
            raise ValueError(
                f"company id {row.company_id!r} is not a HubSpot record id (a string of digits)"
            )
        domains = (normalize_domain(d) for d in (_text(row.contact_email_domains) or "").split(","))
        domain = normalize_domain(_text(row.domain))
        companies.append(
            _Company(
                company_id=company_id,
                name=_text(row.name),
                domain=None if domain in generic else domain,
                email_domains=tuple(sorted({d for d in domains if d and d not in generic})),
                name_key=normalize_name(_text(row.name)),
                loose_name_key=normalize_name_loosely(_text(row.name)),
            )
        )
    duplicates = sorted(
        (i for i, k in Counter(c.company_id for c in companies).items() if k > 1), key=int
    )
    if duplicates:
        raise ValueError(f"company ids appear more than once: {', '.join(duplicates)}")
    return sorted(companies, key=lambda c: int(c.company_id))


def _index(pairs: Iterable[tuple[str | None, int]]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for key, tenant_id in pairs:
        if key:
            index.setdefault(key, []).append(tenant_id)
    return index


class _Matcher:
    """The tenant list indexed for each layer, plus the ambiguity tie-break."""

    def __init__(
        self, tenants: pd.DataFrame, overrides: Overrides, activity: Mapping[int, int]
    ) -> None:
        require_columns(tenants, TENANT_INPUT_COLUMNS, "tenants frame")
        ids = [int(t) for t in tenants["tenant_id"]]
        if len(set(ids)) != len(ids):
            raise ValueError("tenant ids appear more than once in the Yobi tenant list")
        self.names: dict[int, str] = {
            tid: _text(name) or "" for tid, name in zip(ids, tenants["tenant_name"], strict=True)
        }
        self.loose_name_keys: dict[int, str] = {
            tid: key
            for tid, raw in zip(ids, tenants["loose_name_key"], strict=True)
            if (key := _text(raw))
        }
        self.by_domain = _index(
            (_text(key), tid) for tid, key in zip(ids, tenants["domain_key"], strict=True)
        )
        self.by_name = _index(
            (_text(key), tid) for tid, key in zip(ids, tenants["name_key"], strict=True)
        )
        self.by_loose_name = _index((key, tid) for tid, key in self.loose_name_keys.items())
        self.overrides = overrides
        self.activity = activity
        for key, tid in (*overrides.by_company.items(), *overrides.by_domain.items()):
            if tid not in self.names:
                raise OverridesError(f"{OVERRIDES_VARIABLE}: {_unknown_tenant(key, tid)}")

    def _layers(self, company: _Company) -> Iterable[tuple[MatchMethod, set[int]]]:
        # The spec: contact e-mail domains stand in only when the company has no domain. A
        # company must not borrow another tenant through a contact's address (a DSO's billing
        # staff, say), neither by a domain override nor by a website; it falls through instead.
        domains = (company.domain,) if company.domain else company.email_domains
        pinned = self.overrides.by_company.get(company.company_id)
        yield (
            MatchMethod.OVERRIDE,
            {pinned}
            if pinned is not None
            else {self.overrides.by_domain[d] for d in domains if d in self.overrides.by_domain},
        )
        yield MatchMethod.DOMAIN, set(self.by_domain.get(company.domain or "", ()))
        yield (
            MatchMethod.EMAIL_DOMAIN,
            set()
            if company.domain
            else {tid for d in company.email_domains for tid in self.by_domain.get(d, ())},
        )
        yield MatchMethod.NAME, set(self.by_name.get(company.name_key or "", ()))
        yield MatchMethod.LOOSE_NAME, set(self.by_loose_name.get(company.loose_name_key or "", ()))

    def match(self, company: _Company) -> _Match | None:
        """The first layer with any candidate wins; within it, most active then lowest id."""
        for method, found in self._layers(company):
            if found:
                chosen = min(found, key=lambda t: (-self.activity.get(t, 0), t))
                return _Match(method, tuple(sorted(found)), chosen)
        return None

    def describe(self, tenant_id: int) -> str:
        return f"{tenant_id} {self.names[tenant_id]}"

    def suggestions(self, companies: Sequence[_Company]) -> dict[str, tuple[Suggestion, ...]]:
        """Up to three look-alike tenants per company by fuzzy name, best first (ties: lowest id).

        Scored as one matrix per chunk of companies (rapidfuzz's cdist): thousands of unmapped
        companies against thousands of tenants stay fast without holding the whole matrix.
        """
        named = [c for c in companies if c.loose_name_key is not None]
        tenant_ids = list(self.loose_name_keys)
        found: dict[str, tuple[Suggestion, ...]] = {c.company_id: () for c in companies}
        for start in range(0, len(named) if tenant_ids else 0, SUGGESTION_CHUNK):
            chunk = named[start : start + SUGGESTION_CHUNK]
            scores = process.cdist(
                [c.loose_name_key for c in chunk],
                list(self.loose_name_keys.values()),
                scorer=fuzz.WRatio,
                score_cutoff=SUGGESTION_SCORE_CUTOFF,
                workers=-1,
            )
            for company, row in zip(chunk, scores, strict=True):
                best = sorted((-float(row[i]), tenant_ids[i]) for i in row.nonzero()[0])
                found[company.company_id] = tuple(
                    Suggestion(tid, self.names[tid], math.floor(-neg))
                    for neg, tid in best[:SUGGESTIONS_MAX]
                )
        return found


def _claim_losers(matches: Mapping[str, _Match]) -> dict[str, str]:
    """Loser company id -> winner company id for tenants claimed by several companies."""
    claims: dict[int, list[str]] = {}
    for company_id, match in matches.items():
        claims.setdefault(match.chosen, []).append(company_id)
    losers: dict[str, str] = {}
    for claimants in claims.values():
        ranked = sorted(claimants, key=lambda c: (METHOD_STRENGTH[matches[c].method], int(c)))
        losers.update(dict.fromkeys(ranked[1:], ranked[0]))
    return losers


def _anomaly(company: _Company, kind: AnomalyKind, message: str, **extra: Any) -> Anomaly:
    return Anomaly(
        kind,
        f"{company_label(company.name, company.company_id)}: {message}",
        company_id=company.company_id,
        company_name=company.name,
        **extra,
    )


def _pin_hint(company_id: str) -> str:
    return f'pin it in {OVERRIDES_VARIABLE}: {{"{company_id}": <tenant id>}}'


def _tried(company: _Company) -> str:
    loosely = (
        f" (loosely {company.loose_name_key!r})"
        if company.loose_name_key != company.name_key
        else ""
    )
    return (
        f"domain {company.domain or '(none)'}, contact e-mail domains "
        f"{', '.join(company.email_domains) or '(none)'}, name "
        f"{company.name_key or '(none)'!r}{loosely}"
    )


def _unmapped(
    company: _Company, found: tuple[Suggestion, ...], row: dict[str, object]
) -> list[Anomaly]:
    suggestions = tuple(map(str, found))
    row["suggestions"] = SUGGESTION_SEPARATOR.join(suggestions)
    closest = f"; closest tenants: {', '.join(suggestions)}" if suggestions else ""
    message = (
        f"no Yobi tenant matches its {_tried(company)}{closest}. Left out of the ranking; fix "
        f"the company's domain in HubSpot or {_pin_hint(company.company_id)}"
    )
    return [_anomaly(company, AnomalyKind.UNMAPPED, message, suggestions=suggestions)]


def _claim_lost(
    company: _Company, match: _Match, winner: str, winner_method: MatchMethod, matcher: _Matcher
) -> list[Anomaly]:
    message = (
        f"matched tenant {matcher.describe(match.chosen)} by {match.method}, but company "
        f"{winner} holds it by {winner_method}. Left out of the ranking; merge the duplicate "
        f"in HubSpot, or if it is a separate practice {_pin_hint(company.company_id)}"
    )
    return [_anomaly(company, AnomalyKind.DUPLICATE_CLAIM, message, tenant_id=match.chosen)]


# How a name match is worded in its low-confidence report.
_NAME_EVIDENCE: dict[MatchMethod, str] = {
    MatchMethod.NAME: "by name only",
    MatchMethod.LOOSE_NAME: (
        "by a loose name match only, no tenant having its name as the spec normalizes it "
        "(accents, '&'/'and' and titles such as DDS ignored)"
    ),
}


def _name_key_of(company: _Company, method: MatchMethod) -> str | None:
    return company.loose_name_key if method is MatchMethod.LOOSE_NAME else company.name_key


def _mapped(
    company: _Company, match: _Match, matcher: _Matcher, row: dict[str, object]
) -> list[Anomaly]:
    row.update(
        tenant_id=match.chosen,
        tenant_name=matcher.names[match.chosen],
        method=match.method.value,
        confidence=MATCH_CONFIDENCE[match.method],
        status=AMBIGUOUS if len(match.candidates) > 1 else MAPPED,
    )
    found: list[Anomaly] = []
    if len(match.candidates) > 1:
        listed = tuple(
            f"{matcher.describe(t)} (activity {matcher.activity.get(t, 0)})"
            for t in match.candidates
        )
        message = (
            f"{len(listed)} tenants match by {match.method}: {', '.join(listed)}; chose "
            f"{match.chosen} (most active this week, then lowest id). If that is wrong, "
            f"{_pin_hint(company.company_id)}"
        )
        found.append(
            _anomaly(
                company, AnomalyKind.AMBIGUOUS, message, tenant_id=match.chosen, suggestions=listed
            )
        )
    if match.method in _NAME_EVIDENCE:
        message = (
            f"mapped to tenant {matcher.describe(match.chosen)} "
            f"{_NAME_EVIDENCE[match.method]} ({_name_key_of(company, match.method)!r}); "
            f"confirm it and {_pin_hint(company.company_id)}"
        )
        found.append(_anomaly(company, AnomalyKind.LOW_CONFIDENCE, message, tenant_id=match.chosen))
    return found


# The spec's tie-break between tenants matching one company: the week's activity.
ACTIVITY_METRICS: tuple[Metric, ...] = (Metric.CALLS, Metric.TASKS, Metric.APPOINTMENTS)


def weekly_activity(metrics: pd.DataFrame) -> dict[int, int]:
    """Tenant id -> calls + tasks + appointments this week (missing counts are 0), the
    `activity` that `resolve_tenants` breaks ties with."""
    require_columns(metrics, ("tenant_id", *ACTIVITY_METRICS), "weekly metrics frame")
    totals = metrics.set_index("tenant_id")[list(ACTIVITY_METRICS)].fillna(0).sum(axis=1)
    return {int(t): int(total) for t, total in zip(totals.index, totals, strict=True)}


def resolve_tenants(
    companies: pd.DataFrame,
    tenants: pd.DataFrame,
    overrides: Overrides,
    generic_domains: Collection[str] = DEFAULT_GENERIC_EMAIL_DOMAINS,
    activity: Mapping[int, int] | None = None,
) -> IdentityResult:
    """Map each company to at most one tenant: overrides -> domain -> e-mail domain -> name
    (the spec's normalization) -> name (the looser one, only where the spec's finds nothing).

    `tenants` is core.tenants.tenant_frame's frame (TENANT_INPUT_COLUMNS): its names and
    websites are normalized there once, not again here.

    Ties inside a layer go to the tenant most active this week (`activity`), then the lowest
    tenant id, and are always reported. A tenant claimed by several companies stays with the
    strongest method, then the lowest company id; the others are left unmapped and reported.
    """
    generic = frozenset(generic_domains)
    matcher = _Matcher(tenants, overrides, activity or {})
    parsed = _companies(companies, generic)
    matches = {c.company_id: m for c in parsed if (m := matcher.match(c)) is not None}
    losers = _claim_losers(matches)
    suggestions = matcher.suggestions([c for c in parsed if c.company_id not in matches])
    rows: list[dict[str, object]] = []
    anomalies: list[Anomaly] = []
    for company in parsed:
        match = matches.get(company.company_id)
        row: dict[str, object] = {
            "company_id": company.company_id,
            "name": company.name,
            "tenant_id": None,
            "tenant_name": None,
            "method": None,
            "confidence": None,
            "candidates": "" if match is None else ",".join(map(str, match.candidates)),
            "status": UNMAPPED,
            "suggestions": "",
        }
        if match is None:
            anomalies += _unmapped(company, suggestions[company.company_id], row)
        elif (winner := losers.get(company.company_id)) is not None:
            row["status"] = DUPLICATE_CLAIM
            anomalies += _claim_lost(company, match, winner, matches[winner].method, matcher)
        else:
            anomalies += _mapped(company, match, matcher, row)
        rows.append(row)
    mapping = pd.DataFrame(rows, columns=list(MAPPING_COLUMNS))
    mapping["tenant_id"] = mapping["tenant_id"].astype("Int64")
    return IdentityResult(mapping=mapping, anomalies=anomalies, suggestions=suggestions)
