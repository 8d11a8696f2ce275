"""`make test`'s stages as CI runs them: a stage that hangs ends by its deadline, named."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEADLINE_SECONDS = 2
# The stage is stopped at its deadline, and killed 10 s later if it ignores SIGTERM.
ENDED_WITHIN_SECONDS = 120


def test_a_stage_past_its_deadline_is_stopped_and_named() -> None:
    # Not the outer make's jobserver: this make runs on its own.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    ended = subprocess.run(
        ["make", "--no-print-directory", "unit", f"STAGE_DEADLINE_SECONDS={DEADLINE_SECONDS}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=ENDED_WITHIN_SECONDS,
    )

    assert ended.returncode != 0
    last = ended.stdout.strip().splitlines()[-2:]
    assert last[0].startswith(f"unit: stopped at its deadline of {DEADLINE_SECONDS} s"), last
    assert last[1].startswith("unit: "), last
