"""Failure alerts: which week, which step or check, the error, and what HubSpot now holds.

The same builder serves the run-failure sensor (scheduled and UI runs) and the in-process
`engagement-ranker run` command, so every failed week sounds the same alarm. It reads the
run's own events: check evaluations, step failures (with the writer's outcome) and, when the
run failed before any step (a bad setting), the run's failure.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from engagement_ranker.clients.http import redact
from engagement_ranker.core.render import ALERT_LINE_MAX_CHARS
from engagement_ranker.core.summary import Alert
from engagement_ranker.core.writeplan import WriteOutcome
from engagement_ranker.defs.keys import HUBSPOT_WRITEBACK
from engagement_ranker.defs.resources import deliver
from engagement_ranker.defs.writeback import OUTCOME_KEY
from engagement_ranker.settings import notification_channels, run_url, secret_values

ERROR_LINES = 6
WRITEBACK_STEP = HUBSPOT_WRITEBACK.to_user_string()


def _first_lines(text: str) -> str:
    """The error's first lines, long ones wrapped (renderers clip a line, which would cut off
    an error's end, where our errors say the fix)."""
    lines = [
        wrapped
        for line in text.strip().splitlines()
        for wrapped in textwrap.wrap(line, ALERT_LINE_MAX_CHARS)
    ]
    return "\n".join(lines[:ERROR_LINES])


def error_text(error: Any) -> str:
    """The user-facing message of a serialized error: the innermost cause, past Dagster's
    "Error occurred..." wrappers."""
    if error is None:
        return "step failed"
    while error.cause is not None:
        error = error.cause
    message = str(error.message).strip()
    # Dagster prefixes the exception's qualified class name; ours say what they are.
    prefix, separator, rest = message.partition(": ")
    return rest if separator and prefix.endswith(str(error.cls_name)) else message


def _failure_text(failure: Any) -> str:
    """What went wrong in a step that raised, in the words of whoever knew best: a
    `dg.Failure` in its description, which quotes its cause and adds what was done about it
    (e.g. the restore); anything else in the innermost exception.
    """
    user = failure.user_failure_data
    if user is not None and user.description:
        return user.description.strip()
    return error_text(failure.error)


def _events(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> list[Any]:
    records = instance.get_records_for_run(run_id, of_type=kind).records
    return [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event]


def _failed_checks(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict[str, str]]:
    """Step -> {"asset:check" -> "blocking check asset:check failed: why"} for each check that
    failed in the run.

    Every check is blocking (defs/checks.py): one that fails fails its asset's check step; a
    warning fails nothing.
    """
    failed: dict[str, dict[str, str]] = {}
    for event in _events(instance, run_id, dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = event.asset_check_evaluation_data
        if evaluation.passed or evaluation.severity is not dg.AssetCheckSeverity.ERROR:
            continue
        key = evaluation.asset_check_key
        name = f"{key.asset_key.to_user_string()}:{key.name}"
        why = evaluation.description or "no description"
        failed.setdefault(event.step_key or name, {})[name] = f"blocking check {name} failed: {why}"
    return failed


NOTHING_WRITTEN = "nothing was written to HubSpot"


def _written_state(instance: dg.DagsterInstance, run_id: str, writeback: Any | None) -> str:
    """What HubSpot holds after the run, from the writeback's materialization or failure."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    for record in records:
        materialization = record.asset_materialization
        if materialization is not None and materialization.asset_key == HUBSPOT_WRITEBACK:
            written = materialization.metadata.get("written")
            count = written.value if written is not None else 0
            return f"{count} companies were written to HubSpot before the failure; the write itself succeeded"
    if writeback is None:
        return NOTHING_WRITTEN
    user = writeback.user_failure_data
    metadata = (user.metadata or {}) if user is not None else {}
    outcome = metadata.get(OUTCOME_KEY)
    if outcome is None:
        # Neither a refusal nor a restore: the step broke somewhere unforeseen, possibly after
        # writing. Say so rather than claim nothing was written.
        return (
            "hubspot_writeback failed unexpectedly: some companies may already hold this week's "
            "values; rerun the week (it writes only what differs) or compare with HubSpot"
        )
    match WriteOutcome(outcome.value):
        case WriteOutcome.RESTORED:
            return (
                f"the write failed; the {metadata['restored'].value} companies written were "
                "restored to their values before the run"
            )
        case WriteOutcome.RESTORE_INCOMPLETE:
            return "the write failed and the restore is INCOMPLETE: see the error for the companies"
        case WriteOutcome.NOTHING_WRITTEN:
            return NOTHING_WRITTEN


def alert_for_run(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    week_key: str | None,
    link: str | None,
    secrets: Sequence[str] = (),
) -> Alert:
    """The alert for a failed run, read from its event log; `secrets` are hidden from it."""
    checks = _failed_checks(instance, run.run_id)
    steps = {
        event.step_key: event.step_failure_data
        for event in _events(instance, run.run_id, dg.DagsterEventType.STEP_FAILURE)
        if event.step_key
    }
    # A failed check is named itself, not the step that evaluated its asset's checks (Dagster's
    # own error there names only the checks).
    failures = {}
    for step in dict.fromkeys([*steps, *checks]):
        found = checks.get(step, {})
        failures[", ".join(found) or step] = (
            "\n".join(found.values()) if found else _failure_text(steps[step])
        )
    if failures:
        step = ", ".join(failures)
        error = (
            next(iter(failures.values()))
            if len(failures) == 1
            else "\n".join(f"{name}: {text}" for name, text in failures.items())
        )
    else:
        # The run failed before any step ran: a resource (a bad setting) or the run itself.
        failed = _events(instance, run.run_id, dg.DagsterEventType.RUN_FAILURE)
        data = failed[0].event_specific_data if failed else None
        step = "run start"
        error = error_text(data.error) if data is not None and data.error else "run failed"
    return Alert(
        week_key=week_key or "unknown week",
        step=step,
        error=_first_lines(redact(error, secrets)),
        written=_written_state(instance, run.run_id, steps.get(WRITEBACK_STEP)),
        run_url=link,
    )


def send_alert(alert: Alert, environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Deliver through every channel whose settings are usable; a bad Slack setting costs only
    Slack (and says so), never the e-mail, and the other way round."""
    slack, email, problems = notification_channels(environ)
    delivered, errors = deliver(alert, slack, email)
    return delivered, [*(f"not sent: {p}" for p in problems), *errors]


@dg.run_failure_sensor(
    name="failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Alerts Slack and e-mail when a week's run fails, blocking checks included.",
)
def failure_alert(context: dg.RunFailureSensorContext) -> None:
    environ = dict(os.environ)
    alert = alert_for_run(
        context.instance,
        context.dagster_run,
        context.partition_key,
        run_url(environ, context.dagster_run.run_id),
        secret_values(environ),
    )
    delivered, errors = send_alert(alert, environ)
    for error in errors:
        context.log.error(f"alert delivery failed: {error}")
    context.log.info(
        f"alert for {alert.week_key} ({alert.step}) sent via {', '.join(delivered) or 'no channel'}"
    )
