"""The summary and the failure alert as Slack Block Kit, e-mail (plain + HTML), Markdown and
plain text for a terminal.

Each message is first laid out once as a small document (sections of figures, tables, lists
and preformatted lines, all raw text); one writer per format then escapes and sizes it. So the
channels cannot drift apart, and escaping happens in exactly one place per format: a company
called "<!channel> Dental & Co" pings nobody in Slack and injects nothing into e-mail HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import pandas as pd

from engagement_ranker.constants import TIER_BOTTOM, Env, WriteMode
from engagement_ranker.core.anomalies import AnomalyKind
from engagement_ranker.core.frames import Cell, rows
from engagement_ranker.core.owners import OwnerDigest
from engagement_ranker.core.summary import Alert, Summary
from engagement_ranker.core.text import neutralize
from engagement_ranker.core.week import InvalidWeekKey, parse_week_key

# Slack's Block Kit limits (api.slack.com/reference/block-kit): over them the webhook answers
# 400 invalid_blocks / msg_too_long and nothing is posted.
SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION_CHARS = 3000
SLACK_MAX_HEADER_CHARS = 150
SLACK_MAX_FIELDS = 10
SLACK_MAX_TEXT_CHARS = 40000

# Readable sizes, far inside those limits even when every character needs escaping (5x).
NAME_MAX_CHARS = 40
DRIVER_MAX_CHARS = 48
# The ranking in the Dagster UI: narrow enough for its Markdown dialog.
RANKING_NAME_MAX_CHARS = 28
ANOMALY_MESSAGE_MAX_CHARS = 500
ANOMALY_EXAMPLES = 5
ALERT_ERROR_MAX_LINES = 20
ALERT_LINE_MAX_CHARS = 200
CHART_WIDTH = 24
ELLIPSIS = "…"

PRODUCT = "Engagement ranking"
MODE_NOTES: dict[WriteMode, str] = {
    WriteMode.DRY_RUN: "nothing was written to HubSpot",
    WriteMode.ALLOWLIST: "only allowlisted companies were written to HubSpot",
    WriteMode.FULL: "every changed company was written to HubSpot",
}
# A kind that keeps companies out of the ranking is named as its key figure is, so the
# anomaly counts and the figures add up in every rendering.
ANOMALY_LABELS: dict[AnomalyKind, str] = {
    AnomalyKind.UNMAPPED: "Unmapped (not ranked)",
    AnomalyKind.AMBIGUOUS: "Ambiguous match",
    AnomalyKind.LOW_CONFIDENCE: "Low-confidence name match",
    AnomalyKind.DUPLICATE_CLAIM: "Tenant claimed twice (not ranked)",
    AnomalyKind.EXCLUDED: "Excluded",
    AnomalyKind.MISSING_METRICS: "Missing metrics",
    AnomalyKind.ZERO_ACTIVITY: "Zero activity",
    AnomalyKind.LARGE_SWING: "Large week-over-week swing",
    AnomalyKind.API_WARNING: "API warnings and retries",
    AnomalyKind.NOT_WRITTEN: "Allowlisted but not written",
    AnomalyKind.COUNTER_ALL_ZERO: "Counter zero for every tenant",
    AnomalyKind.COUNTER_SHIFT: "Counter total far from its usual level",
    AnomalyKind.UNIVERSE_HALVED: "Customer universe halved",
    AnomalyKind.UNIVERSE_SHIFT: "Customer universe far from its usual size",
    AnomalyKind.MAPPED_SHARE_SHIFT: "Mapped share far from its usual level",
    AnomalyKind.TENANT_JUMP: "Tenant activity far above its own median",
    AnomalyKind.OWNER_WITHOUT_EMAIL: "Account managers without an e-mail address",
}
_BAR_EIGHTHS = " ▏▎▍▌▋▊▉"
_BAR_FULL = "█"


# --- the document ------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Label/value pairs (key figures)."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    """Rows of raw cells; `right` holds the indexes of right-aligned (numeric) columns."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Items:
    """A bulleted list under an optional bold heading; `more` items were left out."""

    items: tuple[str, ...]
    more: int = 0
    heading: str = ""


