"""One company's week, told whole: how it found its Yobi tenant and why, its counters day by
day, its points, score, rank and tier, where it stood before and what moved it, and what
HubSpot held before and after the write.

Built from the week's stored tables only (never from a fresh API call), so the story is the
one the ranking and the write were made of; laid out as a render Document, so it reads like
every other message the product writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from engagement_ranker.constants import (
    ENGAGEMENT_PROPERTIES,
    METRIC_LABELS,
    METRIC_WEIGHTS,
    METRICS,
    TIMEZONE,
    Env,
    MatchMethod,
    Metric,
)
from engagement_ranker.core.frames import Cell
from engagement_ranker.core.identity import (
    AMBIGUOUS,
    DUPLICATE_CLAIM,
    UNMAPPED,
    normalize_domain,
    normalize_name,
    normalize_name_loosely,
)
from engagement_ranker.core.movers import (
    CHANGE_COLUMNS,
    POINTS_CHANGE_COLUMNS,
    PRIOR_HISTORY,
    PRIOR_HUBSPOT,
    signed,
)
from engagement_ranker.core.render import (
    Document,
    Figures,
    Items,
    Section,
    Table,
    count_text,
    move_text,
)
from engagement_ranker.core.week import Week

BY_DAY = "{}_by_day"
DAY_FORMAT = "%a %b %d"
NOT_STORED = "not stored for this week"


class ExplainError(ValueError):
    """The company or the week cannot be explained; the message says what to do."""


@dataclass(frozen=True)
class WeekTables:
    """The stored tables of one week (None: the asset was not materialized for it)."""

    week: Week
    customer_companies: pd.DataFrame | None
    yobi_tenants: pd.DataFrame | None
    weekly_metrics: pd.DataFrame | None
    tenant_mapping: pd.DataFrame | None
    ranked_scores: pd.DataFrame | None
    hubspot_writeback: pd.DataFrame | None


def _row(frame: pd.DataFrame | None, column: str, value: object) -> pd.Series | None:
    """The one row of `frame` whose `column` is `value` (None: no frame, or no such row)."""
    if frame is None or frame.empty:
        return None
    found = frame[frame[column].astype(str) == str(value)]
    return None if found.empty else found.iloc[0]


def _text(value: Cell) -> str:
    """A stored value as shown: a dash for a missing one."""
    return "—" if value is None or pd.isna(value) else str(value)


def mapping_reason(company: pd.Series, mapping: pd.Series, tenant: pd.Series | None) -> str:
    """Why the company has (or lacks) its tenant, in the words of the rule that decided."""
    status, method = mapping["status"], mapping["method"]
    if status == UNMAPPED or pd.isna(mapping["tenant_id"]):
        if status == DUPLICATE_CLAIM:
            return (
                "its tenant is claimed by another company through a stronger method (or a lower "
                "company id at the same strength); it is not ranked. Pin it with "
                f"{Env.TENANT_MAPPING_OVERRIDES_JSON} if it is the rightful one"
            )
        suggestions = mapping.get("suggestions")
        listed = isinstance(suggestions, str) and suggestions
        hint = f"; look-alike tenants: {suggestions}" if listed else ""
        return (
            "no tenant has its domain, its customer contacts' e-mail domains or its name"
            f"{hint}. Add it to {Env.TENANT_MAPPING_OVERRIDES_JSON} to rank it"
        )
    website = _text(None if tenant is None else tenant["website"])
    reasons = {
        MatchMethod.OVERRIDE: f"{Env.TENANT_MAPPING_OVERRIDES_JSON} maps it (by its company id "
        "or its domain) to this tenant",
        MatchMethod.DOMAIN: f"its domain {normalize_domain(company['domain'])} is the tenant's "
        f"website ({website})",
        MatchMethod.EMAIL_DOMAIN: "it has no domain of its own; its customer contacts write "
        f"from {_text(company['contact_email_domains'])}, the tenant's website ({website})",
        MatchMethod.NAME: f"its name reads {normalize_name(company['name'])!r} once normalized "
        "(case, punctuation and legal suffixes dropped), as the tenant's does: a low-confidence "
        f"match to confirm, or pin with {Env.TENANT_MAPPING_OVERRIDES_JSON}",
        MatchMethod.LOOSE_NAME: f"only a looser reading of its name "
        f"({normalize_name_loosely(company['name'])!r}: accents, '&' and titles too) matches "
        f"the tenant's: a very low-confidence match to confirm with "
        f"{Env.TENANT_MAPPING_OVERRIDES_JSON}",
    }
    reason = reasons[MatchMethod(method)]
    if status == AMBIGUOUS:
        reason += (
            f"; tenants {mapping['candidates']} all matched there, and this one was the most "
            "active that week (else the lowest id)"
        )
    return reason


def _mapping_section(
    company: pd.Series, mapping: pd.Series | None, tenants: pd.DataFrame | None
) -> Section:
    if mapping is None:
        return Section("Mapping", (Items((f"tenant_mapping {NOT_STORED}",)),))
    tenant_id = mapping["tenant_id"]
    tenant = None if pd.isna(tenant_id) else _row(tenants, "tenant_id", int(tenant_id))
    figures = [("Status", str(mapping["status"]))]
    if pd.notna(tenant_id):
        figures += [
            ("Yobi tenant", f"{int(tenant_id)} {_text(mapping['tenant_name'])}"),
            ("Method", f"{mapping['method']} ({mapping['confidence']} confidence)"),
        ]
    figures.append(("Why", mapping_reason(company, mapping, tenant)))
    return Section("Mapping", (Figures(tuple(figures)),))


def _days(week: Week, metrics: pd.Series) -> Table:
    """Each counter day by day, then the week's sums as ranked."""
    series: dict[Metric, Cell] = {m: metrics.get(BY_DAY.format(m.value)) for m in METRICS}
    rows = []
    for index, day in enumerate(week.dates):
        rows.append(
            (
                _day(day),
                *(count_text(series[m][index]) if _has_days(series[m]) else "—" for m in METRICS),
            )
        )
    rows.append(("Week", *(count_text(metrics[m.value]) for m in METRICS)))
    columns = ("Day", *(METRIC_LABELS[m] for m in METRICS))
    return Table(columns, tuple(rows), frozenset(range(1, len(columns))))


