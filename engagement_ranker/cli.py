"""`engagement-ranker`: the sandbox, a one-command demo, one week run in-process, and the UI."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from engagement_ranker.constants import WriteMode

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@click.group()
def main() -> None:
    """Weekly customer engagement ranks from Yobi usage, written onto HubSpot companies."""
    # Per-week asset checks are a Dagster preview feature; the warning is expected (DESIGN.md).
    warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")
    # The previous week as an input: the first week has none (a beta parameter of Dagster's).
    warnings.filterwarnings("ignore", message="Parameter `allow_nonexistent_upstream_partitions`")


@main.command()
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


def _run_config(mode: str | None, allow: tuple[str, ...] | None, log_level: str) -> dict[str, Any]:
    writeback: dict[str, Any] = {}
    if mode:
        writeback["mode"] = mode
    if allow:
        writeback["allowlist"] = list(allow)
    return {
        "ops": {"hubspot_writeback": {"config": writeback}},
        "loggers": {"console": {"config": {"log_level": log_level}}},
    }


def _week_key(value: str, option: str) -> str:
    """A week's Sunday from the command line, or a usage error that says which Sunday to use."""
    from engagement_ranker.core.week import InvalidWeekKey, parse_week_key

    try:
        return parse_week_key(value).key
    except InvalidWeekKey as error:
        raise click.BadParameter(str(error), param_hint=option) from None


def _alert_summary(alert: Any, delivered: list[str], errors: list[str]) -> dict[str, Any]:
    return {
        "step": alert.step,
        "error": alert.error,
        "written": alert.written,
        "delivered": delivered,
        "delivery_errors": errors,
    }


def check_settings(week_key: str) -> dict[str, Any] | None:
    """Every setting parsed before anything else; on a bad one, the alert is sent (through
    whichever channel is usable) and a failure report returned."""
    from engagement_ranker.core.summary import Alert
    from engagement_ranker.defs.alerts import NOTHING_WRITTEN, send_alert
    from engagement_ranker.defs.report import week_report
    from engagement_ranker.settings import Settings, SettingsError

    try:
        Settings.from_env(os.environ)
    except SettingsError as error:
        alert = Alert(week_key, "settings", str(error), NOTHING_WRITTEN)
        delivered, errors = send_alert(alert, os.environ)
        return week_report({}, week_key, succeeded=False) | {
            "alert": _alert_summary(alert, delivered, errors)
        }
    return None


def run_week(
    instance: Any,
    week: str,
    mode: str | None = None,
    allow: tuple[str, ...] | None = None,
    log_level: str = "INFO",
) -> tuple[bool, dict[str, Any]]:
    """Materialize one week through Dagster in-process; on failure, alert like the sensor does."""
    from engagement_ranker.core.week import InvalidWeekKey, choose_week
    from engagement_ranker.definitions import build_definitions
    from engagement_ranker.defs.jobs import WEEKLY_JOB_NAME
    from engagement_ranker.defs.partitions import latest_week_key

    try:
        key = choose_week(week, latest_week_key()).key
    except InvalidWeekKey as error:
        raise click.BadParameter(str(error), param_hint="--week") from None
    refused = check_settings(key)
    if refused is not None:
        return False, refused
    definitions = build_definitions()
    job = definitions.resolve_job_def(WEEKLY_JOB_NAME)
    result = job.execute_in_process(
        partition_key=key,
        instance=instance,
        run_config=_run_config(mode, allow, log_level),
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

    report = week_report(run_outputs(definitions, instance, run, key), key, succeeded)
    if not succeeded:
        environ = dict(os.environ)
        alert = alert_for_run(
            instance, run, key, run_url(environ, run.run_id), secret_values(environ)
        )
        report["alert"] = _alert_summary(alert, *send_alert(alert, environ))
    return report


@main.command()
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
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="INFO", show_default=True)
def run(
    week: str, mode: str | None, allow: str | None, report_path: str | None, log_level: str
) -> None:
    """Run one week (fetch, map, rank, check, write, summarize); exit non-zero on any failure."""
    from engagement_ranker.settings import SettingError, parse_company_ids

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
    with _instance() as instance:
        success, report = run_week(instance, week, mode, allowlist, log_level)
    if report_path:
        Path(report_path).write_text(
            json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    written = sum(1 for w in report["writes"] if w["outcome"] == "written")
    click.echo(
        f"week {report['week']}: {report['status']}; {len(report['ranked'])} ranked, "
        f"{len(report['unmapped'])} unmapped, {len(report['excluded'])} excluded, {written} written"
    )
    if not success:
        alert = report["alert"]
        click.echo(f"FAILED at {alert['step']}: {alert['error']}\n{alert['written']}", err=True)
        sys.exit(1)


def _summary_markdown(instance: Any, week_key: str) -> str:
    import dagster as dg

    from engagement_ranker.defs.keys import SLACK_SUMMARY

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SLACK_SUMMARY, asset_partitions=[week_key]), limit=1
    ).records
    summary = records[0].asset_materialization.metadata.get("summary") if records else None
    return summary.value if summary is not None else "(no summary was produced)"


def backfill_weeks(instance: Any, keys: list[str], mode: str | None) -> list[dict[str, Any]]:
    """Run past weeks one after another (history for movers; HubSpot keeps the current week)."""
    reports = []
    for number, key in enumerate(keys, start=1):
        ok, report = run_week(instance, key, mode, log_level="ERROR")
        click.echo(
            f"backfill {number}/{len(keys)} {key}: {report['status']}, "
            f"{len(report['ranked'])} ranked"
        )
        if not ok:
            raise click.ClickException(f"backfill of {key} failed: {report['alert']['error']}")
        reports.append(report)
    return reports


