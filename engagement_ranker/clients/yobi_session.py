"""Yobi's reads for one run, in a process of their own.

At scale a week of Yobi is 85 MB of JSON and a million trend values to sum: seconds of an
interpreter's time. Read on the run's interpreter, they held up HubSpot's paced contact
search beside them (every late answer delays the next page), so they run in a child
process and hand back what the assets need: tenants and locations, then the week's
counters, each with the warnings seen, or the error that stopped them.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from datetime import date
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from engagement_ranker.clients.yobi import WeeklyCounters, YobiClient

# A fresh interpreter: forking the run's threaded process is unsafe.
_CONTEXT = multiprocessing.get_context("spawn")
NAME = "yobi-reads"


@dataclass(frozen=True)
class TenantsFetch:
    """Yobi's tenants and locations, and the retries or oddities seen reading them."""

    tenants: list[dict[str, Any]]
    locations: list[dict[str, Any]]
    warnings: list[str]


@dataclass(frozen=True)
class CountersFetch:
    """One week's Yobi counters and the retries or oddities seen reading them."""

    counters: WeeklyCounters
    warnings: list[str]


@dataclass(frozen=True)
class YobiLogin:
    """What a YobiClient is built from (it crosses to the child process, never to a log)."""

    email: str
    password: str
    base_url: str
    timeout: float
    internal_email_domains: tuple[str, ...]

    def __repr__(self) -> str:
        return f"YobiLogin(email={self.email!r}, base_url={self.base_url!r})"

    def client(self) -> YobiClient:
        return YobiClient(**asdict(self))  # the fields are YobiClient's own arguments


def read_tenants(client: YobiClient) -> TenantsFetch:
    return TenantsFetch(client.tenants(), client.locations(), client.warnings)


def read_counters(client: YobiClient, dates: Sequence[date]) -> CountersFetch:
    """The counters, with the warnings this read added to the session's."""
    before = set(client.warnings)
    counters = client.weekly_counters(dates)
    return CountersFetch(counters, [line for line in client.warnings if line not in before])


class SessionEnded(RuntimeError):
    """The child process ended before answering (killed, or out of memory)."""


class YobiSession:
    """One login, tenants and locations (`tenants`), then one week's counters (`counters`),
    read in a child process (on a thread in a daemonic process, which may not start one);
    each future holds the result or the error that stopped it."""

    def __init__(self, login: YobiLogin, *, tenants: bool, dates: Sequence[date] | None) -> None:
        self.tenants: Future[TenantsFetch] | None = Future() if tenants else None
        self.counters: Future[CountersFetch] | None = Future() if dates else None
        self._dates = tuple(dates or ())
        receiving, sending = _CONTEXT.Pipe(duplex=False)
        work = (sending, login, tenants, self._dates)
        # A run that fails first never waits for the reads: they end once they have answered,
        # and with the run's process at the latest.
        self._reader: threading.Thread | BaseProcess
        if multiprocessing.current_process().daemon:
            # A daemonic process (a pool worker) may not start children: read on a thread.
            self._reader = threading.Thread(target=_serve, args=work, name=NAME, daemon=True)
            self._reader.start()
        else:
            self._reader = _CONTEXT.Process(target=_serve, args=work, name=NAME, daemon=True)
            self._reader.start()
            sending.close()  # the child's copy stays open: EOF here means the child ended
        threading.Thread(target=self._receive, args=(receiving,), name=NAME, daemon=True).start()

    def take_tenants(self) -> Future[TenantsFetch] | None:
        """The tenants' read, once: asked again (a retried step), the caller reads anew."""
        started, self.tenants = self.tenants, None
        return started

    def take_counters(self, dates: Sequence[date]) -> Future[CountersFetch] | None:
        """The counters' read if it is for `dates`, once (as `take_tenants`)."""
        started, self.counters = self.counters, None
        return started if tuple(dates) == self._dates else None

    def _receive(self, receiving: Connection) -> None:
        futures = {"tenants": self.tenants, "counters": self.counters}
        try:
            while True:
                what, value = receiving.recv()
                for name, future in futures.items():
                    if future is None or future.done():
                        continue
                    if what == "error":
                        future.set_exception(value)
                    elif what == name:
                        future.set_result(value)
        except (EOFError, OSError):
            pass
        finally:
            receiving.close()
            self._reader.join(timeout=5)
            code = getattr(self._reader, "exitcode", None)
            ended = SessionEnded(
                f"Yobi's reads ended{'' if code is None else f' (exit code {code})'} before "
                "answering; rerun the week"
            )
            for future in futures.values():
                if future is not None and not future.done():
                    future.set_exception(ended)


def _serve(sending: Connection, login: YobiLogin, tenants: bool, dates: tuple[date, ...]) -> None:
    """The child: read what was asked, send each result, or the error, and end."""
    try:
        with login.client() as client:
            if tenants:
                sending.send(("tenants", read_tenants(client)))
            if dates:
                sending.send(("counters", read_counters(client, dates)))
    except Exception as error:  # handed to the assets, which raise it
        try:
            sending.send(("error", error))
        except Exception:  # an error that cannot cross processes still says what it was
            sending.send(("error", RuntimeError(f"{type(error).__name__}: {error}")))
    finally:
        sending.close()
