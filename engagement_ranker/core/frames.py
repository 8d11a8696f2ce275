"""The one check every core function makes of the frame it is given: its columns are there."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Refuse a frame lacking any of `columns`, naming `what`, the missing ones and what it has,
    so a wrong frame fails at the layer boundary rather than as a KeyError deep inside."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} lacks column(s) {', '.join(missing)}; it has "
            f"{', '.join(map(str, frame.columns)) or 'none'}"
        )
