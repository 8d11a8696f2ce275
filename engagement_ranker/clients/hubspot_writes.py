"""Sending a week's batch updates to HubSpot, and putting them back when one fails.

HubSpot applies one batch whole or refuses it whole, but a run of batches is not atomic. So
the first batch goes alone (a value HubSpot refuses is found with nothing written), the rest
go a few at a time, and after any failure or interruption nothing more is sent, every batch in
flight is let finish, and those that may have been applied are restored to their before image.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from engagement_ranker.clients.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    ScopeError,
    ValidationError,
)
from engagement_ranker.clients.hubspot import HubSpotClient
from engagement_ranker.core.writeplan import CompanyWrite

# Errors after which HubSpot is known not to have applied the batch (so it needs no restore).
NOT_APPLIED = (ValidationError, AuthError, ScopeError)
# Batch updates in flight at once after the first. One at a time, each waits a round trip for
# the previous; HubSpot's rolling window is the real bound, and the client's limiter keeps to it.
UPDATES_IN_FLIGHT = 4


class Log(Protocol):
    """What the sender reports through (a logging.Logger or Dagster's context.log)."""

    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


Batch = Sequence[CompanyWrite]


class WriteFailed(Exception):
    """A batch failed (or the run was interrupted); what may have been applied was restored,
    as far as HubSpot allowed. `restored` counts companies put back; `unrestored` says which
    could not be, and why."""

    def __init__(
        self,
        failed_batch: int,
        batches: int,
        cause: BaseException,
        restored: int,
        unrestored: Sequence[str],
    ) -> None:
        self.failed_batch = failed_batch
        self.batches = batches
        self.cause = cause
        self.restored = restored
        self.unrestored = tuple(unrestored)
        outcome = (
            f"restored {restored} companies to their values before the run"
            if not unrestored
            else f"restored {restored} companies; RESTORE INCOMPLETE: {'; '.join(unrestored)}"
        )
        what = f"HubSpot batch update {failed_batch} of {batches} failed: {cause}."
        super().__init__(
            f"{what} Nothing is left half-written: {outcome}."
            if not unrestored
            else f"{what} {outcome}"
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


def _send(client: HubSpotClient, batches: Sequence[Batch], log: Log) -> _Sent:
    """Send the batches: the first alone, then up to UPDATES_IN_FLIGHT at a time."""
    sent = _Sent()

    def update(number: int) -> int:
        sent.started.add(number)
        try:
            client.update_companies([(u.company_id, dict(u.after)) for u in batches[number - 1]])
        except BaseException as error:
            sent.failed[number] = error
            raise
        sent.applied.add(number)
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


def _restore(client: HubSpotClient, batches: Sequence[Batch], log: Log) -> tuple[int, list[str]]:
    """Put companies back to their before image; HubSpot clears a property given ""."""
    restored, failures = 0, []
    for batch in batches:
        try:
            client.update_companies(
                [(u.company_id, {p: (u.before.get(p) or "") for p in u.after}) for u in batch]
            )
            restored += len(batch)
        except NotFoundError as error:
            # HubSpot applied the rest of the batch; records deleted meanwhile hold nothing.
            gone = set(error.ids)
            restored += len(batch) - len(gone)
            log.warning(f"companies {', '.join(sorted(gone))} no longer exist; nothing to restore")
        except ApiError as error:
            ids = ", ".join(u.company_id for u in batch)
            failures.append(f"could not restore companies {ids}: {error}")
            log.error(failures[-1])
    return restored, failures


def write_batches(client: HubSpotClient, batches: Sequence[Batch], log: Log) -> dict[str, int]:
    """Send every batch; company id -> batch number of what was written.

    On a failed batch, restores what may have been applied and raises `WriteFailed`; on an
    interruption, restores likewise and re-raises the interruption.
    """
    sent = _send(client, batches, log)
    if not sent.stopped:
        return {u.company_id: n for n in sorted(sent.applied) for u in batches[n - 1]}
    restored, unrestored = _restore(client, [batches[n - 1] for n in sent.suspect()], log)
    if sent.interrupted is not None:
        log.error(
            f"HubSpot batch updates interrupted; restored {restored} companies"
            + (f"; RESTORE INCOMPLETE: {'; '.join(unrestored)}" if unrestored else "")
        )
        raise sent.interrupted
    number, error = min(sent.failed.items())
    failure = WriteFailed(number, len(batches), error, restored, unrestored)
    log.error(str(failure))
    raise failure from error
