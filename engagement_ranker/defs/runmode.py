"""How a run's write mode shows, so a dry run and a write never look alike: in the job's
default run config (the launchpad, before launch), on the run (a tag and a log line, once the
writeback has resolved it) and on the writeback's page for the week (which run last wrote it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import dagster as dg

from engagement_ranker.constants import WriteMode
from engagement_ranker.core.week import ZONE
from engagement_ranker.defs.keys import HUBSPOT_WRITEBACK
from engagement_ranker.settings import SettingsError, WriteSettings

# The run tag holding the mode the writeback wrote with (a historical week is a dry run).
WRITE_MODE_TAG = "engagement_ranker/write_mode"
# Earlier materializations of a week searched for its last write (a week has a few runs).
WRITES_LOOKED_BACK = 100
WRITEBACK_OP = HUBSPOT_WRITEBACK.to_python_identifier()


def writeback_run_config(
    mode: WriteMode | None, allowlist: Sequence[str] | None = None
) -> dict[str, Any]:
    """The run config that sets the writeback's options (unset ones fall back to the
    environment when the run starts)."""
    options: dict[str, Any] = {}
    if mode is not None:
        options["mode"] = mode.value
    if allowlist is not None:
        options["allowlist"] = list(allowlist)
    return {"ops": {WRITEBACK_OP: {"config": options}}}


def default_write_mode(environ: Mapping[str, str]) -> WriteMode | None:
    """ENGAGEMENT_WRITE_MODE as the code location loads, or None when it is unusable (the run
    then stops at its start, naming the variable)."""
    try:
        return WriteSettings.from_env(environ).mode
    except SettingsError:
        return None


def announce_mode(context: dg.AssetExecutionContext, asked: WriteMode, used: WriteMode) -> None:
    """Tag the run with the mode it writes with and say so in its log."""
    context.instance.add_run_tags(context.run_id, {WRITE_MODE_TAG: used.value})
    note = "" if asked is used else f" (asked for {asked.value}; a historical week is not written)"
    context.log.info(f"write mode {used.value}{note}")


def last_write(instance: dg.DagsterInstance, week_key: str, written: int) -> str:
    """Which run last changed this week's values in HubSpot: this one if it `written` any,
    else the latest earlier writeback of the week that did (a later dry run does not hide it)."""
    if written:
        return f"this run: {written} written"
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=HUBSPOT_WRITEBACK, asset_partitions=[week_key]),
        limit=WRITES_LOOKED_BACK,
    ).records
    for record in records:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        earlier = materialization.metadata.get("written")
        if earlier is not None and earlier.value:
            mode = materialization.metadata.get("mode")
            when = datetime.fromtimestamp(record.timestamp, ZONE)
            return (
                f"run {record.run_id[:8]} at {when:%Y-%m-%d %H:%M %Z}"
                f"{f' ({mode.value})' if mode is not None else ''}: {earlier.value} written"
            )
    return f"no run has written week {week_key} to HubSpot"
