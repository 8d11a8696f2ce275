"""`engagement-ranker`: the sandbox, a one-command demo, one week run in-process, and the UI.

What a person reads in a terminal: a line per step as a week runs, then one line with what
happened and the counts. A failure ends in one line that says why, exits non-zero and sends
the alert; Dagster's own logs (and a traceback) show only with --verbose.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from engagement_ranker.constants import Env, WriteMode

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Dagster's logs without --verbose: none.
QUIET_LEVEL = "CRITICAL"
# What an unforeseen error leaves in HubSpot is unknown: say so, and how to converge.
UNKNOWN_WRITES = (
    "HubSpot may hold part of this week's values if the write had started: rerun the week "
    "(it writes only what differs)"
)
STOP_SECONDS = 30
HELP_WIDTH = 100


@click.group(context_settings={"max_content_width": HELP_WIDTH})
def main() -> None:
    """Weekly customer engagement ranks from Yobi usage, written onto HubSpot companies."""
    # Exiting, the interpreter collects the whole heap over and over while it takes its
    # modules apart: 0.8-0.9 s after a week at any N (docs/benchmarks.md). By then all is
    # written and closed, so the collector leaves what exists alone.
    atexit.register(gc.freeze)
    # Per-week asset checks are a Dagster preview feature; the warning is expected (DESIGN.md).
    warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")
    # The previous week as an input: the first week has none (a beta parameter of Dagster's).
    warnings.filterwarnings("ignore", message="Parameter `allow_nonexistent_upstream_partitions`")


@main.command(short_help="Start the stand-in services and print their settings.")
@click.option("--seed", default=7, show_default=True, help="Dataset seed.")
@click.option("--companies", default=150, show_default=True, help="HubSpot companies (<= 20,000).")
@click.option("--latency-ms", default=0, show_default=True, help="Added to every API call.")
@click.option(
    "--hubspot-tier", type=click.Choice(["free", "pro"]), default="free", show_default=True
)
@click.option(
    "--now", default=None, help="Sandbox clock, ISO 8601 with offset (default: real now)."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--hubspot-port", default=0, show_default=True, help="0 picks a free port.")
@click.option("--yobi-port", default=0, show_default=True)
@click.option("--slack-port", default=0, show_default=True)
@click.option("--smtp-port", default=0, show_default=True)
@click.option(
    "--yobi-sparse", is_flag=True, help="Yobi omits zero-activity days and tenants (sparse trends)."
)
@click.option(
    "--yobi-bucket-timezone",
    default="America/New_York",
    show_default=True,
    help="The zone whose days Yobi's trend buckets are.",
)
def sandbox(**options: Any) -> None:
    """Start the HubSpot, Yobi, Slack and SMTP stand-ins and print the environment to use."""
    from engagement_ranker.sandbox.runner import serve

    serve(_sandbox_config(**options))


def _sandbox_config(**options: Any) -> Any:
    from datetime import datetime

    from engagement_ranker.sandbox.runner import SandboxConfig

    now = options.pop("now", None)
    if now is not None:
        try:
            now = datetime.fromisoformat(now)
        except ValueError:
            raise click.BadParameter(
                f"{now!r} is not ISO 8601; e.g. 2026-11-22T06:00:00-05:00", param_hint="--now"
            ) from None
        if now.tzinfo is None:
            raise click.BadParameter(
                f"{now.isoformat()} has no UTC offset; add one, e.g. -05:00", param_hint="--now"
            )
    try:
        return SandboxConfig(now=now, **options)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def load_product() -> None:
    """Import the product (Dagster, pandas, every layer) before anything else does: the code
    location's module imports it with the garbage collector paused and freezes what it made
    (engagement_ranker/definitions.py; 0.5 s of a week's run at N = 250, docs/benchmarks.md)."""
    importlib.import_module("engagement_ranker.definitions")


@contextmanager
def _instance() -> Iterator[Any]:
    """The DAGSTER_HOME instance when set (history persists), else a throwaway one."""
    import dagster as dg

    if os.environ.get("DAGSTER_HOME"):
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        with dg.DagsterInstance.get() as instance:
            yield instance
    else:
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance


def _quiet(log_level: str | None) -> None:
    """Without a log level, no library's log lines (Dagster's instance notes, the clients'
    retries: the run's result and the alert say what mattered); with one, Dagster's at it."""
    if log_level is None:
        logging.getLogger().addHandler(logging.NullHandler())
    logging.getLogger("dagster").setLevel(log_level or QUIET_LEVEL)


def _run_config(
    mode: str | None, allow: tuple[str, ...] | None, log_level: str | None
) -> dict[str, Any]:
    from engagement_ranker.defs.runmode import writeback_run_config

    config = writeback_run_config(WriteMode(mode) if mode else None, allow)
    return config | {"loggers": {"console": {"config": {"log_level": log_level or QUIET_LEVEL}}}}


def _week_key(value: str, option: str) -> str:
    """A week's Sunday from the command line, or a usage error that says which Sunday to use."""
    from engagement_ranker.core.week import InvalidWeekKey, parse_week_key

    try:
        return parse_week_key(value).key
    except InvalidWeekKey as error:
        raise click.BadParameter(str(error), param_hint=option) from None


def _reachable(key: str, option: str) -> str:
    """`key`, or a usage error when Yobi no longer reaches its week (its run would fail)."""
    from datetime import datetime

    from engagement_ranker.clients.errors import PeriodError
    from engagement_ranker.core.week import ZONE, parse_week_key
    from engagement_ranker.defs.partitions import refuse_unreachable

    try:
        refuse_unreachable(parse_week_key(key), datetime.now(ZONE))
    except PeriodError as error:
        raise click.BadParameter(str(error), param_hint=option) from None
    return key


def _alert_summary(alert: Any, delivered: list[str], errors: list[str]) -> dict[str, Any]:
    return {
        "step": alert.step,
        "error": alert.error,
        "written": alert.written,
        "delivered": delivered,
        "delivery_errors": errors,
    }


def _alerted(week_key: str, step: str, error: str, written: str) -> dict[str, Any]:
    """Send the alert for a week that failed outside a Dagster run; returns its summary."""
    from engagement_ranker.core.summary import Alert
    from engagement_ranker.defs.alerts import send_alert

    alert = Alert(week_key, step, error, written)
    return _alert_summary(alert, *send_alert(alert, os.environ))


def check_settings(week_key: str) -> dict[str, Any] | None:
    """Every setting parsed before anything else; on a bad one, the alert is sent (through
    whichever channel is usable) and a failure report returned."""
    from engagement_ranker.defs.alerts import NOTHING_WRITTEN
    from engagement_ranker.defs.report import week_report
    from engagement_ranker.settings import Settings, SettingsError

    try:
        Settings.from_env(os.environ)
    except SettingsError as error:
        return week_report({}, week_key, succeeded=False) | {
            "alert": _alerted(week_key, "settings", str(error), NOTHING_WRITTEN)
        }
    return None


def chosen_week(week: str, *, reachable: bool = True) -> str:
    """The key of the week a person asked for ("latest" or a Sunday), refused (a usage error)
    when it has not ended or, unless `reachable` is False (a stored week is only read), Yobi no
    longer reaches it."""
    from engagement_ranker.core.week import InvalidWeekKey, choose_week
    from engagement_ranker.defs.partitions import latest_week_key

    try:
        key = choose_week(week, latest_week_key()).key
    except InvalidWeekKey as error:
        raise click.BadParameter(str(error), param_hint="--week") from None
    return _reachable(key, "--week") if reachable else key


def run_week(
    instance: Any,
    key: str,
    mode: str | None = None,
    allow: tuple[str, ...] | None = None,
    log_level: str | None = None,
    on_event: Callable[[Any], None] | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Materialize one week through Dagster in-process; on failure, alert like the sensor does.

    `key`: the week's Sunday, already chosen (`chosen_week`) or listed as a partition.
    `log_level`: Dagster's own log lines at that level (None: none). `on_event`: called with
    each event of the run as it is stored (the progress lines).
    """
    from engagement_ranker.definitions import build_definitions
    from engagement_ranker.defs.jobs import WEEKLY_JOB_NAME

    refused = check_settings(key)
    if refused is not None:
        return False, refused
    definitions = build_definitions()
    job = definitions.resolve_job_def(WEEKLY_JOB_NAME)
    run_id = str(uuid.uuid4())
    if on_event is not None:
        instance.add_event_listener(run_id, on_event)
    result = job.execute_in_process(
        partition_key=key,
        instance=instance,
        run_config=_run_config(mode, allow, log_level),
        run_id=run_id,
        raise_on_error=False,
    )
    return result.success, week_outcome(
        definitions, instance, result.dagster_run, key, result.success
    )


def week_outcome(
    definitions: Any, instance: Any, run: Any, key: str, succeeded: bool
) -> dict[str, Any]:
    """The report of a finished run of the week, and its alert (sent) when it failed."""
    from engagement_ranker.defs.alerts import alert_for_run, send_alert
    from engagement_ranker.defs.report import run_outputs, week_report
    from engagement_ranker.settings import run_url, secret_values

    outputs = run_outputs(definitions.resources["warehouse"], instance, run, key)
    report = week_report(outputs, key, succeeded)
    if not succeeded:
        environ = dict(os.environ)
        alert = alert_for_run(
            instance, run, key, run_url(environ, run.run_id), secret_values(environ)
        )
        report["alert"] = _alert_summary(alert, *send_alert(alert, environ))
    return report


class Steps:
    """Listens to runs' events (`run_week`'s `on_event`): a line per finished step when
    `shown`, and whether a writeback started, which is what an unforeseen error may have left
    in HubSpot."""

    def __init__(self, shown: bool) -> None:
        self.shown = shown
        self.writing = False

    def __call__(self, entry: Any) -> None:
        import dagster as dg

        from engagement_ranker.defs.alerts import WRITEBACK_STEP

        event = entry.dagster_event
        if event is None or event.step_key is None:
            return
        if event.event_type is dg.DagsterEventType.STEP_START:
            self.writing = self.writing or event.step_key == WRITEBACK_STEP
        elif self.shown and event.event_type is dg.DagsterEventType.STEP_SUCCESS:
            seconds = event.step_success_data.duration_ms / 1000
            click.echo(f"  done    {event.step_key} ({seconds:.1f} s)")
        elif self.shown and event.event_type is dg.DagsterEventType.STEP_FAILURE:
            click.echo(f"  failed  {event.step_key}")

    def written(self) -> str:
        from engagement_ranker.defs.alerts import NOTHING_WRITTEN

        return UNKNOWN_WRITES if self.writing else NOTHING_WRITTEN


def _one_line(text: str) -> str:
    """Text on one line: a message wrapped for an alert (or quoting JSON) joined back up."""
    return " ".join(str(text).split())


def outcome_line(report: dict[str, Any], report_path: str | None) -> str:
    """What a successful run did, in one line: the week, the mode and every count."""
    from engagement_ranker.core.identity import DUPLICATE_CLAIM, UNMAPPED
    from engagement_ranker.core.writeplan import CompanyOutcome

    outcomes = [CompanyOutcome(write["outcome"]) for write in report["writes"]]
    statuses = [row["status"] for row in report["unmapped"]]
    held = {CompanyOutcome.DRY_RUN, CompanyOutcome.HISTORICAL_WEEK}
    counts = (
        f"{len(report['ranked'])} ranked, {statuses.count(UNMAPPED)} unmapped, "
        f"{statuses.count(DUPLICATE_CLAIM)} tenant claimed twice, "
        f"{len(report['excluded'])} excluded; "
        f"{outcomes.count(CompanyOutcome.WRITTEN)} written, "
        f"{outcomes.count(CompanyOutcome.UNCHANGED)} unchanged, "
        f"{sum(outcome in held for outcome in outcomes)} would be written"
    )
    allowlisted = outcomes.count(CompanyOutcome.NOT_ON_ALLOWLIST)
    if allowlisted:
        counts += f", {allowlisted} not on the allowlist"
    where = f"report: {report_path}" if report_path else "no report file (--report FILE)"
    return f"week {report['week']} done in {report['mode'] or 'no'} mode: {counts}; {where}"


def failure_line(report: dict[str, Any], report_path: str | None) -> str:
    """Why a run failed, in one line: the step, the error, what HubSpot holds, the alert."""
    alert = report["alert"]
    sent = ", ".join(alert["delivered"]) or "no channel"
    problems = "".join(f"; {_one_line(problem)}" for problem in alert["delivery_errors"])
    where = f"; report: {report_path}" if report_path else ""
    return (
        f"week {report['week']} failed at {alert['step']}: {_one_line(alert['error'])}; "
        f"{_one_line(alert['written'])}; alert sent via {sent}{problems}{where}"
    )


def _write_report(report: dict[str, Any], report_path: str | None) -> None:
    if report_path:
        Path(report_path).write_text(
            json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )


@contextmanager
def _told_in_one_line(week: str, log_level: str | None, steps: Steps) -> Iterator[None]:
    """An unforeseen error becomes one line and an alert instead of a traceback (which
    --verbose keeps). Usage errors and failed runs have their own lines already."""
    from engagement_ranker.clients.http import redact
    from engagement_ranker.settings import secret_values

    try:
        yield
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except Exception as error:
        if log_level is not None:
            raise
        text = redact(f"{type(error).__name__}: {error}", secret_values(os.environ))
        written = steps.written()
        alert = _alerted(week, "engagement-ranker", text, written)
        sent = ", ".join(alert["delivered"]) or "no channel"
        raise click.ClickException(
            f"week {week} stopped: {_one_line(text)}; {written}; alert sent via {sent} "
            "(--verbose shows the traceback)"
        ) from None


def _log_level(verbose: bool, log_level: str | None) -> str | None:
    return log_level or ("INFO" if verbose else None)


VERBOSE = click.option(
    "--verbose", "-v", is_flag=True, help="Show Dagster's own logs (at --log-level)."
)
LOG_LEVEL = click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    default=None,
    help="Dagster's log level; implies --verbose (default INFO).",
)


@main.command(short_help="Run one week: rank, check, write, summarize.")
@click.option("--week", default="latest", show_default=True, help="latest, or the week's Sunday.")
@click.option(
    "--mode",
    type=click.Choice([m.value for m in WriteMode]),
    default=None,
    help="Overrides ENGAGEMENT_WRITE_MODE (default dry-run).",
)
@click.option("--allow", default=None, help="Company ids for allowlist mode, comma-separated.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the week's JSON report here.",
)
@VERBOSE
@LOG_LEVEL
def run(
    week: str,
    mode: str | None,
    allow: str | None,
    report_path: str | None,
    verbose: bool,
    log_level: str | None,
) -> None:
    """Run one week (fetch, map, rank, check, write, summarize); exit non-zero on any failure.

    Prints a line per step and a final line with the counts; a failure ends in one line that
    says why, and sends the alert.
    """
    load_product()
    from engagement_ranker.defs.runmode import default_write_mode
    from engagement_ranker.settings import SettingError, parse_company_ids

    level = _log_level(verbose, log_level)
    _quiet(level)
    try:
        allowlist = parse_company_ids(allow, "--allow") if allow else None
    except SettingError as error:
        raise click.BadParameter(str(error), param_hint="--allow") from None
    if allowlist and mode is not None and mode != WriteMode.ALLOWLIST:
        raise click.BadParameter(
            f"--allow lists companies but --mode is {mode}: use --mode allowlist to write only "
            "them, or drop --allow to write every ranked company",
            param_hint="--allow",
        )
    key = chosen_week(week)
    asked = mode or getattr(default_write_mode(os.environ), "value", "ENGAGEMENT_WRITE_MODE's")
    click.echo(f"week {key}, {asked} mode:")
    steps = Steps(shown=True)
    with _told_in_one_line(key, level, steps), _instance() as instance:
        success, report = run_week(instance, key, mode, allowlist, level, on_event=steps)
    _write_report(report, report_path)
    if not success:
        raise click.ClickException(failure_line(report, report_path))
    click.echo(outcome_line(report, report_path))


def _summary_text(instance: Any, week_key: str) -> str:
    """The week's summary as plain text, as its slack_summary materialization stored it."""
    import dagster as dg

    from engagement_ranker.core.render import fenced_text
    from engagement_ranker.defs.keys import SLACK_SUMMARY

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SLACK_SUMMARY, asset_partitions=[week_key]), limit=1
    ).records
    text = records[0].asset_materialization.metadata.get("summary_text") if records else None
    return fenced_text(text.value) if text is not None else "(no summary was produced)\n"