@dataclass(frozen=True)
class Pre:
    """Preformatted lines (charts, error text) shown in a monospace block."""

    lines: tuple[str, ...]
    more: int = 0


Part = Figures | Table | Items | Pre


@dataclass(frozen=True)
class Section:
    title: str
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class Document:
    """A message laid out but not yet escaped: everything in it is raw text."""

    title: str
    badge: str
    note: str
    sections: tuple[Section, ...]
    run_url: str | None


def clip(text: str, limit: int) -> str:
    """One line, at most `limit` characters, nothing invisible; clip raw text before escaping."""
    flat = " ".join(neutralize(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + ELLIPSIS


def count_text(value: Cell) -> str:
    """A count as shown: thousands separated, a dash for a missing one."""
    return "—" if pd.isna(value) else f"{int(value):,}"


def _move(delta: Cell) -> str:
    if pd.isna(delta):
        return "new"
    delta = int(delta)
    return "▲" + str(delta) if delta > 0 else "▼" + str(-delta) if delta < 0 else "="


def _company_table(
    frame: pd.DataFrame, name_chars: int = NAME_MAX_CHARS, why: bool = False
) -> Table:
    """Rank, company, score, tier and move; with `why`, what moved it too."""
    rows = tuple(
        (
            count_text(row.rank),
            clip(str(row.name), name_chars),
            count_text(row.score),
            str(row.tier),
            _move(row.delta),
            *((_driver(row.driver),) if why else ()),
        )
        for row in frame.itertuples(index=False)
    )
    columns = ("Rank", "Company", "Score", "Tier", "Move", *(("Why",) if why else ()))
    return Table(columns, rows, frozenset({0, 2}))


def move_text(delta: Cell, driver: Cell) -> str:
    """A move with its reason, as people read it: "▼14 · appointments 52 → 18 (−102 pts)"."""
    return _move(delta) if pd.isna(driver) else f"{_move(delta)} · {driver}"


def _movers_part(frame: pd.DataFrame, direction: str) -> Part:
    """Rank then, rank now, the move and why; prior N may differ from this week's N."""
    if frame.empty:
        return Items((f"No company with a known prior rank moved {direction}.",))
    rows = tuple(
        (
            _move(row.delta),
            clip(str(row.name), NAME_MAX_CHARS),
            count_text(row.prior_rank),
            count_text(row.rank),
            count_text(row.score),
            _driver(row.driver),
        )
        for row in frame.itertuples(index=False)
    )
    return Table(("Move", "Company", "Was", "Now", "Score", "Why"), rows, frozenset({0, 2, 3, 4}))


def _driver(driver: Cell) -> str:
    """Why a company moved (core/movers.py's words), or a dash when that is unknown."""
    return "—" if pd.isna(driver) else clip(str(driver), DRIVER_MAX_CHARS)


def _bar(fraction: float) -> str:
    """A bar of CHART_WIDTH cells with eighth-cell resolution."""
    eighths = round(max(0.0, min(1.0, fraction)) * CHART_WIDTH * 8)
    full, rest = divmod(eighths, 8)
    partial = _BAR_EIGHTHS[rest].strip()
    return (_BAR_FULL * full + partial).ljust(CHART_WIDTH)


def _chart(frame: pd.DataFrame) -> Pre:
    width = max(len(str(tier)) for tier in frame["tier"])
    lines = tuple(
        f"{row.tier:<{width}} {_bar(row.share)} {row.share:>4.0%}  "
        f"{row.companies:,} companies, scores {count_text(row.min_score)}–{count_text(row.max_score)}"
        for row in rows(frame)
    )
    return Pre(lines)


def _anomaly_section(summary: Summary) -> Section:
    """Per kind: the count and the first few messages (suggestions for unmapped included)."""
    parts: list[Part] = []
    for kind in AnomalyKind:
        found = [a for a in summary.anomalies if a.kind == kind]
        if found:
            examples = tuple(clip(a.message, ANOMALY_MESSAGE_MAX_CHARS) for a in found)
            parts.append(
                Items(
                    examples[:ANOMALY_EXAMPLES],
                    max(0, len(found) - ANOMALY_EXAMPLES),
                    heading=f"{ANOMALY_LABELS[kind]}: {len(found):,}",
                )
            )
    if not parts:
        return Section("Anomalies", (Items(("None this week.",)),))
    return Section(f"Anomalies ({len(summary.anomalies):,})", tuple(parts))


def _mode_badge(mode: WriteMode) -> str:
    return mode.value.replace("-", " ").upper()


def _key_figures(summary: Summary) -> Figures:
    """The counts as parts of their wholes: customer companies = excluded + unmapped +
    claimed twice (+ mapped without metrics) + ranked; ranked = written (a dry run: would
    write) + unchanged (+ held back by the allowlist)."""
    left_out = [
        ("Excluded", summary.excluded),
        (ANOMALY_LABELS[AnomalyKind.UNMAPPED], summary.unmapped),
        (ANOMALY_LABELS[AnomalyKind.DUPLICATE_CLAIM], summary.claimed_twice),
    ]
    if summary.mapped_unranked:
        left_out.append(("Mapped, without metrics (not ranked)", summary.mapped_unranked))
    dry = summary.mode is WriteMode.DRY_RUN
    outcomes = [
        ("Would write", summary.would_write) if dry else ("Written", summary.written),
        ("Unchanged", summary.unchanged),
    ]
    if summary.mode is WriteMode.ALLOWLIST:
        outcomes.append(("Held back (not on the allowlist)", summary.held_back))
    counts = [
        ("Customer companies", summary.universe),
        *left_out,
        ("Ranked", summary.ranked),
        *outcomes,
        ("New / unknown prior rank", summary.new_or_unknown),
    ]
    coverage = ("Mapping coverage", f"{summary.mapped_pct:.1f}%")
    return Figures((*((label, f"{count:,}") for label, count in counts), coverage))


def summary_document(summary: Summary) -> Document:
    """The weekly summary laid out: figures, exclusion rules, chart, top/bottom, movers,
    anomalies."""
    if len(summary.bottom):
        bottom = Section(f"Bottom {len(summary.bottom)}", (_company_table(summary.bottom),))
    else:
        bottom = Section("Bottom", (Items(("Every ranked company is listed above.",)),))
    sections = (
        Section("Key figures", (_key_figures(summary),)),
        Section("Exclusion rules", (Items(summary.exclusion_rules),)),
        Section("Share of all points by tier", (_chart(summary.score_by_tier),)),
        Section(f"Top {len(summary.top)}", (_company_table(summary.top),)),
        bottom,
        Section("Biggest movers up", (_movers_part(summary.movers_up, "up"),)),
        Section("Biggest movers down", (_movers_part(summary.movers_down, "down"),)),
        _anomaly_section(summary),
    )
    return Document(
        title=f"{PRODUCT} · {summary.week.label}",
        badge=_mode_badge(summary.mode),
        note=MODE_NOTES[summary.mode],
        sections=sections,
        run_url=summary.run_url,
    )


def _week_text(week_key: str) -> str:
    try:
        return parse_week_key(week_key).label
    except InvalidWeekKey:
        # An alert must still go out when the failure was the week key itself.
        return f"week {clip(week_key, NAME_MAX_CHARS)!r}"


def alert_document(alert: Alert) -> Document:
    """The failure alert laid out: which week and step, what was written, the error."""
    step = clip(alert.step, NAME_MAX_CHARS)
    written = clip(alert.written, ALERT_LINE_MAX_CHARS)
    lines = [clip(line, ALERT_LINE_MAX_CHARS) for line in alert.error.splitlines() if line.strip()]
    error = Pre(
        tuple(lines[:ALERT_ERROR_MAX_LINES]) or ("(no error text)",),
        max(0, len(lines) - ALERT_ERROR_MAX_LINES),
    )
    figures = Figures(
        (("Week", clip(alert.week_key, NAME_MAX_CHARS)), ("Step", step), ("HubSpot", written))
    )
    return Document(
        title=f"{PRODUCT} failed · {_week_text(alert.week_key)}",
        badge="FAILED",
        note=f"step {step}: {written}",
        sections=(Section("What happened", (figures,)), Section("Error", (error,))),
        run_url=alert.run_url,
    )


def owner_digest_document(digest: OwnerDigest) -> Document:
    """One account manager's accounts: those that need a look first, then all of them with
    their moves and why, then the ones without a tenant that need an override."""
    look = digest.need_a_look
    flagged = tuple(
        (
            clip(str(row.name), NAME_MAX_CHARS),
            str(row.tier),
            move_text(row.delta, row.driver),
            str(row.look),
        )
        for row in look.itertuples(index=False)
    )
    sections = []
    if flagged:
        table = Table(("Company", "Tier", "Move", "Needs a look because"), flagged)
        sections.append(Section(f"Need a look ({len(flagged)})", (table,)))
    if len(digest.accounts):
        accounts = _company_table(digest.accounts, why=True)
        sections.append(Section(f"Your ranked accounts ({len(digest.accounts)})", (accounts,)))
    if len(digest.unmapped):
        items = tuple(
            f"{clip(str(row.name), NAME_MAX_CHARS)} ({row.company_id})"
            + (
                f": looks like {row.suggestions}"
                if pd.notna(row.suggestions) and row.suggestions
                else ""
            )
            for row in rows(digest.unmapped)
        )
        note = Items(
            (
                f"Ask RevOps to add each to {Env.TENANT_MAPPING_OVERRIDES_JSON} (company id → tenant id).",
            )
        )
        sections.append(
            Section(f"Not ranked: no Yobi tenant found ({len(items)})", (Items(items), note))
        )
    count = len(digest.accounts) + len(digest.unmapped)
    return Document(
        title=f"Your accounts · {digest.week.label}",
        badge=f"{len(look)} NEED A LOOK" if len(look) else "NOTHING ALARMING",
        note=f"{digest.owner.name}: {count} accounts, {len(digest.accounts)} ranked, "
        f"{len(digest.unmapped)} without a Yobi tenant; flagged when they fall into "
        f"{TIER_BOTTOM} or more than {digest.fall_places} places; {MODE_NOTES[digest.mode]}",
        sections=tuple(sections),
        run_url=digest.run_url,
    )


def _document(message: Summary | Alert | OwnerDigest) -> Document:
    if isinstance(message, OwnerDigest):
        return owner_digest_document(message)
    return summary_document(message) if isinstance(message, Summary) else alert_document(message)


# --- shared line layout --------------------------------------------------------------------


def safe_url(url: str) -> str:
    """Percent-encode what could end a link early in any format (space, <, >, |, quotes)."""
    return quote(url, safe=";/?:@&=+$,#%!~*'()[]-._")


def _more(hidden: int) -> str:
    return f"{ELLIPSIS}and {hidden:,} more"


def _table_lines(table: Table, escape: Callable[[str], str]) -> list[str]:
    """Aligned columns; padding is computed on raw text, then each cell is escaped."""
    widths = [
        max(len(cell) for cell in column) for column in zip(table.columns, *table.rows, strict=True)
    ]

    def line(cells: Sequence[str]) -> str:
        padded = (
            escape(c.rjust(w) if i in table.right else c.ljust(w))
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    return [line(table.columns), *(line(row) for row in table.rows)]


def _fit(lines: Sequence[str], budget: int, hidden: int = 0) -> tuple[list[str], int]:
    """The leading lines that fit in `budget` characters together with their "…and N more"
    line (joined by newlines), and that N: the lines cut plus the `hidden` ones cut before."""
    used = 0
    for index, line in enumerate(lines):
        rest = len(lines) - index - 1 + hidden
        reserve = len(_more(rest)) + 1 if rest else 0
        if used + len(line) + reserve > budget:
            # The previous line reserved room for exactly this "…and N more".
            return list(lines[:index]), len(lines) - index + hidden
        used += len(line) + 1
    return list(lines), hidden


def _fitted(lines: Sequence[str], budget: int, hidden: int = 0) -> list[str]:
    kept, cut = _fit(lines, budget, hidden)
    return [*kept, _more(cut)] if cut else kept


def _plain_lines(document: Document, escape: Callable[[str], str]) -> list[str]:
    """The whole message as plain text lines (e-mail body; Slack's notification fallback)."""
    lines = [escape(document.title), f"{document.badge}: {escape(document.note)}"]
    for section in document.sections:
        lines += ["", escape(section.title.upper())]
        for part in section.parts:
            if isinstance(part, Figures):
                width = max(len(label) for label, _ in part.items)
                lines += [f"  {escape(label.ljust(width))}  {escape(v)}" for label, v in part.items]
            elif isinstance(part, Table):
                lines += ["  " + line for line in _table_lines(part, escape)]
            elif isinstance(part, Items):
                lines += [f"  {escape(part.heading)}"] if part.heading else []
                lines += [f"  - {escape(item)}" for item in part.items]
                lines += [f"  {_more(part.more)}"] if part.more > 0 else []
            else:
                lines += ["    " + escape(line) for line in part.lines]
                lines += [f"  {_more(part.more)}"] if part.more > 0 else []
    if document.run_url:
        lines += ["", f"Run in Dagster: {escape(safe_url(document.run_url))}"]
    return lines


def text(document: Document) -> str:
    """Any laid-out document as plain text (the terminal, `explain`)."""
    return "\n".join(_plain_lines(document, str)) + "\n"


# --- Slack -------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack mrkdwn control characters: with these escaped no name can mention or link."""
    return neutralize(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_code(text: str) -> str:
    # A code block cannot contain its own fence; a look-alike keeps names readable.
    return slack_escape(text).replace("`", "ˋ")


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _code_section(title: str, lines: Sequence[str], hidden: int = 0) -> dict:
    """A code block (fixed-width, so tables align) trimmed to one section's limit; the
    "…and N more" line goes after the block."""
    fence = "```"
    budget = SLACK_MAX_SECTION_CHARS - (len(title) + 1 if title else 0) - 2 * len(fence)
    kept, cut = _fit(lines, budget, hidden)
    code = fence + "\n".join(kept) + fence
    return _section("\n".join(filter(None, [title, code, _more(cut) if cut else ""])))


def _slack_part(title: str, part: Part) -> list[dict]:
    """Blocks for one part; `title` (already mrkdwn) leads the first block."""
    if isinstance(part, Figures):
        # Values are short, clipped figures: escaped they stay far below the field limit.
        fields = [
            {"type": "mrkdwn", "text": f"*{slack_escape(k)}*\n{slack_escape(v)}"}
            for k, v in part.items
        ]
        chunks = [fields[i : i + SLACK_MAX_FIELDS] for i in range(0, len(fields), SLACK_MAX_FIELDS)]
        return [_section(title)] * bool(title) + [{"type": "section", "fields": c} for c in chunks]
    if isinstance(part, Table):
        return [_code_section(title, _table_lines(part, _slack_code))]
    if isinstance(part, Pre):
        return [_code_section(title, [_slack_code(line) for line in part.lines], part.more)]
    head = [title, f"*{slack_escape(part.heading)}*" if part.heading else ""]
    head = [line for line in head if line]
    bullets = [f"• {slack_escape(item)}" for item in part.items]
    budget = SLACK_MAX_SECTION_CHARS - sum(len(line) + 1 for line in head)
    return [_section("\n".join([*head, *_fitted(bullets, budget, part.more)]))]


def _slack_blocks(document: Document) -> list[dict]:
    blocks: list[dict] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(document.title, SLACK_MAX_HEADER_CHARS)},
        },
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"*{document.badge}* · {slack_escape(document.note)}"}
            ],
        },
    ]
    for section in document.sections:
        blocks.append({"type": "divider"})
        title = f"*{slack_escape(section.title)}*"
        for part in section.parts:
            blocks += _slack_part(title, part)
            title = ""
    if document.run_url:
        link = slack_escape(safe_url(document.run_url))
        blocks.append(_section(f"<{link}|Open this run in Dagster>"))
    return blocks


