"""Yobi's reads for a run in a child process: the same answers, the same errors, and a clear
one when the process dies."""

from __future__ import annotations

import pandas as pd
import pytest

from engagement_ranker.clients.errors import AuthError
from engagement_ranker.clients.yobi_session import (
    SessionEnded,
    YobiLogin,
    YobiSession,
    read_counters,
    read_tenants,
)
from engagement_ranker.core.week import parse_week_key
from engagement_ranker.defs.partitions import latest_week_key
from engagement_ranker.sandbox import Sandbox, SandboxConfig
from engagement_ranker_tests.clients.conftest import yobi_client

DEADLINE_SECONDS = 60
WEEK = parse_week_key(latest_week_key())


def _login(sandbox: Sandbox) -> YobiLogin:
    env = sandbox.env
    return YobiLogin(
        email=env["YOBI_EMAIL"],
        password=env["YOBI_PASSWORD"],
        base_url=env["YOBI_BASE_URL"],
        timeout=10,
        internal_email_domains=("yobi.app",),
    )


def test_the_session_answers_what_the_client_reads_itself(sandbox: Sandbox) -> None:
    session = YobiSession(_login(sandbox), tenants=True, dates=WEEK.dates)
    assert session.tenants is not None and session.counters is not None
    tenants = session.tenants.result(timeout=DEADLINE_SECONDS)
    counters = session.counters.result(timeout=DEADLINE_SECONDS)

    with yobi_client(sandbox, internal_email_domains=("yobi.app",)) as client:
        expected_tenants = read_tenants(client)
        expected_counters = read_counters(client, WEEK.dates)
    assert (tenants.tenants, tenants.locations) == (
        expected_tenants.tenants,
        expected_tenants.locations,
    )
    pd.testing.assert_frame_equal(counters.counters.frame, expected_counters.counters.frame)
    assert counters.counters.period == expected_counters.counters.period


def test_an_error_in_the_session_reaches_every_read_with_its_type_and_fix(
    sandbox: Sandbox,
) -> None:
    sandbox.control.set_faults({"yobi": {"login_fails": True}})
    session = YobiSession(_login(sandbox), tenants=True, dates=WEEK.dates)
    for future in (session.tenants, session.counters):
        assert future is not None
        with pytest.raises(AuthError, match="check YOBI_EMAIL and YOBI_PASSWORD") as caught:
            future.result(timeout=DEADLINE_SECONDS)
        assert sandbox.env["YOBI_PASSWORD"] not in str(caught.value)


def test_a_session_whose_process_dies_fails_its_reads_saying_so(make_sandbox) -> None:
    # Slow answers, so that the process is killed before it has answered anything.
    slow = make_sandbox(SandboxConfig(latency_ms=2000))
    session = YobiSession(_login(slow), tenants=True, dates=None)
    session._reader.kill()
    assert session.tenants is not None
    with pytest.raises(SessionEnded, match=r"exit code -9\) before answering; rerun the week"):
        session.tenants.result(timeout=DEADLINE_SECONDS)


def test_each_read_is_handed_out_once_and_the_counters_only_for_their_own_week(
    sandbox: Sandbox,
) -> None:
    session = YobiSession(_login(sandbox), tenants=True, dates=WEEK.dates)
    counters_read = session.counters  # awaited below: the child ends before the sandbox resets
    tenants = session.take_tenants()
    assert tenants is not None and session.take_tenants() is None  # a retry reads anew
    assert session.take_counters(WEEK.previous().dates) is None
    assert session.take_counters(WEEK.dates) is None, "handed out after a refusal"
    tenants.result(timeout=DEADLINE_SECONDS)
    assert counters_read is not None
    counters_read.result(timeout=DEADLINE_SECONDS)

    again = YobiSession(_login(sandbox), tenants=False, dates=WEEK.dates)
    counters = again.take_counters(WEEK.dates)
    assert counters is not None
    assert counters.result(timeout=DEADLINE_SECONDS).counters.period
