"""A run terminated while its batches are in flight: what may have applied is put back, and
the interruption stays an interruption."""

from __future__ import annotations

import _thread
import logging
import threading
import time

import pytest

from engagement_ranker.clients.hubspot_writes import write_batches
from engagement_ranker.constants import ENGAGEMENT_PROPERTIES, PROP_RANK, PROP_SCORE, PROP_TIER
from engagement_ranker.core.writeplan import CompanyWrite, batches
from engagement_ranker.sandbox import SandboxConfig
from engagement_ranker_tests.clients.conftest import hubspot_client

DEADLINE_SECONDS = 30


def test_an_interruption_mid_write_restores_every_batch_that_may_have_applied(
    make_sandbox,
) -> None:
    # Slow answers, so that batches are in flight when the run is told to stop.
    sandbox = make_sandbox(SandboxConfig(companies=700, latency_ms=300))
    company_ids = sorted(sandbox.control.truth(), key=int)[:600]
    before = {cid: sandbox.control.company(cid) for cid in company_ids}
    changes = [
        CompanyWrite(
            company_id=cid,
            before={p: before[cid][p] for p in ENGAGEMENT_PROPERTIES},
            after={PROP_SCORE: "1", PROP_RANK: "1 out of 1", PROP_TIER: "Top 30%"},
        )
        for cid in company_ids
    ]

    def interrupt_once_a_later_batch_is_written() -> None:
        """After the first batch (sent alone), the next ones go together: once one of them
        has been applied, the others are in flight or done."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and len(sandbox.control.writes()) <= 100:
            time.sleep(0.02)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_once_a_later_batch_is_written, daemon=True).start()
    with hubspot_client(sandbox) as client, pytest.raises(KeyboardInterrupt):
        write_batches(client, batches(changes), logging.getLogger(__name__))

    writes = sandbox.control.writes()
    assert len({w["company_id"] for w in writes}) > 100, "no batch after the first was sent"
    for cid in company_ids:
        now = sandbox.control.company(cid)
        assert {p: now[p] or None for p in ENGAGEMENT_PROPERTIES} == {
            p: before[cid][p] or None for p in ENGAGEMENT_PROPERTIES
        }, cid