def _has_days(values: Cell) -> bool:
    return values is not None and not (isinstance(values, float) and pd.isna(values))


def _day(day: date) -> str:
    return day.strftime(DAY_FORMAT)


def _counters_section(week: Week, metrics: pd.Series | None) -> Section:
    if metrics is None:
        return Section("Counters per day", (Items((f"weekly_metrics {NOT_STORED}",)),))
    notes = []
    if pd.notna(metrics.get("internal_tasks")) and int(metrics["internal_tasks"]):
        notes.append(f"{int(metrics['internal_tasks']):,} tasks by internal staff subtracted")
    if metrics.get("missing_days"):
        notes.append(f"days without a trend bucket: {metrics['missing_days']}")
    if metrics.get("absent_from"):
        notes.append(f"no row in {metrics['absent_from']} (sparse trends): counted as zero")
    parts = (_days(week, metrics), *((Items(tuple(notes)),) if notes else ()))
    return Section(f"Counters per day ({TIMEZONE} days)", parts)


def _points_section(ranked: pd.Series) -> Section:
    rows = tuple(
        (
            METRIC_LABELS[m],
            f"{int(ranked[m.value]):,}",
            f"× {METRIC_WEIGHTS[m]}",
            f"{int(ranked[f'points_{m.value}']):,}",
        )
        for m in METRICS
    )
    total = (("Score", "", "", f"{int(ranked['score']):,}"),)
    return Section(
        "Points",
        (Table(("Counter", "Count", "Weight", "Points"), rows + total, frozenset({1, 3})),),
    )


def _prior(ranked: pd.Series) -> str:
    if pd.isna(ranked["prior_rank"]):
        return "none: new this week, or no readable rank before"
    of = "" if pd.isna(ranked["prior_n"]) else f" out of {int(ranked['prior_n'])}"
    source = {
        PRIOR_HISTORY: "the stored week before",
        PRIOR_HUBSPOT: "HubSpot's rank text (no stored week before)",
    }
    return f"{int(ranked['prior_rank'])}{of} ({source.get(str(ranked['prior_source']), '')})"


