"""The warehouse keeps every week when an asset's table gains a column (a new release stores a
new figure), and hands the weeks before a week back by asset key."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource
from dagster_duckdb_pandas import DuckDBPandasTypeHandler

from engagement_ranker.defs.partitions import weekly_partitions
from engagement_ranker.defs.warehouse import SCHEMA, WarehouseIOManager, weeks_before

KEY = dg.AssetKey("figures")
WEEK = "2026-11-01"


def _store(database: str, week: str, frame: pd.DataFrame) -> None:
    @dg.asset(
        key=KEY,
        partitions_def=weekly_partitions,
        io_manager_key="warehouse_io",
        metadata={"partition_expr": "CAST(week AS TIMESTAMP)"},
    )
    def figures() -> pd.DataFrame:
        return frame.assign(week=week)

    io = WarehouseIOManager(database=database, schema=SCHEMA)
    with dg.instance_for_test() as instance:
        stored = dg.materialize(
            [figures], partition_key=week, resources={"warehouse_io": io}, instance=instance
        )
    assert stored.success


def test_a_table_that_gains_columns_keeps_its_earlier_weeks(tmp_path: Path) -> None:
    database = str(tmp_path / "w.duckdb")
    _store(database, "2026-11-01", pd.DataFrame({"company_id": ["1"], "rank": [2]}))
    # The next release stores a list column too, placed before an old one.
    later = pd.DataFrame({"company_id": ["1"], "calls_by_day": [[1, 2, 3]], "rank": [1]})
    _store(database, "2026-11-08", later)
    _store(database, "2026-11-15", later.assign(rank=3))

    warehouse = DuckDBResource(database=database)
    with warehouse.get_connection() as connection:
        rows = connection.execute(
            f"select week, rank, calls_by_day from {SCHEMA}.figures order by week"
        ).fetchall()
    assert rows == [
        ("2026-11-01", 2, None),
        ("2026-11-08", 1, [1, 2, 3]),
        ("2026-11-15", 3, [1, 2, 3]),
    ]
    past = weeks_before(warehouse, KEY, "2026-11-15", 2, ["company_id", "rank"])
    assert past.to_dict("records") == [
        {"week": "2026-11-01", "company_id": "1", "rank": 2},
        {"week": "2026-11-08", "company_id": "1", "rank": 1},
    ]
    assert weeks_before(warehouse, dg.AssetKey("never"), "2026-11-15", 2, ["rank"]).empty


def test_a_run_reads_each_stored_week_once_and_hands_each_step_its_own_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every step that loads a week (downstream assets, each check) once opened DuckDB anew for
    it; a run now reads the week once, and a step that changes its frame changes no other's."""
    reads: list[str] = []
    library_read = DuckDBPandasTypeHandler.load_input

    def counted(self: DuckDBPandasTypeHandler, context, table_slice, connection):  # type: ignore[no-untyped-def]
        reads.append(table_slice.table)
        return library_read(self, context, table_slice, connection)

    monkeypatch.setattr(DuckDBPandasTypeHandler, "load_input", counted)
    stored = pd.DataFrame({"company_id": ["1", "2"], "rank": [1, 2]})
    common = {"partitions_def": weekly_partitions, "io_manager_key": "warehouse_io"}

    @dg.asset(key=KEY, metadata={"partition_expr": "CAST(week AS TIMESTAMP)"}, **common)
    def figures() -> pd.DataFrame:
        return stored.assign(week=WEEK)

    @dg.asset(**common, metadata={"partition_expr": "CAST(week AS TIMESTAMP)"})
    def changes_its_copy(figures: pd.DataFrame) -> pd.DataFrame:
        figures["rank"] = 0
        figures.drop(index=figures.index, inplace=True)
        return pd.DataFrame({"week": [WEEK]})

    @dg.asset(**common, deps=[changes_its_copy], metadata={"partition_expr": "week"})
    def reads_after(figures: pd.DataFrame) -> pd.DataFrame:
        assert figures[["company_id", "rank"]].equals(stored), figures
        return pd.DataFrame({"week": [WEEK]})

    @dg.asset_check(asset=KEY, partitions_def=weekly_partitions)
    def checks_it(figures: pd.DataFrame) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=figures[["company_id", "rank"]].equals(stored))

    io = WarehouseIOManager(database=str(tmp_path / "w.duckdb"), schema=SCHEMA)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [figures, changes_its_copy, reads_after, checks_it],
            partition_key=WEEK,
            resources={"warehouse_io": io},
            instance=instance,
        )

    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert reads.count(KEY.path[-1]) == 1, reads
