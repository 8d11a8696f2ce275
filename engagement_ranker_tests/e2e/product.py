"""What the code defines, read from the definitions themselves: the journeys compare the UI and
the API against it, so a renamed asset or a moved group is caught here and not hidden."""

from __future__ import annotations

from typing import Any

import dagster as dg

from engagement_ranker.constants import WriteMode
from engagement_ranker.defs import assets
from engagement_ranker.defs.checks import ALL_CHECKS
from engagement_ranker.defs.runmode import writeback_run_config

ASSET_GROUPS: dict[str, str] = {
    key.to_user_string(): group
    for asset in dg.load_assets_from_modules([assets])
    for key, group in asset.group_names_by_key.items()
}
CHECKS: set[tuple[str, str]] = {
    (spec.asset_key.to_user_string(), spec.name)
    for checks in ALL_CHECKS
    for spec in checks.check_specs
}
WRITEBACK = assets.hubspot_writeback.key.to_user_string()
RANKED = assets.ranked_scores.key.to_user_string()
SUMMARY = assets.slack_summary.key.to_user_string()


def writeback_config(mode: WriteMode) -> dict[str, Any]:
    """The launchpad run config that sets the write mode for a run."""
    return writeback_run_config(mode)
