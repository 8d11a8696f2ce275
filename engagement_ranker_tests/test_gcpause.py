"""The collector pause around bulk JSON: off inside, back on after the last overlapping one."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from engagement_ranker.gcpause import gc_paused


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def test_the_collector_is_off_inside_and_on_after(collector_on: None) -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_it_resumes_after_an_error_too(collector_on: None) -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("bulk read failed")
    assert gc.isenabled()


def test_overlapping_pauses_in_two_threads_resume_only_after_the_last(collector_on: None) -> None:
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with gc_paused():
            inside.set()
            release.wait(timeout=10)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(timeout=10)
    with gc_paused():
        pass
    assert not gc.isenabled(), "the first pause to end resumed the collector under the other"
    release.set()
    thread.join(timeout=10)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
