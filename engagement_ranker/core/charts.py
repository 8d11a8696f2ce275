"""The summary's picture, for the e-mail: the week's scores by tier beside the top movers' rank
over the last weeks, where people would rather look than read.

Drawn with matplotlib's Agg canvas on a Figure of its own (no pyplot, no global state), so it
is safe in any thread, and saved without a version stamp, so the same week draws the same
bytes.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pandas as pd

from engagement_ranker.constants import TIER_BOTTOM, TIER_MIDDLE, TIER_TOP
from engagement_ranker.core.frames import rows
from engagement_ranker.core.render import InlineImage, clip
from engagement_ranker.core.summary import Summary

if TYPE_CHECKING:  # matplotlib is imported only when a chart is drawn
    from matplotlib.axes import Axes

CHART_CID = "summary-chart@engagement-ranker"
CHART_WEEKS = 8  # the movers' rank history: this week and the seven before it
CHART_ALT = f"Scores by tier, and the top movers' rank over the last {CHART_WEEKS} weeks"
MOVERS_EACH_WAY = 3
LEGEND_NAME_CHARS = 28
TIER_COLOURS = {TIER_TOP: "#2e7d32", TIER_MIDDLE: "#607d8b", TIER_BOTTOM: "#e65100"}
MOVER_COLOURS = ("#1b5e20", "#43a047", "#81c784", "#b71c1c", "#e53935", "#ef9a9a")
SIZE_INCHES = (10.0, 3.8)
DPI = 100


def _label(name: object) -> str:
    """A company name as plain text in the chart: one clean line, clipped (as every other
    rendering does), and a "$" never read as maths."""
    return (clip(str(name), LEGEND_NAME_CHARS) or "(no name)").replace("$", r"\$")


def _tiers(axes: Axes, summary: Summary) -> None:
    """Each tier's score range as a bar from its lowest to its highest score."""
    frame = summary.score_by_tier
    for position, row in enumerate(rows(frame)):
        if not row.companies:
            continue
        low, high = int(row.min_score), int(row.max_score)
        axes.barh(
            position,
            max(high - low, 1),
            left=low,
            color=TIER_COLOURS.get(row.tier, "#999999"),
            height=0.55,
        )
        axes.text(
            high,
            position,
            f"  {row.companies:,} companies, {low:,}–{high:,}",
            va="center",
            fontsize=8,
        )
    axes.set_yticks(range(len(frame)), [str(t) for t in frame["tier"]])
    axes.invert_yaxis()
    axes.set_xlabel("score")
    axes.set_title("Scores by tier", fontsize=10)
    axes.margins(x=0.45)
    axes.set_xlim(left=0)


def _movers(axes: Axes, summary: Summary, history: pd.DataFrame) -> None:
    """Each top mover's rank week by week (rank 1 at the top); a week it was not ranked is a gap."""
    movers = pd.concat(
        [summary.movers_up.head(MOVERS_EACH_WAY), summary.movers_down.head(MOVERS_EACH_WAY)]
    )
    weeks = [summary.week]
    while len(weeks) < CHART_WEEKS:
        weeks.insert(0, weeks[0].previous())
    keys = [w.key for w in weeks]
    ranks = history.assign(week=history["week"].astype(str)) if len(history) else history
    for colour, row in zip(MOVER_COLOURS, rows(movers), strict=False):
        mine = (
            ranks[ranks["company_id"].astype(str) == str(row.company_id)] if len(ranks) else ranks
        )
        by_week = dict(zip(mine["week"], mine["rank"], strict=True)) if len(mine) else {}
        by_week[summary.week.key] = int(row.rank)
        values = [by_week.get(key) for key in keys]
        axes.plot(
            range(len(keys)),
            [float("nan") if v is None or pd.isna(v) else float(v) for v in values],
            marker="o",
            markersize=3,
            color=colour,
            label=_label(row.name),
        )
    axes.set_xticks(range(len(keys)), [week.start.strftime("%b %d") for week in weeks])
    axes.tick_params(axis="x", labelsize=7)
    axes.invert_yaxis()
    axes.set_ylabel("rank")
    axes.set_title(f"Top movers' rank, last {CHART_WEEKS} weeks", fontsize=10)
    if len(movers):
        axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    else:
        axes.text(0.5, 0.5, "no company with a known prior rank moved", ha="center",
                  transform=axes.transAxes, fontsize=8)  # fmt: skip


def summary_chart(summary: Summary, history: pd.DataFrame) -> InlineImage:
    """The PNG the e-mail summary shows inline. `history`: company_id, week, rank of the
    stored weeks before this one (the movers' past ranks; empty when none is stored)."""
    # Imported here: a quarter of a second that only a run sending the e-mail spends.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    tiers, movers = figure.subplots(1, 2, width_ratios=(1.0, 1.3))
    _tiers(tiers, summary)
    _movers(movers, summary, history)
    png = io.BytesIO()
    figure.savefig(png, format="png", metadata={"Software": None})
    return InlineImage(CHART_CID, png.getvalue(), CHART_ALT)