def backfill_weeks(
    instance: Any, keys: list[str], mode: str | None, steps: Steps
) -> list[dict[str, Any]]:
    """Run past weeks one after another (history for movers; HubSpot keeps the current week).
    The first failure stops the backfill: one line, one alert."""
    reports = []
    for number, key in enumerate(keys, start=1):
        ok, report = run_week(instance, key, mode, on_event=steps)
        if not ok:
            raise click.ClickException(
                f"backfill {number}/{len(keys)}: {failure_line(report, None)}"
            )
        click.echo(
            f"backfill {number}/{len(keys)} {key}: {report['status']}, "
            f"{len(report['ranked'])} ranked"
        )
        reports.append(report)
    return reports


@main.command(short_help="Compute and store past weeks, oldest first.")
@click.option("--from", "first", required=True, help="The first week's Sunday (YYYY-MM-DD).")
@click.option("--to", "last", default="latest", show_default=True, help="The last week's Sunday.")
@click.option(
    "--mode",
    type=click.Choice([m.value for m in WriteMode]),
    default=None,
    help="Write mode; past weeks are never written to HubSpot unless they are the latest.",
)
@VERBOSE
def backfill(first: str, last: str, mode: str | None, verbose: bool) -> None:
    """Compute and store a range of weeks in-process, oldest first, with progress.

    From the Dagster UI (or `dagster job backfill`) the daemon runs the same weeks as
    separate runs; this command is for cron/CI runners without one. Only weeks Yobi still
    reaches can be computed: an older --from is refused before anything runs.
    """
    load_product()
    from engagement_ranker.defs.partitions import latest_week_key, weekly_partitions

    _quiet(_log_level(verbose, None))
    start = _reachable(_week_key(first, "--from"), "--from")
    end = latest_week_key() if last == "latest" else _week_key(last, "--to")
    keys = [k for k in weekly_partitions.get_partition_keys() if start <= k <= end]
    if not keys:
        raise click.BadParameter(f"no completed weeks between {start} and {end}")
    steps = Steps(shown=False)
    with _told_in_one_line(start, _log_level(verbose, None), steps), _instance() as instance:
        backfill_weeks(instance, keys, mode, steps)


