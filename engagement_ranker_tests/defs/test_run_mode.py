"""A run shows the mode it wrote with, and a dry run never hides the write before it."""

from __future__ import annotations

import dagster as dg

from engagement_ranker.defs.keys import HUBSPOT_WRITEBACK
from engagement_ranker.defs.partitions import latest_week_key, weekly_partitions
from engagement_ranker.defs.runmode import WRITE_MODE_TAG
from engagement_ranker_tests.defs.conftest import Harness


def _writeback(harness: Harness, result: dg.ExecuteInProcessResult) -> dict[str, object]:
    """The metadata of the writeback's materialization in `result`'s run."""
    [materialization] = [
        m for m in result.asset_materializations_for_node(HUBSPOT_WRITEBACK.to_python_identifier())
    ]
    return {label: value.value for label, value in materialization.metadata.items()}


def _logged(harness: Harness, result: dg.ExecuteInProcessResult) -> list[str]:
    records = harness.instance.all_logs(result.run_id)
    return [record.user_message for record in records if record.step_key == "hubspot_writeback"]


def test_a_dry_run_after_a_write_names_that_write_and_each_run_its_mode(harness: Harness) -> None:
    full = harness.run(mode="full")
    dry = harness.run(mode="dry-run")
    assert full.success and dry.success

    written = _writeback(harness, full)
    assert written["mode"] == "full" and written["written"] > 0
    assert written["last_write"] == f"this run: {written['written']} written"
    shown = _writeback(harness, dry)
    assert (shown["mode"], shown["written"]) == ("dry-run", 0)
    assert shown["last_write"].startswith(f"run {full.run_id[:8]} at ")
    assert shown["last_write"].endswith(f" (full): {written['written']} written")

    for result, mode in ((full, "full"), (dry, "dry-run")):
        assert harness.instance.get_run_by_id(result.run_id).tags[WRITE_MODE_TAG] == mode
        assert f"write mode {mode}" in _logged(harness, result)


def test_a_historical_week_is_tagged_as_the_dry_run_it_is(harness: Harness) -> None:
    week = weekly_partitions.get_partition_keys()[-2]
    assert week != latest_week_key()

    result = harness.run(week, mode="full")

    assert result.success
    assert harness.instance.get_run_by_id(result.run_id).tags[WRITE_MODE_TAG] == "dry-run"
    assert "write mode dry-run (asked for full; a historical week is not written)" in _logged(
        harness, result
    )
    assert _writeback(harness, result)["last_write"] == f"no run has written week {week} to HubSpot"
