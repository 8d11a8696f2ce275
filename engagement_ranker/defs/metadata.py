"""Materialization metadata every asset shares: row count, a Markdown preview, the schema.

Every value shown comes from HubSpot or Yobi and is untrusted: each cell is escaped so a
company name cannot render a link, an image, a heading or break the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeAlias

import dagster as dg
import pandas as pd

from engagement_ranker.core.anomalies import Anomaly
from engagement_ranker.core.frames import Cell
from engagement_ranker.core.render import ANOMALY_LABELS, markdown_escape

# One metadata entry as Dagster takes it: a MetadataValue, or a table schema or plain value that
# it wraps in one (Dagster's own name for this union is not public).
MetadataEntry: TypeAlias = dg.MetadataValue | dg.TableSchema | str | int | float | None

PREVIEW_ROWS = 10
ANOMALIES_SHOWN = 20
FLOAT_DECIMALS = 1


def _cell(value: Cell) -> str:
    if isinstance(value, list | tuple):  # day-by-day counters: "3 4 0 2 5 1 0"
        return markdown_escape(" ".join(map(str, value)))
    if pd.isna(value):
        return ""
    # A float as a person reads it (percentile points, shares), not its 16 digits.
    text = f"{value:,.{FLOAT_DECIMALS}f}" if isinstance(value, float) else str(value)
    return markdown_escape(" ".join(text.split()))


def markdown_table(frame: pd.DataFrame) -> str:
    """A (small) frame as a Markdown table, every cell escaped and on one line."""
    if frame.empty:
        return "_no rows_"
    header = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def anomalies_table(anomalies: Iterable[Anomaly]) -> str:
    """The first anomalies as a table a person scans: what kind (as the summary names it),
    which company, what to do."""
    listed = list(anomalies)
    shown = pd.DataFrame(
        [
            {"kind": ANOMALY_LABELS[a.kind], "company": a.company_id or "", "message": a.message}
            for a in listed[:ANOMALIES_SHOWN]
        ],
        columns=["kind", "company", "message"],
    )
    more = len(listed) - ANOMALIES_SHOWN
    return markdown_table(shown) + (f"\n\n…and {more} more" if more > 0 else "")


def frame_metadata(
    frame: pd.DataFrame, extra: Mapping[str, MetadataEntry] | None = None
) -> dict[str, MetadataEntry]:
    """Row count, the first rows as Markdown and the column schema, plus any extra entries."""
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name=str(c), type=str(t)) for c, t in frame.dtypes.items()]
    )
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "dagster/column_schema": schema,
        "preview": dg.MetadataValue.md(markdown_table(frame.head(PREVIEW_ROWS))),
        **(extra or {}),
    }
