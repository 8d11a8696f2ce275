"""One typed list of everything a run should tell a human about, rendered by every output.

Each layer appends what it saw (identity gaps, odd activity, property problems, client
retries); the summary and the Dagster metadata render the same list, so nothing is reported in
one place and lost in another. The frame round-trip lets the list be stored as an asset output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from enum import StrEnum

import pandas as pd

from engagement_ranker.core.frames import Cell


class AnomalyKind(StrEnum):
    """What went wrong or looks odd; the value is the stable name stored and rendered."""

    UNMAPPED = "unmapped"
    AMBIGUOUS = "ambiguous"
    LOW_CONFIDENCE = "low_confidence"
    DUPLICATE_CLAIM = "duplicate_claim"
    EXCLUDED = "excluded"
    MISSING_METRICS = "missing_metrics"
    ZERO_ACTIVITY = "zero_activity"
    LARGE_SWING = "large_swing"
    API_WARNING = "api_warning"
    NOT_WRITTEN = "not_written"
    # Data alarms (core/alarms.py): the week's data looks broken before anything ranks.
    COUNTER_ALL_ZERO = "counter_all_zero"
    COUNTER_SHIFT = "counter_shift"
    UNIVERSE_HALVED = "universe_halved"
    UNIVERSE_SHIFT = "universe_shift"
    MAPPED_SHARE_SHIFT = "mapped_share_shift"
    TENANT_JUMP = "tenant_jump"
    # An account manager HubSpot gives no e-mail address: their digest is not sent.
    OWNER_WITHOUT_EMAIL = "owner_without_email"


@dataclass(frozen=True)
class Anomaly:
    """One reportable finding; `message` is complete on its own, the rest is for filtering."""

    kind: AnomalyKind
    message: str
    company_id: str | None = None
    company_name: str | None = None
    tenant_id: int | None = None
    suggestions: tuple[str, ...] = ()


def company_label(name: str | None, company_id: str) -> str:
    """How a message names a company: "Smile Dental (5790939450)", or "(no name)" if blank."""
    return f"{name or '(no name)'} ({company_id})"


ANOMALY_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Anomaly))
# Suggestions are stored in one string cell; " ; " never occurs inside one suggestion.
SUGGESTION_SEPARATOR = " ; "


def anomalies_to_frame(anomalies: Iterable[Anomaly]) -> pd.DataFrame:
    """A table with one row per anomaly, in the given order, typed for storage."""
    rows = [astuple(a) for a in anomalies]
    frame = pd.DataFrame(rows, columns=list(ANOMALY_COLUMNS))
    frame["kind"] = frame["kind"].map(str).astype("string")
    for column in ("message", "company_id", "company_name"):
        frame[column] = frame[column].astype("string")
    frame["tenant_id"] = frame["tenant_id"].astype("Int64")
    frame["suggestions"] = frame["suggestions"].map(SUGGESTION_SEPARATOR.join).astype("string")
    return frame


def _optional(value: Cell) -> Cell | None:
    return None if value is None or value is pd.NA or pd.isna(value) else value


def anomalies_from_frame(frame: pd.DataFrame) -> list[Anomaly]:
    """Inverse of `anomalies_to_frame` (used when reading a stored week back)."""
    anomalies: list[Anomaly] = []
    for row in frame.itertuples(index=False):
        tenant_id = _optional(row.tenant_id)
        suggestions = _optional(row.suggestions)
        anomalies.append(
            Anomaly(
                kind=AnomalyKind(str(row.kind)),
                message=str(row.message),
                company_id=_optional(row.company_id),
                company_name=_optional(row.company_name),
                tenant_id=None if tenant_id is None else int(tenant_id),
                suggestions=tuple(suggestions.split(SUGGESTION_SEPARATOR)) if suggestions else (),
            )
        )
    return anomalies
