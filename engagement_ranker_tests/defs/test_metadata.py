"""The metadata tables of the asset pages: floats as a person reads them, anomalies by the
names the summary gives their kinds."""

from __future__ import annotations

import pandas as pd

from engagement_ranker.core.anomalies import Anomaly, AnomalyKind
from engagement_ranker.core.render import ANOMALY_LABELS
from engagement_ranker.defs.metadata import anomalies_table, markdown_table


def test_floats_show_one_decimal_and_missing_values_stay_empty() -> None:
    frame = pd.DataFrame(
        {
            "company_id": ["1", "2"],
            "percentile_delta": pd.array([0.7194244604316538, None], dtype="Float64"),
            "delta": pd.array([3, None], dtype="Int64"),
        }
    )
    assert markdown_table(frame).splitlines()[2:] == ["| 1 | 0.7 | 3 |", "| 2 |  |  |"]


def test_anomalies_are_a_table_of_kind_company_and_message() -> None:
    anomalies = [
        Anomaly(AnomalyKind.DUPLICATE_CLAIM, "lost tenant 7 to 12", company_id="40"),
        Anomaly(AnomalyKind.API_WARNING, "Yobi: retried | twice"),
    ]
    lines = anomalies_table(anomalies).splitlines()
    assert lines[0] == "| kind | company | message |"
    assert (
        lines[2] == f"| {ANOMALY_LABELS[AnomalyKind.DUPLICATE_CLAIM]} | 40 | lost tenant 7 to 12 |"
    )
    assert lines[3] == "| API warnings and retries |  | Yobi: retried \\| twice |"
