"""The GitHub Actions workflow: valid for GitHub, wired to the product, and its run step works.

GitHub cannot be reached from here, so the workflow is checked against GitHub's published
schema (vendored by check-jsonschema, offline) and its ranking step is executed locally the
way the runner would: bash -e, the job's and the step's env with `${{ }}` expressions
evaluated, and `engagement-ranker` installed from this project's console-script entry.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from engagement_ranker.constants import Env, WriteMode
from engagement_ranker.sandbox.runner import Sandbox, SandboxConfig

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "weekly_customer_engagement_ranker.yml"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
SCHEMAS = ("vendor.github-workflows", "custom.github-workflows-require-timeout")
COMMAND = "engagement-ranker run"
SECRETS = (
    Env.HUBSPOT_ACCESS_TOKEN,
    Env.YOBI_EMAIL,
    Env.YOBI_PASSWORD,
    Env.SLACK_WEBHOOK_URL,
    Env.SMTP_USERNAME,
    Env.SMTP_PASSWORD,
)
# A dead proxy: any attempt of check-jsonschema to fetch a schema over the network fails.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
OPERAND = re.compile(r"'(?P<literal>[^']*)'|(?P<context>[a-z_]+)\.(?P<name>[A-Za-z_][\w-]*)")


def _workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True; GitHub reads "on".
    return workflow.get("on", workflow.get(True))


def _job(workflow: dict[str, Any]) -> dict[str, Any]:
    (job,) = workflow["jobs"].values()
    return job


def _run_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if COMMAND in s.get("run", "")]
    return step


def _evaluate(text: str, contexts: dict[str, dict[str, str]]) -> str:
    """`${{ a || b || 'literal' }}` as GitHub evaluates it; anything else is refused."""

    def value(match: re.Match[str]) -> str:
        for operand in match.group(1).split("||"):
            parsed = OPERAND.fullmatch(operand.strip())
            if parsed is None:
                raise AssertionError(f"expression {match.group(0)!r} is beyond this test's reach")
            if parsed["literal"] is not None:
                result = parsed["literal"]
            else:
                result = contexts[parsed["context"]].get(parsed["name"], "")
            if result:
                return result
        return ""

    return EXPRESSION.sub(value, str(text))


def _step_env(contexts: dict[str, dict[str, str]]) -> dict[str, str]:
    job = _job(_workflow())
    env = {**job["env"], **_run_step(job).get("env", {})}
    return {name: _evaluate(text, contexts) for name, text in env.items()}


def _validate(path: Path, schema: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--verbose", "--builtin-schema", schema, str(path)],
        env={**os.environ, **OFFLINE},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_workflow_validates_offline_against_githubs_schema(schema):
    result = _validate(WORKFLOW, schema)
    assert result.returncode == 0, result.stdout + result.stderr


def _without_runner(workflow: dict[str, Any]) -> None:
    _job(workflow).pop("runs-on")


def _numeric_cron(workflow: dict[str, Any]) -> None:
    _triggers(workflow)["schedule"][0]["cron"] = 5


@pytest.mark.parametrize(
    ("breakage", "complaint"),
    [
        (_without_runner, "'runs-on' is a required property"),
        (_numeric_cron, "$.on.schedule[0].cron: 5 is not of type 'string'"),
    ],
)
def test_the_schema_check_rejects_a_broken_workflow(tmp_path, breakage, complaint):
    workflow = _workflow()
    breakage(workflow)
    broken = tmp_path / "broken.yml"
    broken.write_text(json.dumps({"on" if k is True else k: v for k, v in workflow.items()}))
    result = _validate(broken, SCHEMAS[0])
    assert result.returncode == 1
    assert complaint in result.stdout


def test_triggers_are_the_specs_schedule_and_a_manual_run_with_week_and_mode():
    triggers = _triggers(_workflow())
    assert triggers["schedule"] == [{"cron": "5 11 * * 0"}]  # Sunday 11:05 UTC
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["week"]["default"] == "latest"
    assert inputs["mode"]["type"] == "choice"
    assert inputs["mode"]["options"] == [mode.value for mode in WriteMode]
    assert inputs["mode"]["default"] == WriteMode.DRY_RUN.value


def test_every_variable_is_one_the_product_reads_and_secrets_come_from_secrets():
    job = _job(_workflow())
    products = {name.value for name in Env}
    assert set(job["env"]) <= products
    for name, text in job["env"].items():
        if name == Env.ENGAGEMENT_DUCKDB_PATH:
            continue  # the workflow's own cached folder (see the warehouse test)
        context = "secrets" if name in SECRETS else "vars"
        assert text == f"${{{{ {context}.{name} }}}}", name
    assert set(SECRETS) <= set(job["env"])


def test_the_warehouse_is_restored_before_the_run_and_saved_after_it_even_on_failure():
    job = _job(_workflow())
    folder = Path(job["env"][Env.ENGAGEMENT_DUCKDB_PATH].split("}}/", 1)[1]).parent
    uses = [s.get("uses", "") for s in job["steps"]]
    restore = job["steps"][uses.index("actions/cache/restore@v4")]
    save = job["steps"][uses.index("actions/cache/save@v4")]
    run = job["steps"].index(_run_step(job))
    assert uses.index("actions/cache/restore@v4") < run < uses.index("actions/cache/save@v4")
    assert restore["with"]["path"] == save["with"]["path"] == str(folder)
    assert save["if"] == "always()"
    # Every run saves under a new key; the next run restores the newest by the shared prefix.
    assert save["with"]["key"].startswith(restore["with"]["restore-keys"])


def test_a_scheduled_run_ranks_the_latest_week_in_the_repositorys_mode():
    github = {"workspace": "/w"}
    scheduled = _step_env({"inputs": {}, "vars": {}, "secrets": {}, "github": github})
    assert (scheduled["WEEK"], scheduled["MODE"]) == ("latest", WriteMode.DRY_RUN.value)
    configured = _step_env(
        {"inputs": {}, "vars": {"ENGAGEMENT_WRITE_MODE": "full"}, "secrets": {}, "github": github}
    )
    assert configured["MODE"] == "full"
    manual = _step_env(
        {
            "inputs": {"week": "2026-11-15", "mode": "allowlist"},
            "vars": {},
            "secrets": {},
            "github": github,
        }
    )
    assert (manual["WEEK"], manual["MODE"]) == ("2026-11-15", "allowlist")


def test_the_report_the_run_step_writes_is_uploaded_even_after_a_failure():
    job = _job(_workflow())
    report = re.search(r"--report (\S+)", _run_step(job)["run"]).group(1)
    (upload,) = [
        s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")
    ]
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == report
    assert job["timeout-minutes"] > 0


def _install_console_script(bin_dir: Path) -> None:
    """What `pip install .` puts on PATH: the [project.scripts] entry, run by this Python."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    name = COMMAND.split()[0]
    module, function = scripts[name].split(":")
    launcher = bin_dir / name
    launcher.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -c '
        f'"import sys; from {module} import {function}; sys.exit({function}())" "$@"\n'
    )
    launcher.chmod(0o755)


def test_the_run_step_ranks_a_week_against_the_sandbox(tmp_path):
    job = _job(_workflow())
    step = _run_step(job)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _install_console_script(bin_dir)
    workspace = tmp_path / "workspace"
    (workspace / ".engagement").mkdir(parents=True)  # the workflow's "Prepare" step
    with Sandbox(SandboxConfig(companies=40)) as sandbox:
        contexts = {
            "github": {"workspace": str(workspace)},
            "inputs": {"week": "latest", "mode": WriteMode.FULL.value},
            "secrets": {name: sandbox.env[name] for name in SECRETS if name in sandbox.env},
            "vars": {k: v for k, v in sandbox.env.items() if k in job["env"] and k not in SECRETS},
        }
        env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "PYTHONPATH": str(REPO),
            **_step_env(contexts),
        }
        result = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        writes = sandbox.control.writes()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((workspace / "engagement-report.json").read_text())
    assert report["status"] == "success"
    assert report["mode"] == WriteMode.FULL.value
    assert report["ranked"]
    written = {w["company_id"] for w in report["writes"] if w["outcome"] == "written"}
    assert written == {w["company_id"] for w in writes}
    assert written and written == {row["company_id"] for row in report["ranked"]}