@main.command()
@click.option("--from", "first", required=True, help="The first week's Sunday (YYYY-MM-DD).")
@click.option("--to", "last", default="latest", show_default=True, help="The last week's Sunday.")
@click.option(
    "--mode",
    type=click.Choice([m.value for m in WriteMode]),
    default=None,
    help="Write mode; past weeks are never written to HubSpot unless they are the latest.",
)
def backfill(first: str, last: str, mode: str | None) -> None:
    """Compute and store a range of weeks in-process, oldest first, with progress.

    From the Dagster UI (or `dagster job backfill`) the daemon runs the same weeks as
    separate runs; this command is for cron/CI runners without one.
    """
    from engagement_ranker.defs.partitions import latest_week_key, weekly_partitions

    start = _week_key(first, "--from")
    end = latest_week_key() if last == "latest" else _week_key(last, "--to")
    keys = [k for k in weekly_partitions.get_partition_keys() if start <= k <= end]
    if not keys:
        raise click.BadParameter(f"no completed weeks between {start} and {end}")
    with _instance() as instance:
        backfill_weeks(instance, keys, mode)


@main.command()
@click.option("--seed", default=7, show_default=True)
@click.option("--companies", default=150, show_default=True)
@click.option("--backfill-weeks", "history", default=4, show_default=True)
def demo(seed: int, companies: int, history: int) -> None:
    """The whole weekly job on the sandbox: backfill past weeks, write the latest, show it."""
    from engagement_ranker.defs.partitions import weekly_partitions
    from engagement_ranker.sandbox.runner import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=seed, companies=companies)) as box:
        os.environ.update(box.env)
        *past, latest = weekly_partitions.get_partition_keys()[-(history + 1) :]
        with _instance() as instance:
            backfill_weeks(instance, past, WriteMode.FULL.value)
            click.echo("(past weeks are stored as history; HubSpot holds the current week)")
            ok, report = run_week(instance, latest, WriteMode.FULL.value, log_level="ERROR")
            if not ok:
                raise click.ClickException(f"week {latest} failed: {report['alert']['error']}")
            click.echo("")
            click.echo(_summary_markdown(instance, latest))
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


@main.command()
@click.option("--port", default=3000, show_default=True, help="Dagster UI port.")
@click.option("--companies", default=150, show_default=True)
def dev(port: int, companies: int) -> None:
    """The sandbox plus `dagster dev` on it: the UI, schedule, sensor and backfills."""
    sandbox_process = subprocess.Popen(
        [sys.executable, "-m", "engagement_ranker.sandbox", "--companies", str(companies)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    try:
        env = read_sandbox_env(sandbox_process)
        env["DAGSTER_UI_URL"] = f"http://127.0.0.1:{port}"
        click.echo(f"sandbox up; starting the Dagster UI on http://127.0.0.1:{port}")
        subprocess.run(
            [
                str(Path(sys.executable).with_name("dagster")),
                "dev",
                "-w",
                "workspace.yaml",
                "-p",
                str(port),
            ],
            env={**os.environ, **env},
            check=False,
            preexec_fn=_default_signals,
        )
    finally:
        sandbox_process.terminate()
        sandbox_process.wait(timeout=10)


def _default_signals() -> None:
    """Children stop on Ctrl-C/SIGTERM even when this process inherited them as ignored."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


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


@main.command()
@click.option("--week", "week", required=True, help="The week's Sunday (YYYY-MM-DD), or latest.")
def recover(week: str) -> None:
    """Put back what an interrupted run of a week left in HubSpot (from the write journal)."""
    import logging

    from engagement_ranker.clients.hubspot import HubSpotClient
    from engagement_ranker.core.summary import Alert
    from engagement_ranker.core.week import InvalidWeekKey, choose_week
    from engagement_ranker.defs.alerts import send_alert
    from engagement_ranker.defs.journal import LeaseBusy
    from engagement_ranker.defs.journal import recover as recover_week
    from engagement_ranker.defs.partitions import latest_week_key
    from engagement_ranker.settings import Settings, SettingsError

    try:
        key = choose_week(week, latest_week_key()).key
    except InvalidWeekKey as error:
        raise click.BadParameter(str(error), param_hint="--week") from None
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    hubspot = settings.hubspot
    with (
        _instance() as instance,
        HubSpotClient(
            hubspot.access_token.get_secret_value(),
            hubspot.base_url,
            hubspot.tier,
            api_version=hubspot.api_version,
        ) as client,
    ):
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
    send_alert(Alert(key, "recover", "\n".join(lines), state), os.environ)
    if not complete:
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--week", default=None, help="The week to probe (its Sunday); default the latest.")
def spike(as_json: bool, week: str | None) -> None:
    """Read-only verification of Yobi and HubSpot access, fields and mapping coverage."""
    from engagement_ranker.spike import run_spike

    sys.exit(run_spike(as_json=as_json, week=week))


@main.command()
@click.option("--company", "company_id", required=True, help="The HubSpot company (record) id.")
@click.option("--week", default="latest", show_default=True, help="latest, or the week's Sunday.")
def explain(company_id: str, week: str) -> None:
    """One company's week: its tenant and why, counters per day, points, score, rank, tier,
    prior, move and driver, and HubSpot's values before and after the write."""
    from engagement_ranker.core.explain import ExplainError
    from engagement_ranker.defs.explain import explain_company
    from engagement_ranker.defs.partitions import latest_week_key

    key = latest_week_key() if week == "latest" else _week_key(week, "--week")
    with _instance() as instance:
        try:
            story = explain_company(instance, company_id, key)
        except ExplainError as error:
            raise click.ClickException(str(error)) from None
    click.echo(story, nl=False)