def _rank_section(ranked: pd.Series) -> Section:
    figures = Figures(
        (
            ("Rank", str(ranked["rank_text"])),
            ("Tier", str(ranked["tier"])),
            ("Prior", _prior(ranked)),
            ("Move", move_text(ranked["delta"], ranked["driver"])),
        )
    )
    change_of = [m for m in METRICS if pd.notna(ranked.get(CHANGE_COLUMNS[m.value]))]
    if not change_of:
        return Section("Rank and move", (figures,))
    rows = tuple(
        (
            METRIC_LABELS[m],
            signed(int(ranked[CHANGE_COLUMNS[m.value]])),
            f"{signed(int(ranked[POINTS_CHANGE_COLUMNS[m.value]]))} pts",
        )
        for m in change_of
    )
    rows += (("Score", "", f"{signed(int(ranked['score_change']))} pts"),)
    changes = Table(("Since last week", "Count", "Points"), rows, frozenset({1, 2}))
    return Section("Rank and move", (figures, changes))


def _hubspot_section(audit: pd.DataFrame | None, company_id: str) -> Section:
    row = _row(audit, "company_id", company_id)
    if row is None:
        return Section("HubSpot", (Items((f"hubspot_writeback {NOT_STORED}",)),))
    batch = "" if pd.isna(row["batch"]) else f", batch {int(row['batch'])}"
    rows = tuple(
        (
            prop,
            _text(row[f"before_{short}"]),
            _text(row[f"after_{short}"]),
            _text(row[f"readback_{short}"]),
        )
        for prop, short in zip(ENGAGEMENT_PROPERTIES, ("score", "rank", "tier"), strict=True)
    )
    return Section(
        f"HubSpot ({row['mode']} mode: {row['outcome']}{batch})",
        (Table(("Property", "Before", "After", "Read back"), rows),),
    )


def _domain(raw: Cell) -> str:
    """The company's domain as matched, and as HubSpot holds it when that differs."""
    if raw is None or pd.isna(raw):
        return "—"
    matched = normalize_domain(str(raw)) or "—"
    return matched if matched == raw else f"{matched} (HubSpot holds {str(raw)!r})"


def _company_section(company: pd.Series) -> Section:
    domains = str(company["contact_email_domains"] or "").replace(",", ", ")
    return Section(
        "Company",
        (
            Figures(
                (
                    ("Domain", _domain(company["domain"])),
                    ("Contacts write from", domains or "—"),
                    ("HubSpot owner", _text(company.get("hubspot_owner_id"))),
                )
            ),
        ),
    )


def company_story(tables: WeekTables, company_id: str) -> Document:
    """The week of one company, laid out for `render.text`. ExplainError when the week has
    no stored universe or the company is not in it."""
    week = tables.week
    if tables.customer_companies is None or tables.customer_companies.empty:
        raise ExplainError(
            f"week {week.key} has no stored customer_companies: materialize the week first "
            f"(`engagement-ranker run --week {week.key}`) or pick a week that ran"
        )
    company = _row(tables.customer_companies, "company_id", company_id)
    if company is None:
        raise ExplainError(
            f"company {company_id} is not among week {week.key}'s customer companies: check the "
            "id (HubSpot's company record id) and that a contact of it has lifecyclestage=customer"
        )
    title = f"{_text(company['name'])} ({company_id}) · {week.label}"
    sections = [_company_section(company)]
    if pd.notna(company["excluded_reason"]):
        note = f"not ranked: excluded ({company['excluded_reason']})"
        return Document(title, "EXCLUDED", note, tuple(sections), None)
    mapping = _row(tables.tenant_mapping, "company_id", company_id)
    sections.append(_mapping_section(company, mapping, tables.yobi_tenants))
    tenant_id = None if mapping is None else mapping["tenant_id"]
    if tenant_id is not None and pd.notna(tenant_id):
        metrics = _row(tables.weekly_metrics, "tenant_id", int(tenant_id))
        sections.append(_counters_section(week, metrics))
    ranked = _row(tables.ranked_scores, "company_id", company_id)
    if ranked is None:
        return Document(title, "NOT RANKED", _unranked(tables, mapping), tuple(sections), None)
    sections += [
        _points_section(ranked),
        _rank_section(ranked),
        _hubspot_section(tables.hubspot_writeback, company_id),
    ]
    badge = str(ranked["tier"]).upper()
    return Document(title, badge, f"ranked {ranked['rank_text']}", tuple(sections), None)


def _unranked(tables: WeekTables, mapping: pd.Series | None) -> str:
    if tables.ranked_scores is None:
        return f"ranked_scores {NOT_STORED}"
    if mapping is not None and pd.isna(mapping["tenant_id"]):
        return "no Yobi tenant: not ranked"
    return "not in this week's ranking"
