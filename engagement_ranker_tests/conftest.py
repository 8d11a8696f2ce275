"""The shared sandbox fixtures: one default sandbox per test session, and fresh ones on demand.

`sandbox` is the session's default Sandbox (seed 7, 150 companies, the real clock), reset
before each test that uses it, so tests share servers but never state. `make_sandbox(config)`
starts a dedicated one (own seed, clock, faults, credentials) and stops it after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

from engagement_ranker.sandbox import Sandbox, SandboxConfig

# Property tests check properties, never speed (that is the benchmarks'): no per-example
# deadline and no "too slow" health check, both of which fail on a loaded CI machine.
settings.register_profile("untimed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("untimed")


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig()) as box:
        yield box


@pytest.fixture
def sandbox(shared_sandbox: Sandbox) -> Sandbox:
    shared_sandbox.control.reset()
    return shared_sandbox


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def start(config: SandboxConfig | None = None) -> Sandbox:
        box = Sandbox(config or SandboxConfig())
        box.start()
        started.append(box)
        return box

    yield start
    for box in started:
        box.stop()
