"""A fresh sandbox, environment and Dagster instance per test, and a helper to run a week."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from engagement_ranker.constants import Env
from engagement_ranker.definitions import build_definitions
from engagement_ranker.defs.partitions import latest_week_key
from engagement_ranker.sandbox.runner import Sandbox, SandboxConfig

COMPANIES = 40


@dataclass
class Harness:
    """One sandbox and one instance; `run` materializes a week the way the job does."""

    sandbox: Sandbox
    instance: dg.DagsterInstance
    monkeypatch: pytest.MonkeyPatch

    @property
    def control(self) -> Any:
        return self.sandbox.control

    def setenv(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)

    def run(
        self,
        week: str | None = None,
        *,
        mode: str | None = "full",
        allowlist: Sequence[str] | None = None,
        selection: str | Sequence[str] | dg.AssetSelection | None = None,
        write_historical_week: bool = False,
    ) -> dg.ExecuteInProcessResult:
        definitions = build_definitions()  # after setenv, so resources see the environment
        writeback: dict[str, Any] = {"write_historical_week": write_historical_week}
        if mode is not None:
            writeback["mode"] = mode
        if allowlist is not None:
            writeback["allowlist"] = list(allowlist)
        run_config: dict[str, Any] = {}
        if selection is None or (
            not isinstance(selection, dg.AssetSelection) and "hubspot_writeback" in selection
        ):
            run_config = {"ops": {"hubspot_writeback": {"config": writeback}}}
        return dg.materialize(
            [*definitions.assets, *definitions.asset_checks],
            partition_key=week or latest_week_key(),
            instance=self.instance,
            resources=definitions.resources,
            run_config=run_config,
            selection=selection,
            raise_on_error=False,
        )

    def ranked(self, week: str | None = None) -> Any:
        from dagster_duckdb import DuckDBResource

        from engagement_ranker.defs.keys import RANKED_SCORES
        from engagement_ranker.defs.resources import warehouse_path
        from engagement_ranker.defs.warehouse import stored_week

        return stored_week(
            DuckDBResource(database=warehouse_path()), RANKED_SCORES, week or latest_week_key()
        )


@pytest.fixture
def harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Harness]:
    """Parametrize indirectly with a company count for a bigger dataset (default COMPANIES),
    or with a whole SandboxConfig. Mark a test `on_disk` for an instance in DAGSTER_HOME
    that another command (the CLI) can open too."""
    for variable in Env:
        monkeypatch.delenv(variable.value, raising=False)
    monkeypatch.setenv(Env.ENGAGEMENT_DUCKDB_PATH, str(tmp_path / "warehouse.duckdb"))
    param = getattr(request, "param", COMPANIES)
    config = param if isinstance(param, SandboxConfig) else SandboxConfig(companies=param)
    with Sandbox(config) as box:
        for name, value in box.env.items():
            monkeypatch.setenv(name, value)
        if request.node.get_closest_marker("on_disk"):
            home = tmp_path / "dagster"
            home.mkdir()
            monkeypatch.setenv("DAGSTER_HOME", str(home))
            instance_context = dg.instance_for_test(temp_dir=str(home))
        else:
            # In memory: the same storage (SQLite) without a file to sync on every event.
            instance_context = dg.DagsterInstance.ephemeral()
        with instance_context as instance:
            yield Harness(box, instance, monkeypatch)


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """check name -> passed, for every check evaluated in the run."""
    return {
        evaluation.check_name: evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }
