"""The Parquet mirror of the warehouse: staged partition writes, full rewrites, verification.

Partitions are written to temp files inside the DuckDB transaction and published (renamed)
only after the commit; see :func:`riskalloc.warehouse.store.upsert`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa

from riskalloc.warehouse import parquet
from riskalloc.warehouse.catalog import table_exists
from riskalloc.warehouse.tables import TableSpec, table_spec

if TYPE_CHECKING:
    from riskalloc.warehouse.store import Warehouse


def _arrow(result: duckdb.DuckDBPyConnection) -> pa.Table:
    """Arrow table of a result (``to_arrow_table`` in DuckDB 2, ``fetch_arrow_table`` before)."""
    fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # DuckDB 2 notes an extra copy
        return fetch()


def _years(frame: pd.DataFrame, col: str) -> list[int]:
    return sorted({int(y) for y in pd.to_datetime(frame[col]).dt.year.unique()})


def stage_partitions(
    wh: Warehouse, con: duckdb.DuckDBPyConnection, spec: TableSpec, frame: pd.DataFrame
) -> list[parquet.StagedFile]:
    """Write the touched partitions of ``spec`` (as seen inside the transaction)."""
    staged: list[parquet.StagedFile] = []
    try:
        if spec.partition_by_year is None:
            data = _arrow(con.execute(f'SELECT * FROM "{spec.name}"'))
            staged.append(
                parquet.stage_table(data, parquet.partition_path(wh.parquet_dir, spec.name, None))
            )
            return staged
        col = spec.partition_by_year
        for year in _years(frame, col):
            data = _arrow(
                con.execute(
                    f'SELECT * FROM "{spec.name}" WHERE year("{col}") = ? '
                    f"ORDER BY {', '.join(f'{chr(34)}{k}{chr(34)}' for k in spec.key)}",
                    [year],
                )
            )
            staged.append(
                parquet.stage_table(data, parquet.partition_path(wh.parquet_dir, spec.name, year))
            )
    except BaseException:
        parquet.discard(staged)
        raise
    return staged


def sync_parquet(wh: Warehouse, con: duckdb.DuckDBPyConnection, name: str) -> int:
    """Rewrite the whole Parquet mirror of ``name`` from DuckDB; returns files written.

    Repairs a mirror left stale by a crash between commit and publish.
    """
    spec = table_spec(name)
    if not table_exists(con, spec.name):
        return 0
    frame = con.execute(f'SELECT * FROM "{spec.name}"').df()
    if frame.empty:
        return 0
    staged = stage_partitions(wh, con, spec, frame)
    parquet.publish(staged)
    return len(staged)


def verify_parquet(wh: Warehouse, con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """Problems with the Parquet mirror of ``name``: unreadable files or row-count drift.

    An empty list means every partition file opens and the mirror holds exactly the
    DuckDB rows; otherwise run :func:`sync_parquet` to rewrite it.
    """
    spec = table_spec(name)
    if not table_exists(con, spec.name):
        return []
    base = wh.parquet_dir / spec.name
    problems: list[str] = []
    n_files = 0
    for f in sorted(base.rglob("*.parquet")) if base.exists() else []:
        try:
            n_files += pq_rows(f)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            problems.append(f"unreadable Parquet file {f}: {type(exc).__name__}: {exc}")
    n_db = con.execute(f'SELECT count(*) FROM "{spec.name}"').fetchall()[0][0]
    if not problems and n_files != n_db:
        problems.append(f"Parquet mirror of {spec.name!r} has {n_files} rows, DuckDB {n_db}")
    return problems


def pq_rows(path: Path) -> int:
    """Row count from a Parquet file's footer (raises if the file is corrupt)."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)
