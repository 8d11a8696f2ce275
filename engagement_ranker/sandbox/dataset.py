"""The sandbox's deliberately messy world: HubSpot companies and contacts, Yobi tenants, usage.

Everything is a pure function of (seed, number of companies, now), so a failing test or a
demo can be reproduced exactly. Each company is generated *for* a role (maps by domain, by
e-mail domain, by name, via an override, is ambiguous, unmapped, a duplicate claim, excluded,
or not a customer), and `truth` records what a correct resolver must conclude, so the
product is tested against intent rather than against itself. Names are drawn from disjoint
"name keys" (what any sane name normalizer leaves of a name), so no two practices collide
unless a role wants them to. Daily usage is drawn per day for all tenants at once with numpy
and cached, so any past week is reproducible and 20,000 companies build in seconds.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from engagement_ranker.constants import (
    CHURNED_STATUS,
    CUSTOMER_LIFECYCLE_STAGE,
    DEFAULT_GENERIC_EMAIL_DOMAINS,
    DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS,
    HUBSPOT_ID_PROPERTY,
    PROP_CUSTOMER_STATUS,
    PROP_INTERNAL_TEST,
    PROP_OWNER,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
    TIER_LABELS,
    MatchMethod,
)
from engagement_ranker.core.scoring import rank_text, tier_for

MAX_COMPANIES = 20_000
NON_CUSTOMER_STAGES: tuple[str, ...] = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "evangelist",
    "other",
)
CUSTOMER_STATUSES: tuple[str, ...] = ("active", "trial", "paused", CHURNED_STATUS)
JUNK_RANK_TEXTS: tuple[str, ...] = ("n/a", "26 of 150", "", "TBD", "0 out of 5", "#12")

# Role counts per 150 companies (the default); rare roles appear at least once from 40 up.
ROLES_PER_150: dict[str, int] = {
    "email_domain": 12,
    "name": 8,
    "override": 3,
    "unmapped": 3,
    "ambiguous": 2,
    "duplicate": 1,  # pairs: one company keeps the tenant, the other is the duplicate claim
    "internal_test": 2,
    "churned": 1,
    "not_customer": 3,
}
RARE_ROLE_MINIMUM: dict[str, int] = {
    "override": 3,
    "unmapped": 1,
    "ambiguous": 2,
    "duplicate": 1,
    "internal_test": 1,
    "churned": 1,
    "not_customer": 1,
}
RARE_ROLES_FROM = 40
# A misspelled name this long or longer still scores 97+ against the right tenant's name.
MISSPELLED_KEY_MIN = 20
YOBI_ONLY_SHARE = 0.06  # tenants with no HubSpot company (churned, trial)
TWIN_PAIRS_PER_150 = 2  # tenant pairs with identical daily counters (exact ties)
ZERO_ACTIVITY_PER_150 = 2
MULTI_LOCATION_SHARE = 0.15
MULTI_COMPANY_CONTACT_SHARE = 0.02
ORPHAN_CUSTOMER_SHARE = 0.02
NO_EMAIL_SHARE = 0.02
PRIOR_VALUE_SHARE = 0.75
JUNK_PRIOR_SHARE = 0.06

# Account managers (HubSpot owners): one per this many companies, at least OWNERS_MIN. The
# last active one has no e-mail address; one more has left (archived, listed only on request)
# and still owns a few companies; some companies have no owner at all.
COMPANIES_PER_OWNER = 30
OWNERS_MIN = 3
UNOWNED_SHARE = 0.08
ARCHIVED_OWNER_SHARE = 0.04
OWNER_ID_START = 41_000_000
OWNER_USER_ID_START = 9_500_000
OWNER_EMAIL_DOMAIN = "sandbox-customer.test"

COMPANY_ID_START = 12_000_000_000
CONTACT_ID_START = 100_000
TENANT_ID_START = 100
LOCATION_ID_START = 5_000
# Weekday (Mon=0) activity factor: dental offices are mostly closed at weekends.
WEEKDAY_FACTOR: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 0.9, 0.4, 0.15)


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    """A name pool written as prose, so the pools stay readable."""
    return tuple(text.split(sep))


_PLACES = _words(
    "Lakeside Harbor Maple Cedar Riverside Sunset Brookfield Willow Oakridge Pinecrest "
    "Meadowbrook Fairview Highland Westgate Eastside Northpoint Southpark Bayview Hillcrest "
    "Greenwood Lakeview Clearwater Springfield Ashford Briarwood Cambridge Chestnut "
    "Cobblestone Crestview Deerfield Elmwood Evergreen Foxboro Glenwood Hampton Hawthorne "
    "Ironwood Juniper Kingsley Larkspur Linden Magnolia Marigold Millbrook Montrose Newport "
    "Oakmont Orchard Parkside Pebble Preston Quarry Ravenwood Redwood Rosewood Sagebrush "
    "Seabrook Shoreline Silverton Stonebridge Summit Sycamore Tanglewood Timberline Trinity "
    "Valley Vista Walnut Waterford Wexford Whitestone Wildflower Windsor Woodland Yardley "
    "Aspen Belmont Canyon"
)
_DESCRIPTORS = _words(
    "Family Cosmetic Pediatric Modern Gentle Complete Advanced Comfort Premier Bright Healthy "
    "Community Village Smile Signature Total Classic Precision Coastal Urban"
)
_KINDS = _words(
    "Dentistry|Dental|Dental Care|Dental Group|Dental Arts|Orthodontics|Smiles|Dental Studio|"
    "Dental Associates|Endodontics|Periodontics|Oral Surgery|Dental Center|Dental Clinic",
    "|",
)
_FIRST = _words(
    "Ana Maria James John Robert Michael David William Richard Joseph Thomas Sarah Jessica "
    "Emily Ashley Laura Priya Wei Mei Omar Fatima Carlos Sofia Lucas Elena Ivan Olga Noah "
    "Liam Grace Chloe Hannah Ethan Mason Logan Aiden Nora Leah Ruth Paul Mark Kevin Brian "
    "Daniel Rachel Megan Tara Nina Rosa Diego Mateo Hugo Julia Clara Irene"
)
_LAST = _words(
    "Ruiz Chen Patel Nguyen Kim Smith Johnson Williams Brown Jones Garcia Miller Davis "
    "Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson "
    "Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young "
    "Allen King Wright Scott Torres Hill Flores Green Adams Nelson Baker Hall Rivera Campbell "
    "Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins "
    "Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson "
    "Bailey Reed Kelly Howard Ramos Cox Ward Richardson Watson Brooks Chavez Wood James "
    "Bennett Gray Mendoza Hughes Price Alvarez Castillo Sanders Myers Long Ross Foster "
    "Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes "
    "Fischer Novak Kowalski Rossi Bianchi Dubois Laurent Schmidt Weber Becker Hoffmann Tanaka"
)
_LEGAL_SUFFIXES = ("", "", "", ", PLLC", " PLLC", " LLC", ", LLC", " Inc.", ", Inc.", " P.C.")
_TITLES = ("DDS", "DMD")
_TLDS = (".com", ".com", ".com", ".com", ".net", ".dental")
_SHARED_HOSTS = (".wixsite.com", ".business.site")
_GENERIC_DOMAINS: tuple[str, ...] = tuple(sorted(DEFAULT_GENERIC_EMAIL_DOMAINS))
_CUSTOMER_LOCAL_PARTS = ("frontdesk", "office", "scheduling", "admin")


@dataclass(frozen=True)
class Practice:
    """A real-world dental practice: the thing both systems describe, each in its own words."""

    key: str  # what a name normalizer leaves: unique per practice unless a role wants a clash
    name: str  # canonical name, no legal suffix
    style: str  # "place", "doctor" or "partners": decides which variants are safe
    domain: str  # canonical host


@dataclass(eq=False)
class _TenantPlan:
    tenant_id: int
    name: str
    website: str | None
    is_active: bool
    activity: str  # "normal", "zero" or "mirror"
    domain_for_users: str | None
    mirror_of: int | None = None  # index of the tenant whose counters this one copies


@dataclass(eq=False)
class _CompanyPlan:
    role: str
    properties: dict[str, str | None]
    truth: dict[str, Any]
    customer_emails: list[str | None] = field(default_factory=list)
    other_emails: list[str | None] = field(default_factory=list)


@dataclass
class DayMetrics:
    """All tenants' counters for one local calendar day, as aligned numpy arrays."""

    calls: np.ndarray  # per tenant index
    user_tasks: np.ndarray  # per user index
    appointments: np.ndarray  # per location index
    new_patients: np.ndarray  # per location index


