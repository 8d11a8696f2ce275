"""Starting the whole sandbox: the context manager, its environment, config errors, `serve`."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from engagement_ranker.cli import main, read_sandbox_env
from engagement_ranker.constants import Env
from engagement_ranker.sandbox import Sandbox, SandboxConfig
from engagement_ranker.sandbox.runner import SANDBOX_CONTROL_URL, export_lines
from engagement_ranker.sandbox.state import Credentials

TIMEOUT = 5.0
NOW = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
ENV_KEYS = {
    Env.HUBSPOT_BASE_URL,
    Env.HUBSPOT_ACCESS_TOKEN,
    Env.HUBSPOT_TIER,
    Env.YOBI_BASE_URL,
    Env.YOBI_EMAIL,
    Env.YOBI_PASSWORD,
    Env.SLACK_WEBHOOK_URL,
    Env.SMTP_HOST,
    Env.SMTP_PORT,
    Env.SMTP_FROM,
    Env.SMTP_STARTTLS,
    Env.SUMMARY_EMAIL_TO,
    Env.TENANT_MAPPING_OVERRIDES_JSON,
    SANDBOX_CONTROL_URL,
}
MakeSandbox = Callable[..., Sandbox]


def _yobi_login(env: dict[str, str]) -> int:
    body = {"user": env["YOBI_EMAIL"], "password": env["YOBI_PASSWORD"]}
    return httpx.post(f"{env['YOBI_BASE_URL']}/users/login", json=body, timeout=TIMEOUT).status_code


def _hubspot_status(env: dict[str, str], token: str) -> int:
    return httpx.get(
        f"{env['HUBSPOT_BASE_URL']}/crm/v3/properties/companies/name",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    ).status_code


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_env_points_at_four_live_servers(sandbox: Sandbox) -> None:
    env = sandbox.env
    assert set(env) == {str(key) for key in ENV_KEYS}
    assert all(type(key) is str for key in env)
    assert _hubspot_status(env, env["HUBSPOT_ACCESS_TOKEN"]) == 200
    assert _yobi_login(env) == 200
    assert httpx.post(env["SLACK_WEBHOOK_URL"], json={"text": "x"}, timeout=TIMEOUT).text == "ok"
    with socket.create_connection((env["SMTP_HOST"], int(env["SMTP_PORT"])), TIMEOUT) as smtp:
        assert smtp.recv(3) == b"220"
    assert env["TENANT_MAPPING_OVERRIDES_JSON"] == sandbox.state.dataset.overrides_json
    assert env[SANDBOX_CONTROL_URL] == env["HUBSPOT_BASE_URL"]


def test_credentials_are_overridable_and_only_they_work(make_sandbox: MakeSandbox) -> None:
    mine = Credentials(
        hubspot_token="pat-test-secret-token-123",
        yobi_email="me@practice.test",
        yobi_password="hunter2-test",
        slack_webhook_path="/services/T1/B1/secretpath",
    )
    box = make_sandbox(SandboxConfig(companies=10, credentials=mine))
    env = box.env
    assert env["HUBSPOT_ACCESS_TOKEN"] == mine.hubspot_token
    assert env["SLACK_WEBHOOK_URL"].endswith(mine.slack_webhook_path)
    assert _hubspot_status(env, mine.hubspot_token) == 200
    assert _hubspot_status(env, Credentials().hubspot_token) == 401
    assert _yobi_login(env) == 200
    assert _yobi_login({**env, "YOBI_PASSWORD": Credentials().yobi_password}) == 401


def test_explicit_ports_tier_and_clock(make_sandbox: MakeSandbox) -> None:
    ports = [_free_port() for _ in range(4)]
    box = make_sandbox(
        SandboxConfig(
            companies=10,
            hubspot_tier="pro",
            now=NOW,
            hubspot_port=ports[0],
            yobi_port=ports[1],
            slack_port=ports[2],
            smtp_port=ports[3],
        )
    )
    env = box.env
    assert env["HUBSPOT_BASE_URL"].endswith(f":{ports[0]}")
    assert env["YOBI_BASE_URL"].endswith(f":{ports[1]}")
    assert f":{ports[2]}/" in env["SLACK_WEBHOOK_URL"]
    assert env["SMTP_PORT"] == str(ports[3]) and env["HUBSPOT_TIER"] == "pro"
    first = box.state.clock()
    assert NOW <= first < NOW.replace(minute=1)
    deadline = time.monotonic() + 2
    while box.state.clock() == first:  # the sandbox clock ticks from `now`
        assert time.monotonic() < deadline


def test_start_latency_survives_reset(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(SandboxConfig(companies=10, latency_ms=150))
    box.control.reset()
    started = time.monotonic()
    assert _yobi_login(box.env) == 200
    assert time.monotonic() - started >= 0.15


def test_stop_releases_every_port(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(SandboxConfig(companies=10))
    env = box.env
    box.stop()
    for url in (env["HUBSPOT_BASE_URL"], env["YOBI_BASE_URL"], env["SLACK_WEBHOOK_URL"]):
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=TIMEOUT)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((env["SMTP_HOST"], int(env["SMTP_PORT"])), TIMEOUT)
    with pytest.raises(RuntimeError, match="not running"):
        _ = box.env
    box.stop()  # idempotent


def _refuses_connections(port: int) -> bool:
    """Whether nothing listens on the port, polled until a short deadline."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), TIMEOUT).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.01)
    return False


