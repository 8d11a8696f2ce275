"""Renderings of the summary and the alert: header and badge, escaping per format, Slack's
limits at N = 10,000 with thousands of anomalies, trimming with "…and N more", determinism."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from html.parser import HTMLParser

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_ranker.constants import WriteMode
from engagement_ranker.core.anomalies import Anomaly, AnomalyKind
from engagement_ranker.core.movers import attach_prior
from engagement_ranker.core.render import (
    SLACK_MAX_BLOCKS,
    email,
    fenced_plain_text,
    fenced_text,
    markdown,
    markdown_escape,
    plain_text,
    slack_escape,
    slack_messages,
)
from engagement_ranker.core.scoring import rank_companies
from engagement_ranker.core.summary import Alert, Summary
from engagement_ranker.core.text import neutralize
from engagement_ranker.core.universe import describe_exclusion_rules, parse_exclusion_rules
from engagement_ranker_tests.clients.test_notify import MAX_SECTION, block_kit_problem
from engagement_ranker_tests.core.test_summary import WEEK, ranked_frame, summarize

HOSTILE = "<!channel> Dental & Co <b>"
HEADER = "Engagement ranking · Week of Sun Nov 15 – Sat Nov 21, 2026"
RUN_URL = "https://dagster.example.com/runs/0f1e"


def with_names(ranked: pd.DataFrame, names: dict[int, str]) -> pd.DataFrame:
    """The frame with the companies at the given ranks renamed."""
    renamed = ranked.copy()
    for rank, name in names.items():
        renamed.loc[renamed["rank"] == rank, "name"] = name
    return renamed


def texts(messages: list[dict]) -> list[str]:
    """Every mrkdwn string Slack will parse: fallbacks, section texts, fields, context."""
    found = []
    for message in messages:
        found.append(message["text"])
        for block in message["blocks"]:
            if block["type"] == "section":
                found += [block["text"]["text"]] if "text" in block else []
                found += [f["text"] for f in block.get("fields", [])]
            if block["type"] == "context":
                found += [e["text"] for e in block["elements"]]
    return found


def section_texts(messages: list[dict]) -> list[str]:
    return [b["text"]["text"] for m in messages for b in m["blocks"] if "text" in b]


# --- header, badge, figures -------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "badge"),
    [(WriteMode.DRY_RUN, "DRY RUN"), (WriteMode.ALLOWLIST, "ALLOWLIST"), (WriteMode.FULL, "FULL")],
)
def test_header_and_mode_badge_in_every_format(mode: WriteMode, badge: str) -> None:
    summary = summarize(ranked_frame(30), mode=mode)
    [message] = slack_messages(summary)
    header, context = message["blocks"][:2]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": HEADER}}
    assert context["elements"][0]["text"].startswith(f"*{badge}* · ")
    subject, text, page = email(summary)
    assert subject == f"{HEADER} [{badge}]"
    assert text.splitlines()[:2] == [HEADER, f"{badge}: " + text.splitlines()[1].split(": ")[1]]
    assert f'<span class="badge">{badge}</span>' in page
    assert markdown(summary).startswith(f"## {HEADER}\n\n**{badge}** · ")


def figures_in_every_format(summary: Summary) -> dict[str, dict[str, str]]:
    """Format -> the key figures it shows (label -> value), read back from each rendering."""
    [message] = slack_messages(summary)
    slack = [f["text"] for b in message["blocks"] for f in b.get("fields", [])]
    _, text, page = email(summary)
    md = markdown(summary).split("### Key figures\n\n")[1].split("\n\n")[0]

    def aligned(plain: str) -> dict[str, str]:
        block = plain.split("KEY FIGURES\n")[1].split("\n\n")[0]
        return dict(re.findall(r"^  (.+?)  +(\S+)$", block, re.M))

    return {
        "slack": dict(field.strip("*").split("*\n") for field in slack),
        "email": aligned(text),
        "terminal": aligned(plain_text(summary)),
        "html": dict(re.findall(r"<tr><th>([^<]+)</th><td class=n>([^<]+)</td></tr>", page)),
        "markdown": dict(re.findall(r"^- \*\*(.+?)\*\*: (.+)$", md, re.M)),
    }


def anomaly_counts_in_every_format(summary: Summary) -> dict[str, dict[str, str]]:
    """Format -> the anomaly headings it shows (label -> count)."""
    [message] = slack_messages(summary)
    heading = r"(.+?): ([\d,]+)"
    return {
        "slack": dict(re.findall(rf"^\*{heading}\*$", "\n".join(section_texts([message])), re.M)),
        "email": dict(re.findall(rf"^  {heading}$", email(summary)[1], re.M)),
        "terminal": dict(re.findall(rf"^  {heading}$", plain_text(summary), re.M)),
        "html": dict(re.findall(rf"<p><b>{heading}</b></p>", email(summary)[2])),
        "markdown": dict(re.findall(rf"^\*\*{heading}\*\*$", markdown(summary), re.M)),
    }


def test_key_figures_in_every_format() -> None:
    ranked = ranked_frame(150, prior_every=3)
    summary = summarize(
        ranked,
        mode=WriteMode.ALLOWLIST,
        universe=170,
        excluded=4,
        mapped=152,
        written=9,
        unchanged=60,
        held_back=81,
    )
    expected = {
        "Customer companies": "170",
        "Excluded": "4",
        "Unmapped (not ranked)": "14",
        "Tenant claimed twice (not ranked)": "0",
        "Mapped, without metrics (not ranked)": "2",
        "Ranked": "150",
        "Written": "9",
        "Unchanged": "60",
        "Held back (not on the allowlist)": "81",
        "New / unknown prior rank": "100",
        "Mapping coverage": "91.6%",
    }
    for shown in figures_in_every_format(summary).values():
        assert list(shown.items()) == list(expected.items())


def test_counts_add_up_in_every_format() -> None:
    """Key figures and anomaly headings name each count alike, and the parts make the
    wholes: companies left out plus ranked, and the write outcomes of the ranked."""
    left_out = [
        *(Anomaly(AnomalyKind.UNMAPPED, f"u{i}", company_id=str(i)) for i in range(3)),
        Anomaly(AnomalyKind.DUPLICATE_CLAIM, "claimed", company_id="9"),
        *(Anomaly(AnomalyKind.EXCLUDED, f"e{i}", company_id=str(20 + i)) for i in range(2)),
    ]
    ranked = ranked_frame(40)
    summary = summarize(ranked, universe=46, excluded=2, mapped=40, anomalies=left_out)
    figures = figures_in_every_format(summary)
    headings = anomaly_counts_in_every_format(summary)
    for shown, named in zip(figures.values(), headings.values(), strict=True):
        count = {
            label: int(value.replace(",", "")) for label, value in shown.items() if value[-1] != "%"
        }
        parts = ("Excluded", "Unmapped (not ranked)", "Tenant claimed twice (not ranked)", "Ranked")
        assert sum(count[part] for part in parts) == count["Customer companies"] == 46
        assert count["Written"] + count["Unchanged"] == count["Ranked"] == 40
        for label in ("Excluded", "Unmapped (not ranked)", "Tenant claimed twice (not ranked)"):
            assert named[label] == str(count[label]), (label, named, count)
    assert figures["terminal"]["Unmapped (not ranked)"] == "3"


def test_a_dry_run_says_what_it_would_write_in_every_format() -> None:
    summary = summarize(ranked_frame(140), mode=WriteMode.DRY_RUN, unchanged=12)
    for shown in figures_in_every_format(summary).values():
        assert shown["Would write"] == "128"
        assert shown["Unchanged"] == "12"
        assert "Written" not in shown and "Held back (not on the allowlist)" not in shown


def test_exclusion_rules_in_every_format() -> None:
    rules = parse_exclusion_rules(
        '{"replace_defaults": true, "rules": [{"property": "customer_status", '
        '"value": "paused", "reason": "paused <!here> & co"}]}'
    )
    summary = summarize(ranked_frame(12), exclusion_rules=rules)
    lines = describe_exclusion_rules(rules)
    assert len(lines) == 3  # the custom rule, then the two defaults it replaced
    [message] = slack_messages(summary)
    [block] = [t for t in section_texts([message]) if t.startswith("*Exclusion rules*")]
    _, text, page = email(summary)
    for line in lines:
        assert f"• {slack_escape(line)}" in block.splitlines()
        assert f"  - {slack_escape(line)}" in message["text"].splitlines()
        assert f"  - {line}" in text.splitlines()
        assert f"<li>{html.escape(line)}</li>" in page
        assert f"- {markdown_escape(line)}" in markdown(summary).splitlines()
    assert "<!here>" not in block


@pytest.mark.parametrize("mode", [WriteMode.FULL, WriteMode.DRY_RUN])
def test_only_allowlist_mode_has_a_held_back_figure(mode: WriteMode) -> None:
    summary = summarize(ranked_frame(30), mode=mode)
    assert "Held back" not in markdown(summary)


def expected_move(delta: object) -> str:
    """The Move cell: places gained (▲), lost (▼), none (=), or no prior rank (new)."""
    if pd.isna(delta):
        return "new"
    return f"▲{delta}" if delta > 0 else f"▼{-delta}" if delta < 0 else "="


def test_tables_list_name_rank_score_tier_and_move() -> None:
    ranked = ranked_frame(150)
    summary = summarize(ranked)
    _, text, _ = email(summary)
    rows = pd.concat([summary.top, summary.bottom])
    moves = [expected_move(delta) for delta in rows["delta"]]
    assert {"new", "▲", "▼"} <= {move.rstrip("0123456789") for move in moves}
    for row, move in zip(rows.itertuples(), moves, strict=True):
        pattern = rf"^ +{row.rank}  {re.escape(row.name)} +{row.score}  {re.escape(row.tier)}"
        assert re.search(pattern, text, re.M), row
        assert re.search(rf"{pattern} +{move}$", text, re.M), (row, move)
    up = summary.movers_up.iloc[0]
    assert f"| ▲{up.delta} | {up['name']} | {up.prior_rank} | {up['rank']} |" in markdown(summary)
    down = summary.movers_down.iloc[0]
    assert f"| ▼{-down.delta} | {down['name']} | {down.prior_rank} |" in markdown(summary)


def test_move_column_shows_gained_same_lost_and_new() -> None:
    ranked = ranked_frame(4, prior_every=None)
    ids = ranked.sort_values("rank")["company_id"].tolist()
    priors = {ids[0]: "3 out of 4", ids[1]: "2 out of 4", ids[2]: "1 out of 4"}
    _, text, _ = email(summarize(attach_prior(ranked, None, priors)))
    table = text.split("TOP 4\n")[1].split("\n\n")[0].splitlines()[1:]
    assert [line.split()[0] for line in table] == ["1", "2", "3", "4"]
    assert [line.split()[-1] for line in table] == ["▲2", "=", "▼2", "new"]


def test_tables_are_aligned_in_fixed_width_text() -> None:
    summary = summarize(with_names(ranked_frame(150), {1: "A", 2: "A much longer name"}))
    _, text, _ = email(summary)
    block = text.split("TOP 10\n")[1].split("\n\n")[0].splitlines()
    score_end = {line.index("Score") + len("Score") for line in block[:1]}
    for line in block[1:]:
        score = re.search(r"(\d+)  (Top|Middle|Bottom)", line)
        assert score and score.end(1) in score_end, line


def test_new_and_unknown_movement_and_empty_lists() -> None:
    summary = summarize(ranked_frame(1, prior_every=2))
    assert "| 1 | Practice 0 |" in markdown(summary)
    no_prior = summarize(ranked_frame(5, prior_every=None))
    page = markdown(no_prior)
    assert "No company with a known prior rank moved up." in page
    assert "No company with a known prior rank moved down." in page
    assert "| new |" in page
    only_one = markdown(summarize(ranked_frame(1)))
    assert "### Bottom\n\n- Every ranked company is listed above." in only_one


# --- escaping ----------------------------------------------------------------------------


def test_slack_escapes_names_so_nobody_is_pinged() -> None:
    summary = summarize(
        with_names(ranked_frame(150), {1: HOSTILE, 150: "<@U123> & <#C1|x>"}),
        anomalies=[Anomaly(AnomalyKind.UNMAPPED, f"{HOSTILE} (7): no tenant")],
    )
    [message] = slack_messages(summary)
    every = "\n".join(texts([message]))
    assert "<!channel>" not in every and "<@U123>" not in every and "<#C1" not in every
    assert "&lt;!channel&gt; Dental &amp; Co &lt;b&gt;" in message["text"]
    sections = "\n".join(section_texts([message]))
    assert sections.count("&lt;!channel&gt; Dental &amp; Co &lt;b&gt;") == 2  # table, anomaly
    assert "&lt;@U123&gt; &amp; &lt;#C1|x&gt;" in sections


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60
).filter(str.strip)


@settings(max_examples=40)
@given(st.lists(names, min_size=3, max_size=3))
def test_slack_text_has_no_live_markup_whatever_the_names(chosen: list[str]) -> None:
    ranked = with_names(ranked_frame(12), dict(enumerate(chosen, start=1)))
    anomalies = [Anomaly(AnomalyKind.LOW_CONFIDENCE, name) for name in chosen]
    summary = summarize(ranked, anomalies=anomalies, run_url=RUN_URL)
    [message] = slack_messages(summary)
    link = f"<{RUN_URL}|Open this run in Dagster>"
    for text in texts([message]):
        plain = text.replace(link, "")
        assert "<" not in plain and ">" not in plain, text
        assert not re.search(r"&(?!amp;|lt;|gt;)", plain), text
        for fenced in re.findall(r"```(.*?)```", plain, re.S):
            assert "`" not in fenced


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.data.append(data)


OUR_TAGS = {"html", "head", "meta", "style", "body", "h2", "h3", "p", "span", "b"}
OUR_TAGS |= {"table", "tr", "th", "td", "ul", "li", "pre", "a"}


@settings(max_examples=40)
@given(st.lists(names, min_size=3, max_size=3))
def test_email_html_holds_names_as_text_only(chosen: list[str]) -> None:
    ranked = with_names(ranked_frame(12), dict(enumerate(chosen, start=1)))
    _, _, page = email(summarize(ranked, run_url=RUN_URL))
    parser = _Tags()
    parser.feed(page)
    assert parser.tags <= OUR_TAGS
    shown = set(parser.data)
    for name in chosen:
        flat = " ".join(neutralize(name).split())  # nothing invisible reaches a reader
        assert flat in shown or flat[:39] + "…" in shown


def test_email_html_escapes_names_in_tables_and_lists() -> None:
    script = "<script>alert(1)</script>"
    ranked = with_names(ranked_frame(12), {1: HOSTILE, 12: script})
    anomalies = [Anomaly(AnomalyKind.UNMAPPED, f"{script} (9): no tenant")]
    _, text, page = email(summarize(ranked, anomalies=anomalies))
    parser = _Tags()
    parser.feed(page)
    assert parser.tags <= OUR_TAGS
    assert "<td>&lt;!channel&gt; Dental &amp; Co &lt;b&gt;</td>" in page
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page
    assert "<li>&lt;script&gt;alert(1)&lt;/script&gt; (9): no tenant</li>" in page
    assert HOSTILE in text, "the plain-text part shows names as they are"


def test_plain_text_shows_names_and_variables_as_they_are() -> None:
    """What a terminal shows: no Markdown escapes, so a name or a variable can be copied."""
    names = {1: "rivera & miller", 2: "**Smile** [Dental]_co", 3: "`tick` <b>"}
    anomalies = [Anomaly(AnomalyKind.UNMAPPED, "pin it in TENANT_MAPPING_OVERRIDES_JSON: {}")]
    summary = summarize(with_names(ranked_frame(12), names), anomalies=anomalies)
    text = plain_text(summary)
    for name in names.values():
        assert name in text
    assert "TENANT_MAPPING_OVERRIDES_JSON: {}" in text
    assert "\\" not in text and "**" not in text.replace(names[2], "")
    assert text == email(summary)[1], "one plain-text layout, for e-mail and terminal alike"
    first_row = text.split("TOP 10\n")[1].splitlines()[1]
    assert re.fullmatch(r" +1  rivera & miller +[\d,]+  Top 30%  +\S+", first_row)


def test_fenced_plain_text_reads_back_unchanged() -> None:
    summary = summarize(with_names(ranked_frame(12), {1: "```<!here>``` & co"}))
    fenced = fenced_plain_text(summary)
    assert fenced.startswith("````text\n") and fenced.endswith("\n````\n")
    assert fenced_text(fenced) == plain_text(summary)


def _cells(line: str) -> int:
    """Table cells of one Markdown row: pipes not escaped by a backslash, minus one."""
    pipes, escaped = 0, False
    for char in line:
        pipes += char == "|" and not escaped
        escaped = char == "\\" and not escaped
    return pipes - 1


@settings(max_examples=40)
@given(st.lists(names, min_size=3, max_size=3))
def test_markdown_tables_keep_their_shape_whatever_the_names(chosen: list[str]) -> None:
    ranked = with_names(ranked_frame(12, prior_every=1), dict(enumerate(chosen, start=1)))
    page = markdown(summarize(ranked))
    rows = [line for line in page.splitlines() if line.startswith("| ")]
    # Company tables have 5 columns, movers tables 6 (with why each moved).
    assert rows and all(_cells(line) in (5, 6) for line in rows), rows
    outside_code = re.sub(r"```text.*?```", "", page, flags=re.S)
    assert not re.search(r"(?<!\\)[<>]", outside_code)


def test_markdown_escapes_pipes_and_html() -> None:
    summary = summarize(with_names(ranked_frame(12), {1: "A | B <script>x</script>"}))
    assert "| 1 | A \\| B \\<script\\>x\\</script\\> |" in markdown(summary)


def test_backticks_cannot_break_code_blocks() -> None:
    summary = summarize(with_names(ranked_frame(12), {1: "```<!here>```"}))
    [message] = slack_messages(summary)
    top = next(t for t in section_texts([message]) if t.startswith("*Top 10*"))
    assert top.count("```") == 2
    alert = Alert(
        "2026-11-15", "ranked_scores", "ValueError: ```` in a name", "nothing was written"
    )
    assert "`````text\nValueError: ```` in a name\n`````" in markdown(alert)


# --- limits and trimming ----------------------------------------------------------------


PER_KIND = 330  # anomalies of each kind in the huge summary


def huge_summary() -> Summary:
    """N = 10,000 with long escape-heavy names and ~3,000 long anomalies, PER_KIND of each kind."""
    ranked = ranked_frame(10_000)
    ranked["name"] = [f"{'<&>' * 40} {i}" for i in range(len(ranked))]
    kinds = list(AnomalyKind)
    anomalies = [
        Anomaly(kinds[i % len(kinds)], f"{i} " + "&<>" * 400, company_id=str(i))
        for i in range(PER_KIND * len(kinds))
    ]
    return summarize(ranked, anomalies=anomalies, run_url=RUN_URL)


@pytest.fixture(scope="module")
def huge() -> Summary:
    return huge_summary()


def test_slack_limits_hold_at_ten_thousand_companies(huge: Summary) -> None:
    messages = slack_messages(huge)
    assert messages
    for message in messages:
        assert block_kit_problem(message) is None
        assert len(json.dumps(message)) < 200_000
    assert max(len(t) for t in section_texts(messages)) <= MAX_SECTION


def test_the_largest_layout_fits_one_message_within_the_block_limit(huge: Summary) -> None:
    """Every figure (allowlist mode), every anomaly kind, the run link: still one message."""
    largest = replace(huge, mode=WriteMode.ALLOWLIST)
    failed = Alert("2026-11-15", "hubspot_writeback", "boom\n" * 50, "nothing was written", RUN_URL)
    for message in (largest, failed):
        [slack] = slack_messages(message)
        assert 0 < len(slack["blocks"]) <= SLACK_MAX_BLOCKS


def test_long_lists_are_trimmed_with_a_count(huge: Summary) -> None:
    [message] = slack_messages(huge)
    per_kind = PER_KIND
    anomaly_blocks = [t for t in section_texts([message]) if f": {per_kind}*" in t]
    assert len(anomaly_blocks) == len(AnomalyKind)
    for text in anomaly_blocks:
        shown = text.count("\n• ")
        more = re.search(r"…and ([\d,]+) more$", text)
        assert shown >= 1 and more, text[-200:]
        assert shown + int(more.group(1).replace(",", "")) == per_kind
    _, plain, _ = email(huge)
    assert plain.count(f"…and {per_kind - 5} more") == len(AnomalyKind)
    assert markdown(huge).count(f"…and {per_kind - 5} more") == len(AnomalyKind)


@settings(max_examples=60)
@given(
    st.lists(
        st.text(alphabet="&<>ab `*", min_size=1, max_size=520).filter(str.strip),
        min_size=1,
        max_size=12,
    )
)
def test_sections_fill_up_to_the_limit_and_count_the_rest(messages: list[str]) -> None:
    anomalies = [Anomaly(AnomalyKind.API_WARNING, m) for m in messages]
    [message] = slack_messages(summarize(ranked_frame(3), anomalies=anomalies))
    assert block_kit_problem(message) is None
    [text] = [t for t in section_texts([message]) if "API warnings" in t]
    more = re.search(r"\n…and ([\d,]+) more$", text)
    shown = len(re.findall(r"^• ", text, re.M))
    assert shown + (int(more.group(1)) if more else 0) == len(messages)


FITS = "&" * 117 + "aaa"  # 588 characters once escaped: five such bullets fill 3,000 exactly


@pytest.mark.parametrize(
    ("messages", "shown", "more"),
    [
        ([FITS] * 5, 5, None),
        ([FITS] * 4 + [FITS + "a"], 4, "1"),  # five would be 3,001
        ([FITS] * 6, 4, "2"),  # five fit, but not with "…and 1 more" after them
    ],
)
def test_a_section_stops_exactly_at_slacks_limit(
    messages: list[str], shown: int, more: str | None
) -> None:
    anomalies = [Anomaly(AnomalyKind.API_WARNING, m) for m in messages]
    [slack] = slack_messages(summarize(ranked_frame(3), anomalies=anomalies))
    assert block_kit_problem(slack) is None
    [text] = [t for t in section_texts([slack]) if "API warnings" in t]
    assert len(re.findall(r"^• ", text, re.M)) == shown
    found = re.search(r"\n…and (\d+) more$", text)
    assert (found.group(1) if found else None) == more


def test_long_names_are_clipped_everywhere(huge: Summary) -> None:
    _, plain, _ = email(huge)
    clipped = ("<&>" * 40)[:39] + "…"
    assert clipped in plain and "<&>" * 14 not in plain


def test_alert_error_is_trimmed_and_placed() -> None:
    error = "\n".join(f"line {i}: " + "&" * 300 for i in range(100))
    alert = Alert("2026-11-15", "hubspot_writeback", error, "120 companies written, restored")
    [message] = slack_messages(alert)
    assert block_kit_problem(message) is None
    assert message["blocks"][0]["text"]["text"] == (
        "Engagement ranking failed · Week of Sun Nov 15 – Sat Nov 21, 2026"
    )
    assert "*FAILED* · step hubspot_writeback: 120 companies written, restored" in texts([message])
    subject, text, page = email(alert)
    assert subject.endswith("[FAILED]")
    assert "line 19: " in text and "line 20: " not in text and "…and 80 more" in text
    assert "…and 80 more" in page and "…and 80 more" in markdown(alert)
    slack_error = next(t for t in section_texts([message]) if t.startswith("*Error*"))
    shown = slack_error.count("line ")
    assert shown + int(re.search(r"…and (\d+) more$", slack_error).group(1)) == 100


def test_alert_for_an_unusable_week_key_still_renders() -> None:
    alert = Alert("2026-11-16", "run", "InvalidWeekKey", "nothing was written", RUN_URL)
    assert markdown(alert).startswith("## Engagement ranking failed · week '2026-11-16'\n")
    [message] = slack_messages(alert)
    assert block_kit_problem(message) is None


# --- link, chart, determinism ------------------------------------------------------------


def test_run_link_in_every_format_only_when_set() -> None:
    odd = "https://dagster.example.com/runs/a|b>c d"
    summary = summarize(ranked_frame(12), run_url=odd)
    [message] = slack_messages(summary)
    encoded = "https://dagster.example.com/runs/a%7Cb%3Ec%20d"
    assert message["blocks"][-1]["text"]["text"] == f"<{encoded}|Open this run in Dagster>"
    assert f'<a href="{encoded}">Open this run in Dagster</a>' in email(summary)[2]
    assert f"[Open this run in Dagster](<{encoded}>)" in markdown(summary)
    assert f"Run in Dagster: {encoded}" in email(summary)[1]
    bare = summarize(ranked_frame(12))
    assert "Dagster" not in json.dumps(slack_messages(bare)) + "".join(email(bare))
    assert "Dagster" not in markdown(bare)


def test_chart_bars_follow_the_share_of_points() -> None:
    rows = [
        {"company_id": str(i), "name": f"P{i}", "tenant_id": i, "method": "domain",
         "new_patients": 0, "appointments": 0, "tasks": 0, "calls": 30 - i if i <= 3 else 0}
        for i in range(1, 11)
    ]  # fmt: skip
    ranked = attach_prior(rank_companies(pd.DataFrame(rows)), None, {})
    chart = markdown(summarize(ranked)).split("```text\n")[1].split("```")[0].splitlines()
    assert chart[0].startswith("Top 30%    " + "█" * 24 + " 100%  3 companies, scores 27–29")
    assert chart[1] == "Middle 40% " + " " * 24 + "   0%  4 companies, scores 0–0"
    assert chart[2].startswith("Bottom 30% " + " " * 24 + "   0%")


def test_same_inputs_render_byte_for_byte_the_same() -> None:
    ranked = with_names(ranked_frame(150), {3: HOSTILE})
    anomalies = [Anomaly(AnomalyKind.ZERO_ACTIVITY, f"{i}") for i in range(9)]
    one = summarize(ranked, anomalies=anomalies, run_url=RUN_URL)
    two = summarize(ranked.sample(frac=1, random_state=5), anomalies=anomalies, run_url=RUN_URL)
    assert json.dumps(slack_messages(one)) == json.dumps(slack_messages(two))
    assert email(one) == email(two)
    assert markdown(one) == markdown(two)
    assert WEEK.label in markdown(one)