def slack_messages(message: Summary | Alert) -> list[dict]:
    """Block Kit messages within Slack's limits, with the whole content as plain-text fallback
    (what notifications and block-less clients show).

    The layout is bounded (fixed sections, one block per anomaly kind, long lists trimmed), so
    one message of about 30 blocks, within SLACK_MAX_BLOCKS, always suffices.
    """
    document = _document(message)
    fallback = _fitted(_plain_lines(document, slack_escape), SLACK_MAX_TEXT_CHARS)
    return [{"text": "\n".join(fallback), "blocks": _slack_blocks(document)}]


# --- e-mail --------------------------------------------------------------------------------

_HTML_STYLE = (
    "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1d1c1d}"
    "table{border-collapse:collapse;margin:4px 0 12px}"
    "th,td{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "pre{background:#f6f6f6;padding:8px;font-size:12px}"
    ".badge{font-weight:bold;padding:2px 6px;border-radius:3px;background:#eee}"
)


def _html_table(part: Table) -> str:
    def row(cells: Sequence[str], tag: str) -> str:
        return "".join(
            f"<{tag}{' class=n' if i in part.right else ''}>{html.escape(c)}</{tag}>"
            for i, c in enumerate(cells)
        )

    body = "".join(f"<tr>{row(cells, 'td')}</tr>" for cells in part.rows)
    return f"<table><tr>{row(part.columns, 'th')}</tr>{body}</table>"


def _html_part(part: Part) -> str:
    if isinstance(part, Figures):
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td class=n>{html.escape(v)}</td></tr>"
            for k, v in part.items
        )
        return f"<table>{rows}</table>"
    if isinstance(part, Table):
        return _html_table(part)
    if isinstance(part, Pre):
        return f"<pre>{html.escape(chr(10).join(part.lines))}</pre>" + _html_more(part.more)
    items = "".join(f"<li>{html.escape(item)}</li>" for item in part.items)
    heading = f"<p><b>{html.escape(part.heading)}</b></p>" if part.heading else ""
    return heading + (f"<ul>{items}</ul>" if items else "") + _html_more(part.more)


