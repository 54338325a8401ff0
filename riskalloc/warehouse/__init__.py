"""Warehouse stage: DuckDB tables with a Parquet mirror; all SQL lives here."""

from __future__ import annotations

from riskalloc.warehouse.catalog import table_exists
from riskalloc.warehouse.connection import Warehouse, resolve_inside
from riskalloc.warehouse.mirror import sync_parquet, verify_parquet
from riskalloc.warehouse.reads import (
    last_dates,
    not_positive,
    query_readonly,
    read_table,
    table_fingerprint,
)
from riskalloc.warehouse.store import UpsertResult, drop_table, upsert
from riskalloc.warehouse.tables import TABLES, TableSpec, table_spec

__all__ = [
    "TABLES",
    "TableSpec",
    "UpsertResult",
    "Warehouse",
    "drop_table",
    "last_dates",
    "not_positive",
    "query_readonly",
    "read_table",
    "resolve_inside",
    "sync_parquet",
    "table_exists",
    "table_fingerprint",
    "table_spec",
    "upsert",
    "verify_parquet",
]
