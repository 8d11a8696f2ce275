"""Failure alerts: which week, which step or check, the error, and what HubSpot now holds.

The same builder serves the run-failure sensor (scheduled and UI runs) and the in-process
`engagement-ranker run` command, so every failed week sounds the same alarm.
"""

import textwrap
from collections.abc import Sequence

import dagster as dg
from dagster._core.execution.plan.objects import StepFailureData
from dagster._core.storage.tags import PARTITION_NAME_TAG
from dagster._utils.error import SerializableErrorInfo

from engagement_ranker.core.render import ALERT_LINE_MAX_CHARS
from engagement_ranker.core.summary import Alert
from engagement_ranker.defs.resources import NotifierResource, RankerSettings

ERROR_LINES = 6
WRITEBACK_STEP = "hubspot_writeback"


def _first_lines(text: str) -> str:
    """The error's first lines, long ones wrapped (renderers clip a line, which would cut off
    an error's end, where our errors say the fix)."""
    lines = [
        wrapped
        for line in text.strip().splitlines()
        for wrapped in textwrap.wrap(line, ALERT_LINE_MAX_CHARS)
    ]
    return "\n".join(lines[:ERROR_LINES])


def error_text(error: SerializableErrorInfo | None) -> str:
    """The user-facing message: the innermost cause, past Dagster's "Error occurred..." wrappers."""
    if error is None:
        return "step failed"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def _failure_text(failure: StepFailureData, failed_checks: Sequence[str] = ()) -> str:
    """What went wrong in one step, in the words of whoever knew best.

    A blocking check in its evaluation (Dagster's own error names only the check); a
    `dg.Failure` in its description, which quotes its cause and adds what was done about it
    (e.g. the restore); anything else in the innermost exception.
    """
    if failed_checks:
        return "\n".join(failed_checks)
    user = failure.user_failure_data
    if user is not None and user.description:
        return user.description.strip()
    return error_text(failure.error)


def _failed_checks(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[str]]:
    """Step key -> "blocking check asset:check failed: why" for each blocking check that did
    not pass in the run (a failed non-blocking check fails no step)."""
    failed: dict[str, list[str]] = {}
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records:
        event = record.event_log_entry.dagster_event
        evaluation = event.asset_check_evaluation_data if event is not None else None
        if evaluation is None or evaluation.passed or not evaluation.blocking or not event.step_key:
            continue
        key = evaluation.asset_check_key
        name = f"{key.asset_key.to_user_string()}:{key.name}"
        why = evaluation.description or "no description"
        failed.setdefault(event.step_key, []).append(f"blocking check {name} failed: {why}")
    return failed


def _written_state(
    instance: dg.DagsterInstance, run_id: str, writeback: StepFailureData | None
) -> str:
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        materialization = record.asset_materialization
        if materialization and materialization.asset_key == dg.AssetKey(WRITEBACK_STEP):
            written = materialization.metadata.get("written")
            count = written.value if written is not None else 0
            return f"{count} companies were written to HubSpot before the failure; the write itself succeeded"
    # The writer's failure metadata says what it put back (defs/writer.py `_apply`).
    user = writeback.user_failure_data if writeback is not None else None
    metadata = (user.metadata or {}) if user is not None else {}
    restored = metadata.get("restored")
    restore_failures = metadata.get("restore_failures")
    if restore_failures is not None and restore_failures.value:
        return "the write failed and the restore is INCOMPLETE: see the error for the companies"
    if restored is not None and restored.value:
        return (
            f"the write failed; the {restored.value} companies written were restored to their "
            "values before the run"
        )
    if writeback is not None and "written" not in metadata and restored is None:
        # Neither a refusal nor a restore: the step broke somewhere unforeseen, possibly after
        # writing. Say so rather than claim nothing was written.
        return (
            "hubspot_writeback failed unexpectedly: some companies may already hold this week's "
            "values; rerun the week (it writes only what differs) or compare with HubSpot"
        )
    return "nothing was written to HubSpot"


def alert_for_run(instance: dg.DagsterInstance, run: dg.DagsterRun, run_url: str | None) -> Alert:
    """The alert for a failed run, read from its event log."""
    checks = _failed_checks(instance, run.run_id)
    steps: dict[str, StepFailureData] = {}
    for record in instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
    ).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.step_key:
            steps[event.step_key] = event.step_failure_data
    failures = {step: _failure_text(data, checks.get(step, ())) for step, data in steps.items()}
    if failures:
        step = ", ".join(failures)
        error = _first_lines(
            next(iter(failures.values()))
            if len(failures) == 1
            else "\n".join(f"{name}: {text}" for name, text in failures.items())
        )
    else:
        failure = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.PIPELINE_FAILURE
        ).records
        event = failure[0].event_log_entry.dagster_event if failure else None
        step = "run"
        error = _first_lines(event.message or "run failed") if event else "run failed"
    return Alert(
        week_key=run.tags.get(PARTITION_NAME_TAG, "unknown week"),
        step=step,
        error=error,
        written=_written_state(instance, run.run_id, steps.get(WRITEBACK_STEP)),
        run_url=run_url,
    )


@dg.run_failure_sensor(
    name="failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Alerts Slack and e-mail when a week's run fails, blocking checks included.",
)
def failure_alert(
    context: dg.RunFailureSensorContext, notifier: NotifierResource, settings: RankerSettings
) -> None:
    alert = alert_for_run(
        context.instance, context.dagster_run, settings.run_url(context.dagster_run.run_id)
    )
    delivered, errors = notifier.deliver(alert)
    for error in errors:
        context.log.error(f"alert delivery failed: {error}")
    context.log.info(
        f"alert for {alert.week_key} ({alert.step}) sent via {', '.join(delivered) or 'no channel'}"
    )
