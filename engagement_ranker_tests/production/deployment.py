"""The production packaging in deploy/, read as data: which processes run, in which order,
with which command and which variables.

The production stack starts exactly these commands; test_packaging checks that the Dockerfile
and the systemd units say the same thing.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from engagement_ranker_tests.e2e.stack import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
INSTANCE_CONFIG = DEPLOY / "dagster.yaml"
WORKSPACE = DEPLOY / "workspace.yaml"
PRODUCT_ENV_EXAMPLE = DEPLOY / "engagement-ranker.env.example"
SYSTEMD = DEPLOY / "systemd"
# The compose service the test's own PostgreSQL server stands in for.
DATABASE = "postgres"
# depends_on conditions: run to completion first, or be serving first.
COMPLETED = "service_completed_successfully"
HEALTHY = "service_healthy"
_ENV_LINE = re.compile(r"^#?\s*(?P<name>[A-Z][A-Z0-9_]*)=", re.M)


@dataclass(frozen=True)
class Service:
    """One Dagster process of the compose file, as the image runs it."""

    name: str
    command: tuple[str, ...]
    variables: frozenset[str]  # set for it by the compose file and the image
    product_settings: bool  # it reads the product's settings (the env file)
    healthcheck: str | None  # a shell command that exits 0 once it serves
    completes: bool  # a one-off that must finish before its dependents start


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = (line.strip() for line in text.splitlines())
    return [
        (instruction.upper(), arguments.strip())
        for instruction, _, arguments in (
            line.partition(" ") for line in lines if line and not line.startswith("#")
        )
    ]


def image_environment() -> dict[str, str]:
    """The image's `ENV NAME=value` settings."""
    return dict(
        argument.split("=", 1)
        for instruction, arguments in dockerfile()
        if instruction == "ENV"
        for argument in shlex.split(arguments)
    )


def env_file_names(path: Path) -> frozenset[str]:
    """The variables an env file sets or documents (`NAME=` or `# NAME=`)."""
    return frozenset(_ENV_LINE.findall(path.read_text()))


def _healthcheck(service: dict[str, Any]) -> str | None:
    test = service.get("healthcheck", {}).get("test")
    if test is None:
        return None
    kind, *command = test
    if kind != "CMD-SHELL":
        raise AssertionError(f"{COMPOSE}: a healthcheck {test} is not CMD-SHELL; use that form")
    (shell,) = command
    return shell.replace("$$", "$")  # compose's escape for a literal `$`


def _dependents(services: dict[str, Any], name: str) -> set[str]:
    """The conditions the other services wait on `name` for."""
    return {
        conditions[name]["condition"]
        for conditions in (s.get("depends_on", {}) for s in services.values())
        if name in conditions
    }


def services() -> dict[str, Service]:
    """The Dagster processes (every service built from deploy/Dockerfile), in start order."""
    declared = compose()["services"]
    image = frozenset(image_environment())
    built = {name: spec for name, spec in declared.items() if "build" in spec}
    found = {
        name: Service(
            name=name,
            command=tuple(spec["command"]),
            variables=frozenset(spec.get("environment", {})) | image,
            product_settings="env_file" in spec,
            healthcheck=_healthcheck(spec),
            completes=COMPLETED in _dependents(declared, name),
        )
        for name, spec in built.items()
    }
    return {name: found[name] for name in _start_order(built)}


def _start_order(built: dict[str, Any]) -> Iterator[str]:
    """Each service after the ones it depends on (compose's order), ties in file order."""
    started: set[str] = set()
    while len(started) < len(built):
        ready = [
            name
            for name, spec in built.items()
            if name not in started and set(spec.get("depends_on", {})) - {DATABASE} <= started
        ]
        if not ready:
            raise AssertionError(f"{COMPOSE}: depends_on has a cycle among {set(built) - started}")
        started.update(ready)
        yield from ready


def database_major_version() -> str:
    """The PostgreSQL major version the compose file runs (`postgres:15-bookworm` -> 15)."""
    image = compose()["services"][DATABASE]["image"]
    match = re.fullmatch(r"postgres:(?P<major>\d+)(?:[.-].*)?", image)
    if match is None:
        raise AssertionError(f"{COMPOSE}: {DATABASE} runs {image!r}, not postgres:<major>...")
    return match["major"]
