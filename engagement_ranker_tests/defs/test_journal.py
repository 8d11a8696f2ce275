"""The week's write lease and journal in the instance's storage, across real processes."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from engagement_ranker.constants import PROP_SCORE
from engagement_ranker.core.writeplan import CompanyWrite
from engagement_ranker.defs.journal import (
    JOURNAL,
    LEASE_MARGIN_SECONDS,
    LEASE_TTL_SECONDS,
    LEASES,
    JournalRecorder,
    LeaseBusy,
    LeaseLost,
    WriteStore,
    converge,
    write_lease,
)
from engagement_ranker.sandbox import Sandbox
from engagement_ranker_tests.clients.conftest import hubspot_client

WEEK = "2026-11-22"
LOG = logging.getLogger("engagement_ranker_tests.lease")
DEADLINE_SECONDS = 30.0
# A second process that takes the week's lease, says so, and keeps it until killed.
HOLDER = textwrap.dedent(
    """
    import logging, sys, time, warnings
    warnings.filterwarnings("ignore")
    import dagster as dg
    from engagement_ranker.defs.journal import WriteStore, write_lease
    with dg.DagsterInstance.get() as instance:
        store = WriteStore(instance)
        with write_lease(store, instance, sys.argv[1], "run-elsewhere", 0, logging.getLogger()):
            print("held", flush=True)
            time.sleep(600)
    """
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """A real on-disk instance (SQLite) that other processes open too."""
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        yield instance


@pytest.fixture
def holder(home: dg.DagsterInstance) -> Iterator[subprocess.Popen[str]]:
    """Another process holding WEEK's lease until the test kills it."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, WEEK],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_a_second_writer_says_it_waits_its_bound_then_refuses_naming_the_holder(
    home: dg.DagsterInstance, holder: subprocess.Popen[str], caplog: pytest.LogCaptureFixture
) -> None:
    started = time.monotonic()
    with (
        caplog.at_level(logging.INFO, LOG.name),
        pytest.raises(LeaseBusy) as refused,
        write_lease(WriteStore(home), home, WEEK, "me", 2, LOG),
    ):
        pytest.fail("took a lease another process holds")
    assert 2 <= time.monotonic() - started < DEADLINE_SECONDS
    [waiting] = [r.getMessage() for r in caplog.records if r.name == LOG.name]  # said once
    assert f"week {WEEK} is being written to HubSpot by run run-elsewhere" in waiting
    assert "waiting up to 2 s for it to end" in waiting
    message = str(refused.value)
    assert f"week {WEEK} is being written to HubSpot by run run-elsewhere" in message
    assert f"host {socket.gethostname()} (pid {holder.pid})" in message and "since 20" in message
    assert "wrote nothing" in message


def test_the_lease_of_a_killed_process_is_taken_at_once(
    home: dg.DagsterInstance, holder: subprocess.Popen[str]
) -> None:
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with write_lease(WriteStore(home), home, WEEK, "me", DEADLINE_SECONDS, LOG):
        assert time.monotonic() - started < LEASE_TTL_SECONDS / 2


def test_a_lease_nobody_renews_expires(home: dg.DagsterInstance) -> None:
    store = WriteStore(home)
    now = time.time()
    assert store.acquire(WEEK, "far-away", "run-elsewhere", now) is None
    # Held by a process on another host, which stopped renewing: busy until the TTL passes.
    held = store.acquire(WEEK, "mine", "me", now + LEASE_TTL_SECONDS / 2)
    assert held is not None and held.run_id == "run-elsewhere"
    assert store.acquire(WEEK, "mine", "me", now + LEASE_TTL_SECONDS + 1) is None


def test_one_lease_per_week_not_per_product(home: dg.DagsterInstance) -> None:
    store = WriteStore(home)
    with (
        write_lease(store, home, WEEK, "me", 0, LOG),
        write_lease(store, home, "2026-11-15", "me", 0, LOG),
    ):
        pass
    with write_lease(store, home, WEEK, "me", 0, LOG):  # released: free again
        pass


def test_the_journal_keeps_what_an_unfinished_run_may_have_left_until_it_is_settled(
    home: dg.DagsterInstance,
) -> None:
    store = WriteStore(home)
    batch = [
        CompanyWrite(
            "101", {"customer_engagement_score": None}, {"customer_engagement_score": "7"}
        ),
        CompanyWrite("102", {"customer_engagement_score": "3"}, {"customer_engagement_score": "9"}),
    ]
    store.record(WEEK, "run-a", 1, batch)
    store.record(WEEK, "run-a", 2, [CompanyWrite("103", {}, {})])
    store.settle_batch(WEEK, "run-a", 2, "refused")  # HubSpot applied nothing of batch 2

    # Another process (the next run of the week) sees what run-a may have left.
    assert WriteStore(home).unsettled(WEEK) == {"run-a": batch}
    assert WriteStore(home).unsettled("2026-11-15") == {}
    store.settle_run(WEEK, "run-a", ["101"])
    assert store.unsettled(WEEK) == {"run-a": batch[1:]}
    store.settle_run(WEEK, "run-a")
    assert store.unsettled(WEEK) == {}


