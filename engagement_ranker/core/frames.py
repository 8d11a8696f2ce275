"""What every core function relies on in a frame it is given: its columns, and its cells."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol, TypeAlias

import pandas as pd

# One value read from a frame. pandas types a cell as Any (by label) or as a union of every
# scalar (through itertuples), though each column holds one dtype: a function that reads a cell
# takes a Cell and relies on its column's dtype (None, NA and NaN included).
Cell: TypeAlias = Any


class Row(Protocol):
    """One row of `rows`: its cells by column name."""

    def __getattr__(self, column: str) -> Cell: ...


def rows(frame: pd.DataFrame) -> Iterator[Row]:
    """The frame's rows as `frame.itertuples(index=False)` gives them, each cell a Cell."""
    return frame.itertuples(index=False)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Refuse a frame lacking any of `columns`, naming `what`, the missing ones and what it has,
    so a wrong frame fails at the layer boundary rather than as a KeyError deep inside."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} lacks column(s) {', '.join(missing)}; it has "
            f"{', '.join(map(str, frame.columns)) or 'none'}"
        )
