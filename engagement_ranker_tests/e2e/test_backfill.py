"""Journey 3: a backfill of past weeks from the UI stores their history and, even asked to
write in full mode, leaves HubSpot alone (it holds the current week only). The daemon runs two
runs at a time, yet each week is ranked after the week before: its movers come from it.

Four weeks, as the issue asked: the daemon plans the weeks' assets tick by tick (an asset that
reads its own earlier weeks is planned one week at a time: 11 ticks). Dagster's daemon ticks
every 30 s; the stack's every 5 s (`stack.daemon_pace`), so the journey waits for runs, not
for ticks."""

from __future__ import annotations

import itertools

from dagster_duckdb import DuckDBResource
from playwright.sync_api import Page, expect

from engagement_ranker.constants import WriteMode
from engagement_ranker.defs.keys import RANKED_SCORES
from engagement_ranker.defs.partitions import weekly_partitions
from engagement_ranker.defs.warehouse import stored_week
from engagement_ranker_tests.e2e import ui
from engagement_ranker_tests.e2e.product import ASSET_GROUPS, RANKED, WRITEBACK, writeback_config
from engagement_ranker_tests.e2e.stack import Stack

PAST_WEEKS = 4
# A deadline, not a wait: at Dagster's own 30-s ticks the journey took about 330 s.
BACKFILL_SECONDS = 600.0


def test_backfill_of_past_weeks_stores_history_and_writes_nothing(
    stack: Stack, page: Page, screens: ui.Screens
) -> None:
    weeks = weekly_partitions.get_partition_keys()[-PAST_WEEKS - 1 : -1]

    backfill_id = ui.backfill_weeks(
        page, stack.ui_url, weeks, writeback_config(WriteMode.FULL), screens
    )

    backfill = stack.api.finished_backfill(backfill_id, BACKFILL_SECONDS)
    assert backfill["status"] == "COMPLETED_SUCCESS"
    assert backfill["partitionNames"] == weeks
    runs = {run["runId"]: run for run in backfill["runs"]}
    assert {run["status"] for run in runs.values()} == {"SUCCESS"}
    assert len(runs) >= len(weeks)
    ui.expect_status(page, ui.backfill_page(stack.ui_url, backfill_id), "Succeeded")
    screens.shoot(page, "backfill-succeeded")

    # History: every asset materialized once per week, by this backfill's runs.
    for asset in ASSET_GROUPS:
        stored = stack.api.materializations(asset, weeks)
        assert sorted(m.partition for m in stored) == weeks, asset
        assert {m.run_id for m in stored} <= runs.keys(), asset
    # The writeback planned each week's changes but held them back: HubSpot is untouched.
    for audit in stack.api.materializations(WRITEBACK, weeks):
        assert audit.metadata["written"] == 0
        assert audit.metadata["would_write"] > 0
    assert stack.control.writes() == []

    # Every week after the first took its priors from the stored week before it.
    warehouse = DuckDBResource(database=str(stack.warehouse))
    for earlier, week in itertools.pairwise(weeks):
        before = stored_week(warehouse, RANKED_SCORES, earlier).set_index("company_id")["rank"]
        ranked = stored_week(warehouse, RANKED_SCORES, week).set_index("company_id")
        both = ranked.index.intersection(before.index)
        assert len(both), week
        assert (ranked.loc[both, "prior_source"] == "history").all(), week
        assert (ranked.loc[both, "prior_rank"] == before.loc[both]).all(), week

    # Each week's page names the backfill run that materialized it.
    for ranking in stack.api.materializations(RANKED, weeks):
        ui.open_partition(page, stack.ui_url, RANKED, ranking.partition)
        expect(page.get_by_text(ranking.run_id[:8], exact=True)).to_be_visible()
        screens.shoot(page, f"history-{ranking.partition}")
