"""The embedded warehouse's IO manager: DuckDB tables, one per asset, every week kept."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import duckdb
import pandas as pd
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler


class _EmptyWeekTypeHandler(DuckDBPandasTypeHandler):
    """Stores an empty week as an empty table: the library skips empty frames without creating
    the table, so a first week with nothing in it failed its checks with "table does not
    exist" instead of saying what is empty."""

    def handle_output(
        self,
        context: dg.OutputContext,
        table_slice: TableSlice,
        obj: pd.DataFrame,
        connection: duckdb.DuckDBPyConnection,
    ) -> None:
        if obj.empty:  # DuckDB reads `obj` from this frame's local variables
            connection.execute(
                f"create table if not exists {table_slice.schema}.{table_slice.table} "
                "as select * from obj"
            )
        super().handle_output(context, table_slice, obj, connection)


class WarehouseIOManager(DuckDBPandasIOManager):
    """DuckDB's pandas IO manager, empty weeks included."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [_EmptyWeekTypeHandler()]
