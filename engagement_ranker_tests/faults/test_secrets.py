"""Every secret pasted into every URL or host variable, in turn: the run stops at its start,
says which variable holds a secret, and no sink holds the secret (stdout and stderr, the
report and alert, the event log, DAGSTER_HOME, the warehouse, Slack's and SMTP's messages)."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from engagement_ranker.constants import Env
from engagement_ranker_tests.faults.canaries import leaks
from engagement_ranker_tests.faults.trial import Trial

SECRETS = (Env.HUBSPOT_ACCESS_TOKEN, Env.YOBI_PASSWORD, Env.SLACK_WEBHOOK_URL, Env.SMTP_PASSWORD)
CARRIERS = (
    Env.HUBSPOT_BASE_URL,
    Env.YOBI_BASE_URL,
    Env.DAGSTER_UI_URL,
    Env.SMTP_HOST,
    Env.SMTP_FROM,
)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_a_secret_in_any_url_or_host_variable_is_refused_and_never_shown(
    tmp_path: Path, carrier: Env, capfd: pytest.CaptureFixture[str]
) -> None:
    for secret in SECRETS:
        with mock.patch.dict(os.environ), Trial(tmp_path / secret.lower()) as trial:
            trial.set_env(carrier, os.environ[secret])
            trial.run()
            observation = trial.observe()
        alert = observation.report["alert"]
        assert alert["step"] == "settings", (secret, alert)
        assert f"{carrier} (value hidden) holds the value of {secret}" in " ".join(
            alert["error"].split()
        )
        assert observation.leaks == [], (secret, observation.leaks)
        assert observation.writes == []
        out, err = capfd.readouterr()
        assert leaks("stdout", out) + leaks("stderr", err) == [], secret
