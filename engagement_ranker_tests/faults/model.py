"""The vocabulary of the matrix: a row, the outcomes it may expect, what a trial observed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engagement_ranker_tests.faults.trial import Trial

Properties = dict[str, str | None]


class Outcome(StrEnum):
    """How a week's run ends under a fault; the spec allows exactly these."""

    COMPLETES = "completes"
    COMPLETES_AFTER_RETRIES = "completes after retries"
    FAILS_BEFORE_WRITE = "fails before any write"
    FAILS_AND_RESTORES = "fails while writing, restores"
    RESTORE_INCOMPLETE = "fails while writing, restore incomplete"
    FAILS_AFTER_WRITE = "summary fails after the write"
    RERUN_CONVERGES = "killed mid-write, re-run converges"
    RECOVERED = "killed mid-write, recover restores"


class HubSpotState(StrEnum):
    """HubSpot's engagement properties after the trial, against before and intended."""

    UNCHANGED = "unchanged"  # every company as before, nothing was written
    RESTORED = "restored"  # writes happened, every company is back as before
    COMPLETE = "complete"  # every ranked company holds its new values, the rest as before
    PARTIAL = "partial"  # some ranked companies new, others old
    CORRUPT = "corrupt"  # a company holds neither its old nor its intended values


Channel = str  # "slack" | "email"
CHANNELS: tuple[Channel, ...] = ("slack", "email")


@dataclass(frozen=True)
class Row:
    """One fault: how to inject it, what must happen, and any checks of its own.

    `step` is the step or check the alert must name; `error` the fragments its text must hold
    (the cause and the fix); `channel_down` a channel the fault itself breaks.
    """

    name: str
    expect: Outcome
    hubspot: HubSpotState
    setup: Callable[[Trial], None] = lambda trial: None
    procedure: Callable[[Trial, Row], None] | None = None
    step: str | None = None
    error: tuple[str, ...] = ()
    channel_down: Channel | None = None
    same_ranking: bool = True
    checks: tuple[Callable[[Observation], list[str]], ...] = ()
    slow: bool = False


@dataclass
class RunRecord:
    """One week run of a trial: its result, report and the HubSpot writes it made."""

    success: bool
    report: dict[str, Any] | None
    writes: list[dict[str, Any]]
    status: str  # the Dagster run's status
    failures: list[tuple[str, list[str]]]  # (step, exception classes outermost first)
    crash: str | None = None  # run_week itself raised
    run_id: str = ""  # the Dagster run's id ("" when none started)


@dataclass
class Observation:
    """Everything a trial saw, for the verdict and the rows' own checks."""

    runs: list[RunRecord]
    before: dict[str, Properties]
    after: dict[str, Properties]
    writes: list[dict[str, Any]]
    requests: dict[str, Any]
    slack: list[dict[str, Any]]
    emails: list[dict[str, Any]]
    truth: dict[str, dict[str, Any]]
    leaks: list[str]
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def last(self) -> RunRecord:
        return self.runs[-1]

    @property
    def report(self) -> dict[str, Any]:
        return self.last.report or {}

    @property
    def ranked(self) -> list[dict[str, Any]]:
        return list(self.report.get("ranked", []))

    @property
    def anomalies(self) -> list[dict[str, Any]]:
        return list(self.report.get("anomalies", []))
