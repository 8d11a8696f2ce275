"""Materialization metadata every asset shares: row count, a Markdown preview, the schema."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 10


def _markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_no rows_"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| " + " | ".join("" if pd.isna(v) else str(v).replace("|", "\\|") for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def frame_metadata(
    frame: pd.DataFrame, extra: Mapping[str, object] | None = None
) -> dict[str, object]:
    """Row count, the first rows as Markdown and the column schema, plus any extra entries."""
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name=str(c), type=str(t)) for c, t in frame.dtypes.items()]
    )
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "dagster/column_schema": schema,
        "preview": dg.MetadataValue.md(_markdown_table(frame.head(PREVIEW_ROWS))),
        **(extra or {}),
    }


def markdown_table(frame: pd.DataFrame) -> dg.MetadataValue:
    """A whole (small) frame as Markdown metadata."""
    return dg.MetadataValue.md(_markdown_table(frame))
