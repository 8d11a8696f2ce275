"""A run terminated while its batches are in flight: what may have applied is put back, and
the interruption stays an interruption."""

from __future__ import annotations

import _thread
import logging
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from engagement_ranker.clients.hubspot_writes import WriteFailed, restore, write_batches
from engagement_ranker.constants import ENGAGEMENT_PROPERTIES, PROP_RANK, PROP_SCORE, PROP_TIER
from engagement_ranker.core.writeplan import CompanyWrite, batches
from engagement_ranker.sandbox import SandboxConfig
from engagement_ranker_tests.clients.conftest import UPDATE, hubspot_client

DEADLINE_SECONDS = 30


@pytest.fixture
def interruptible() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt, as in a terminal: a process started in the background
    may inherit SIGINT ignored, and then `_thread.interrupt_main` does nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_an_interruption_mid_write_restores_every_batch_that_may_have_applied(
    make_sandbox, interruptible: None
) -> None:
    # Slow answers and ten batches, so that batches are still in flight (or yet to go) when
    # the run is told to stop, however late a loaded machine delivers the interruption.
    sandbox = make_sandbox(SandboxConfig(companies=1100, latency_ms=600))
    company_ids = sorted(sandbox.control.truth(), key=int)[:1000]
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


# --- the restore: compare, retry until done, split, read back -----------------------------
OURS = {PROP_SCORE: "1", PROP_RANK: "1 out of 1", PROP_TIER: "Top 30%"}
LOG = logging.getLogger(__name__)


def _write_ours(sandbox, company_ids: list[str]) -> list[CompanyWrite]:
    """Write OURS onto the companies (as a run's batch would) and return their writes."""
    before = {cid: sandbox.control.company(cid) for cid in company_ids}
    writes = [
        CompanyWrite(cid, {p: before[cid][p] for p in ENGAGEMENT_PROPERTIES}, OURS)
        for cid in company_ids
    ]
    with hubspot_client(sandbox) as client:
        for batch in batches(writes):
            client.update_companies([(w.company_id, dict(w.after)) for w in batch])
    return writes


def _held(sandbox, company_id: str) -> dict[str, str | None]:
    now = sandbox.control.company(company_id)
    return {p: now[p] or None for p in ENGAGEMENT_PROPERTIES}


def _no_pause(seconds: float) -> None:
    """The passes' pause, skipped: the sandbox's faults are counted in calls, not seconds."""


def test_a_restore_leaves_a_value_someone_changed_during_the_run_and_says_so(sandbox) -> None:
    ids = sorted(sandbox.control.truth(), key=int)[:3]
    writes = _write_ours(sandbox, ids)
    sandbox.control.edit_company(ids[0], {PROP_SCORE: "999"})  # a person, during the run

    with hubspot_client(sandbox) as client:
        result = restore(client, writes, LOG, pause=_no_pause)

    assert result.changed_by_others == {ids[0]: [PROP_SCORE]}
    assert result.restored == ids[1:] and result.complete
    assert _held(sandbox, ids[0])[PROP_SCORE] == "999"  # the person's edit wins
    for prop in (PROP_RANK, PROP_TIER):  # the rest of that company is put back
        assert _held(sandbox, ids[0])[prop] == (writes[0].before[prop] or None)
    for write in writes[1:]:
        assert _held(sandbox, write.company_id) == {p: v or None for p, v in write.before.items()}
    assert "changed by someone else during the run" in result.describe()


def test_a_restore_outlasts_a_storm_of_errors_with_passes_of_its_own(sandbox) -> None:
    ids = sorted(sandbox.control.truth(), key=int)[:120]
    writes = _write_ours(sandbox, ids)
    storm = {"bursts": [{"nth": 1, "count": 30, "error": 429}]}
    sandbox.control.set_faults({"routes": {UPDATE: storm}})

    with hubspot_client(sandbox) as client:
        result = restore(client, writes, LOG, pause=_no_pause)

    assert result.complete and result.restored == ids
    for write in writes:
        assert _held(sandbox, write.company_id) == {p: v or None for p, v in write.before.items()}


def test_a_refused_restore_is_split_so_only_the_refused_before_values_stay(sandbox) -> None:
    """The tier became a dropdown without "Bottom 30%" mid-write: a batch holding such a before
    value is refused whole; split, every other company goes back."""
    allowed = ("Top 30%", "Middle 40%")
    tiers = {c: properties[PROP_TIER] for c, properties in sandbox.control.companies().items()}
    bottom = sorted((c for c, t in tiers.items() if t == "Bottom 30%"), key=int)[:5]
    others = sorted((c for c, t in tiers.items() if not t or t in allowed), key=int)[:95]
    assert bottom, "the dataset holds no company whose tier is Bottom 30%"
    writes = _write_ours(sandbox, sorted([*bottom, *others], key=int))
    sandbox.control.set_faults(
        {
            "hubspot": {
                "properties": {
                    PROP_TIER: {
                        "type": "enumeration",
                        "fieldType": "select",
                        "options": [{"label": t, "value": t} for t in ("Top 30%", "Middle 40%")],
                    }
                }
            }
        }
    )

    with hubspot_client(sandbox) as client:
        result = restore(client, writes, LOG, pause=_no_pause)

    assert sorted(result.refused, key=int) == sorted(bottom, key=int)
    assert sorted(result.restored, key=int) == sorted(others, key=int)
    assert not result.complete and "RESTORE INCOMPLETE" in result.describe()


def test_a_restore_whose_answer_is_lost_reports_what_a_read_back_shows(sandbox) -> None:
    """The connection dies after HubSpot applied the restore: the read-back, not the lost
    answer, says the companies are back."""
    ids = sorted(sandbox.control.truth(), key=int)[:100]
    writes = _write_ours(sandbox, ids)
    sandbox.control.set_faults(
        {"routes": {UPDATE: {"bursts": [{"nth": 1, "count": 8, "error": "drop_after"}]}}}
    )

    with hubspot_client(sandbox) as client:
        result = restore(client, writes, LOG, pause=_no_pause)

    assert result.complete and result.restored == ids


class _JournalFailsAt:
    """A recorder whose journal refuses batch `number` (a locked database, a full disk)."""

    def __init__(self, number: int) -> None:
        self.number = number

    def sending(self, number: int, batch: object) -> None:
        if number == self.number:
            raise OSError("disk full")

    def settled(self, number: int, applied: bool) -> None:
        pass


def test_a_batch_that_cannot_be_journaled_is_never_sent_and_the_write_fails(sandbox) -> None:
    """A journal failure once let the other batches pass as if the week were written whole."""
    ids = sorted(sandbox.control.truth(), key=int)[:120]
    before = {cid: _held(sandbox, cid) for cid in ids}
    writes = [CompanyWrite(cid, before[cid], OURS) for cid in ids]

    with hubspot_client(sandbox) as client, pytest.raises(WriteFailed) as failed:
        write_batches(client, batches(writes), LOG, _JournalFailsAt(2))

    assert failed.value.failed_batch == 2 and "could not be journaled" in str(failed.value)
    assert failed.value.restored.complete
    assert {cid: _held(sandbox, cid) for cid in ids} == before
