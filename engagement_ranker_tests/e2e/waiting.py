"""Polling with a deadline: the e2e suite waits for servers, runs and alerts, never sleeps blind."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.5


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    retry_on: tuple[type[Exception], ...] = (),
    poll: float = POLL_SECONDS,
) -> T:
    """The first truthy value `probe` returns; fails naming `what` and the last value seen.

    Errors of the `retry_on` types (a server still starting refuses connections) count as
    "not yet"; any other error fails at once. `poll` is the pause between probes.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
        except retry_on as error:
            value, last = None, error
        else:
            last = value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}"
            )
        time.sleep(poll)
