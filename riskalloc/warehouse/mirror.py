"""The Parquet mirror of the warehouse: one file per table and year, staged, published
atomically, rewritten and verified against DuckDB.

Files are written to a temporary name beside their target and moved into place with
``os.replace`` only after the DuckDB transaction commits, so readers always see a complete
file (old or new), never a half-written one. Every function takes the mirror's root
(``parquet_dir``: a path, or an object with a ``parquet_dir`` such as a ``Warehouse``).

Partitions are written to temp files inside the DuckDB transaction and published (renamed)
only after the commit; see :func:`riskalloc.warehouse.store.upsert_many`. A journal marker
(``parquet/<table>/.publish-pending``) is written before the commit and removed after the
publish, so a writer killed in between is noticed, and repaired, by the next one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskalloc.warehouse.catalog import table_exists
from riskalloc.warehouse.tables import TableSpec, table_spec

log = logging.getLogger(__name__)

Fingerprint = tuple[int, int]


class HasParquetDir(Protocol):
    """Anything with a ``parquet_dir`` (a :class:`~riskalloc.warehouse.store.Warehouse`)."""

    parquet_dir: Path


ParquetRoot = Path | HasParquetDir


def _root(parquet_dir: ParquetRoot) -> Path:
    """The mirror's root folder, given it or an object holding it."""
    return parquet_dir if isinstance(parquet_dir, Path) else Path(parquet_dir.parquet_dir)


# --- files: staged writes, atomic publish, journal --------------------------------------

