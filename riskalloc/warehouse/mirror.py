"""The Parquet mirror of the warehouse: staged partition writes, full rewrites, verification.

Partitions are written to temp files inside the DuckDB transaction and published (renamed)
only after the commit; see :func:`riskalloc.warehouse.store.upsert_many`. A journal marker
(``parquet/<table>/.publish-pending``) is written before the commit and removed after the
publish, so a writer killed in between is noticed, and repaired, by the next one.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)

Fingerprint = tuple[int, int]


def _arrow(result: duckdb.DuckDBPyConnection) -> pa.Table:
    """Arrow table of a result (``to_arrow_table`` in DuckDB 2, ``fetch_arrow_table`` before)."""
    fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # DuckDB 2 notes an extra copy
        return fetch()


def _years(frame: pd.DataFrame, col: str) -> list[int]:
    return sorted({int(y) for y in pd.to_datetime(frame[col]).dt.year.unique()})


def _order(spec: TableSpec) -> str:
    return ", ".join(f'"{k}"' for k in spec.key)


def _year_filter(spec: TableSpec, year: int | None) -> tuple[str, list[object]]:
    if year is None or spec.partition_by_year is None:
        return "", []
    return f' WHERE year("{spec.partition_by_year}") = ?', [year]


def stage_partitions(
    wh: Warehouse, con: duckdb.DuckDBPyConnection, spec: TableSpec, frame: pd.DataFrame
) -> list[parquet.StagedFile]:
    """Write the partitions of ``spec`` touched by ``frame`` (as seen inside the transaction).

    A partition left without rows is staged for removal.
    """
    staged: list[parquet.StagedFile] = []
    years: list[int | None] = (
        [None] if spec.partition_by_year is None else list(_years(frame, spec.partition_by_year))
    )
    try:
        for year in years:
            where, params = _year_filter(spec, year)
            data = _arrow(
                con.execute(f'SELECT * FROM "{spec.name}"{where} ORDER BY {_order(spec)}', params)
            )
            final = parquet.partition_path(wh.parquet_dir, spec.name, year)
            if data.num_rows == 0 and year is not None:
                staged.append(parquet.stage_removal(final))
            else:
                staged.append(parquet.stage_table(data, final))
    except BaseException:
        parquet.discard(staged)
        raise
    return staged


def _db_years(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> list[int | None]:
    if spec.partition_by_year is None:
        return [None]
    rows = con.execute(
        f'SELECT DISTINCT year("{spec.partition_by_year}") FROM "{spec.name}" ORDER BY 1'
    ).fetchall()
    return [int(r[0]) for r in rows if r[0] is not None]


def _file_years(wh: Warehouse, spec: TableSpec) -> dict[int | None, Path]:
    base = wh.parquet_dir / spec.name
    if spec.partition_by_year is None:
        f = parquet.partition_path(wh.parquet_dir, spec.name, None)
        return {None: f} if f.exists() else {}
    out: dict[int | None, Path] = {}
    for f in sorted(base.glob(f"year=*/{parquet.PART_FILE}")) if base.exists() else []:
        try:
            out[int(f.parent.name.removeprefix("year="))] = f
        except ValueError:
            continue
    return out


def _stray_files(wh: Warehouse, spec: TableSpec) -> list[Path]:
    """Parquet files under the table's mirror that no partition owns (readers would see them)."""
    base = wh.parquet_dir / spec.name
    if not base.exists():
        return []
    owned = set(_file_years(wh, spec).values())
    return sorted(f for f in base.rglob("*.parquet") if f not in owned)


def partition_fingerprint(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, year: int | None
) -> Fingerprint:
    """(rows, order-free checksum of every value) of one DuckDB partition."""
    where, params = _year_filter(spec, year)
    n, h = con.execute(
        f'SELECT count(*), coalesce(sum(hash(t)), 0) FROM "{spec.name}" t{where}', params
    ).fetchall()[0]
    return int(n), int(h)


def file_fingerprint(con: duckdb.DuckDBPyConnection, spec: TableSpec, path: Path) -> Fingerprint:
    """(rows, checksum) of a Parquet file, read with the DuckDB table's column types.

    Raises ``duckdb.Error`` when the file is unreadable or its columns differ from the table.
    """
    cols = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        [spec.name],
    ).fetchall()
    file_cols = [
        r[0]
        for r in con.execute(
            "DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)", [str(path)]
        ).fetchall()
    ]
    if file_cols != [c for c, _ in cols]:
        raise duckdb.ConversionException(
            f"columns {file_cols} differ from the table's {[c for c, _ in cols]}"
        )
    casts = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in cols)
    n, h = con.execute(
        f"SELECT count(*), coalesce(sum(hash(p)), 0) FROM (SELECT {casts} FROM "
        "read_parquet(?, hive_partitioning = false)) p",
        [str(path)],
    ).fetchall()[0]
    return int(n), int(h)