def _html_more(hidden: int) -> str:
    return f"<p>{_more(hidden)}</p>" if hidden > 0 else ""


def plain_text(message: Summary | Alert) -> str:
    """The message as plain text: aligned columns, nothing escaped, so names and variables can
    be copied as they are (an e-mail's text part; a terminal)."""
    return text(_document(message))


@dataclass(frozen=True)
class InlineImage:
    """A picture an e-mail carries inline: the HTML shows it as `cid:<cid>`."""

    cid: str
    png: bytes
    alt: str


def _html_images(images: Sequence[InlineImage]) -> str:
    return "".join(
        f'<p><img src="cid:{html.escape(i.cid)}" alt="{html.escape(i.alt)}" '
        'style="max-width:100%"></p>'
        for i in images
    )


def email(
    message: Summary | Alert | OwnerDigest, images: Sequence[InlineImage] = ()
) -> tuple[str, str, str]:
    """(subject, plain text, HTML) for one multipart/alternative e-mail; `images` show in the
    HTML under the badge (the sender attaches them inline)."""
    document = _document(message)
    subject = f"{document.title} [{document.badge}]"
    body = text(document)
    sections = "".join(
        f"<h3>{html.escape(s.title)}</h3>" + "".join(_html_part(p) for p in s.parts)
        for s in document.sections
    )
    link = (
        f'<p><a href="{html.escape(safe_url(document.run_url))}">Open this run in Dagster</a></p>'
        if document.run_url
        else ""
    )
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><style>{_HTML_STYLE}</style></head>'
        f"<body><h2>{html.escape(document.title)}</h2>"
        f'<p><span class="badge">{html.escape(document.badge)}</span> '
        f"{html.escape(document.note)}</p>{_html_images(images)}{sections}{link}</body></html>\n"
    )
    return subject, body, page


