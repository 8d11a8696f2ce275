"""One writer per week, and a journal of every write, in the Dagster instance's own storage.

The before image and the restore cannot live in one process's memory. A second writer of the
same week (the schedule beside a CLI run, a second host on the same instance) must wait for
the first, and a run killed mid-write must leave what it sent for the next run of the week
(or `engagement-ranker recover`) to undo. Both live in tables beside Dagster's own runs, in
the instance's run storage (SQLite or PostgreSQL alike, through its SQL connection), so every
process that shares the instance shares them.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import dagster as dg
import sqlalchemy as sa

from engagement_ranker.clients.hubspot import HubSpotClient
from engagement_ranker.clients.hubspot_writes import Log, Restored, restore
from engagement_ranker.core.writeplan import CompanyWrite

# A lease the holder stops renewing (its process died) is free after this long.
LEASE_TTL_SECONDS = 60.0
LEASE_RENEW_SECONDS = LEASE_TTL_SECONDS / 4
# A batch goes only while the lease is the writer's for this long yet: a writer whose renewals
# have failed for half the TTL stops before the lease can lapse to another writer.
LEASE_MARGIN_SECONDS = LEASE_TTL_SECONDS / 2
LEASE_POLL_SECONDS = 1.0

_METADATA = sa.MetaData()
LEASES = sa.Table(
    "engagement_write_leases",
    _METADATA,
    sa.Column("week", sa.String(16), primary_key=True),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
)
JOURNAL = sa.Table(
    "engagement_write_journal",
    _METADATA,
    sa.Column("week", sa.String(16), primary_key=True),
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("company_id", sa.String(32), primary_key=True),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("before", sa.Text, nullable=False),  # JSON: property -> value or null
    sa.Column("intended", sa.Text, nullable=False),  # JSON: property -> value
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
# A batch's journal states: recorded before it is sent, then what happened to it.
SENDING, APPLIED, REFUSED = "sending", "applied", "refused"


class LeaseBusy(Exception):
    """Another writer holds the week; the message names it."""


class LeaseLost(Exception):
    """The writer's lease on the week is running out (its renewals failed) or another writer
    took it; the message says which, and that no further batch is sent."""


@dataclass(frozen=True)
class Holder:
    run_id: str
    host: str
    pid: int
    since: float
    token: str = ""
    expires: float = 0.0

    def gone(self, instance: dg.DagsterInstance) -> bool:
        """Whether the holder is known to have ended without releasing: its process is gone
        from this host, or its Dagster run has ended. (Elsewhere, its lease expires.)"""
        if self.host == socket.gethostname() and self.pid and not _alive(self.pid):
            return True
        run = instance.get_run_by_id(self.run_id)
        return run is not None and run.is_finished

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.since, UTC).isoformat(timespec="seconds")
        return f"run {self.run_id} on host {self.host} (pid {self.pid}), since {since}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(connection: Any, week: str) -> Holder | None:
    row = connection.execute(
        sa.select(
            LEASES.c.run_id,
            LEASES.c.host,
            LEASES.c.pid,
            LEASES.c.since,
            LEASES.c.token,
            LEASES.c.expires,
        ).where(LEASES.c.week == week)
    ).first()
    return Holder(*row) if row else None


class _Connect(Protocol):
    def __call__(self) -> Any: ...


class _Scratch:
    """The tables of an ephemeral instance, which keeps its runs in memory: a SQLite file of
    their own, removed with the instance, so that they too guard this process alone."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        handle, path = tempfile.mkstemp(prefix="engagement-writes-", suffix=".db")
        os.close(handle)
        self._engine = sa.create_engine(
            f"sqlite:///{path}", poolclass=sa.pool.NullPool, connect_args={"timeout": 30}
        )
        weakref.finalize(instance, _remove, path)

    @contextmanager
    def __call__(self) -> Iterator[sa.Connection]:
        with self._engine.begin() as connection:
            yield connection


def _remove(path: str) -> None:
    with suppress(FileNotFoundError):
        os.remove(path)


_scratch: weakref.WeakKeyDictionary[dg.DagsterInstance, _Scratch] = weakref.WeakKeyDictionary()


