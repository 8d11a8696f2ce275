"""The checks every row gets: outcome, HubSpot's final state, the run's status, the alert, the
error text, no crash trace, no secret; then the row's own checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterAssetCheckFailedError

from engagement_ranker.constants import PROP_RANK, PROP_SCORE, PROP_TIER
from engagement_ranker.core.render import PRODUCT
from engagement_ranker_tests.faults.model import (
    CHANNELS,
    HubSpotState,
    Observation,
    Outcome,
    Properties,
    Row,
)

SUCCEEDING = (Outcome.COMPLETES, Outcome.COMPLETES_AFTER_RETRIES, Outcome.RERUN_CONVERGES)
ALERT_TITLE = f"{PRODUCT} failed"
SHOWN = 5  # companies named in a problem before "and N more"


@dataclass
class Verdict:
    """One row's result as the table shows it; `problems` empty means it passed."""

    name: str
    expected: str
    observed: str = ""
    hubspot: str = ""
    alert: str = ""
    leaks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    ranking: list[list[Any]] = field(default_factory=list)  # company_id, rank, score, tier
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def intended(ranked: list[dict[str, Any]]) -> dict[str, Properties]:
    """What the spec says each ranked company must hold: score, "{rank} out of {N}", tier."""
    n = len(ranked)
    return {
        row["company_id"]: {
            PROP_SCORE: str(row["score"]),
            PROP_RANK: f"{row['rank']} out of {n}",
            PROP_TIER: row["tier"],
        }
        for row in ranked
    }


def hubspot_state(obs: Observation) -> tuple[HubSpotState, str]:
    """Classify the final state (with what makes it so when it is not clean)."""
    target = intended(obs.ranked)
    if "allowlist" in obs.notes:  # an allowlist run may change its listed companies only
        target = {c: v for c, v in target.items() if c in obs.notes["allowlist"]}
    # A person's edit during the run is theirs to keep: it counts as the company's "before".
    before = {c: {**v, **obs.notes.get("person", {}).get(c, {})} for c, v in obs.before.items()}
    strays = [
        company_id
        for company_id, now in obs.after.items()
        if now != before[company_id] and now != target.get(company_id)
    ]
    if strays:
        return HubSpotState.CORRUPT, "; ".join(
            f"company {c} holds {obs.after[c]}: neither its values before the run "
            f"{obs.before[c]} nor the intended {target.get(c, 'none (not ranked)')}"
            for c in strays[:SHOWN]
        )
    to_change = [c for c, values in target.items() if values != before[c]]
    new = [c for c in to_change if obs.after[c] == target[c]]
    if (new and len(new) == len(to_change)) or (target and not to_change and obs.last.success):
        return HubSpotState.COMPLETE, ""
    if not new:
        wrote = any(run.writes for run in obs.runs)
        return (HubSpotState.RESTORED if wrote else HubSpotState.UNCHANGED), ""
    old = sorted(set(to_change) - set(new), key=int)
    return HubSpotState.PARTIAL, (
        f"{len(new)} of {len(to_change)} ranked companies hold their new values, the others "
        f"their old ones (e.g. {', '.join(old[:SHOWN])})"
    )


def _flat(text: str) -> str:
    """Whitespace collapsed: alerts wrap long lines, a fragment may span the break."""
    return " ".join(text.split())


def retried(obs: Observation) -> bool:
    """Some call was refused or went unanswered (the sandbox logs status 0 for no answer)."""
    statuses: dict[str, int] = obs.requests.get("statuses", {})
    return any(count and not status.startswith("2") for status, count in statuses.items())


def observed_outcome(obs: Observation, state: HubSpotState) -> str:
    last = obs.last
    if obs.notes.get("recovered"):
        back = state is HubSpotState.RESTORED and obs.notes["recovered"]["exit"] == 0
        return Outcome.RECOVERED if back else "killed; recover did not restore"
    if obs.notes.get("killed"):
        converged = last.success and state is HubSpotState.COMPLETE
        return Outcome.RERUN_CONVERGES if converged else "killed; the re-run did not converge"
    if last.crash:
        return "crashed: " + last.crash.strip().splitlines()[-1]
    if last.success:
        return Outcome.COMPLETES_AFTER_RETRIES if retried(obs) else Outcome.COMPLETES
    if not last.writes:
        return Outcome.FAILS_BEFORE_WRITE
    if state is HubSpotState.RESTORED:
        return Outcome.FAILS_AND_RESTORES
    if state is HubSpotState.COMPLETE:
        return Outcome.FAILS_AFTER_WRITE
    return Outcome.RESTORE_INCOMPLETE


