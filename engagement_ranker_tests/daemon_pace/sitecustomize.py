"""Imported at start-up by every Python process the test stacks start (`e2e.stack.daemon_pace`
puts this folder on PYTHONPATH). In the daemon alone, the backfill loop waits
`BACKFILL_TICK_SECONDS` between ticks instead of Dagster's 30 s: the loop reads
`dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS` as it starts, and no setting
exists. The backfill tests check what the daemon plans and in which order, not its pace; at
30 s, four backfilled weeks (11 ticks) were most of the browser stage's wall time."""

import os
import sys
from pathlib import Path

BACKFILL_TICK = "TEST_BACKFILL_TICK_SECONDS"
# `dagster dev` starts `python -m dagster._daemon run`; compose, `dagster-daemon run`.
_DAEMON = any(
    arg == "dagster._daemon" or Path(arg).name == "dagster-daemon" for arg in sys.orig_argv
)

if _DAEMON and BACKFILL_TICK in os.environ:
    import dagster._daemon.controller as controller

    # Loud, not slow, if Dagster moves it: the daemon exits and the stack reports it.
    if not hasattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS"):
        raise RuntimeError("dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS is gone")
    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = int(os.environ[BACKFILL_TICK])
