"""Journey 1: the asset graph and its weekly partitions, as the Dagster UI shows them."""

from __future__ import annotations

from datetime import datetime

from playwright.sync_api import Page, expect

from engagement_ranker.core.week import ZONE, parse_week_key
from engagement_ranker.defs.partitions import WINDOW_WEEKS, refuse_unreachable, weekly_partitions
from engagement_ranker_tests.e2e import ui
from engagement_ranker_tests.e2e.product import ASSET_GROUPS, RANKED
from engagement_ranker_tests.e2e.stack import Stack
from engagement_ranker_tests.e2e.waiting import wait_until

GRAPH_SETTLE_SECONDS = 15.0


# The seven the user asked for, and the account managers' digests after the write.
ASKED_FOR = {
    "customer_companies",
    "yobi_tenants",
    "tenant_mapping",
    "weekly_metrics",
    "ranked_scores",
    "hubspot_writeback",
    "slack_summary",
}


def test_lineage_graph_draws_the_assets_inside_their_groups(
    stack: Stack, page: Page, screens: ui.Screens
) -> None:
    assert set(ASSET_GROUPS) == ASKED_FOR | {"owner_digests"}
    assert stack.api.asset_groups() == ASSET_GROUPS
    # The previous week's ranking is an input of this week's: the lineage shows it.
    assert RANKED in stack.api.dependencies()[RANKED]

    ui.open_lineage(page, stack.ui_url)
    screens.shoot(page, "lineage-collapsed")
    ui.expand_all_groups(page)

    # The graph animates to its new layout; poll until every node sits in its group's box.
    wait_until(
        lambda: (
            ui.group_of_each_asset(page, ASSET_GROUPS, set(ASSET_GROUPS.values())) == ASSET_GROUPS
        ),
        timeout=GRAPH_SETTLE_SECONDS,
        what=f"the lineage graph to draw each asset inside its group: {ASSET_GROUPS}",
    )
    screens.shoot(page, "lineage-expanded")


def test_partitions_tab_lists_the_weeks_yobi_reaches_newest_first(
    stack: Stack, page: Page, screens: ui.Screens
) -> None:
    weeks = weekly_partitions.get_partition_keys()
    assert all(keys == weeks for keys in stack.api.partition_keys().values())
    # Installed today: every week listed is one Yobi's stats still reach, and only those.
    today = datetime.now(ZONE)
    for week in weeks:
        refuse_unreachable(parse_week_key(week), today)
    assert len(weeks) == WINDOW_WEEKS

    ui.open_asset_tab(page, stack.ui_url, RANKED, "Partitions")
    expect(page.get_by_text(f"{len(weeks)} Partitions Selected", exact=True)).to_be_visible()
    listed = ui.partition_keys_listed(page)
    screens.shoot(page, "partitions")

    # The newest weeks, newest first from the latest completed week, each keyed by its Sunday.
    assert len(listed) >= 5
    assert listed == weeks[::-1][: len(listed)]
    assert [parse_week_key(key).key for key in listed] == listed
