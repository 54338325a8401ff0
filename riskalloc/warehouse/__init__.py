"""Warehouse stage: DuckDB tables with a Parquet mirror; all SQL lives here."""

from __future__ import annotations

from riskalloc.warehouse.store import (
    UpsertResult,
    Warehouse,
    last_dates,
    read_table,
    resolve_inside,
    sync_parquet,
    table_exists,
    table_fingerprint,
    upsert,
)
from riskalloc.warehouse.tables import TABLES, TableSpec, table_spec

__all__ = [
    "TABLES",
    "TableSpec",
    "UpsertResult",
    "Warehouse",
    "last_dates",
    "read_table",
    "resolve_inside",
    "sync_parquet",
    "table_exists",
    "table_fingerprint",
    "table_spec",
    "upsert",
]
