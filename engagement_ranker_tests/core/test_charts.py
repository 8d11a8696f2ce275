"""The e-mail's picture: a PNG of the week's scores by tier and the movers' past ranks, the
same bytes for the same week, whatever the names or how little history there is."""

from __future__ import annotations

import pandas as pd

from engagement_ranker.core.charts import CHART_CID, LEGEND_NAME_CHARS, _label, summary_chart
from engagement_ranker_tests.core.test_render import HOSTILE, with_names
from engagement_ranker_tests.core.test_summary import ranked_frame, summarize

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def history(summary, weeks: list[str]) -> pd.DataFrame:
    movers = pd.concat([summary.movers_up, summary.movers_down])
    return pd.DataFrame(
        [
            {"company_id": c, "week": w, "rank": 1 + (i * 7 + j * 13) % 30}
            for i, c in enumerate(movers["company_id"])
            for j, w in enumerate(weeks)
        ]
    )


def test_the_chart_is_a_png_drawn_the_same_every_time() -> None:
    summary = summarize(ranked_frame(30, prior_every=1))
    past = history(summary, ["2026-10-25", "2026-11-01", "2026-11-08"])

    first, again = summary_chart(summary, past), summary_chart(summary, past)

    assert first.png.startswith(PNG_SIGNATURE) and len(first.png) > 10_000
    assert first.png == again.png
    assert first.cid == CHART_CID and "8 weeks" in first.alt
    top_mover = summary.movers_up["company_id"].iloc[0]
    forgotten = past[past["company_id"] != top_mover]
    assert summary_chart(summary, forgotten).png != first.png  # it draws the history


def test_names_are_text_never_markup_or_maths() -> None:
    hostile = f"\u202e\x00$x^2$ {HOSTILE}"
    ranked = with_names(ranked_frame(30, prior_every=1), {r: hostile for r in range(1, 31)})
    summary = summarize(ranked)
    assert summary_chart(summary, pd.DataFrame()).png.startswith(PNG_SIGNATURE)

    # What the legend is given: one line, clipped, no control or bidi character, and every
    # "$" escaped so matplotlib draws it rather than reading maths.
    label = _label(hostile)
    assert len(label.replace("\\$", "$")) <= LEGEND_NAME_CHARS
    assert "\u202e" not in label and "\x00" not in label
    assert "$" not in label.replace("\\$", "")


def test_a_first_week_without_movers_or_history_still_draws() -> None:
    summary = summarize(ranked_frame(5, prior_every=None))
    assert summary.movers_up.empty and summary.movers_down.empty
    assert summary_chart(summary, pd.DataFrame()).png.startswith(PNG_SIGNATURE)