def test_a_busy_port_fails_the_start_and_stops_what_started() -> None:
    started = {"hubspot_port": _free_port(), "yobi_port": _free_port()}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        box = Sandbox(SandboxConfig(companies=10, slack_port=busy.getsockname()[1], **started))
        with pytest.raises(OSError):
            box.start()
    assert box.hubspot is None and box.yobi is None
    for name, port in started.items():
        assert _refuses_connections(port), f"{name} {port} still accepts connections"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"hubspot_tier": "gold"}, "hubspot_tier is 'gold'; use one of ['free', 'pro']"),
        ({"latency_ms": -5}, "latency_ms is -5"),
        ({"companies": 0}, "companies is 0; use 1 to 20000"),
        ({"yobi_port": 70_000}, "yobi_port is 70000"),
        ({"now": datetime(2026, 11, 22)}, "give a UTC offset"),
        ({"faults": {"yobi": {"nope": 1}}}, "faults.yobi has unknown key(s) ['nope']"),
    ],
)
def test_bad_config_is_refused_before_anything_starts(changes: dict, fragment: str) -> None:
    with pytest.raises(ValueError) as error:
        Sandbox(SandboxConfig(**changes))
    assert fragment in str(error.value)


def test_export_lines_round_trip_through_a_shell_parser() -> None:
    env = {"A": 'value with "quotes" and $dollars', "B": '{"1": 2}', "C": ""}
    lines = export_lines(env)
    parsed = {}
    for line in lines:
        assert line.startswith("export ")
        key, _, value = line.removeprefix("export ").partition("=")
        parsed[key] = shlex.split(value)[0]
    assert parsed == env


def test_module_cli_rejects_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, fragment in (
        (["--hubspot-tier", "gold"], "'gold' is not one of 'free', 'pro'"),
        (["--now", "2026-11-22T06:00"], "has no UTC offset"),
        (["--companies", "0"], "companies is 0"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["sandbox", *argv])
        assert exit_.value.code == 2
        assert fragment in capsys.readouterr().err


def test_serve_prints_the_environment_serves_and_stops_on_sigterm() -> None:
    """Run as a user would, with SIGTERM inherited as ignored (as on this machine)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engagement_ranker.sandbox",
            "--companies",
            "20",
            "--now",
            "2026-11-22T06:00:00-05:00",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        env = read_sandbox_env(process)  # the parser `engagement-ranker dev` uses
        assert set(env) == {str(key) for key in ENV_KEYS}
        assert _yobi_login(env) == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_a_sparse_sandbox_names_its_contract_file_while_it_runs(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox(SandboxConfig(companies=5, yobi_sparse=True))
    env = box.env
    assert set(env) == {str(key) for key in ENV_KEYS | {Env.YOBI_CONTRACT_FILE}}
    path = env[Env.YOBI_CONTRACT_FILE]
    assert os.path.isfile(path)
    box.stop()
    assert not os.path.exists(path)
