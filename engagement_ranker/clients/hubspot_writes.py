"""Sending a week's batch updates to HubSpot, and putting them back when one fails.

HubSpot applies one batch whole or refuses it whole, but a run of batches is not atomic. So
the first batch goes alone (a value HubSpot refuses is found with nothing written), the rest
go a few at a time, and after any failure or interruption nothing more is sent, every batch in
flight is let finish, and what may have been applied is restored to its before image.

A restore is a compare-and-restore, retried until done: it reads what HubSpot holds, puts a
property back only while it still holds the value this run wrote (a person's edit during the
run wins), splits a refused batch down to single companies, tries again in further passes,
and reports only what a final read-back shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from engagement_ranker.clients.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    ScopeError,
    ValidationError,
    listed,
)
from engagement_ranker.clients.hubspot import HubSpotClient
from engagement_ranker.constants import HUBSPOT_BATCH_UPDATE_MAX
from engagement_ranker.core.writeplan import CompanyWrite, same_value


class NotSent(Exception):
    """A batch that was never sent (its journal entry could not be written first)."""


# Errors after which HubSpot is known not to have applied the batch (so it needs no restore).
NOT_APPLIED = (ValidationError, AuthError, ScopeError, NotSent)
# Batch updates in flight at once after the first. One at a time, each waits a round trip for
# the previous; HubSpot's rolling window is the real bound, and the client's limiter keeps to it.
UPDATES_IN_FLIGHT = 4
# A restore's own budget, beyond each call's retries: passes over what is still not back, with
# a growing pause between them (capped), so the tail of a 429 or 5xx storm does not end it.
RESTORE_PASSES = 10
RESTORE_PAUSE_SECONDS = 1.0
RESTORE_PAUSE_MAX_SECONDS = 30.0

Batch = Sequence[CompanyWrite]


class Log(Protocol):
    """What the sender reports through (a logging.Logger or Dagster's context.log)."""

    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


class Recorder(Protocol):
    """Where each batch is recorded before it is sent and settled after (the write journal)."""

    def sending(self, number: int, batch: Batch) -> None: ...
    def settled(self, number: int, applied: bool) -> None: ...


class NoRecord:
    """A recorder that keeps nothing (tests of the sending alone)."""

    def sending(self, number: int, batch: Batch) -> None:
        pass

    def settled(self, number: int, applied: bool) -> None:
        pass


@dataclass
class Restored:
    """What a restore left, every entry read back from HubSpot."""

    restored: list[str] = field(default_factory=list)  # holding their before values again
    changed_by_others: dict[str, list[str]] = field(default_factory=dict)  # id -> properties
    refused: dict[str, str] = field(default_factory=dict)  # id -> why HubSpot refused the value
    gone: list[str] = field(default_factory=list)  # deleted or merged meanwhile
    still_ours: list[str] = field(default_factory=list)  # read back holding this run's values
    unverified: list[str] = field(default_factory=list)  # HubSpot could not be read back

    @property
    def complete(self) -> bool:
        """Everything that could be put back is back (a person's edit and a deleted record
        are not ours to put back)."""
        return not self.refused and not self.still_ours and not self.unverified

    def describe(self) -> str:
        parts = [f"restored {len(self.restored)} companies to their values before the run"]
        if self.changed_by_others:
            parts.append(
                f"left {len(self.changed_by_others)} changed by someone else during the run as "
                f"they are: {self._listed(self.changed_by_others)}"
            )
        if self.gone:
            parts.append(f"{len(self.gone)} no longer exist: {listed(self.gone)}")
        if self.refused:
            reasons = "; ".join(f"{cid}: {why}" for cid, why in list(self.refused.items())[:3])
            parts.append(
                f"RESTORE INCOMPLETE: HubSpot now refuses the before values of "
                f"{len(self.refused)} companies ({listed(list(self.refused))}): {reasons}"
            )
        if self.still_ours:
            parts.append(
                f"RESTORE INCOMPLETE: {len(self.still_ours)} companies still hold this run's "
                f"values after every retry: {listed(self.still_ours)}; run "
                "`engagement-ranker recover --week <week>` once HubSpot accepts writes"
            )
        if self.unverified:
            parts.append(
                f"RESTORE INCOMPLETE: {len(self.unverified)} companies could not be read back "
                f"and may still hold this run's values: {listed(self.unverified)}; run "
                "`engagement-ranker recover --week <week>` once HubSpot answers"
            )
        return "; ".join(parts)

    @staticmethod
    def _listed(changed: Mapping[str, list[str]]) -> str:
        return listed([f"{cid} ({', '.join(props)})" for cid, props in changed.items()])


class WriteFailed(Exception):
    """A batch failed (or the run was interrupted); what may have been applied was restored,
    as far as HubSpot allowed and a read-back confirms."""

    def __init__(
        self, failed_batch: int, batches: int, cause: BaseException, restored: Restored
    ) -> None:
        self.failed_batch = failed_batch
        self.batches = batches
        self.cause = cause
        self.restored = restored
        what = f"HubSpot batch update {failed_batch} of {batches} failed: {cause}."
        outcome = restored.describe()
        super().__init__(
            f"{what} Nothing is left half-written: {outcome}."
            if restored.complete
            else f"{what} {outcome}."
        )


@dataclass
class _Sent:
    """What the batch updates of one run did, batch by batch (numbers from 1).

    The sending threads record each batch as it starts and as it ends, so that what may have
    been applied is known whatever the caller's thread was doing when interrupted.
    """

    started: set[int] = field(default_factory=set)
    applied: set[int] = field(default_factory=set)
    failed: dict[int, BaseException] = field(default_factory=dict)
    # The interruption (a terminated run) met by the caller's thread, if any.
    interrupted: BaseException | None = None

    @property
    def stopped(self) -> bool:
        """Whether sending must stop: a batch failed or the run was interrupted."""
        return bool(self.failed) or self.interrupted is not None

    def suspect(self) -> list[int]:
        """Batches HubSpot may have applied: every one started, but those it refused."""
        return sorted(n for n in self.started if not isinstance(self.failed.get(n), NOT_APPLIED))


def _send(client: HubSpotClient, batches: Sequence[Batch], log: Log, recorder: Recorder) -> _Sent:
    """Send the batches: the first alone, then up to UPDATES_IN_FLIGHT at a time."""
    sent = _Sent()

    def update(number: int) -> int:
        batch = batches[number - 1]
        try:
            recorder.sending(number, batch)
        except BaseException as error:  # not journaled, so never sent
            sent.failed[number] = NotSent(f"batch {number} could not be journaled: {error}")
            raise sent.failed[number] from error
        sent.started.add(number)
        try:
            client.update_companies([(u.company_id, dict(u.after)) for u in batch])
        except BaseException as error:
            sent.failed[number] = error
            recorder.settled(number, applied=not isinstance(error, NOT_APPLIED))
            raise
        sent.applied.add(number)
        recorder.settled(number, applied=True)
        return number

    queue = list(range(1, len(batches) + 1))
    in_flight: set[Future[int]] = set()
    with ThreadPoolExecutor(UPDATES_IN_FLIGHT) as pool:
        while (queue and not sent.stopped) or in_flight:
            try:
                room = 1 if not sent.applied else UPDATES_IN_FLIGHT
                while queue and len(in_flight) < room and not sent.stopped:
                    in_flight.add(pool.submit(update, queue.pop(0)))
                finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for number in sorted(f.result() for f in finished if f.exception() is None):
                    log.info(
                        f"batch {number}/{len(batches)}: "
                        f"{len(batches[number - 1])} companies written"
                    )
            except BaseException as error:  # an interruption stays one, after the restore
                sent.interrupted = sent.interrupted or error
                in_flight = {future for future in in_flight if not future.done()}
    return sent


def _put_back(
    client: HubSpotClient,
    updates: Sequence[tuple[str, dict[str, str]]],
    refused: dict[str, str],
    gone: set[str],
) -> bool:
    """Send restore updates; a refused batch is split down to single companies, so only the
    companies whose before value HubSpot refuses stay out. Returns whether a transient failure
    left some for the next pass (whose read-back shows what is still not back)."""
    if not updates:
        return False
    try:
        client.update_companies(updates)
    except NotFoundError as error:
        gone.update(error.ids)  # the rest of the batch was applied
    except ValidationError as error:
        if len(updates) == 1:
            refused[updates[0][0]] = str(error)
            return False
        half = len(updates) // 2
        first = _put_back(client, updates[:half], refused, gone)
        return _put_back(client, updates[half:], refused, gone) or first
    except (AuthError, ScopeError):
        raise  # no pass will fix a revoked token: the journal keeps the rest for `recover`
    except ApiError:
        return True
    return False


def restore(
    client: HubSpotClient,
    writes: Sequence[CompanyWrite],
    log: Log,
    pause: Callable[[float], None] = time.sleep,
) -> Restored:
    """Put `writes` back to their before values where HubSpot still holds this run's values.

    Each pass reads what HubSpot holds now: a property still at the value this run wrote goes
    back to its before value (HubSpot clears a property given ""); one that holds anything else
    was changed by someone during the run and is left alone. The next pass's read is the
    previous pass's read-back.
    """
    pending = {w.company_id: w for w in writes}
    result = Restored()
    if not pending:
        return result
    refused: dict[str, str] = {}
    gone: set[str] = set()
    read: set[str] = set()  # read back in the last pass
    for number in range(RESTORE_PASSES + 1):
        troubled = False
        try:
            held, missing = client.read_companies(list(pending), _properties(writes))
        except (AuthError, ScopeError) as error:
            log.error(f"restore stopped: HubSpot refuses this app now: {error}")
            read = set()
            break
        except ApiError as error:
            log.warning(f"restore pass {number + 1}: could not read HubSpot back: {error}")
            held, missing, troubled = {}, [], True
        read = set(held)
        gone.update(missing)
        updates = []
        for company_id, now in held.items():
            write = pending[company_id]
            changed = [
                p for p, v in write.after.items() if not same_value(p, v, write.before.get(p))
            ]
            ours = [p for p in changed if same_value(p, write.after[p], now.get(p))]
            others = [
                p
                for p in changed
                if p not in ours and not _same(p, write.before.get(p), now.get(p))
            ]
            if others:
                result.changed_by_others[company_id] = others
            if not ours:
                pending.pop(company_id)
                if not others:
                    result.restored.append(company_id)
            elif company_id not in refused:
                updates.append((company_id, {p: write.before.get(p) or "" for p in ours}))
        for company_id in missing:
            pending.pop(company_id, None)
        if number == RESTORE_PASSES or not (updates or troubled):
            break
        try:
            for start in range(0, len(updates), HUBSPOT_BATCH_UPDATE_MAX):
                chunk = updates[start : start + HUBSPOT_BATCH_UPDATE_MAX]
                troubled = _put_back(client, chunk, refused, gone) or troubled
        except (AuthError, ScopeError) as error:
            log.error(f"restore stopped: HubSpot refuses this app now: {error}")
            break
        if troubled:
            pause(min(RESTORE_PAUSE_SECONDS * 2**number, RESTORE_PAUSE_MAX_SECONDS))
    result.refused = {cid: why for cid, why in refused.items() if cid in pending}
    result.gone = sorted(gone, key=int)
    left = [cid for cid in pending if cid not in result.refused and cid not in gone]
    result.still_ours = sorted((cid for cid in left if cid in read), key=int)
    result.unverified = sorted((cid for cid in left if cid not in read), key=int)
    result.restored.sort(key=int)
    (log.info if result.complete else log.error)(result.describe())
    return result


def _same(prop: str, before: str | None, now: str | None) -> bool:
    """Whether HubSpot holds the before value (an empty property reads back as None)."""
    return same_value(prop, before or "", now or "")


def _properties(writes: Sequence[CompanyWrite]) -> list[str]:
    return sorted({p for w in writes for p in w.after})


def write_batches(
    client: HubSpotClient, batches: Sequence[Batch], log: Log, recorder: Recorder | None = None
) -> dict[str, int]:
    """Send every batch, each recorded before it goes; company id -> batch number written.

    On a failed batch, restores what may have been applied and raises `WriteFailed`; on an
    interruption, restores likewise and re-raises the interruption.
    """
    sent = _send(client, batches, log, recorder or NoRecord())
    if not sent.stopped:
        return {u.company_id: n for n in sorted(sent.applied) for u in batches[n - 1]}
    suspects = [w for n in sent.suspect() for w in batches[n - 1]]
    restored = restore(client, suspects, log)
    if sent.interrupted is not None:
        log.error(f"HubSpot batch updates interrupted; {restored.describe()}")
        raise sent.interrupted
    number, error = min(sent.failed.items())
    failure = WriteFailed(number, len(batches), error, restored)
    log.error(str(failure))
    raise failure from error