@main.command(short_help="The whole weekly job on the built-in sandbox.")
@click.option("--seed", default=7, show_default=True)
@click.option("--companies", default=150, show_default=True)
@click.option(
    "--backfill-weeks",
    "history",
    default=4,
    show_default=True,
    type=click.IntRange(0, None),
    help="Past weeks to compute first (as many as Yobi reaches at most).",
)
def demo(seed: int, companies: int, history: int) -> None:
    """The whole weekly job on the sandbox: backfill past weeks, write the latest, show it."""
    load_product()
    from engagement_ranker.defs.partitions import weekly_partitions
    from engagement_ranker.sandbox.runner import Sandbox, SandboxConfig

    _quiet(None)
    *past, latest = weekly_partitions.get_partition_keys()[-(history + 1) :]
    with Sandbox(SandboxConfig(seed=seed, companies=companies)) as box:
        os.environ.update(box.env)
        steps = Steps(shown=False)
        with _told_in_one_line(latest, None, steps), _instance() as instance:
            backfill_weeks(instance, past, WriteMode.FULL.value, steps)
            click.echo("(past weeks are stored as history; HubSpot holds the current week)")
            click.echo(f"week {latest}, full mode:")
            steps.shown = True
            ok, report = run_week(instance, latest, WriteMode.FULL.value, on_event=steps)
            if not ok:
                raise click.ClickException(failure_line(report, None))
            click.echo(outcome_line(report, None))
            click.echo("")
            click.echo(_summary_text(instance, latest), nl=False)
        writes = box.control.writes()
        click.echo("")
        click.echo(f"HubSpot sandbox: {len(writes)} company records written for week {latest}.")
        click.echo("Explore it in the Dagster UI: `make dev`, then open http://127.0.0.1:3000")