class Dataset:
    """The seeded world. Mutable copies live in `SandboxState`; this stays pristine."""

    def __init__(self, seed: int, now: datetime) -> None:
        self.seed = seed
        self.now = now
        self.contacts: dict[str, dict[str, str | None]] = {}
        self.companies: dict[str, dict[str, str | None]] = {}
        self.contact_companies: dict[str, list[str]] = {}
        self.tenants: list[dict[str, Any]] = []
        self.locations: list[dict[str, Any]] = []
        self.truth: dict[str, dict[str, Any]] = {}
        self.overrides_json = "{}"
        self.company_property_definitions: dict[str, dict[str, Any]] = {}
        # HubSpot owners as the owners API lists them (`archived` ones only on request).
        self.owners: list[dict[str, Any]] = []
        # Usage model, aligned arrays (index = position in `tenants`, users, `locations`).
        self.tenant_index: dict[int, int] = {}
        self.users: list[tuple[int, str]] = []  # (tenant index, user e-mail)
        self.tenant_users: list[list[int]] = []
        self.tenant_locations: list[list[int]] = []
        self._calls_rate = np.zeros(0)
        self._calls_floor = np.zeros(0, dtype=np.int64)
        self._task_rate = np.zeros(0)
        self._appointment_rate = np.zeros(0)
        self._new_patient_share = np.zeros(0)
        self._mirrors: list[tuple[int, int]] = []  # (tenant index, source tenant index)
        self._day_cache: dict[date, DayMetrics] = {}
        self._day_lock = threading.Lock()

    def day_metrics(self, day: date) -> DayMetrics:
        """Every tenant's full-day counters for `day`: a pure function of (seed, tenant, day)."""
        with self._day_lock:
            cached = self._day_cache.get(day)
        if cached is not None:
            return cached
        rng = np.random.default_rng([self.seed, day.toordinal()])
        factor = WEEKDAY_FACTOR[day.weekday()]
        calls = rng.poisson(self._calls_rate * factor) + self._calls_floor
        user_tasks = rng.poisson(self._task_rate * factor)
        appointments = rng.poisson(self._appointment_rate * factor)
        new_patients = rng.binomial(appointments, self._new_patient_share)
        for tenant, source in self._mirrors:
            calls[tenant] = calls[source]
            for mine, theirs in zip(
                self.tenant_users[tenant], self.tenant_users[source], strict=True
            ):
                user_tasks[mine] = user_tasks[theirs]
            for mine, theirs in zip(
                self.tenant_locations[tenant], self.tenant_locations[source], strict=True
            ):
                appointments[mine] = appointments[theirs]
                new_patients[mine] = new_patients[theirs]
        metrics = DayMetrics(calls, user_tasks, appointments, new_patients)
        with self._day_lock:
            self._day_cache[day] = metrics
        return metrics

    def daily(self, tenant_id: int, day: date) -> dict[str, Any]:
        """One tenant's counters for one local day: calls, tasks by user, per-location figures."""
        index = self.tenant_index[tenant_id]
        metrics = self.day_metrics(day)
        return {
            "date": day.isoformat(),
            "calls": int(metrics.calls[index]),
            "tasks": [
                {"user_email": self.users[u][1], "created": int(metrics.user_tasks[u])}
                for u in self.tenant_users[index]
            ],
            "locations": [
                {
                    "location_id": self.locations[loc]["location_id"],
                    "appointments": int(metrics.appointments[loc]),
                    "new_patients": int(metrics.new_patients[loc]),
                }
                for loc in self.tenant_locations[index]
            ],
        }


def build_dataset(seed: int, companies: int, now: datetime) -> Dataset:
    """The world for `seed` with `companies` HubSpot companies (1..20,000), dated around `now`."""
    if isinstance(companies, bool) or not isinstance(companies, int):
        raise ValueError(f"companies is {companies!r}; give an integer from 1 to {MAX_COMPANIES}")
    if not 1 <= companies <= MAX_COMPANIES:
        raise ValueError(f"companies is {companies}; give a number from 1 to {MAX_COMPANIES}")
    if now.tzinfo is None:
        raise ValueError(f"now is {now!r}, a naive datetime; give a timezone-aware one")
    return _Builder(seed, companies, now).build()