def test_a_run_put_back_whole_leaves_no_row_in_the_journal(
    home: dg.DagsterInstance, sandbox: Sandbox
) -> None:
    """A killed run's batch 1 may have applied, its batch 2 was refused: once converge has put
    batch 1 back, none of the run's rows stays (a refused batch's rows were never settled)."""
    store = WriteStore(home)
    company_id = sorted(sandbox.control.truth(), key=int)[0]
    before = {PROP_SCORE: sandbox.control.company(company_id)[PROP_SCORE]}
    store.record(WEEK, "run-killed", 1, [CompanyWrite(company_id, before, {PROP_SCORE: "7"})])
    store.record(WEEK, "run-killed", 2, [CompanyWrite("999999", {}, {PROP_SCORE: "1"})])
    store.settle_batch(WEEK, "run-killed", 2, "refused")

    with hubspot_client(sandbox) as client:
        [converged] = converge(store, client, WEEK, logging.getLogger(__name__))

    assert converged.result.complete
    with store._connect() as connection:
        assert connection.execute(sa.select(JOURNAL).where(JOURNAL.c.week == WEEK)).all() == []


def _expire_in(store: WriteStore, seconds: float) -> None:
    """The week's lease as if its renewals had failed until it has `seconds` left."""
    with store._connect() as connection:
        connection.execute(
            LEASES.update().where(LEASES.c.week == WEEK).values(expires=time.time() + seconds)
        )


def test_a_writer_whose_lease_is_running_out_sends_no_further_batch(
    home: dg.DagsterInstance,
) -> None:
    """Renewals that fail (the instance's database unreachable) let the lease lapse, and
    another writer may take it: before each batch the writer makes sure the lease is its own
    for LEASE_MARGIN_SECONDS more, or stops (the batches it sent are put back)."""
    store = WriteStore(home)
    recorder = JournalRecorder(store, WEEK, "me")
    batch = [CompanyWrite("101", {PROP_SCORE: None}, {PROP_SCORE: "7"})]
    with write_lease(store, home, WEEK, "me", 0, LOG):
        recorder.sending(1, batch)
        _expire_in(store, LEASE_MARGIN_SECONDS - 1)
        with pytest.raises(LeaseLost, match=f"week {WEEK}.*batch 2"):
            recorder.sending(2, batch)

    assert list(WriteStore(home).unsettled(WEEK)) == ["me"]  # batch 1 only
    assert WriteStore(home).unsettled(WEEK)["me"] == batch


def test_a_writer_whose_lease_another_took_sends_no_further_batch(
    home: dg.DagsterInstance,
) -> None:
    store = WriteStore(home)
    recorder = JournalRecorder(store, WEEK, "me")
    batch = [CompanyWrite("101", {PROP_SCORE: None}, {PROP_SCORE: "7"})]
    with write_lease(store, home, WEEK, "me", 0, LOG):
        _expire_in(store, -1)
        assert store.acquire(WEEK, "theirs", "run-elsewhere", time.time()) is None
        with pytest.raises(LeaseLost, match="run-elsewhere"):
            recorder.sending(1, batch)
    assert WriteStore(home).unsettled(WEEK) == {}


def _lease_expires(store: WriteStore) -> float:
    holder = store.holder(WEEK)
    assert holder is not None
    return holder.expires


def test_a_failed_renewal_is_said_and_the_next_one_renews(
    home: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The instance's database unreachable for a while: the renewer says so and keeps trying,
    so the lease outlives the outage (it once ended the renewer, and the lease lapsed)."""
    monkeypatch.setattr("engagement_ranker.defs.journal.LEASE_RENEW_SECONDS", 0.05)
    store = WriteStore(home)
    with caplog.at_level(logging.WARNING, LOG.name), write_lease(store, home, WEEK, "me", 0, LOG):
        with store._connect() as connection:  # the lease table out of reach: renewals fail
            connection.execute(sa.text(f"ALTER TABLE {LEASES.name} RENAME TO unreachable"))
        deadline = time.monotonic() + DEADLINE_SECONDS
        while "renewing the write lease failed" not in caplog.text:
            assert time.monotonic() < deadline, "no failed renewal was said"
            time.sleep(0.05)
        with store._connect() as connection:
            connection.execute(sa.text(f"ALTER TABLE unreachable RENAME TO {LEASES.name}"))
        back = time.time()
        while _lease_expires(store) < back + LEASE_TTL_SECONDS:
            assert time.monotonic() < deadline, "the lease was not renewed after the outage"
            time.sleep(0.05)
