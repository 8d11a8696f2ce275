"""The anomaly list survives storage as a table unchanged."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_ranker.core.anomalies import (
    ANOMALY_COLUMNS,
    Anomaly,
    AnomalyKind,
    anomalies_from_frame,
    anomalies_to_frame,
    company_label,
)

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_suggestion = _text.filter(lambda s: s and " ; " not in s and s == s.strip())

anomalies = st.builds(
    Anomaly,
    kind=st.sampled_from(AnomalyKind),
    message=_text,
    company_id=st.none() | st.integers(1, 10**12).map(str),
    company_name=st.none() | _text,
    tenant_id=st.none() | st.integers(1, 10**9),
    suggestions=st.lists(_suggestion, max_size=3).map(tuple),
)


@given(st.lists(anomalies, max_size=8))
def test_round_trip_through_a_frame(items):
    frame = anomalies_to_frame(items)
    assert tuple(frame.columns) == ANOMALY_COLUMNS
    assert len(frame) == len(items)
    assert anomalies_from_frame(frame) == items


def test_frame_is_typed_even_when_empty():
    frame = anomalies_to_frame([])
    assert str(frame["tenant_id"].dtype) == "Int64"
    assert str(frame["kind"].dtype) == "string"
    assert anomalies_from_frame(frame) == []


def test_frame_cells_are_plain_values():
    frame = anomalies_to_frame(
        [
            Anomaly(
                AnomalyKind.UNMAPPED,
                "Bright Smiles (123) has no tenant",
                company_id="123",
                company_name="Bright Smiles",
                suggestions=("7 Bright Smile Dental (91)", "9 Smiles Co (72)"),
            )
        ]
    )
    row = frame.iloc[0]
    assert row["kind"] == "unmapped"
    assert row["suggestions"] == "7 Bright Smile Dental (91) ; 9 Smiles Co (72)"
    assert row["tenant_id"] is pd.NA


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Smile Dental", "Smile Dental (57)"), (None, "(no name) (57)"), ("", "(no name) (57)")],
)
def test_company_label_names_the_company_and_its_id(name, expected):
    assert company_label(name, "57") == expected