def _export_lines_to_env(lines: list[str]) -> dict[str, str]:
    env = {}
    for line in lines:
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


def _stop(process: subprocess.Popen[Any] | None) -> None:
    """SIGTERM (each child shuts its own children down), then SIGKILL if it hangs."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@main.command(short_help="The sandbox and the Dagster UI on it.")
@click.option("--port", default=3000, show_default=True, help="Dagster UI port.")
@click.option("--companies", default=150, show_default=True)
def dev(port: int, companies: int) -> None:
    """The sandbox plus `dagster dev` on it: the UI, schedule, sensor and backfills.

    Both run in this command's process group, and it stops them when it stops: Ctrl-C, or
    SIGTERM to the group or to this process, leaves nothing listening.
    """
    from engagement_ranker.defs.partitions import latest_week_key

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    workspace = Path("workspace.yaml").resolve()
    home = os.environ.get("DAGSTER_HOME")
    # dagster dev warns about a dagster.yaml in its working folder unless that folder is
    # DAGSTER_HOME, where the repo's copy is linked and read: start it there.
    home = str(Path(home).resolve()) if home else None
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "engagement_ranker.sandbox", "--companies", str(companies)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=restore_default_signals,
    )
    dagster = None
    try:
        env = read_sandbox_env(sandbox)
        ui = f"http://127.0.0.1:{port}"
        env[str(Env.DAGSTER_UI_URL)] = ui
        click.echo(
            f"sandbox up: HubSpot {env[Env.HUBSPOT_BASE_URL]}, Yobi {env[Env.YOBI_BASE_URL]}, "
            f"Slack {env[Env.SLACK_WEBHOOK_URL]}, SMTP {env[Env.SMTP_HOST]}:{env[Env.SMTP_PORT]}"
        )
        click.echo(f"starting the Dagster UI on {ui}")
        click.echo(f"launch the latest week: {launch_url(ui, latest_week_key())}")
        dagster_dev = [str(Path(sys.executable).with_name("dagster")), "dev"]
        dagster = subprocess.Popen(
            [*dagster_dev, "-w", str(workspace), "-p", str(port)],
            env={**os.environ, **env, **({"DAGSTER_HOME": home} if home else {})},
            cwd=home,
            preexec_fn=restore_default_signals,
        )
        dagster.wait()
    finally:
        _stop(dagster)
        _stop(sandbox)


def launch_url(ui_url: str, week_key: str) -> str:
    """The lineage page with `week_key` in the address: its "Materialize all" dialog opens on
    that week (Dagster's dialog reads the page's `partition`; it otherwise opens on none)."""
    return f"{ui_url}/asset-groups?partition={week_key}"


def restore_default_signals() -> None:
    """Ctrl-C and SIGTERM work again in this process and the children it starts after, even
    when it inherited them ignored (background processes do): Ctrl-C raises
    KeyboardInterrupt, SIGTERM ends the process. As a child's `preexec_fn`, its exec then
    leaves both at the system's default."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def read_sandbox_env(process: subprocess.Popen[str]) -> dict[str, str]:
    """The sandbox prints its `export` lines, then a blank line, once every server listens."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        if not line.strip():
            break
        lines.append(line.strip())
    if process.poll() is not None:
        raise click.ClickException("the sandbox exited before it was ready")
    return _export_lines_to_env(lines)


@main.command(short_help="Put back what an interrupted run of a week left in HubSpot.")
@click.option("--week", "week", required=True, help="The week's Sunday (YYYY-MM-DD), or latest.")
def recover(week: str) -> None:
    """Put back what an interrupted run of a week left in HubSpot (from the write journal)."""
    from engagement_ranker.defs.journal import LeaseBusy
    from engagement_ranker.defs.journal import recover as recover_week
    from engagement_ranker.settings import Settings, SettingsError

    key = chosen_week(week)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    with _instance() as instance, settings.hubspot.client() as client:
        try:
            done = recover_week(
                instance,
                client,
                key,
                settings.write.lease_wait_seconds,
                logging.getLogger(__name__),
            )
        except LeaseBusy as error:
            raise click.ClickException(str(error)) from None
    if not done:
        click.echo(f"week {key}: no unfinished write in the journal; HubSpot needs nothing")
        return
    lines = [c.describe() for c in done]
    complete = all(c.result.complete for c in done)
    state = (
        "HubSpot holds exactly its values before those runs"
        if complete
        else "some companies could not be put back: see the lines above"
    )
    click.echo("\n".join([*lines, f"week {key}: {state}"]))
    _alerted(key, "recover", "\n".join(lines), state)
    if not complete:
        sys.exit(1)


@main.command(short_help="Read-only checks of Yobi and HubSpot access and mapping.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--week", default=None, help="The week to probe (its Sunday); default the latest.")
def spike(as_json: bool, week: str | None) -> None:
    """Read-only verification of Yobi and HubSpot access, fields and mapping coverage."""
    from engagement_ranker.spike import run_spike

    sys.exit(run_spike(as_json=as_json, week=week))


@main.command(short_help="One company's week told whole: why it ranks where it does.")
@click.option("--company", "company_id", required=True, help="The HubSpot company (record) id.")
@click.option("--week", default="latest", show_default=True, help="latest, or the week's Sunday.")
def explain(company_id: str, week: str) -> None:
    """One company's week: its tenant and why, counters per day, points, score, rank, tier,
    prior, move and driver, and HubSpot's values before and after the write."""
    from dagster_duckdb import DuckDBResource

    from engagement_ranker.core.explain import ExplainError
    from engagement_ranker.defs.explain import explain_company
    from engagement_ranker.defs.resources import warehouse_path

    key = chosen_week(week, reachable=False)
    try:
        story = explain_company(DuckDBResource(database=warehouse_path()), company_id, key)
    except ExplainError as error:
        raise click.ClickException(str(error)) from None
    click.echo(story, nl=False)