def stale_years(
    wh: Warehouse, con: duckdb.DuckDBPyConnection, spec: TableSpec, frame: pd.DataFrame
) -> list[int | None]:
    """Partitions touched by ``frame`` whose file differs from DuckDB (or is missing/corrupt).

    Lets a write that changes nothing still repair a mirror left stale by an older version,
    a manual copy or a crash that left no journal.
    """
    years: list[int | None] = (
        [None] if spec.partition_by_year is None else list(_years(frame, spec.partition_by_year))
    )
    files = _file_years(wh, spec)
    out = []
    for year in years:
        want = partition_fingerprint(con, spec, year)
        f = files.get(year)
        if f is None:
            if want[0]:
                out.append(year)
            continue
        try:
            if file_fingerprint(con, spec, f) != want:
                out.append(year)
        except duckdb.Error:
            out.append(year)
    return out


def sync_parquet(wh: Warehouse, con: duckdb.DuckDBPyConnection, name: str) -> int:
    """Rewrite the whole Parquet mirror of ``name`` from DuckDB; returns files written.

    Repairs a mirror left stale by a crash between commit and publish: every partition is
    rewritten, files of partitions DuckDB no longer holds are removed, the journal cleared.
    """
    spec = table_spec(name)
    journal = parquet.journal_path(wh.parquet_dir, spec.name)
    if not table_exists(con, spec.name):
        journal.unlink(missing_ok=True)
        return 0
    staged: list[parquet.StagedFile] = []
    try:
        for year in _db_years(con, spec):
            where, params = _year_filter(spec, year)
            data = _arrow(
                con.execute(f'SELECT * FROM "{spec.name}"{where} ORDER BY {_order(spec)}', params)
            )
            if data.num_rows or year is None:
                final = parquet.partition_path(wh.parquet_dir, spec.name, year)
                staged.append(parquet.stage_table(data, final))
    except BaseException:
        parquet.discard(staged)
        raise
    written = {s.final for s in staged}
    staged += [parquet.stage_removal(f) for f in _file_years(wh, spec).values() if f not in written]
    staged += [parquet.stage_removal(f) for f in _stray_files(wh, spec)]
    parquet.publish(staged)
    journal.unlink(missing_ok=True)
    return len(written)


def verify_parquet(wh: Warehouse, con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """Problems with the Parquet mirror of ``name``: unreadable, missing, extra or stale files.

    Each partition's rows and a checksum of all its values are compared with DuckDB's,
    so a same-count update that never reached the mirror is found too. An empty list
    means the mirror holds exactly the DuckDB rows; otherwise run :func:`sync_parquet`.
    """
    spec = table_spec(name)
    problems: list[str] = []
    if parquet.journal_path(wh.parquet_dir, spec.name).exists():
        problems.append(
            f"{spec.name}: a write was interrupted between the DuckDB commit and the "
            "Parquet publish (journal marker present)"
        )
    if not table_exists(con, spec.name):
        return problems
    files = _file_years(wh, spec)
    problems += [
        f"{spec.name}: stray Parquet file {f} (not a partition; readers of the mirror see it)"
        for f in _stray_files(wh, spec)
    ]
    for year in sorted(set(_db_years(con, spec)) | set(files), key=lambda y: y or 0):
        label = spec.name if year is None else f"{spec.name} year={year}"
        want = partition_fingerprint(con, spec, year)
        f = files.get(year)
        if f is None:
            if want[0]:
                problems.append(f"{label}: Parquet file missing ({want[0]} rows in DuckDB)")
            continue
        try:
            got = file_fingerprint(con, spec, f)
        except Exception as exc:  # duckdb raises several types for corrupt files
            problems.append(f"unreadable Parquet file {f}: {type(exc).__name__}: {exc}")
            continue
        if got != want:
            what = "rows" if got[0] != want[0] else "values (checksum)"
            problems.append(
                f"{label}: Parquet file {f} differs from DuckDB in {what}: "
                f"{got[0]} rows in the file, {want[0]} in DuckDB"
            )
    return problems


def repair_pending(wh: Warehouse, con: duckdb.DuckDBPyConnection) -> list[str]:
    """Rewrite the mirror of every table whose last write was cut off after its commit."""
    repaired = []
    for name in parquet.pending_tables(wh.parquet_dir):
        try:
            table_spec(name)
        except Exception:
            continue
        log.warning("repairing the Parquet mirror of %r after an interrupted write", name)
        sync_parquet(wh, con, name)
        repaired.append(name)
    return repaired