class WriteStore:
    """The two tables, in the instance's run storage."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        if instance.is_ephemeral:  # its runs live in memory, on one shared connection
            connect: _Connect = _scratch.get(instance) or _scratch.setdefault(
                instance, _Scratch(instance)
            )
        else:
            connect = instance.run_storage.connect  # type: ignore[attr-defined]
        self._connect = connect
        with self._connect() as connection:
            _METADATA.create_all(connection, checkfirst=True)

    # --- the lease ---------------------------------------------------------------------
    def acquire(
        self, week: str, token: str, run_id: str, now: float, replacing: str | None = None
    ) -> Holder | None:
        """Take the week's lease (or an expired one, or the one whose token is `replacing`);
        None when taken, else who holds it."""
        row = {
            "week": week,
            "token": token,
            "run_id": run_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": now,
            "expires": now + LEASE_TTL_SECONDS,
        }
        try:
            with self._connect() as connection:
                connection.execute(LEASES.insert().values(**row))
            return None
        except sa.exc.IntegrityError:
            pass
        free = LEASES.c.expires < now
        if replacing is not None:
            free = sa.or_(free, LEASES.c.token == replacing)
        with self._connect() as connection:
            taken = connection.execute(
                LEASES.update().where(LEASES.c.week == week, free).values(**row)
            ).rowcount
            if taken:
                return None
            held = _holder(connection, week)
        # Released between the two statements: the next attempt will take it.
        return held or Holder("(just released)", "", 0, now)

    def holder(self, week: str) -> Holder | None:
        """Who holds the week's lease now, and until when; None when nobody does."""
        with self._connect() as connection:
            return _holder(connection, week)

    def renew(self, week: str, token: str, now: float) -> None:
        with self._connect() as connection:
            connection.execute(
                LEASES.update()
                .where(LEASES.c.week == week, LEASES.c.token == token)
                .values(expires=now + LEASE_TTL_SECONDS)
            )

    def release(self, week: str, token: str) -> None:
        with self._connect() as connection:
            connection.execute(
                LEASES.delete().where(LEASES.c.week == week, LEASES.c.token == token)
            )

    # --- the journal -------------------------------------------------------------------
    def record(self, week: str, run_id: str, number: int, batch: Sequence[CompanyWrite]) -> None:
        now = time.time()
        with self._connect() as connection:
            connection.execute(
                JOURNAL.insert(),
                [
                    {
                        "week": week,
                        "run_id": run_id,
                        "company_id": w.company_id,
                        "batch": number,
                        "before": json.dumps(dict(w.before), sort_keys=True),
                        "intended": json.dumps(dict(w.after), sort_keys=True),
                        "state": SENDING,
                        "updated": now,
                    }
                    for w in batch
                ],
            )

    def settle_batch(self, week: str, run_id: str, number: int, state: str) -> None:
        with self._connect() as connection:
            connection.execute(
                JOURNAL.update()
                .where(
                    JOURNAL.c.week == week, JOURNAL.c.run_id == run_id, JOURNAL.c.batch == number
                )
                .values(state=state, updated=time.time())
            )

    def settle_run(self, week: str, run_id: str, company_ids: Sequence[str] | None = None) -> None:
        """The run's writes (or those of `company_ids`) are accounted for in HubSpot (written
        and read back, or put back): nothing is left for a later run to undo. The audit of
        what was written stays in the writeback's table."""
        where = [JOURNAL.c.week == week, JOURNAL.c.run_id == run_id]
        if company_ids is not None:
            where.append(JOURNAL.c.company_id.in_(list(company_ids)))
        with self._connect() as connection:
            connection.execute(JOURNAL.delete().where(*where))

    def unsettled(self, week: str) -> dict[str, list[CompanyWrite]]:
        """Run id -> the writes an earlier run of the week left unaccounted for (it was killed,
        its token revoked mid-write, or its restore incomplete): what may hold its values."""
        with self._connect() as connection:
            rows = connection.execute(
                sa.select(JOURNAL)
                .where(JOURNAL.c.week == week, JOURNAL.c.state.in_((SENDING, APPLIED)))
                .order_by(JOURNAL.c.run_id, JOURNAL.c.batch, JOURNAL.c.company_id)
            ).all()
        found: dict[str, list[CompanyWrite]] = {}
        for row in rows:
            found.setdefault(row.run_id, []).append(
                CompanyWrite(row.company_id, json.loads(row.before), json.loads(row.intended))
            )
        return found


@dataclass
class JournalRecorder:
    """The writer's recorder (clients/hubspot_writes.Recorder): each batch is in the journal,
    durably, before it is sent, and its outcome after."""

    store: WriteStore
    week: str
    run_id: str

    def sending(self, number: int, batch: Sequence[CompanyWrite]) -> None:
        """Journal the batch, once the week's lease is this run's for LEASE_MARGIN_SECONDS
        more: a writer whose lease lapsed must not write beside the one that took it."""
        if why := self._lease_unsafe():
            raise LeaseLost(
                f"the write lease on week {self.week} is no longer safely this run's ({why}); "
                f"batch {number} and later are not sent"
            )
        self.store.record(self.week, self.run_id, number, batch)

    def _lease_unsafe(self) -> str | None:
        """Why the week's lease may not outlast the next batch; None when it will."""
        holder = self.store.holder(self.week)
        if holder is None:
            return "this run no longer holds it"
        if holder.run_id != self.run_id:
            return f"{holder.describe()} holds it now"
        left = holder.expires - time.time()
        if left < LEASE_MARGIN_SECONDS:
            return f"it runs out in {max(left, 0):.0f} s: its renewals failed"
        return None

    def settled(self, number: int, applied: bool) -> None:
        self.store.settle_batch(self.week, self.run_id, number, APPLIED if applied else REFUSED)


