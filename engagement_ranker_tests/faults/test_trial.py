"""A fault row's trial runs the week in the instance `make` sets up for the product."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

from engagement_ranker_tests.bench.processes import DAGSTER_YAML
from engagement_ranker_tests.faults.trial import Trial


def test_a_trial_s_instance_is_configured_by_the_repo_s_dagster_yaml(tmp_path: Path) -> None:
    """As `make demo` links it: among others, no telemetry (whose log would be one more file
    for the leak search, and a few ms a step)."""
    with mock.patch.dict(os.environ), Trial(tmp_path) as trial:
        assert (trial.home / "dagster.yaml").resolve() == DAGSTER_YAML.resolve()
        assert not trial.instance.telemetry_enabled