def _received(obs: Observation) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(alerts, summaries) by channel, each message as its text."""
    alerts: dict[str, list[str]] = {channel: [] for channel in CHANNELS}
    summaries: dict[str, list[str]] = {channel: [] for channel in CHANNELS}
    for message in obs.slack:
        text = str(message.get("text", ""))
        (alerts if text.startswith(ALERT_TITLE) else summaries)["slack"].append(text)
    for mail in obs.emails:
        text = f"{mail.get('subject', '')}\n{mail.get('text', '')}"
        (alerts if text.startswith(ALERT_TITLE) else summaries)["email"].append(text)
    return alerts, summaries


def alert_problems(row: Row, obs: Observation) -> list[str]:
    """A failure alerts every working channel, naming the step, the cause and the fix; a
    success sends the summary and no alert."""
    channels = [channel for channel in CHANNELS if channel != row.channel_down]
    alerts, summaries = _received(obs)
    alerted = [channel for channel in CHANNELS if alerts[channel]]
    alert = obs.report.get("alert")
    if row.expect is Outcome.RECOVERED:
        return []  # a killed run alerts nobody; `recover`'s own alert is the row's check
    if row.expect in SUCCEEDING:
        problems = [f"an alert was sent for a run that succeeded: {alert}"] if alert else []
        if alerted and not obs.notes.get("earlier_run_failed"):
            problems.append(f"alert messages arrived on {alerted}")
        missing = [channel for channel in channels if not summaries[channel]]
        if missing:
            problems.append(f"no summary arrived on {missing}")
        return problems
    if alert is None:
        return ["the run failed without an alert in its report"]
    problems = []
    step = row.step or ""
    if step not in alert["step"]:
        problems.append(f"the alert names step {alert['step']!r}, expected {step!r}")
    wanted = (*row.error, *obs.notes.get("error", ()))
    absent = [fragment for fragment in wanted if _flat(fragment) not in _flat(alert["error"])]
    if absent:
        problems.append(f"the alert error lacks {absent}: {alert['error']!r}")
    if alert["delivered"] != channels:
        problems.append(f"the alert was delivered via {alert['delivered']}, expected {channels}")
    if alerted != channels:
        problems.append(f"alerts arrived on {alerted}, expected {channels}")
    for channel in alerted:
        if not any(step in _flat(text) for text in alerts[channel]):
            problems.append(f"the {channel} alert does not name step {step!r}")
    return problems


def _product_errors() -> frozenset[str]:
    """Exception classes the product raises on purpose: a root cause outside them is a crash."""
    import engagement_ranker.definitions  # noqa: F401 - loads every layer's error classes

    def subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    ours = {
        c.__name__ for c in subclasses(Exception) if c.__module__.startswith("engagement_ranker")
    }
    return frozenset(ours | {dg.Failure.__name__, DagsterAssetCheckFailedError.__name__})


def crash_problems(obs: Observation) -> list[str]:
    """Every failure's root cause is an error the product meant, with a message, not a trace."""
    allowed = _product_errors()
    problems = [
        f"step {step} failed with {chain[-1]} (a crash, not a product error)"
        for record in obs.runs
        for step, chain in record.failures
        if chain and chain[-1] not in allowed
    ]
    problems += [
        f"run_week raised: {r.crash.strip().splitlines()[-1]}" for r in obs.runs if r.crash
    ]
    alert = obs.report.get("alert") or {}
    if "Traceback" in alert.get("error", ""):
        problems.append("the alert error holds a traceback")
    return problems


def judge(row: Row, obs: Observation) -> Verdict:
    """Every common check, then the row's own."""
    state, detail = hubspot_state(obs)
    observed = observed_outcome(obs, state)
    problems = [] if observed == row.expect else [f"expected {row.expect}, observed {observed}"]
    if state is not row.hubspot:
        problems.append(f"HubSpot should be {row.hubspot}, it is {state}: {detail}")
    last = obs.last
    # A run refused at its start (a bad setting) never reaches Dagster: "NO RUN" then.
    expected_status = ("SUCCESS",) if last.success else ("FAILURE", "NO RUN")
    if not obs.notes.get("killed") and last.status not in expected_status:
        problems.append(
            f"the Dagster run is {last.status} but run_week said success={last.success}"
        )
    problems += alert_problems(row, obs)
    problems += crash_problems(obs)
    problems += [f"secret leaked to {leak}" for leak in obs.leaks]
    for check in row.checks:
        problems += check(obs)
    alerts, _ = _received(obs)
    return Verdict(
        name=row.name,
        expected=row.expect.value,
        observed=str(observed),
        hubspot=state.value,
        alert=", ".join(channel for channel in CHANNELS if alerts[channel]) or "none",
        leaks=list(obs.leaks),
        problems=problems,
        ranking=[[r["company_id"], r["rank"], r["score"], r["tier"]] for r in obs.ranked],
    )