@contextmanager
def write_lease(
    store: WriteStore,
    instance: dg.DagsterInstance,
    week: str,
    run_id: str,
    wait_seconds: float,
    log: Log,
) -> Iterator[None]:
    """Hold the week's one write lease for the block, renewed while it runs.

    Waits up to `wait_seconds` for another writer to finish (saying so, once per holder, so an
    idle step explains itself), then refuses naming it. A holder known to have ended (its
    process gone from this host, or its run ended) is replaced at once; any other that stopped
    renewing loses its lease after LEASE_TTL_SECONDS.
    """
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    replacing: str | None = None
    announced: str | None = None
    while (holder := store.acquire(week, token, run_id, time.time(), replacing)) is not None:
        if holder.gone(instance):
            replacing = holder.token
            continue
        if announced != holder.token and wait_seconds > 0:
            announced = holder.token
            log.info(
                f"week {week} is being written to HubSpot by {holder.describe()}: waiting up "
                f"to {wait_seconds:.0f} s for it to end"
            )
        if time.monotonic() >= deadline:
            raise LeaseBusy(
                f"week {week} is being written to HubSpot by {holder.describe()}: this run "
                f"waited {wait_seconds:.0f} s and wrote nothing; rerun once that run has ended "
                f"(a lease whose process died frees itself within {LEASE_TTL_SECONDS:.0f} s)"
            )
        time.sleep(LEASE_POLL_SECONDS)
    stop = threading.Event()

    def renew() -> None:
        # A failed renewal is tried again at the next turn; if they keep failing, the writer
        # stops before the lease runs out (JournalRecorder.sending).
        while not stop.wait(LEASE_RENEW_SECONDS):
            try:
                store.renew(week, token, time.time())
            except sa.exc.SQLAlchemyError as error:
                log.warning(f"week {week}: renewing the write lease failed: {error}")

    renewer = threading.Thread(target=renew, name=f"lease-{week}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        store.release(week, token)


@contextmanager
def holding(
    store: WriteStore | None,
    instance: dg.DagsterInstance,
    week: str,
    run_id: str,
    wait_seconds: float,
    log: Log,
) -> Iterator[LeaseBusy | None]:
    """The week's write lease when the run writes (`store` given; nothing for a dry run).
    Yields the refusal instead when another writer kept the week past `wait_seconds`."""
    with ExitStack() as stack:
        if store is not None:
            try:
                stack.enter_context(write_lease(store, instance, week, run_id, wait_seconds, log))
            except LeaseBusy as busy:
                yield busy
                return
        yield None


@dataclass(frozen=True)
class Converged:
    """What undoing one earlier run's unfinished write did."""

    run_id: str
    companies: int
    result: Restored

    def describe(self) -> str:
        return (
            f"the unfinished write of run {self.run_id} ({self.companies} companies) was put "
            f"back: {self.result.describe()}"
        )


def converge(store: WriteStore, client: HubSpotClient, week: str, log: Log) -> list[Converged]:
    """Undo what earlier runs of the week left unaccounted for (killed mid-write, token
    revoked, restore incomplete): each company goes back to its value before that run, where
    it still holds that run's value, so HubSpot is exactly as before those runs. What could
    not be put back stays in the journal."""
    done = []
    for run_id, writes in store.unsettled(week).items():
        result = restore(client, writes, log)
        # Put back whole: nothing of the run is left, its refused batches' rows included.
        left = [*result.restored, *result.changed_by_others, *result.gone]
        store.settle_run(week, run_id, None if result.complete else left)
        done.append(Converged(run_id, len(writes), result))
        log.warning(done[-1].describe())
    return done


def recover(
    instance: dg.DagsterInstance, client: HubSpotClient, week: str, wait_seconds: float, log: Log
) -> list[Converged]:
    """`engagement-ranker recover`: under the week's lease, put back what earlier runs of the
    week left unfinished, so HubSpot holds exactly its values before them (a rerun of the week
    then writes the week whole)."""
    store = WriteStore(instance)
    lease = write_lease(store, instance, week, f"recover-{uuid.uuid4().hex[:8]}", wait_seconds, log)
    with lease:
        return converge(store, client, week, log)