def role_counts(companies: int) -> dict[str, int]:
    """How many companies get each role (duplicate = pairs) for a dataset of this size."""
    counts = {role: round(companies * per / 150) for role, per in ROLES_PER_150.items()}
    if companies >= RARE_ROLES_FROM:
        for role, minimum in RARE_ROLE_MINIMUM.items():
            counts[role] = max(counts[role], minimum)
    while sum(counts.values()) + counts["duplicate"] > companies:
        largest = max(counts, key=lambda role: counts[role])
        counts[largest] -= 1
    counts["domain"] = companies - sum(counts.values()) - counts["duplicate"]
    return counts


class _Builder:
    """Builds one `Dataset`; single use. Keeps the name/domain registries that prevent clashes."""

    def __init__(self, seed: int, companies: int, now: datetime) -> None:
        self.n = companies
        self.now = now
        self.rng = random.Random(seed)
        self.dataset = Dataset(seed, now)
        self.keys: set[str] = set()
        self.domains: set[str] = set()
        self.tenants: list[_TenantPlan] = []
        self.plans: list[_CompanyPlan] = []
        self.overrides: dict[str, int] = {}
        self.multi_company_domains: list[str] = []

    # --- names and domains ------------------------------------------------------------
    def practice(self, style: str | None = None) -> Practice:
        """A practice whose name key and domain no other practice has; of `style` if given."""
        while True:
            roll = self.rng.random() if style is None else _STYLE_ROLLS[style]
            if roll < 0.7:
                words = [self.rng.choice(_PLACES)]
                if self.rng.random() < 0.6:
                    words.append(self.rng.choice(_DESCRIPTORS))
                kind = self.rng.choice(_KINDS)
                name, chosen = " ".join([*words, kind]), "place"
                slug = "".join(words + kind.split()[:1]).lower()
            elif roll < 0.88:
                first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
                name, chosen = f"Dr. {first} {last}", "doctor"
                slug = (
                    f"dr{last}{first}".lower()
                    if self.rng.random() < 0.5
                    else f"{first}{last}dds".lower()
                )
            else:
                one, two = self.rng.sample(_LAST, 2)
                kind = self.rng.choice(_KINDS)
                name, chosen = f"{one} & {two} {kind}", "partners"
                slug = f"{one}{two}{kind.split()[0]}".lower()
            key = _name_key(name)
            if key in self.keys:
                continue
            domain = self.domain(slug)
            self.keys.add(key)
            return Practice(key=key, name=name, style=chosen, domain=domain)

    def domain(self, slug: str) -> str:
        """A host nobody else uses; a few practices live on shared website builders."""
        if self.rng.random() < 0.04:
            candidate = slug + self.rng.choice(_SHARED_HOSTS)
        else:
            candidate = slug + self.rng.choice(_TLDS)
        suffix = 2
        while candidate in self.domains:
            head, _, tail = candidate.partition(".")
            candidate = f"{head.rstrip('0123456789')}{suffix}.{tail}"
            suffix += 1
        self.domains.add(candidate)
        return candidate

    def name_variant(self, practice: Practice, shout: bool = False) -> str:
        """The practice's name as one system spells and writes it."""
        return self.dressed(practice, self.spelling(practice), shout)

    def spelling(self, practice: Practice) -> str:
        """The name as one system spells it: a doctor's title or none, '&' or 'and'. Spellings
        differ under the spec's normalization; only the looser one takes them as equal."""
        name = practice.name
        if practice.style == "doctor":
            if self.rng.random() < 0.6:
                name = f"{name} {self.rng.choice(_TITLES)}"
        elif practice.style == "partners" and self.rng.random() < 0.5:
            name = name.replace(" & ", " and ")
        return name

    def respelled(self, practice: Practice, spelling: str) -> str:
        """Another spelling of a doctor's or partners' practice: the title or the '&' differs."""
        if practice.style == "partners":
            return (
                spelling.replace(" & ", " and ")
                if " & " in spelling
                else spelling.replace(" and ", " & ")
            )
        if spelling != practice.name:
            return practice.name
        return f"{practice.name} {self.rng.choice(_TITLES)}"

    def dressed(self, practice: Practice, spelling: str, shout: bool = False) -> str:
        """A spelling as a record writes it: a legal suffix (never after a doctor's name) and
        case vary, which the spec's normalization forgives."""
        name = spelling
        if practice.style != "doctor":
            name += self.rng.choice(_LEGAL_SUFFIXES)
        if shout or self.rng.random() < 0.08:
            name = name.upper()
        elif self.rng.random() < 0.05:
            name = name.lower()
        return name

    def domain_variant(self, host: str) -> str:
        """How a person typed the website into a CRM: scheme, www., paths, ports, case."""
        forms = (
            host,
            host,
            f"www.{host}",
            f"https://{host}",
            f"https://www.{host}/",
            f"http://{host}/contact-us",
            f"HTTPS://WWW.{host.upper()}",
            f"{host}:443",
            f"http://www.{host}:8080/home?ref=crm",
            f" {host}/ ",
        )
        return self.rng.choice(forms)

    def website_variant(self, host: str) -> str:
        """How Yobi stores a tenant's website."""
        return self.rng.choice((host, f"https://{host}", f"www.{host}", f"http://www.{host}/"))

    # --- tenants ------------------------------------------------------------------------
    def tenant(
        self,
        name: str,
        website: str | None,
        users_domain: str | None,
        activity: str = "normal",
        is_active: bool = True,
    ) -> _TenantPlan:
        plan = _TenantPlan(
            tenant_id=0,
            name=name,
            website=website,
            is_active=is_active,
            activity=activity,
            domain_for_users=users_domain,
        )
        self.tenants.append(plan)
        return plan

    # --- companies ----------------------------------------------------------------------
    def company(
        self,
        role: str,
        name: str,
        domain: str | None,
        expected: str,
        tenant: _TenantPlan | None,
        method: MatchMethod | None,
        reason: str,
        customer_emails: list[str | None],
        **properties: str | None,
    ) -> _CompanyPlan:
        plan = _CompanyPlan(
            role=role,
            properties={"name": name, "domain": domain, **properties},
            truth={
                "name": name,
                "expected": expected,
                "tenant": tenant,
                "method": None if method is None else method.value,
                "reason": reason,
            },
            customer_emails=customer_emails,
        )
        self.plans.append(plan)
        return plan

    def emails(self, host: str | None, count: int, at_least_one_own: bool) -> list[str | None]:
        """Customer contact e-mails: mostly at the practice's host, some generic, few absent."""
        result: list[str | None] = []
        for i in range(count):
            roll = self.rng.random()
            own = host is not None and (roll < 0.7 or (at_least_one_own and i == 0))
            if not own and roll > 1 - NO_EMAIL_SHARE and not (at_least_one_own and i == 0):
                result.append(None)
                continue
            first, last = self.rng.choice(_FIRST).lower(), self.rng.choice(_LAST).lower()
            if own:
                local = self.rng.choice(
                    (*_CUSTOMER_LOCAL_PARTS, f"{first}.{last}", f"{first[0]}{last}")
                )
                result.append(f"{local}@{host}")
            else:
                result.append(
                    f"{first}.{last}{self.rng.randint(1, 99)}@{self.rng.choice(_GENERIC_DOMAINS)}"
                )
        return result

    def generic_emails(self, count: int) -> list[str | None]:
        return self.emails(None, count, at_least_one_own=False)

    def contact_count(self) -> int:
        return self.rng.choices((1, 2, 3, 4), weights=(2, 3, 3, 2))[0]

    def role_domain(self, zero: bool = False, mirror: bool = False) -> _CompanyPlan:
        p = self.practice()
        activity = "zero" if zero else "mirror" if mirror else "normal"
        tenant = self.tenant(
            self.name_variant(p), self.website_variant(p.domain), p.domain, activity
        )
        return self.company(
            "domain",
            self.name_variant(p),
            self.domain_variant(p.domain),
            "mapped",
            tenant,
            MatchMethod.DOMAIN,
            f"company domain {p.domain} is the website of tenant {p.name!r}",
            self.emails(p.domain, self.contact_count(), at_least_one_own=False),
        )

    def role_email_domain(self) -> _CompanyPlan:
        p = self.practice()
        tenant = self.tenant(self.name_variant(p), self.website_variant(p.domain), p.domain)
        return self.company(
            "email_domain",
            self.name_variant(p),
            self.rng.choice((None, "")),
            "mapped",
            tenant,
            MatchMethod.EMAIL_DOMAIN,
            f"no company domain; customer contacts write from {p.domain}, the tenant's website",
            self.emails(p.domain, self.contact_count(), at_least_one_own=True),
        )

    def role_name(self, variant: int) -> _CompanyPlan:
        """Found by name alone. 0: both systems spell it alike; 1: spellings only the looser
        normalization equates; 2: Yobi also holds a respelled twin tenant (equal activity, lower
        id), which the spec's normalization must not take."""
        p = self.practice(None if variant == 0 else self.rng.choice(_RESPELLABLE))
        spelling = self.spelling(p)
        website = self.website_variant(p.domain) if self.rng.random() < 0.4 else None
        company_spelling = self.respelled(p, spelling) if variant == 1 else spelling
        tenant = self.tenant(self.dressed(p, spelling), website, p.domain)
        stale = (
            self.domain_variant(self.domain(p.key.replace(" ", "") + "old"))
            if (self.rng.random() < 0.4)
            else None
        )
        if variant == 1:
            method, reason = (
                MatchMethod.LOOSE_NAME,
                "no usable domain and only generic contact e-mail; the names agree only once "
                "'&'/'and' or the doctor's title is ignored",
            )
        else:
            method, reason = (
                MatchMethod.NAME,
                "no usable domain and only generic contact e-mail; names agree once normalized "
                "as the spec says",
            )
        plan = self.company(
            "name",
            self.dressed(p, company_spelling),
            stale,
            "mapped",
            tenant,
            method,
            reason,
            self.generic_emails(self.contact_count()),
        )
        if variant == 2:
            twin = self.tenant(
                self.dressed(p, self.respelled(p, spelling)), None, p.domain, "mirror"
            )
            twin.mirror_of = self.tenants.index(tenant)
            plan.truth["decoy"] = twin
            plan.truth["reason"] += (
                "; a tenant spelled differently has the same activity and a lower id"
            )
        return plan

    def role_override(self, variant: int) -> _CompanyPlan:
        if variant == 0:
            old, new = self.practice(), self.practice()
            tenant = self.tenant(
                self.name_variant(old), self.website_variant(old.domain), old.domain
            )
            plan = self.company(
                "override",
                self.name_variant(new),
                self.domain_variant(new.domain),
                "mapped",
                tenant,
                MatchMethod.OVERRIDE,
                f"practice renamed from {old.name!r}; only the company-id override links them",
                self.emails(new.domain, self.contact_count(), at_least_one_own=True),
            )
            plan.truth["override_key"] = "company"
            return plan
        if variant == 1:
            brand, entity = self.practice(), self.practice()
            tenant = self.tenant(self.name_variant(entity), None, entity.domain)
            plan = self.company(
                "override",
                self.name_variant(brand),
                self.domain_variant(brand.domain),
                "mapped",
                tenant,
                MatchMethod.OVERRIDE,
                f"Yobi knows the legal entity {entity.name!r}; a domain override links them",
                self.emails(brand.domain, self.contact_count(), at_least_one_own=True),
            )
            plan.truth["override_key"] = brand.domain
            return plan
        lookalike, real = self.practice(), self.practice()
        self.tenant(self.name_variant(lookalike), None, lookalike.domain)  # the decoy
        tenant = self.tenant(self.name_variant(real), None, real.domain)
        plan = self.company(
            "override",
            self.name_variant(lookalike),
            None,
            "mapped",
            tenant,
            MatchMethod.OVERRIDE,
            "its name matches another practice's tenant; the override wins over the name match",
            self.generic_emails(self.contact_count()),
        )
        plan.truth["override_key"] = "company"
        return plan

    def role_unmapped(self, variant: int) -> _CompanyPlan:
        """Matched by nothing. 0: HubSpot misspells a practice Yobi knows, so the closest
        tenant is its own (an override the draft may pre-fill); 1: Yobi has no such tenant."""
        p = self.practice("place" if variant == 0 else None)
        while variant == 0 and len(p.key) < MISSPELLED_KEY_MIN:
            p = self.practice("place")
        own = self.rng.random() < 0.5
        if variant == 0:
            tenant = self.tenant(self.name_variant(p), None, p.domain)
            name = self.misspelled(self.name_variant(p))
            reason = "its name is misspelled in HubSpot and no tenant has its domain or e-mail"
        else:
            name = self.name_variant(p)
            reason = "no tenant has its domain, its contacts' e-mail domains or its name"
        plan = self.company(
            "unmapped",
            name,
            self.domain_variant(p.domain) if own else None,
            "unmapped",
            None,
            None,
            reason,
            self.emails(p.domain if own else None, self.contact_count(), at_least_one_own=False),
        )
        if variant == 0:
            plan.truth["suggested"] = tenant
        return plan

    def misspelled(self, name: str) -> str:
        """`name` with one inner letter of its longest word dropped or doubled, a typo a person
        confirms at a glance; never another practice's name key."""
        while True:
            words = name.split(" ")
            longest = max(range(len(words)), key=lambda k: (len(words[k]), -k))
            word = words[longest]
            at = self.rng.randrange(1, len(word) - 1)
            kept = word[at + 1 :] if self.rng.random() < 0.5 else word[at:]  # drop or double
            words[longest] = word[:at] + kept
            typo = " ".join(words)
            if _name_key(typo) not in self.keys:
                self.keys.add(_name_key(typo))
                return typo

    def role_ambiguous(self, variant: int) -> _CompanyPlan:
        p = self.practice()
        if variant == 0:
            winner = self.tenant(self.name_variant(p), self.website_variant(p.domain), p.domain)
            loser_name = f"{p.name} Legacy Account"
            self.keys.add(_name_key(loser_name))
            loser = self.tenant(
                loser_name, self.website_variant(p.domain), p.domain, "zero", is_active=False
            )
            method = MatchMethod.DOMAIN
            domain: str | None = self.domain_variant(p.domain)
            emails = self.emails(p.domain, self.contact_count(), at_least_one_own=False)
            reason = "two tenants share its domain; the active one wins, the other is idle"
            name = self.name_variant(p)
        else:
            spelling = self.spelling(p)
            winner = self.tenant(self.dressed(p, spelling), None, p.domain)
            loser = self.tenant(self.dressed(p, spelling, shout=True), None, None, "zero")
            method = MatchMethod.NAME
            domain = None
            emails = self.generic_emails(self.contact_count())
            reason = "two tenants share its normalized name; the active one wins, the other is idle"
            name = self.dressed(p, spelling)
        plan = self.company("ambiguous", name, domain, "ambiguous", winner, method, reason, emails)
        plan.truth["candidates"] = (winner, loser)
        return plan

    def role_duplicate(self, variant: int) -> tuple[_CompanyPlan, _CompanyPlan]:
        """(keeper, loser): by method when variant is 0, else by lower company id."""
        p = self.practice()
        spelling = self.spelling(p)
        tenant = self.tenant(self.dressed(p, spelling), self.website_variant(p.domain), p.domain)
        keeper = self.company(
            "duplicate_keeper",
            self.name_variant(p),
            self.domain_variant(p.domain),
            "mapped",
            tenant,
            MatchMethod.DOMAIN,
            "one of two companies claiming this tenant; it keeps it",
            self.emails(p.domain, self.contact_count(), at_least_one_own=False),
        )
        claim = MatchMethod.NAME if variant == 0 else MatchMethod.DOMAIN
        if variant == 0:
            loser = self.company(
                "duplicate_loser",
                self.dressed(p, spelling),
                None,
                "duplicate_claim",
                None,
                None,
                "a duplicate record matching by name a tenant another company matches by domain",
                self.generic_emails(self.contact_count()),
            )
        else:
            loser = self.company(
                "duplicate_loser",
                self.name_variant(p),
                self.domain_variant(p.domain),
                "duplicate_claim",
                None,
                None,
                "a duplicate record with the same domain and a higher company id",
                self.emails(p.domain, self.contact_count(), at_least_one_own=False),
            )
        loser.truth["claimed"] = (tenant, claim)
        return keeper, loser

    def role_internal_test(self, k: int) -> _CompanyPlan:
        name = f"Yobi Internal Test Practice {k}"
        host = f"test{k}.{DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS[0]}"
        self.keys.add(_name_key(name))
        self.domains.add(host)
        self.tenant(f"QA Sandbox Tenant {k}", host, host)
        return self.company(
            "internal_test",
            name,
            host,
            "excluded",
            None,
            None,
            f"{PROP_INTERNAL_TEST} is true",
            [f"qa+{k}@{DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS[0]}"],
            **{PROP_INTERNAL_TEST: "true"},
        )

    def role_churned(self) -> _CompanyPlan:
        p = self.practice()
        self.tenant(self.name_variant(p), self.website_variant(p.domain), p.domain, "zero", False)
        return self.company(
            "churned",
            self.name_variant(p),
            self.domain_variant(p.domain),
            "excluded",
            None,
            None,
            f"{PROP_CUSTOMER_STATUS} is {CHURNED_STATUS}",
            self.emails(p.domain, self.contact_count(), at_least_one_own=False),
            **{PROP_CUSTOMER_STATUS: CHURNED_STATUS},
        )

    def role_not_customer(self) -> _CompanyPlan:
        p = self.practice()
        if self.rng.random() < 0.5:
            self.tenant(self.name_variant(p), self.website_variant(p.domain), p.domain)
        plan = self.company(
            "not_customer",
            self.name_variant(p),
            self.domain_variant(p.domain),
            "not_customer",
            None,
            None,
            "none of its contacts has lifecyclestage customer",
            [],
        )
        plan.other_emails = self.emails(p.domain, self.rng.randint(0, 3), at_least_one_own=False)
        return plan

    # --- assembly -----------------------------------------------------------------------
    def build(self) -> Dataset:
        counts = role_counts(self.n)
        twins = min(round(self.n * TWIN_PAIRS_PER_150 / 150), counts["domain"] // 3)
        zeros = min(round(self.n * ZERO_ACTIVITY_PER_150 / 150), counts["domain"] // 3)
        order: list[list[_CompanyPlan]] = []  # each entry: companies that are placed together
        for _ in range(twins):
            source = self.role_domain()
            mirror = self.role_domain(mirror=True)
            mirror.truth["tenant"].mirror_of = self.tenants.index(source.truth["tenant"])
            order += [[source], [mirror]]
        order += [[self.role_domain(zero=True)] for _ in range(zeros)]
        order += [[self.role_domain()] for _ in range(counts["domain"] - 2 * twins - zeros)]
        order += [[self.role_email_domain()] for _ in range(counts["email_domain"])]
        order += [[self.role_name(i % 3)] for i in range(counts["name"])]
        order += [[self.role_override(i % 3)] for i in range(counts["override"])]
        order += [[self.role_unmapped(i % 2)] for i in range(counts["unmapped"])]
        order += [[self.role_ambiguous(i % 2)] for i in range(counts["ambiguous"])]
        order += [list(self.role_duplicate(i % 2)) for i in range(counts["duplicate"])]
        order += [[self.role_internal_test(i + 1)] for i in range(counts["internal_test"])]
        order += [[self.role_churned()] for _ in range(counts["churned"])]
        order += [[self.role_not_customer()] for _ in range(counts["not_customer"])]
        for _ in range(round(self.n * YOBI_ONLY_SHARE)):
            p = self.practice()
            active = self.rng.random() < 0.4
            website = self.website_variant(p.domain) if self.rng.random() < 0.7 else None
            self.tenant(
                self.name_variant(p), website, p.domain, "normal" if active else "zero", active
            )
        self.multi_company_domains = [
            self.domain(f"{self.rng.choice(_LAST).lower()}dentalpartners")
        ]
        placed = self.place(order)
        self.assign_tenant_ids()
        self.emit_tenants()
        self.emit_companies(placed)
        self.emit_contacts(placed)
        self.emit_prior_values(placed)
        self.emit_owners()
        self.dataset.company_property_definitions = _company_property_definitions(self.now)
        return self.dataset

    def place(self, order: list[list[_CompanyPlan]]) -> list[tuple[str, _CompanyPlan]]:
        """Shuffle companies into id order; a duplicate pair's ids follow its rule."""
        self.rng.shuffle(order)
        slots = [plan for group in order for plan in group]
        self.rng.shuffle(slots)
        position = {id(plan): i for i, plan in enumerate(slots)}
        for group in order:
            if len(group) == 2:
                keeper, loser = group
                i, j = position[id(keeper)], position[id(loser)]
                keeper_first = loser.truth["claimed"][1] == MatchMethod.DOMAIN
                if (i < j) != keeper_first:
                    slots[i], slots[j] = slots[j], slots[i]
        company_id = COMPANY_ID_START
        placed = []
        for plan in slots:
            company_id += self.rng.randint(1, 4_000)
            placed.append((str(company_id), plan))
        return placed

    def assign_tenant_ids(self) -> None:
        ids = self.rng.sample(
            range(TENANT_ID_START, TENANT_ID_START + 4 * len(self.tenants)), len(self.tenants)
        )
        for tenant_plan, tenant_id in zip(self.tenants, ids, strict=True):
            tenant_plan.tenant_id = tenant_id
        for plan in self.plans:
            if "candidates" in plan.truth:
                winner, loser = plan.truth["candidates"]
                if winner.tenant_id < loser.tenant_id:  # so "lowest id" would pick wrong
                    winner.tenant_id, loser.tenant_id = loser.tenant_id, winner.tenant_id
            decoy = plan.truth.get("decoy")
            if decoy is not None and decoy.tenant_id > plan.truth["tenant"].tenant_id:
                tenant = plan.truth["tenant"]  # the lowest id goes to the respelled twin
                decoy.tenant_id, tenant.tenant_id = tenant.tenant_id, decoy.tenant_id

    def emit_tenants(self) -> None:
        """Tenants, locations, users and usage rates; mirrors (exact-tie twins) go last."""
        ds = self.dataset
        plans = sorted(self.tenants, key=lambda t: t.tenant_id)
        index_of = {id(plan): i for i, plan in enumerate(plans)}
        ds.tenant_locations = [[] for _ in plans]
        ds.tenant_users = [[] for _ in plans]
        calls_rate = [0.0] * len(plans)
        calls_floor = [0] * len(plans)
        for index, plan in enumerate(plans):
            ds.tenant_index[plan.tenant_id] = index
            ds.tenants.append(
                {
                    "tenant_id": plan.tenant_id,
                    "tenant_name": plan.name,
                    "website": plan.website,
                    "is_active": plan.is_active,
                }
            )
        rates = _UsageRates()
        for index, plan in enumerate(plans):
            if plan.mirror_of is None:
                size = self.rng.lognormvariate(0, 0.6) if plan.activity == "normal" else 0.0
                calls_rate[index] = 24 * size
                calls_floor[index] = 1 if size else 0
                self.usage(index, plan, size, rates)
        for index, plan in enumerate(plans):
            if plan.mirror_of is not None:
                source = index_of[id(self.tenants[plan.mirror_of])]
                self.mirror_usage(index, plan, source, rates)
                ds._mirrors.append((index, source))
        ds._calls_rate = np.array(calls_rate)
        ds._calls_floor = np.array(calls_floor, dtype=np.int64)
        ds._task_rate = np.array(rates.tasks)
        ds._appointment_rate = np.array(rates.appointments)
        ds._new_patient_share = np.array(rates.new_patient_share)

    def add_location(self, index: int, plan: _TenantPlan, label: str) -> None:
        ds = self.dataset
        previous = ds.locations[-1]["location_id"] if ds.locations else LOCATION_ID_START
        ds.locations.append(
            {
                "location_id": previous + self.rng.randint(1, 9),
                "tenant_id": plan.tenant_id,
                "name": f"{plan.name} - {label}",
            }
        )
        ds.tenant_locations[index].append(len(ds.locations) - 1)

    def add_user(self, index: int, email: str) -> None:
        ds = self.dataset
        ds.users.append((index, email))
        ds.tenant_users[index].append(len(ds.users) - 1)

    def usage(self, index: int, plan: _TenantPlan, size: float, rates: _UsageRates) -> None:
        """Locations and users of a tenant with its own activity (size 0: none at all)."""
        n_locations = 1
        if self.rng.random() < MULTI_LOCATION_SHARE:
            n_locations = self.rng.randint(2, 4)
        for k in range(n_locations):
            self.add_location(index, plan, "Main Office" if k == 0 else f"{_PLACES[k]} Office")
            rates.appointments.append(16 * size / n_locations)
            rates.new_patient_share.append(self.rng.uniform(0.08, 0.25))
        host = plan.domain_for_users
        if host is None:
            first = self.rng.choice(_FIRST).lower()
            emails = [f"{first}.office@{self.rng.choice(_GENERIC_DOMAINS)}"]
        else:
            parts = self.rng.sample(_CUSTOMER_LOCAL_PARTS, self.rng.randint(1, 3))
            emails = [f"{part}@{host}" for part in parts]
        for email in emails:
            self.add_user(index, email)
            rates.tasks.append(5 * size / len(emails))
        for internal, share, rate in zip(_INTERNAL_USERS, (0.3, 0.15), (0.8, 0.5), strict=True):
            if size and self.rng.random() < share:
                self.add_user(index, internal)
                rates.tasks.append(rate)

    def mirror_usage(self, index: int, plan: _TenantPlan, source: int, rates: _UsageRates) -> None:
        """The same number of locations and users as `source`; counters are copied per day."""
        ds = self.dataset
        for k in range(len(ds.tenant_locations[source])):
            self.add_location(index, plan, "Main Office" if k == 0 else f"{_PLACES[k]} Office")
            rates.appointments.append(0.0)
            rates.new_patient_share.append(0.0)
        for k, user in enumerate(ds.tenant_users[source]):
            email = ds.users[user][1]
            if email not in _INTERNAL_USERS:
                email = f"staff{k}@{plan.domain_for_users}"
            self.add_user(index, email)
            rates.tasks.append(0.0)

    def emit_companies(self, placed: list[tuple[str, _CompanyPlan]]) -> None:
        """HubSpot company records, the truth table and the overrides the dataset needs."""
        ds = self.dataset
        for company_id, plan in placed:
            created = self.instant_before(self.now, 1_500)
            properties: dict[str, str | None] = {
                "name": plan.properties["name"],
                "domain": plan.properties["domain"],
                PROP_SCORE: None,
                PROP_RANK: None,
                PROP_TIER: None,
                PROP_INTERNAL_TEST: plan.properties.get(
                    PROP_INTERNAL_TEST, self.rng.choice((None, "false"))
                ),
                PROP_CUSTOMER_STATUS: plan.properties.get(
                    PROP_CUSTOMER_STATUS, self.rng.choice((None, "active", "active"))
                ),
                HUBSPOT_ID_PROPERTY: company_id,
                "createdate": hubspot_timestamp(created),
                "lastmodifieddate": hubspot_timestamp(self.instant_between(created, self.now)),
            }
            ds.companies[company_id] = properties
            truth = plan.truth
            tenant = truth["tenant"]
            entry: dict[str, Any] = {
                "company_id": company_id,
                "name": truth["name"],
                "expected": truth["expected"],
                "tenant_id": None if tenant is None else tenant.tenant_id,
                "method": truth["method"],
                "reason": truth["reason"],
            }
            if "candidates" in truth:
                entry["candidates"] = sorted(t.tenant_id for t in truth["candidates"])
            if "suggested" in truth:
                entry["suggested_tenant_id"] = truth["suggested"].tenant_id
            if "decoy" in truth:
                entry["decoy_tenant_id"] = truth["decoy"].tenant_id
            if "claimed" in truth:
                claimed, claim = truth["claimed"]
                entry["claimed_tenant_id"] = claimed.tenant_id
                entry["claim_method"] = claim.value
            ds.truth[company_id] = entry
            override_key = truth.get("override_key")
            if override_key is not None:
                key = company_id if override_key == "company" else override_key
                self.overrides[key] = tenant.tenant_id
        ds.overrides_json = json.dumps(dict(sorted(self.overrides.items())))

    def emit_contacts(self, placed: list[tuple[str, _CompanyPlan]]) -> None:
        """Contacts in every lifecycle stage; some customers span companies, some have none."""
        ds = self.dataset
        pending: list[tuple[str | None, str, list[str]]] = []  # (email, stage, company ids)
        spanning: list[str] = []
        for company_id, plan in placed:
            for email in plan.customer_emails:
                pending.append((email, CUSTOMER_LIFECYCLE_STAGE, [company_id]))
            others = plan.other_emails or self.emails(
                _host_of(plan.customer_emails), self.rng.choices((0, 1, 2), (5, 3, 2))[0], False
            )
            for email in others:
                pending.append((email, self.rng.choice(NON_CUSTOMER_STAGES), [company_id]))
            if plan.role in _SPANNABLE_ROLES:
                spanning.append(company_id)
        for _ in range(round(self.n * MULTI_COMPANY_CONTACT_SHARE)):
            if len(spanning) < 2:
                break
            companies = self.rng.sample(spanning, self.rng.randint(2, min(3, len(spanning))))
            first, last = self.rng.choice(_FIRST).lower(), self.rng.choice(_LAST).lower()
            host = self.rng.choice((*self.multi_company_domains, self.rng.choice(_GENERIC_DOMAINS)))
            pending.append((f"{first}.{last}@{host}", CUSTOMER_LIFECYCLE_STAGE, companies))
        for email in self.generic_emails(round(self.n * ORPHAN_CUSTOMER_SHARE)):
            pending.append((email, CUSTOMER_LIFECYCLE_STAGE, []))
        for email in self.generic_emails(round(self.n * 0.1)):
            pending.append((email, self.rng.choice(NON_CUSTOMER_STAGES), []))
        self.rng.shuffle(pending)
        contact_id = CONTACT_ID_START
        for email, stage, companies in pending:
            contact_id += self.rng.randint(1, 40)
            cid = str(contact_id)
            created = self.instant_before(self.now, 1_200)
            firstname, lastname = _names_from(email, self.rng)
            ds.contacts[cid] = {
                HUBSPOT_ID_PROPERTY: cid,
                "email": email,
                "firstname": firstname,
                "lastname": lastname,
                "lifecyclestage": stage,
                "createdate": hubspot_timestamp(created),
                "lastmodifieddate": hubspot_timestamp(self.instant_between(created, self.now)),
            }
            if companies:
                ds.contact_companies[cid] = companies

    def emit_prior_values(self, placed: list[tuple[str, _CompanyPlan]]) -> None:
        """Last week's engagement values on most ranked companies, junk on a few."""
        ds = self.dataset
        rankable = [cid for cid, plan in placed if plan.truth["expected"] in _RANKED]
        prior = [cid for cid in rankable if self.rng.random() < PRIOR_VALUE_SHARE]
        self.rng.shuffle(prior)
        n = len(prior)
        scores = sorted((self.rng.randint(0, 900) for _ in prior), reverse=True)
        for rank, (cid, score) in enumerate(zip(prior, scores, strict=True), start=1):
            ds.companies[cid][PROP_SCORE] = str(score)
            ds.companies[cid][PROP_RANK] = rank_text(rank, n)
            ds.companies[cid][PROP_TIER] = tier_for(rank, n)
        for cid, _plan in placed:
            if self.rng.random() < JUNK_PRIOR_SHARE:
                ds.companies[cid][PROP_RANK] = self.rng.choice(JUNK_RANK_TEXTS)

    def emit_owners(self) -> None:
        """Account managers and the companies each owns, from a random stream of their own
        (so every other part of the world is what it was before owners existed)."""
        ds = self.dataset
        rng = random.Random(f"owners:{ds.seed}")
        active = max(OWNERS_MIN, round(self.n / COMPANIES_PER_OWNER))
        stamp = hubspot_timestamp(self.now - timedelta(days=700))
        for k in range(active + 1):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            owner: dict[str, Any] = {
                "id": str(OWNER_ID_START + 97 * (k + 1)),
                "email": f"{first.lower()}.{last.lower()}@{OWNER_EMAIL_DOMAIN}",
                "type": "PERSON",
                "firstName": first,
                "lastName": last,
                "userId": OWNER_USER_ID_START + k,
                "userIdIncludingInactive": OWNER_USER_ID_START + k,
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": k == active,
                "teams": [],
            }
            if k == active - 1:
                del owner["email"]  # a user HubSpot holds no e-mail address for
            if k == active:
                owner["userId"] = None  # archived: the user has left
            ds.owners.append(owner)
        listed = [o["id"] for o in ds.owners if not o["archived"]]
        archived = [o["id"] for o in ds.owners if o["archived"]]
        for company_id in sorted(ds.companies, key=int):
            roll = rng.random()
            owner_id = (
                None
                if roll < UNOWNED_SHARE
                else archived[0]
                if roll < UNOWNED_SHARE + ARCHIVED_OWNER_SHARE
                else rng.choice(listed)
            )
            ds.companies[company_id][PROP_OWNER] = owner_id

    def instant_before(self, end: datetime, max_days: int) -> datetime:
        return end - timedelta(seconds=self.rng.randint(86_400, max_days * 86_400))

    def instant_between(self, start: datetime, end: datetime) -> datetime:
        span = max(int((end - start).total_seconds()), 1)
        return start + timedelta(
            seconds=self.rng.randint(0, span), milliseconds=self.rng.randint(0, 999)
        )


@dataclass
class _UsageRates:
    """Per-user task rates and per-location appointment rates, appended as built."""

    tasks: list[float] = field(default_factory=list)
    appointments: list[float] = field(default_factory=list)
    new_patient_share: list[float] = field(default_factory=list)


_INTERNAL_USERS: tuple[str, ...] = (
    f"ops@{DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS[0]}",
    f"support@{DEFAULT_INTERNAL_YOBI_EMAIL_DOMAINS[1]}",
)
# The practice styles whose spelling varies beyond case and legal suffix, and the roll that
# `practice` draws each style with.
_RESPELLABLE: tuple[str, ...] = ("doctor", "partners")
_STYLE_ROLLS: dict[str, float] = {"place": 0.0, "doctor": 0.7, "partners": 0.88}
_SPANNABLE_ROLES = frozenset({"domain", "email_domain", "name", "unmapped"})
_RANKED = frozenset({"mapped", "ambiguous"})


def _name_key(name: str) -> str:
    """What any reasonable normalizer leaves of a name: lower words, '&' as 'and', no titles."""
    words = name.lower().replace("&", " and ").replace(".", " ").replace(",", " ").split()
    return " ".join(w for w in words if w not in {"dds", "dmd", "pllc", "llc", "inc", "p", "c"})


def _host_of(emails: list[str | None]) -> str | None:
    """The practice host among a company's customer e-mails (first non-generic one)."""
    for email in emails:
        if email is not None:
            host = email.rsplit("@", 1)[1]
            if host not in DEFAULT_GENERIC_EMAIL_DOMAINS:
                return host
    return None


def _names_from(email: str | None, rng: random.Random) -> tuple[str | None, str | None]:
    """A contact's first and last name, from its e-mail where it has them."""
    local = (email or "").split("@")[0]
    if "." in local:
        first, last = local.split(".", 1)
        return first.title(), last.rstrip("0123456789").title()
    if rng.random() < 0.1:
        return None, None
    return rng.choice(_FIRST), rng.choice(_LAST)


def hubspot_timestamp(instant: datetime) -> str:
    """HubSpot's timestamp style: UTC, milliseconds, trailing Z."""
    return (
        instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{instant.microsecond // 1000:03d}Z"
    )


def _company_property_definitions(now: datetime) -> dict[str, dict[str, Any]]:
    """The company properties the product reads and writes, as HubSpot describes them."""
    stamp = hubspot_timestamp(now - timedelta(days=400))

    def definition(
        name: str,
        label: str,
        type_: str,
        field_type: str,
        options: tuple[tuple[str, str], ...] = (),
        hubspot_defined: bool = False,
    ) -> dict[str, Any]:
        return {
            "name": name,
            "label": label,
            "type": type_,
            "fieldType": field_type,
            "description": "",
            "groupName": "companyinformation",
            "options": [
                {"label": lbl, "value": value, "displayOrder": i, "hidden": False}
                for i, (lbl, value) in enumerate(options)
            ],
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": False,
            "hidden": False,
            "hubspotDefined": hubspot_defined,
            "formField": True,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
            "modificationMetadata": {
                "archivable": not hubspot_defined,
                "readOnlyDefinition": hubspot_defined,
                "readOnlyValue": False,
                "readOnlyOptions": False,
            },
        }

    definitions = (
        definition("name", "Name", "string", "text", hubspot_defined=True),
        definition("domain", "Company Domain Name", "string", "text", hubspot_defined=True),
        definition(PROP_SCORE, "Customer engagement score", "number", "number"),
        definition(PROP_RANK, "Customer engagement rank", "string", "text"),
        definition(
            PROP_TIER,
            "Customer engagement tier",
            "enumeration",
            "select",
            tuple((label, label) for label in TIER_LABELS),
        ),
        definition(
            PROP_INTERNAL_TEST,
            "Internal test company",
            "bool",
            "booleancheckbox",
            (("True", "true"), ("False", "false")),
        ),
        definition(
            PROP_CUSTOMER_STATUS,
            "Customer status",
            "enumeration",
            "select",
            tuple((status.title(), status) for status in CUSTOMER_STATUSES),
        ),
    )
    return {d["name"]: d for d in definitions}
