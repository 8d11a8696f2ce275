"""The customer universe: customer contacts -> their companies, deduplicated, exclusions marked.

Excluded companies stay in the frame with a reason, so the summary can say who was left out and
why; everything downstream ranks only rows whose `excluded_reason` is empty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from engagement_ranker.constants import (
    CHURNED_STATUS,
    COMPANY_READ_PROPERTIES,
    PROP_CUSTOMER_STATUS,
    PROP_INTERNAL_TEST,
    PROP_RANK,
    PROP_SCORE,
    PROP_TIER,
    Env,
)
from engagement_ranker.core.identity import email_domain

UNIVERSE_COLUMNS: tuple[str, ...] = (
    "company_id",
    "name",
    "domain",
    "contact_email_domains",
    "customer_contacts",
    "prior_score",
    "prior_rank_text",
    "prior_tier",
    "excluded_reason",
)


@dataclass(frozen=True)
class ExclusionRule:
    """Exclude a company when `property` equals `value` (case-insensitive, trimmed)."""

    property: str
    value: str
    reason: str

    def matches(self, properties: Mapping[str, str | None]) -> bool:
        actual = properties.get(self.property)
        return actual is not None and actual.strip().lower() == self.value.strip().lower()


DEFAULT_EXCLUSION_RULES: tuple[ExclusionRule, ...] = (
    ExclusionRule(PROP_INTERNAL_TEST, "true", "internal test company"),
    ExclusionRule(PROP_CUSTOMER_STATUS, CHURNED_STATUS, "churned"),
)


class ExclusionRulesError(ValueError):
    """HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON is not a list of {property, value} rules."""


def parse_exclusion_rules(text: str | None) -> tuple[ExclusionRule, ...]:
    """Rules from JSON like `[{"property": "customer_status", "value": "churned"}]`.

    Empty or unset means the spec's two defaults (internal test, churned).
    """
    if text is None or not text.strip():
        return DEFAULT_EXCLUSION_RULES
    variable = Env.HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON.value
    example = '[{"property": "customer_status", "value": "churned"}]'
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExclusionRulesError(
            f"{variable} is not valid JSON ({exc.msg} at character {exc.pos}); "
            f"expected a list such as {example}"
        ) from exc
    if not isinstance(raw, list):
        raise ExclusionRulesError(
            f"{variable} must be a JSON list of rules, got {type(raw).__name__}; e.g. {example}"
        )
    rules = []
    for index, entry in enumerate(raw):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("property"), str)
            or not isinstance(entry.get("value"), str | bool)
        ):
            raise ExclusionRulesError(
                f"{variable} entry {index} ({json.dumps(entry)[:120]}) needs a string 'property' "
                f"and a string or boolean 'value'; e.g. {example}"
            )
        value = str(entry["value"]).lower() if isinstance(entry["value"], bool) else entry["value"]
        reason = entry.get("reason") or f"{entry['property']} = {value}"
        rules.append(ExclusionRule(entry["property"], value, str(reason)))
    return tuple(rules)


def rule_properties(rules: Sequence[ExclusionRule]) -> tuple[str, ...]:
    """The company properties the rules need read, in first-seen order."""
    return tuple(dict.fromkeys(rule.property for rule in rules))


def read_properties(rules: Sequence[ExclusionRule]) -> tuple[str, ...]:
    """Every company property a run reads: the ones it always needs, then the rules' own."""
    return tuple(dict.fromkeys((*COMPANY_READ_PROPERTIES, *rule_properties(rules))))


def build_universe(
    contacts: Sequence[Mapping[str, str | None]],
    companies_of_contact: Mapping[str, Sequence[str]],
    company_properties: Mapping[str, Mapping[str, str | None]],
    rules: Sequence[ExclusionRule],
) -> pd.DataFrame:
    """One row per company associated with a customer contact, in numeric company id order.

    `contacts` carry `contact_id` and `email`; `company_properties` holds every company that
    could be read (ids HubSpot no longer has are simply absent and so not in the universe).
    """
    email_by_contact = {str(c["contact_id"]): c.get("email") for c in contacts}
    contacts_by_company: dict[str, list[str]] = {}
    for contact_id, company_ids in companies_of_contact.items():
        for company_id in company_ids:
            contacts_by_company.setdefault(str(company_id), []).append(str(contact_id))

    rows = []
    for company_id in sorted(contacts_by_company, key=int):
        properties = company_properties.get(company_id)
        if properties is None:
            continue
        contact_ids = contacts_by_company[company_id]
        domains = sorted(
            {d for d in (email_domain(email_by_contact.get(c)) for c in contact_ids) if d}
        )
        reason = next((rule.reason for rule in rules if rule.matches(properties)), None)
        rows.append(
            {
                "company_id": company_id,
                "name": properties.get("name"),
                "domain": properties.get("domain"),
                "contact_email_domains": ",".join(domains),
                "customer_contacts": len(set(contact_ids)),
                "prior_score": properties.get(PROP_SCORE),
                "prior_rank_text": properties.get(PROP_RANK),
                "prior_tier": properties.get(PROP_TIER),
                "excluded_reason": reason,
            }
        )
    frame = pd.DataFrame(rows, columns=list(UNIVERSE_COLUMNS))
    return frame.astype({"customer_contacts": "int64"})


def included(universe: pd.DataFrame) -> pd.DataFrame:
    """The companies that are ranked: those without an exclusion reason."""
    return universe[universe["excluded_reason"].isna()].reset_index(drop=True)
