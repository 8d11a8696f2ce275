"""Journey 2: materialize the latest week from the UI in full mode; every check passes, HubSpot
gets one write per ranked company, and the summary shows as Markdown."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from engagement_ranker.constants import PROP_RANK, WriteMode
from engagement_ranker.core.scoring import parse_rank_text
from engagement_ranker.core.week import parse_week_key
from engagement_ranker.defs.partitions import latest_week_key
from engagement_ranker.defs.runmode import WRITE_MODE_TAG
from engagement_ranker_tests.e2e import ui
from engagement_ranker_tests.e2e.product import (
    CHECKS,
    RANKED,
    SUMMARY,
    WRITEBACK,
    writeback_config,
)
from engagement_ranker_tests.e2e.stack import Stack

RUN_SECONDS = 120.0


def test_latest_week_in_full_mode_passes_every_check_and_writes_each_ranked_company(
    stack: Stack, page: Page, screens: ui.Screens
) -> None:
    week = latest_week_key()
    config = writeback_config(WriteMode.FULL)

    run_id = ui.materialize_latest_week(page, stack.ui_url, config, screens)

    run = stack.api.finished_run(run_id, RUN_SECONDS)
    assert run.status == "SUCCESS"
    assert run.tags["dagster/partition"] == week
    assert run.tags[WRITE_MODE_TAG] == WriteMode.FULL.value
    assert run.run_config == config
    ui.expect_status(page, ui.run_page(stack.ui_url, run_id), "Success")
    screens.shoot(page, "run-succeeded")

    # Every check, per week: the API's record and the asset's Checks tab agree it passed.
    assert stack.api.checks() == CHECKS
    for asset, check in sorted(CHECKS):
        execution = stack.api.check_execution(asset, check, week)
        assert execution is not None and execution.status == "SUCCEEDED", (asset, check, execution)
        assert execution.run_id == run_id
        ui.expect_check_result(page, stack.ui_url, asset, check, "Passed", week)
        screens.shoot(page, f"check-{asset}-{check}")

    # HubSpot: exactly one write per ranked company, ranks 1..N out of N. (The sandbox seeds
    # last week's ranks out of a smaller N, so every ranked company's values change.)
    ranked = stack.api.materialization_in_run(RANKED, week, run_id).metadata["ranked"]
    audit = stack.api.materialization_in_run(WRITEBACK, week, run_id).metadata
    assert audit["mode"] == WriteMode.FULL.value
    assert audit["written"] == ranked > 0
    writes = stack.control.writes()
    assert len({w["company_id"] for w in writes}) == len(writes) == ranked
    ranks = sorted(parse_rank_text(w["after"][PROP_RANK]) for w in writes)
    assert ranks == [(rank, ranked) for rank in range(1, ranked + 1)]

    # The summary: the stored Markdown renders in the UI, every heading as text.
    summary = stack.api.materialization_in_run(SUMMARY, week, run_id).metadata["summary"]
    headings = [line.lstrip("#").strip() for line in summary.splitlines() if line.startswith("#")]
    assert headings[0].endswith(parse_week_key(week).label)
    dialog = ui.open_markdown(page, stack.ui_url, SUMMARY, week, "summary")
    for heading in headings:
        expect(dialog).to_contain_text(heading)
    dialog.get_by_text(headings[0]).scroll_into_view_if_needed()
    screens.shoot(page, "summary-markdown")
