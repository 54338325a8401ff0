"""Reading the warehouse: filtered table reads, fingerprints and the users' read-only SQL."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from riskalloc.errors import SchemaError, WarehouseError, WarehouseLockedError
from riskalloc.warehouse.catalog import table_columns, table_exists
from riskalloc.warehouse.tables import table_spec


def query_readonly(db_path: Path, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
    """Run a user's SQL on a read-only connection with no file or network access.

    Writes, ``COPY``, ``ATTACH`` and file readers are all refused by DuckDB itself.
    """
    if not Path(db_path).exists():
        raise WarehouseError(f"no warehouse at {db_path}; run `make run` first")
    try:
        con = duckdb.connect(str(db_path), read_only=True, config={"enable_external_access": False})
    except (duckdb.IOException, duckdb.ConnectionException) as exc:
        raise WarehouseLockedError(f"warehouse {db_path} is busy: {exc}") from exc
    try:
        return con.execute(sql, list(params)).df()
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {exc}") from exc
    finally:
        con.close()


def read_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    date_col: str = "date",
    where: dict[str, object | Sequence[object]] | None = None,
) -> pd.DataFrame:
    """Rows of ``name`` in ``[start, end]`` matching ``where`` (column = value or IN list)."""
    spec = table_spec(name)
    if not table_exists(con, spec.name):
        raise WarehouseError(f"table {spec.name!r} does not exist yet; materialise it first")
    cols = set(table_columns(con, spec.name))
    if (start is not None or end is not None) and date_col not in cols:
        raise SchemaError(f"table {spec.name!r} has no column {date_col!r}")
    clauses, params = [], []
    if start is not None:
        clauses.append(f'"{date_col}" >= ?')
        params.append(pd.Timestamp(start).date())
    if end is not None:
        clauses.append(f'"{date_col}" <= ?')
        params.append(pd.Timestamp(end).date())
    for col, val in (where or {}).items():
        if col not in cols:
            raise SchemaError(f"table {spec.name!r} has no column {col!r}")
        if isinstance(val, (list, tuple, set)):
            clauses.append(f'"{col}" IN (SELECT unnest(?))')
            params.append(list(val))
        else:
            clauses.append(f'"{col}" = ?')
            params.append(val)
    sql = f'SELECT * FROM "{spec.name}"'
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY " + ", ".join(f'"{k}"' for k in spec.key)
    df = con.execute(sql, params).df()
    for c in df.columns:
        if c in ("date", "available_at") or c.endswith("_date"):
            df[c] = pd.to_datetime(df[c])
    return df


def last_dates(con: duckdb.DuckDBPyConnection, name: str, key: str) -> dict[str, pd.Timestamp]:
    """Last stored date per ticker/series (for incremental downloads)."""
    spec = table_spec(name)
    if not table_exists(con, spec.name):
        return {}
    if key not in table_columns(con, spec.name):
        raise SchemaError(f"table {spec.name!r} has no column {key!r}")
    rows = con.execute(f'SELECT "{key}", max(date) FROM "{spec.name}" GROUP BY 1').fetchall()
    return {str(k): pd.Timestamp(d) for k, d in rows}


def table_fingerprint(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    """All rows of a table, sorted by its key (for before/after comparisons in tests)."""
    spec = table_spec(name)
    if not table_exists(con, spec.name):
        return []
    keys = ", ".join(f'"{k}"' for k in spec.key)
    return con.execute(f'SELECT * FROM "{spec.name}" ORDER BY {keys}').fetchall()
