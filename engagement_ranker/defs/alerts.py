"""Failure alerts: which week, which step or check, the error, and what HubSpot now holds.

The same builder serves the run-failure sensor (scheduled and UI runs) and the in-process
`engagement-ranker run` command, so every failed week sounds the same alarm.
"""

import dagster as dg
from dagster._utils.error import SerializableErrorInfo

from engagement_ranker.core.summary import Alert
from engagement_ranker.defs.resources import NotifierResource, RankerSettings

ERROR_LINES = 6
WRITEBACK_STEP = "hubspot_writeback"


def _first_lines(text: str) -> str:
    return "\n".join(text.strip().splitlines()[:ERROR_LINES])


def error_text(error: SerializableErrorInfo | None) -> str:
    """The user-facing message: the innermost cause, past Dagster's "Error occurred..." wrappers."""
    if error is None:
        return "step failed"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def _written_state(instance: dg.DagsterInstance, run_id: str, failures: dict[str, str]) -> str:
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        materialization = record.asset_materialization
        if materialization and materialization.asset_key == dg.AssetKey(WRITEBACK_STEP):
            written = materialization.metadata.get("written")
            count = written.value if written is not None else 0
            return f"{count} companies were written to HubSpot before the failure; the write itself succeeded"
    message = failures.get(WRITEBACK_STEP, "")
    if "RESTORE INCOMPLETE" in message:
        return "the write failed and the restore is INCOMPLETE: see the error for the companies"
    if "restored" in message:
        return (
            "the write failed; the companies written were restored to their values before the run"
        )
    return "nothing was written to HubSpot"


def alert_for_run(instance: dg.DagsterInstance, run: dg.DagsterRun, run_url: str | None) -> Alert:
    """The alert for a failed run, read from its event log."""
    failures: dict[str, str] = {}
    for record in instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
    ).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.step_key:
            failures[event.step_key] = error_text(event.step_failure_data.error)
    if failures:
        step = ", ".join(failures)
        error = _first_lines(next(iter(failures.values())))
    else:
        failure = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.PIPELINE_FAILURE
        ).records
        event = failure[0].event_log_entry.dagster_event if failure else None
        step = "run"
        error = _first_lines(event.message or "run failed") if event else "run failed"
    return Alert(
        week_key=run.tags.get("dagster/partition", "unknown week"),
        step=step,
        error=error,
        written=_written_state(instance, run.run_id, failures),
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