PART_FILE = "part-0.parquet"
JOURNAL = ".publish-pending"


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A Parquet file written to ``tmp`` and waiting to replace ``final``.

    ``tmp=None`` stages a removal: the partition has no rows left, so ``final`` is deleted.
    """

    tmp: Path | None
    final: Path


def partition_path(parquet_dir: Path, table: str, year: int | None) -> Path:
    """Target path: ``<dir>/<table>/year=<YYYY>/part-0.parquet`` (or no year level)."""
    base = parquet_dir / table
    return (base / f"year={year}" / PART_FILE) if year is not None else base / PART_FILE


def stage_table(data: pa.Table, final: Path) -> StagedFile:
    """Write ``data`` to a hidden temp file next to ``final`` and fsync it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(data, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return StagedFile(tmp, final)


def stage_removal(final: Path) -> StagedFile:
    """Stage the deletion of a partition file whose rows are all gone."""
    return StagedFile(None, final)


def publish(staged: list[StagedFile]) -> None:
    """Move staged files into place (each move is atomic on POSIX); idempotent."""
    for s in staged:
        if s.tmp is None:
            s.final.unlink(missing_ok=True)
        elif s.tmp.exists() or not s.final.exists():
            os.replace(s.tmp, s.final)


def discard(staged: list[StagedFile]) -> None:
    """Delete staged temp files after a failed write."""
    for s in staged:
        if s.tmp is not None:
            with contextlib.suppress(OSError):
                s.tmp.unlink(missing_ok=True)


def journal_path(parquet_dir: Path, table: str) -> Path:
    """Marker saying a commit of ``table`` may not have reached its mirror yet."""
    return parquet_dir / table / JOURNAL


def pending_tables(parquet_dir: Path) -> list[str]:
    """Tables whose last write died between the DuckDB commit and the mirror publish."""
    if not parquet_dir.exists():
        return []
    return sorted(p.parent.name for p in parquet_dir.glob(f"*/{JOURNAL}"))


def clean_stale_temp(parquet_dir: Path) -> int:
    """Delete temp files left by a writer that was killed mid-write; returns how many.

    Only called while holding the DuckDB write lock, so no live writer owns them.
    """
    n = 0
    if not parquet_dir.exists():
        return 0
    for p in parquet_dir.rglob(".*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n


# --- partitions: DuckDB rows against their files -----------------------------------------


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
    parquet_dir: ParquetRoot, con: duckdb.DuckDBPyConnection, spec: TableSpec, frame: pd.DataFrame
) -> list[StagedFile]:
    """Write the partitions of ``spec`` touched by ``frame`` (as seen inside the transaction).

    A partition left without rows is staged for removal.
    """
    staged: list[StagedFile] = []
    years: list[int | None] = (
        [None] if spec.partition_by_year is None else list(_years(frame, spec.partition_by_year))
    )
    try:
        for year in years:
            where, params = _year_filter(spec, year)
            data = _arrow(
                con.execute(f'SELECT * FROM "{spec.name}"{where} ORDER BY {_order(spec)}', params)
            )
            final = partition_path(_root(parquet_dir), spec.name, year)
            if data.num_rows == 0 and year is not None:
                staged.append(stage_removal(final))
            else:
                staged.append(stage_table(data, final))
    except BaseException:
        discard(staged)
        raise
    return staged


def _db_years(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> list[int | None]:
    if spec.partition_by_year is None:
        return [None]
    rows = con.execute(
        f'SELECT DISTINCT year("{spec.partition_by_year}") FROM "{spec.name}" ORDER BY 1'
    ).fetchall()
    return [int(r[0]) for r in rows if r[0] is not None]


def _file_years(parquet_dir: ParquetRoot, spec: TableSpec) -> dict[int | None, Path]:
    base = _root(parquet_dir) / spec.name
    if spec.partition_by_year is None:
        f = partition_path(_root(parquet_dir), spec.name, None)
        return {None: f} if f.exists() else {}
    out: dict[int | None, Path] = {}
    for f in sorted(base.glob(f"year=*/{PART_FILE}")) if base.exists() else []:
        try:
            out[int(f.parent.name.removeprefix("year="))] = f
        except ValueError:
            continue
    return out


def _stray_files(parquet_dir: ParquetRoot, spec: TableSpec) -> list[Path]:
    """Parquet files under the table's mirror that no partition owns (readers would see them)."""
    base = _root(parquet_dir) / spec.name
    if not base.exists():
        return []
    owned = set(_file_years(parquet_dir, spec).values())
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


def drop_mirror(parquet_dir: ParquetRoot, name: str) -> int:
    """Delete every Parquet file (and the journal) of table ``name``; returns files removed."""
    spec = table_spec(name)
    files = [*_file_years(parquet_dir, spec).values(), *_stray_files(parquet_dir, spec)]
    publish([stage_removal(f) for f in files])
    journal_path(_root(parquet_dir), spec.name).unlink(missing_ok=True)
    return len(files)


def stale_years(
    parquet_dir: ParquetRoot, con: duckdb.DuckDBPyConnection, spec: TableSpec, frame: pd.DataFrame
) -> list[int | None]:
    """Partitions touched by ``frame`` whose file differs from DuckDB (or is missing/corrupt).

    Lets a write that changes nothing still repair a mirror left stale by an older version,
    a manual copy or a crash that left no journal.
    """
    years: list[int | None] = (
        [None] if spec.partition_by_year is None else list(_years(frame, spec.partition_by_year))
    )
    files = _file_years(parquet_dir, spec)
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


def sync_parquet(parquet_dir: ParquetRoot, con: duckdb.DuckDBPyConnection, name: str) -> int:
    """Rewrite the whole Parquet mirror of ``name`` from DuckDB; returns files written.

    Repairs a mirror left stale by a crash between commit and publish: every partition is
    rewritten, files of partitions DuckDB no longer holds are removed, the journal cleared.
    """
    spec = table_spec(name)
    journal = journal_path(_root(parquet_dir), spec.name)
    if not table_exists(con, spec.name):
        journal.unlink(missing_ok=True)
        return 0
    staged: list[StagedFile] = []
    try:
        for year in _db_years(con, spec):
            where, params = _year_filter(spec, year)
            data = _arrow(
                con.execute(f'SELECT * FROM "{spec.name}"{where} ORDER BY {_order(spec)}', params)
            )
            if data.num_rows or year is None:
                final = partition_path(_root(parquet_dir), spec.name, year)
                staged.append(stage_table(data, final))
    except BaseException:
        discard(staged)
        raise
    written = {s.final for s in staged}
    staged += [
        stage_removal(f) for f in _file_years(parquet_dir, spec).values() if f not in written
    ]
    staged += [stage_removal(f) for f in _stray_files(parquet_dir, spec)]
    publish(staged)
    journal.unlink(missing_ok=True)
    return len(written)


def verify_parquet(
    parquet_dir: ParquetRoot, con: duckdb.DuckDBPyConnection, name: str
) -> list[str]:
    """Problems with the Parquet mirror of ``name``: unreadable, missing, extra or stale files.

    Each partition's rows and a checksum of all its values are compared with DuckDB's,
    so a same-count update that never reached the mirror is found too. An empty list
    means the mirror holds exactly the DuckDB rows; otherwise run :func:`sync_parquet`.
    """
    spec = table_spec(name)
    problems: list[str] = []
    if journal_path(_root(parquet_dir), spec.name).exists():
        problems.append(
            f"{spec.name}: a write was interrupted between the DuckDB commit and the "
            "Parquet publish (journal marker present)"
        )
    if not table_exists(con, spec.name):
        return problems
    files = _file_years(parquet_dir, spec)
    problems += [
        f"{spec.name}: stray Parquet file {f} (not a partition; readers of the mirror see it)"
        for f in _stray_files(parquet_dir, spec)
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


def repair_pending(parquet_dir: ParquetRoot, con: duckdb.DuckDBPyConnection) -> list[str]:
    """Rewrite the mirror of every table whose last write was cut off after its commit."""
    repaired = []
    for name in pending_tables(_root(parquet_dir)):
        try:
            table_spec(name)
        except Exception:
            continue
        log.warning("repairing the Parquet mirror of %r after an interrupted write", name)
        sync_parquet(parquet_dir, con, name)
        repaired.append(name)
    return repaired
