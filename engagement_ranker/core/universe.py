"""The customer universe: customer contacts -> their companies, deduplicated, exclusions marked.

Excluded companies stay in the frame with a reason, so the summary can say who was left out and
why; everything downstream ranks only rows whose `excluded_reason` is empty.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from engagement_ranker.constants import (
    CHURNED_STATUS,
    COMPANY_READ_PROPERTIES,
    PROP_CUSTOMER_STATUS,
    PROP_INTERNAL_TEST,
    PROP_OWNER,
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
    PROP_OWNER,  # the company's account manager (owner digests)
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

    @builtins.property  # `property` in this class body is the field above
    def key(self) -> tuple[str, str]:
        """What the rule tests, as `matches` compares it: two rules with one key are one rule."""
        return self.property, self.value.strip().lower()


DEFAULT_EXCLUSION_RULES: tuple[ExclusionRule, ...] = (
    ExclusionRule(PROP_INTERNAL_TEST, "true", "internal test company"),
    ExclusionRule(PROP_CUSTOMER_STATUS, CHURNED_STATUS, "churned"),
)
EXCLUSION_VARIABLE = Env.HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON.value
REPLACE_DEFAULTS, RULES = "replace_defaults", "rules"
_RULE_EXAMPLE = '[{"property": "customer_status", "value": "paused", "reason": "paused"}]'
_FORMS = (
    f"a list of rules, added to the defaults (internal test, churned), such as {_RULE_EXAMPLE}; "
    f'or an object {{"{REPLACE_DEFAULTS}": true, "{RULES}": {_RULE_EXAMPLE}}} to use only '
    f"the rules listed"
)


class ExclusionRulesError(ValueError):
    """HUBSPOT_COMPANY_EXCLUDE_FILTERS_JSON is not a list of rules or a {replace_defaults, rules}
    object; the message names the bad value and the fix."""


def _problem(text: str) -> ExclusionRulesError:
    return ExclusionRulesError(f"{EXCLUSION_VARIABLE} {text}")


def _rule(index: int, entry: object) -> ExclusionRule:
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("property"), str)
        or not isinstance(entry.get("value"), str | bool)
    ):
        raise _problem(
            f"entry {index} ({json.dumps(entry)[:120]}) needs a string 'property' and a string "
            f"or boolean 'value'; e.g. {_RULE_EXAMPLE}"
        )
    value = str(entry["value"]).lower() if isinstance(entry["value"], bool) else entry["value"]
    reason = entry.get("reason") or _unexplained(entry["property"], value)
    return ExclusionRule(entry["property"], value, str(reason))


def _unexplained(property_name: str, value: str) -> str:
    """The reason recorded for a rule written without one: its condition."""
    return f"{property_name} = {value}"


def _custom_rules(raw: object) -> tuple[list[object], bool]:
    """(the rule entries, whether they replace the defaults) from either accepted form."""
    if isinstance(raw, list):
        return raw, False
    if not isinstance(raw, dict):
        raise _problem(
            f"must be a JSON list of rules or an object, got {type(raw).__name__} "
            f"{json.dumps(raw)[:60]}; {_FORMS}"
        )
    unknown = sorted(set(raw) - {REPLACE_DEFAULTS, RULES})
    if unknown:
        raise _problem(
            f"has unknown key(s) {', '.join(map(repr, unknown))}; an object takes only "
            f'"{REPLACE_DEFAULTS}" and "{RULES}": {_FORMS}'
        )
    if RULES not in raw:
        raise _problem(f"'{RULES}' is missing from the object; {_FORMS}")
    if not isinstance(raw[RULES], list):
        raise _problem(
            f"'{RULES}' must be a list of rules, got {type(raw[RULES]).__name__}; {_FORMS}"
        )
    replace = raw.get(REPLACE_DEFAULTS, False)
    if not isinstance(replace, bool):
        raise _problem(
            f"'{REPLACE_DEFAULTS}' is {json.dumps(replace)}; write true (use only the rules "
            f"listed) or false (add them to the defaults)"
        )
    return raw[RULES], replace


def parse_exclusion_rules(text: str | None) -> tuple[ExclusionRule, ...]:
    """The exclusion rules in effect: the spec's two defaults (internal test, churned), plus
    the custom rules of `text`, or those alone when it says `"replace_defaults": true`.

    A list (`[{"property": "customer_status", "value": "paused"}]`) adds to the defaults, so a
    custom rule never silently lets churned or test companies back in. A rule testing what an
    earlier one tests is listed once.
    """
    if text is None or not text.strip():
        return DEFAULT_EXCLUSION_RULES
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _problem(
            f"is not valid JSON ({exc.msg} at character {exc.pos}); write {_FORMS}"
        ) from exc
    entries, replace = _custom_rules(raw)
    custom = [_rule(index, entry) for index, entry in enumerate(entries)]
    rules: dict[tuple[str, str], ExclusionRule] = {}
    for rule in (*(() if replace else DEFAULT_EXCLUSION_RULES), *custom):
        rules.setdefault(rule.key, rule)
    return tuple(rules.values())


def _in_words(rule: ExclusionRule) -> str:
    condition = f'{rule.property} is "{rule.value}"'
    if rule.reason == _unexplained(rule.property, rule.value):
        return condition
    return f"{condition}: {rule.reason}"


def describe_exclusion_rules(rules: Sequence[ExclusionRule]) -> tuple[str, ...]:
    """The rules in effect in words, one line each, then each default rule the configuration
    replaced, so a summary reader sees what kept companies out and what did not."""
    lines = [
        f"{_in_words(rule)} ({'default' if rule in DEFAULT_EXCLUSION_RULES else 'custom'})"
        for rule in rules
    ]
    if not lines:
        lines.append("none: no customer company is excluded")
    in_effect = {rule.key for rule in rules}
    lines += [
        f"not applied: {_in_words(rule)} (default, replaced by {EXCLUSION_VARIABLE})"
        for rule in DEFAULT_EXCLUSION_RULES
        if rule.key not in in_effect
    ]
    return tuple(lines)


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
                PROP_OWNER: properties.get(PROP_OWNER),
            }
        )
    frame = pd.DataFrame(rows, columns=list(UNIVERSE_COLUMNS))
    return frame.astype({"customer_contacts": "int64"})


def included(universe: pd.DataFrame) -> pd.DataFrame:
    """The companies that are ranked: those without an exclusion reason."""
    return universe[universe["excluded_reason"].isna()].reset_index(drop=True)