# --- Markdown (Dagster UI metadata) ----------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!@])")
# What GitHub-flavoured Markdown links without brackets: "https://…", "www.…" (and e-mail
# addresses, whose "@" is escaped above).
_BARE_LINK = re.compile(r"(://|(?i:www)\.)")


def markdown_escape(text: str) -> str:
    """Backslash-escape Markdown syntax so an untrusted name stays text: no link (bracketed
    or bare), image, heading or markup, and nothing invisible."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", neutralize(text))
    return _BARE_LINK.sub(lambda m: m[0].replace("/", "\\/").replace(".", "\\."), escaped)


def _fence(lines: Sequence[str]) -> list[str]:
    """A code fence longer than any backtick run inside, so content cannot close it."""
    longest = max((len(run) for line in lines for run in re.findall("`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", *lines, fence]


def ranking_markdown(ranked: pd.DataFrame, limit: int | None = None) -> str:
    """The ranking as a Markdown table for the Dagster UI, the first `limit` ranks (all when
    None), with a line saying how many more there are and where they are."""
    ordered = ranked.sort_values("rank", kind="stable")
    shown = ordered.head(limit) if limit else ordered
    lines = _markdown_part(_company_table(shown, RANKING_NAME_MAX_CHARS, why=True))
    hidden = len(ranked) - len(shown)
    if hidden:
        lines.append(f"{_more(hidden)} (the warehouse's ranked_scores table holds every rank)")
    return "\n".join(lines).rstrip() + "\n"


def _markdown_part(part: Part) -> list[str]:
    if isinstance(part, Figures):
        return [f"- **{markdown_escape(k)}**: {markdown_escape(v)}" for k, v in part.items]
    if isinstance(part, Table):
        align = ["---:" if i in part.right else ":---" for i in range(len(part.columns))]
        cells = [part.columns, *part.rows]
        lines = ["| " + " | ".join(markdown_escape(c) for c in row) + " |" for row in cells]
        return [lines[0], "| " + " | ".join(align) + " |", *lines[1:], ""]
    more = [_more(part.more), ""] if part.more > 0 else []
    if isinstance(part, Pre):
        return [*_fence(part.lines), "", *more]
    heading = [f"**{markdown_escape(part.heading)}**", ""] if part.heading else []
    return [*heading, *(f"- {markdown_escape(item)}" for item in part.items), "", *more]


def fenced_plain_text(message: Summary | Alert) -> str:
    """The plain text in a code fence: Markdown that shows it unchanged (the Dagster UI keeps
    it beside the rendered summary; `fenced_text` reads it back for a terminal)."""
    return "\n".join(_fence(plain_text(message).splitlines())) + "\n"


def fenced_text(fenced: str) -> str:
    """The text inside `fenced_plain_text`'s fence."""
    return "\n".join(fenced.splitlines()[1:-1]) + "\n"


def markdown(message: Summary | Alert) -> str:
    """Markdown for the Dagster UI (asset metadata); the chart is Unicode bars in a code block."""
    document = _document(message)
    lines = [
        f"## {markdown_escape(document.title)}",
        "",
        f"**{markdown_escape(document.badge)}** · {markdown_escape(document.note)}",
    ]
    for section in document.sections:
        lines += ["", f"### {markdown_escape(section.title)}", ""]
        for part in section.parts:
            lines += _markdown_part(part)
    if document.run_url:
        lines += ["", f"[Open this run in Dagster](<{safe_url(document.run_url)}>)"]
    # Parts end with a blank line and sections start with one: keep one between blocks.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip() + "\n"
