"""deploy/ says one thing everywhere: the compose file is valid, and the image, the systemd
units and the instance config agree with the commands and variables the production test runs
(test_on_postgres starts the compose file's own commands). No Docker engine runs here, so
this is as far as the image and the compose file can be checked."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path, PurePosixPath

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from engagement_ranker.constants import Env
from engagement_ranker_tests.e2e.stack import REPO_ROOT, location_name
from engagement_ranker_tests.e2e.stack import WORKSPACE as DEV_WORKSPACE
from engagement_ranker_tests.production.deployment import (
    COMPOSE,
    DATABASE,
    INSTANCE_CONFIG,
    PRODUCT_ENV_EXAMPLE,
    SYSTEMD,
    WORKSPACE,
    compose,
    dockerfile,
    env_file_names,
    image_environment,
    services,
)

CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
# A dead proxy: any attempt of check-jsonschema to fetch a schema over the network fails.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
DEV_INSTANCE_CONFIG = REPO_ROOT / "dagster.yaml"
# What production adds to the repo's instance config; the rest must stay the same.
PRODUCTION_ONLY = frozenset({"storage", "compute_logs"})
CODE_SERVER = "code-server"
UNIT_PREFIX = "engagement-ranker-"
INSTALLED_CONFIG = PurePosixPath("/etc/engagement-ranker")


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _option(command: tuple[str, ...], name: str) -> str:
    return command[command.index(name) + 1]


def _in_repo(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def _environment(service: str) -> dict[str, str]:
    return compose()["services"][service].get("environment", {})


def test_the_compose_file_is_valid_compose() -> None:
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        env=OFFLINE,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_production_instance_is_the_repos_instance_on_postgres() -> None:
    production = yaml.safe_load(INSTANCE_CONFIG.read_text())
    development = yaml.safe_load(DEV_INSTANCE_CONFIG.read_text())
    assert "postgres" in production["storage"]
    assert "storage" not in development  # demo and dev stay on SQLite
    shared = {key: value for key, value in production.items() if key not in PRODUCTION_ONLY}
    assert shared == development  # the run queue's limits above all


def test_the_code_server_serves_the_code_location_the_workspaces_name() -> None:
    command = services()[CODE_SERVER].command
    dagster = _pyproject()["tool"]["dagster"]
    assert _option(command, "--module-name") == dagster["module_name"]
    assert (
        _option(command, "--location-name")
        == dagster["code_location_name"]
        == location_name(WORKSPACE)
        == location_name(DEV_WORKSPACE)
    )


def test_the_compose_database_is_the_one_dagster_is_pointed_at() -> None:
    database = _environment(DATABASE)
    for service in services():
        env = _environment(service)
        assert env["DAGSTER_POSTGRES_HOST"] == DATABASE, service
        assert env["DAGSTER_POSTGRES_USER"] == database["POSTGRES_USER"], service
        assert env["DAGSTER_POSTGRES_DB"] == database["POSTGRES_DB"], service
        assert env["DAGSTER_POSTGRES_PASSWORD"] == database["POSTGRES_PASSWORD"], service


def test_the_image_holds_what_the_commands_and_the_instance_need() -> None:
    instructions = dockerfile()
    (workdir,) = (PurePosixPath(a) for i, a in instructions if i == "WORKDIR")
    copies = dict(arguments.split() for i, arguments in instructions if i == "COPY")
    home = PurePosixPath(image_environment()["DAGSTER_HOME"])
    assert workdir / copies[_in_repo(INSTANCE_CONFIG)] == home / "dagster.yaml"
    for name, service in services().items():
        if "--workspace" in service.command:
            workspace = _option(service.command, "--workspace")
            assert REPO_ROOT / workspace == WORKSPACE, name
            assert workdir / copies[_in_repo(WORKSPACE)] == workdir / workspace, name

    (base,) = (a for i, a in instructions if i == "FROM")
    python = re.fullmatch(r"python:(\d+\.\d+)-.*", base)
    assert python and python[1] in SpecifierSet(_pyproject()["project"]["requires-python"])

    (exposed,) = (set(a.split()) for i, a in instructions if i == "EXPOSE")
    assert exposed == {
        _environment("webserver")["DAGSTER_WEBSERVER_PORT"],
        _environment(CODE_SERVER)["DAGSTER_CODE_SERVER_PORT"],
    }
    (published,) = compose()["services"]["webserver"]["ports"]
    assert published.rsplit(":", 1)[1] == _environment("webserver")["DAGSTER_WEBSERVER_PORT"]


def test_every_dagster_process_keeps_its_files_on_the_shared_volume() -> None:
    runs = " ".join(a for i, a in dockerfile() if i == "RUN")
    for name in services():
        spec = compose()["services"][name]
        (volume,) = spec["volumes"]
        mount = PurePosixPath(volume.split(":")[1])
        assert str(mount) in runs  # created, and owned by the image's user, in the image
        for variable in ("ENGAGEMENT_DUCKDB_PATH", "DAGSTER_COMPUTE_LOGS_DIR"):
            if variable in spec["environment"]:
                assert mount in PurePosixPath(spec["environment"][variable]).parents, name


def test_the_env_file_example_documents_every_product_setting() -> None:
    documented = env_file_names(PRODUCT_ENV_EXAMPLE) | set(_environment(CODE_SERVER))
    assert {str(variable) for variable in Env} <= documented


def _unit(path: Path) -> dict[str, list[str]]:
    """A systemd unit's settings, every value of a repeated key kept."""
    settings: dict[str, list[str]] = defaultdict(list)
    for line in path.read_text().splitlines():
        key, equals, value = line.partition("=")
        if equals and not line.startswith(("#", "[")):
            settings[key.strip()].append(value.strip())
    return settings


def _unit_variables(unit: dict[str, list[str]]) -> set[str]:
    names = {value.split("=", 1)[0] for value in unit["Environment"]}
    for installed in map(PurePosixPath, unit["EnvironmentFile"]):
        assert installed.parent == INSTALLED_CONFIG, installed
        example = SYSTEMD / installed.name
        names |= env_file_names(example if example.exists() else PRODUCT_ENV_EXAMPLE)
    return names


@pytest.mark.parametrize("name", list(services()))
def test_each_systemd_unit_runs_its_compose_service_command_with_its_variables(
    name: str,
) -> None:
    service = services()[name]
    unit = _unit(SYSTEMD / f"{UNIT_PREFIX}{name}.service")
    (start,) = unit["ExecStart"]
    program, *arguments = shlex.split(start)
    (working_directory,) = unit["WorkingDirectory"]
    assert (PurePosixPath(program).name, *arguments) == service.command
    assert PurePosixPath(program).is_relative_to(working_directory)  # its own virtualenv
    assert _unit_variables(unit) >= service.variables
    product_file = INSTALLED_CONFIG / PRODUCT_ENV_EXAMPLE.name.removesuffix(".example")
    assert (str(product_file) in unit["EnvironmentFile"]) == service.product_settings
    # Started after what compose starts it after, and, like compose, only once it serves.
    after = set(" ".join(unit["After"]).split())
    needs = set(compose()["services"][name].get("depends_on", {})) - {DATABASE}
    assert {f"{UNIT_PREFIX}{dependency}.service" for dependency in needs} <= after
    if service.healthcheck is not None:
        (post,) = unit["ExecStartPost"]
        assert service.healthcheck.replace("dagster", program, 1) in post
