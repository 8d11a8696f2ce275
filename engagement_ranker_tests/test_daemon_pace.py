"""The test stacks' daemons tick their backfills every `BACKFILL_TICK_SECONDS`, in both forms
the stacks start a daemon; every other process is left alone (Dagster not even imported)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engagement_ranker_tests.e2e.stack import BACKFILL_TICK_SECONDS, BIN, daemon_pace

# `-i` leaves the interpreter at a prompt once the command's --help has exited: it reads stdin.
READ_TICK = "import dagster._daemon.controller as c; print(c.DEFAULT_DAEMON_INTERVAL_SECONDS)"
DAGSTER_IMPORTED = "import sys; print('dagster' in sys.modules)"


def _prompt_answer(command: list[str], statement: str) -> str:
    done = subprocess.run(
        [sys.executable, "-i", *command],
        input=statement + "\n",
        env=daemon_pace({"PATH": str(BIN)}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "command",
    [["-m", "dagster._daemon", "--help"], [str(BIN / "dagster-daemon"), "--help"]],
    ids=["dagster dev's daemon", "compose's daemon"],
)
def test_a_stack_s_daemon_ticks_its_backfills_at_the_stack_s_pace(command: list[str]) -> None:
    assert _prompt_answer(command, READ_TICK) == str(BACKFILL_TICK_SECONDS)


def test_any_other_process_of_a_stack_is_left_alone() -> None:
    assert _prompt_answer(["-c", "pass"], DAGSTER_IMPORTED) == "False"


def test_the_pace_goes_before_a_pythonpath_the_caller_had() -> None:
    shim = daemon_pace({})["PYTHONPATH"]
    assert (
        daemon_pace({"PYTHONPATH": "/elsewhere"})["PYTHONPATH"] == f"{shim}{os.pathsep}/elsewhere"
    )
