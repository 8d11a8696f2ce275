"""Journey 5: a week's write mode shows before launch (the job's launchpad) and after (the
run's tag, the writeback's page); the dialog opens on the week its address names; and a dry
run after a full write does not hide that write on the week's page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from engagement_ranker.cli import launch_url
from engagement_ranker.constants import WriteMode
from engagement_ranker.defs.jobs import WEEKLY_JOB_NAME
from engagement_ranker.defs.partitions import latest_week_key
from engagement_ranker.defs.runmode import WRITE_MODE_TAG
from engagement_ranker_tests.e2e import ui
from engagement_ranker_tests.e2e.product import SUMMARY, WRITEBACK, writeback_config
from engagement_ranker_tests.e2e.stack import Stack, location_name

RUN_SECONDS = 120.0


def test_the_launchpad_shows_the_mode_a_week_will_be_written_in(
    stack: Stack, page: Page, screens: ui.Screens
) -> None:
    week = latest_week_key()

    shown = ui.launchpad_config(page, stack.ui_url, location_name(), WEEKLY_JOB_NAME, week)

    screens.shoot(page, "launchpad")
    # The stack sets no ENGAGEMENT_WRITE_MODE: the default, dry-run, in so many words.
    assert re.search(r"^ +mode: '?dry-run'?$", shown, re.M), shown


def test_a_dry_run_after_a_full_write_does_not_hide_it_on_the_weeks_page(
    stack: Stack, page: Page, screens: ui.Screens
) -> None:
    week = latest_week_key()
    location = location_name()
    full_id = stack.api.launch_run(
        location, WEEKLY_JOB_NAME, week, writeback_config(WriteMode.FULL)
    )
    full = stack.api.finished_run(full_id, RUN_SECONDS)
    assert full.status == "SUCCESS"
    written = stack.api.materialization_in_run(WRITEBACK, week, full_id).metadata["written"]
    assert written > 0 and len(stack.control.writes()) == written

    # The link `make dev` prints: the dialog opens on the latest week; no config, so the
    # environment's mode (dry-run).
    dry_id = ui.materialize_week_in_address(page, launch_url(stack.ui_url, week), week, screens)
    dry = stack.api.finished_run(dry_id, RUN_SECONDS)
    assert dry.status == "SUCCESS"
    assert len(stack.control.writes()) == written, "a dry run writes nothing"

    # The runs say which is which: their tags, and the dry run's summary.
    assert full.tags[WRITE_MODE_TAG] == "full"
    assert stack.api.run(dry_id).tags[WRITE_MODE_TAG] == "dry-run"
    summary = stack.api.materialization_in_run(SUMMARY, week, dry_id).metadata["summary"]
    assert "**DRY RUN**" in summary and "- **Would write**: 0" in summary
    assert "**Written**" not in summary

    # The week's page shows the latest materialization, the dry run, and names the write.
    audit = stack.api.materialization_in_run(WRITEBACK, week, dry_id).metadata
    assert audit["mode"] == "dry-run" and audit["written"] == 0
    assert audit["last_write"].startswith(f"run {full_id[:8]} at ")
    assert audit["last_write"].endswith(f"(full): {written} written")
    ui.open_partition(page, stack.ui_url, WRITEBACK, week)
    metadata = page.get_by_role("row")
    expect(metadata.filter(has_text="last_write")).to_contain_text(audit["last_write"])
    expect(metadata.filter(has=page.get_by_text("mode", exact=True))).to_contain_text("dry-run")
    screens.shoot(page, "dry-run-names-the-write")
