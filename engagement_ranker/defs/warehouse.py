"""The embedded warehouse: one DuckDB table per asset, every week kept, and each week's
anomalies stored beside the table they were found in.

An asset returns `Reported(table, anomalies)`. Downstream steps that want only the data ask
for a `pd.DataFrame`; the summary and the report ask for `Reported` and get the findings too,
so anomalies travel through the graph like any other output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler, TableSlice
from dagster_duckdb import DuckDBResource
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler

from engagement_ranker.core.anomalies import (
    ANOMALY_COLUMNS,
    Anomaly,
    anomalies_from_frame,
    anomalies_to_frame,
)
from engagement_ranker.core.week import parse_week_key

SCHEMA = "engagement"
ANOMALIES_TABLE = "anomalies"
_ANOMALY_TYPES = {
    "kind": "VARCHAR",
    "message": "VARCHAR",
    "company_id": "VARCHAR",
    "company_name": "VARCHAR",
    "tenant_id": "BIGINT",
    "suggestions": "VARCHAR",
}


@dataclass(frozen=True, eq=False)
class Reported:
    """One week of an asset: its table and what a person should look at in it."""

    table: pd.DataFrame
    anomalies: tuple[Anomaly, ...] = ()


def _columns(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """A stored table's columns in their order ([] when it does not exist)."""
    return [
        name
        for (name,) in connection.execute(
            "select column_name from information_schema.columns where table_schema = ? and "
            "table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def _conformed(
    connection: duckdb.DuckDBPyConnection, table_slice: TableSlice, frame: pd.DataFrame
) -> pd.DataFrame:
    """`frame` in the stored table's column order, after adding to the table the columns it
    lacks: an asset that gains a column keeps every week it stored before (their new column
    is null), and one that drops a column stores null there."""
    stored = _columns(connection, table_slice.schema, table_slice.table)
    if not stored or frame.empty:
        return frame
    relation = connection.sql("select * from frame")
    for name, kind in zip(relation.columns, relation.types, strict=True):
        if name not in stored:
            connection.execute(
                f'alter table {table_slice.schema}.{table_slice.table} add column "{name}" {kind}'
            )
            stored.append(name)
    return frame.reindex(columns=stored)


def _exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = connection.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


class _WeekTables(DuckDBPandasTypeHandler):
    """DuckDB's pandas handler, storing an empty week as an empty table (the library skips
    empty frames without creating the table, so a first week with nothing in it would fail
    its checks with "table does not exist" instead of saying what is empty), reading a week
    of a table never stored (the previous week of a first run) as no rows, and letting a
    table gain columns (the library inserts by position into the first week's schema)."""

    def load_input(
        self,
        context: dg.InputContext,
        table_slice: TableSlice,
        connection: duckdb.DuckDBPyConnection,
    ) -> pd.DataFrame:
        if not _exists(connection, table_slice.schema, table_slice.table):
            return pd.DataFrame()
        return super().load_input(context, table_slice, connection)

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
        super().handle_output(
            context, table_slice, _conformed(connection, table_slice, obj), connection
        )


def _anomalies_table(connection: duckdb.DuckDBPyConnection, schema: str) -> str:
    columns = ", ".join(f"{name} {kind}" for name, kind in _ANOMALY_TYPES.items())
    connection.execute(f"create schema if not exists {schema}")
    connection.execute(
        f"create table if not exists {schema}.{ANOMALIES_TABLE} "
        f"(week VARCHAR, asset VARCHAR, {columns})"
    )
    return f"{schema}.{ANOMALIES_TABLE}"


def _stored_anomalies(
    connection: duckdb.DuckDBPyConnection, schema: str, asset: dg.AssetKey, weeks: Sequence[str]
) -> tuple[Anomaly, ...]:
    stored = connection.execute(
        f"select {', '.join(ANOMALY_COLUMNS)} from {_anomalies_table(connection, schema)} "
        f"where asset = ? and week in ({', '.join('?' * len(weeks))}) order by week",
        [asset.to_user_string(), *weeks],
    ).fetchdf()
    return tuple(anomalies_from_frame(stored))


class _ReportedWeeks(DbTypeHandler[Reported]):
    """A `Reported` week: the table as DuckDB's handler stores it, the anomalies in one
    shared table keyed by week and asset."""

    def __init__(self) -> None:
        self._tables = _WeekTables()

    def handle_output(
        self,
        context: dg.OutputContext,
        table_slice: TableSlice,
        obj: Reported,
        connection: duckdb.DuckDBPyConnection,
    ) -> None:
        self._tables.handle_output(context, table_slice, obj.table, connection)
        table = _anomalies_table(connection, table_slice.schema)
        key = (context.partition_key, context.asset_key.to_user_string())
        found = anomalies_to_frame(obj.anomalies)  # noqa: F841 - DuckDB reads it by name
        connection.execute(f"delete from {table} where week = ? and asset = ?", list(key))
        connection.execute(
            f"insert into {table} select ?, ?, {', '.join(ANOMALY_COLUMNS)} from found", list(key)
        )

    def load_input(
        self,
        context: dg.InputContext,
        table_slice: TableSlice,
        connection: duckdb.DuckDBPyConnection,
    ) -> Reported:
        table = self._tables.load_input(context, table_slice, connection)
        weeks = list(context.asset_partition_keys)
        if not weeks:
            return Reported(table)
        return Reported(
            table, _stored_anomalies(connection, table_slice.schema, context.asset_key, weeks)
        )

    @property
    def supported_types(self) -> Sequence[type]:
        return [Reported]


def _copy(value: object) -> object:
    if isinstance(value, Reported):
        return Reported(value.table.copy(), value.anomalies)
    return value.copy() if isinstance(value, pd.DataFrame) else value


class _ReadOncePerRun(DbIOManager):
    """Reads each stored week from DuckDB once per run and hands every step its own copy.

    A week is loaded by each asset downstream of it and by each of its checks, and every load
    opened the database anew: DuckDB's start-up alone is ~12 ms, a third of a small run's CPU
    at forty loads. The copy cannot go stale: a run reads a week of its own assets only after
    writing it, and never writes the other weeks it reads (earlier weeks, source weeks)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._read: dict[tuple[str, object], object] = {}

    def load_input(self, context: dg.InputContext) -> object:
        upstream = context.upstream_output
        if upstream is None or not context.has_asset_key:
            return super().load_input(context)
        key = (repr(self._get_table_slice(context, upstream)), context.dagster_type.typing_type)
        if key not in self._read:
            self._read[key] = super().load_input(context)
        return _copy(self._read[key])


class WarehouseIOManager(DuckDBPandasIOManager):
    """DuckDB's pandas IO manager, for `Reported` weeks and plain frames alike."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [_ReportedWeeks(), _WeekTables()]

    def create_io_manager(self, context: dg.InitResourceContext) -> DbIOManager:
        return _ReadOncePerRun(
            db_client=DuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="DuckDBIOManager",
        )


def _week_rows(
    connection: duckdb.DuckDBPyConnection, asset: dg.AssetKey, week_key: str
) -> pd.DataFrame | None:
    """An asset's rows of one week; None when the asset's table was never created."""
    table = asset.to_user_string()
    if not _exists(connection, SCHEMA, table):
        return None
    return connection.execute(f"select * from {SCHEMA}.{table} where week = ?", [week_key]).df()


def stored_week(
    warehouse: DuckDBResource, asset: dg.AssetKey, week_key: str
) -> pd.DataFrame | None:
    """An asset's stored table for one week, or None when that week was never stored."""
    with warehouse.get_connection() as connection:
        frame = _week_rows(connection, asset, week_key)
    return None if frame is None or frame.empty else frame


def stored_reports(
    warehouse: DuckDBResource, assets: Sequence[dg.AssetKey], week_key: str
) -> dict[dg.AssetKey, Reported]:
    """Each of `assets`' stored week as the IO manager loads it (a week stored empty is an
    empty table), read in one connection: a Dagster value loader builds a throwaway instance
    per value, a tenth of a second each."""
    reports = {}
    with warehouse.get_connection() as connection:
        for asset in assets:
            frame = _week_rows(connection, asset, week_key)
            reports[asset] = Reported(
                pd.DataFrame() if frame is None else frame,
                _stored_anomalies(connection, SCHEMA, asset, [week_key]),
            )
    return reports


def stored_rows_before(warehouse: DuckDBResource, asset: dg.AssetKey, week_key: str) -> int | None:
    """How many rows the latest week stored before `week_key` holds; None if none is."""
    table = asset.to_user_string()
    with warehouse.get_connection() as connection:
        if not _exists(connection, SCHEMA, table):
            return None
        found = connection.execute(
            f"select count(*) from {SCHEMA}.{table} where week = "
            f"(select max(week) from {SCHEMA}.{table} where week < ?)",
            [week_key],
        ).fetchone()
    return int(found[0]) if found and found[0] else None


def weeks_before(
    warehouse: DuckDBResource,
    asset: dg.AssetKey,
    week_key: str,
    weeks: int,
    columns: Sequence[str],
) -> pd.DataFrame:
    """`columns` (and `week`) of an asset's table over the `weeks` weeks before `week_key`,
    those stored (no rows when none is): e.g. the movers' past ranks for the summary's picture."""
    keys = [parse_week_key(week_key).previous()]
    while len(keys) < weeks:
        keys.append(keys[-1].previous())
    table = asset.to_user_string()
    with warehouse.get_connection() as connection:
        if not _exists(connection, SCHEMA, table):
            return pd.DataFrame(columns=["week", *columns])
        return connection.execute(
            f"select week, {', '.join(columns)} from {SCHEMA}.{table} "
            f"where week in ({', '.join('?' * len(keys))}) order by week",
            [w.key for w in keys],
        ).df()
