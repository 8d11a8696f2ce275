"""Journey 4: a week whose blocking check fails shows the failed check in the UI, writes nothing
to HubSpot, and the daemon's failure sensor alerts Slack."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from engagement_ranker.constants import PROP_TIER, TIER_BOTTOM, WriteMode
from engagement_ranker.defs.checks import hubspot_properties_writable
from engagement_ranker.defs.partitions import latest_week_key
from engagement_ranker_tests.e2e import ui
from engagement_ranker_tests.e2e.product import RANKED, WRITEBACK, writeback_config
from engagement_ranker_tests.e2e.stack import Stack
from engagement_ranker_tests.e2e.waiting import wait_until

RUN_SECONDS = 120.0
ALERT_SECONDS = 60.0
FAILING_CHECK = hubspot_properties_writable.spec.name
# HubSpot's tier dropdown loses an option we write: the property check must refuse the week.
TIER_OPTION_DROPPED = {"hubspot": {"properties": {PROP_TIER: {"drop_options": [TIER_BOTTOM]}}}}


def test_failed_blocking_check_shows_in_the_ui_stops_the_write_and_alerts_slack(
    stack: Stack, page: Page, screens: ui.Screens
) -> None:
    week = latest_week_key()
    stack.control.set_faults(TIER_OPTION_DROPPED)

    run_id = ui.materialize_latest_week(
        page, stack.ui_url, writeback_config(WriteMode.FULL), screens
    )

    run = stack.api.finished_run(run_id, RUN_SECONDS)
    assert run.status == "FAILURE"
    ui.expect_status(page, ui.run_page(stack.ui_url, run_id), "Failure")
    screens.shoot(page, "run-failed")

    execution = stack.api.check_execution(RANKED, FAILING_CHECK, week)
    assert execution is not None and execution.status == "FAILED", execution
    assert execution.run_id == run_id
    assert execution.description and PROP_TIER in execution.description
    assert TIER_BOTTOM in execution.description
    ui.expect_check_result(page, stack.ui_url, RANKED, FAILING_CHECK, "Failed", week)
    expect(page.get_by_text(execution.description)).to_be_visible()
    screens.shoot(page, "check-failed")

    # Nothing reached HubSpot: no writeback in this run, no write in the sandbox's log.
    assert all(m.run_id != run_id for m in stack.api.materializations(WRITEBACK, [week]))
    assert stack.control.writes() == []

    # The failure_alert sensor (in the daemon) posts the alert with a link to this run.
    alert = wait_until(
        lambda: next((m["text"] for m in stack.control.slack() if run_id in m["text"]), None),
        timeout=ALERT_SECONDS,
        what=f"the Slack alert for run {run_id}",
    )
    assert week in alert
    assert f"{stack.ui_url}/runs/{run_id}" in alert
    assert FAILING_CHECK in alert
    assert "nothing was written to HubSpot" in alert
