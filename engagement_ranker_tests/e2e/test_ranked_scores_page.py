"""Journey 5: a week's ranked_scores page reads first what a person wants (rank, company,
score, tier, move and why it moved), within the page; the whole ranking is one click away; and
the asset's Plots tab draws its per-week figures over the weeks that ran."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from engagement_ranker.constants import WriteMode
from engagement_ranker.defs.jobs import WEEKLY_JOB_NAME
from engagement_ranker.defs.keys import TENANT_MAPPING, WEEKLY_METRICS
from engagement_ranker.defs.partitions import weekly_partitions
from engagement_ranker_tests.e2e import ui
from engagement_ranker_tests.e2e.conftest import VIEWPORT
from engagement_ranker_tests.e2e.product import RANKED, writeback_config
from engagement_ranker_tests.e2e.stack import Stack, location_name

RUN_SECONDS = 120.0
WEEKS = 2  # the week before gives the movers, and a plot more than one point
COLUMNS = ("Rank", "Company", "Score", "Tier", "Move", "Why")
# The per-week figures the UI plots: ranked, the mapped share, a counter's total.
PLOTTED = (
    (RANKED, "ranked"),
    (TENANT_MAPPING.to_user_string(), "mapped_share"),
    (WEEKLY_METRICS.to_user_string(), "total_calls"),
)
DRIVER = re.compile(r"(new patients|appointments|tasks|calls) [\d,]+ → [\d,]+ \([+−][\d,]+ pts\)")


def test_ranked_scores_preview_fits_the_page_names_drivers_and_the_weeks_plot(
    stack: Stack, page: Page, screens: ui.Screens
) -> None:
    weeks = weekly_partitions.get_partition_keys()[-WEEKS:]
    for week in weeks:
        run_id = stack.api.launch_run(
            location_name(), WEEKLY_JOB_NAME, week, writeback_config(WriteMode.DRY_RUN)
        )
        assert stack.api.finished_run(run_id, RUN_SECONDS).status == "SUCCESS", week
    latest = weeks[-1]
    ranked = stack.api.materializations(RANKED, [latest])[0].metadata["ranked"]

    # The preview: the six columns a person reads first, each mover with its driver.
    preview = ui.open_markdown(page, stack.ui_url, RANKED, latest, "preview")
    table = preview.get_by_role("table")
    headers = [h.strip() for h in table.get_by_role("columnheader").all_inner_texts()]
    assert headers == list(COLUMNS)
    expect(table.get_by_role("cell").filter(has_text=DRIVER).first).to_be_visible()
    screens.shoot(page, "preview")
    # Within the page: no part of the table beyond the viewport, nothing to scroll sideways.
    box = table.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"]
    overflow = table.evaluate(
        "t => { for (let e = t; e; e = e.parentElement) {"
        " if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')"
        " return e.scrollWidth - e.clientWidth; } return 0; }"
    )
    assert overflow == 0, f"the preview scrolls sideways by {overflow}px"
    page.keyboard.press("Escape")

    # The whole week, one click away.
    ranking = ui.open_markdown(page, stack.ui_url, RANKED, latest, "ranking")
    expect(ranking.get_by_role("row")).to_have_count(ranked + 1)  # and the header
    screens.shoot(page, "ranking")
    page.keyboard.press("Escape")

    # The Plots view: each per-week figure, a plain number, drawn across the weeks.
    for asset, figure in PLOTTED:
        plots = ui.open_plots(page, stack.ui_url, asset)
        title = plots.get_by_text(figure, exact=True)
        title.scroll_into_view_if_needed()
        expect(title).to_be_visible()
        expect(plots.locator("canvas").first).to_be_visible()
        screens.shoot(page, f"plot-{figure}")
