"""DuckDB warehouse: connections, schema, atomic idempotent upserts and reads.

All SQL of riskalloc lives in this package. Identifiers come from the table
allow-list in :mod:`riskalloc.warehouse.tables`; values are always bound parameters.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from riskalloc.errors import SchemaError, WarehouseError, WarehouseLockedError
from riskalloc.warehouse import parquet
from riskalloc.warehouse.tables import TableSpec, table_spec

log = logging.getLogger(__name__)

DB_FILE = "riskalloc.duckdb"


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """Row counts of one upsert."""

    table: str
    inserted: int
    updated: int
    unchanged: int
    total_rows: int


def resolve_inside(root: Path, relative: str | Path) -> Path:
    """Resolve ``relative`` under ``root``; a path that escapes the root is an error."""
    root_r = Path(root).resolve()
    p = (root_r / relative).resolve()
    if p != root_r and root_r not in p.parents:
        raise WarehouseError(f"path {str(relative)!r} escapes the warehouse root {root_r}")
    return p


@dataclass(frozen=True)
class Warehouse:
    """A warehouse folder: ``riskalloc.duckdb``, ``parquet/`` mirror and ``models/``."""

    root: Path
    db_file: str = DB_FILE

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        if Path(self.db_file).name != self.db_file:
            raise WarehouseError(f"db_file {self.db_file!r} must be a file name, not a path")

    @classmethod
    def from_db_path(cls, db_path: str | Path) -> Warehouse:
        """The warehouse whose DuckDB file is ``db_path`` (its folder is the root)."""
        p = Path(db_path)
        return cls(p.parent, p.name)

    @property
    def db_path(self) -> Path:
        """The DuckDB file."""
        return self.root / self.db_file

    @property
    def parquet_dir(self) -> Path:
        """Root of the Parquet mirror."""
        return self.root / "parquet"

    @property
    def models_dir(self) -> Path:
        """Root of versioned model artefacts."""
        return self.root / "models"

    @contextmanager
    def connect(
        self, read_only: bool = False, wait_seconds: float = 30.0
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the DuckDB file, waiting up to ``wait_seconds`` for another writer.

        Raises :class:`WarehouseLockedError` naming the file if the lock is still held.
        The connection is always closed, also when the body raises.
        """
        if read_only and not self.db_path.exists():
            raise WarehouseError(f"no warehouse at {self.db_path}; run the ingest first")
        self.root.mkdir(parents=True, exist_ok=True)
        con = connect_with_wait(self.db_path, read_only=read_only, wait_seconds=wait_seconds)
        try:
            yield con
        finally:
            con.close()


def connect_with_wait(
    path: Path, read_only: bool = False, wait_seconds: float = 30.0
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` with retries while another process holds the file lock."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"warehouse {path} is locked by another process; wait for the other "
                    f"run to finish (waited {wait_seconds:.0f} s). DuckDB said: {exc}"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc


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


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether ``name`` is a table in the main schema."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(row and row[0][0])


def _create_table(con: duckdb.DuckDBPyConnection, spec: TableSpec, df: pd.DataFrame) -> None:
    if spec.columns is not None:
        cols = ", ".join(f'"{c}" {t}' for c, t in spec.columns)
    else:
        missing = [k for k in spec.key if k not in df.columns]
        if missing:
            raise SchemaError(f"table {spec.name!r}: frame lacks key columns {missing}")
        con.register("_ra_first", df)
        try:
            types = con.execute("DESCRIBE SELECT * FROM _ra_first").fetchall()
        finally:
            con.unregister("_ra_first")
        for name, _t, *_ in types:
            if not isinstance(name, str) or '"' in name:
                raise SchemaError(f"table {spec.name!r}: bad column name {name!r}")
        cols = ", ".join(f'"{n}" {t}' for n, t, *_ in types)
    keys = ", ".join(f'"{k}"' for k in spec.key)
    con.execute(
        f'CREATE TABLE IF NOT EXISTS "{spec.name}" ({cols}, PRIMARY KEY ({keys}))'
    ).fetchall()


def table_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """Column names of an existing table, in order."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        [name],
    ).fetchall()
    return [r[0] for r in rows]


def _prepare(df: pd.DataFrame, spec: TableSpec, columns: list[str], now: datetime) -> pd.DataFrame:
    out = df.copy()
    if "ingested_at" in columns and "ingested_at" not in out.columns:
        out["ingested_at"] = pd.Timestamp(now).tz_localize(None)
    extra = sorted(set(out.columns) - set(columns))
    missing = sorted(set(columns) - set(out.columns))
    if extra or missing:
        raise SchemaError(
            f"table {spec.name!r}: frame columns do not match the table "
            f"(missing {missing}, unexpected {extra})"
        )
    dup = out.duplicated(list(spec.key), keep=False)
    if dup.any():
        sample = out.loc[dup, list(spec.key)].head(5).astype(str).values.tolist()
        raise SchemaError(f"table {spec.name!r}: duplicate keys in frame, e.g. {sample}")
    return out.loc[:, columns]


def upsert(
    wh: Warehouse,
    con: duckdb.DuckDBPyConnection,
    name: str,
    df: pd.DataFrame,
    *,
    now: datetime | None = None,
    fail_after_stage: bool = False,
    replace: bool = False,
) -> UpsertResult:
    """Insert new keys and update changed rows of ``name`` in one transaction.

    Rows whose values are unchanged are left alone (their ``ingested_at`` too), so the
    same input twice leaves identical tables. The Parquet partitions touched are
    rewritten to temp files inside the transaction and moved into place only after
    the commit; any failure rolls DuckDB back and deletes the temp files.
    ``replace=True`` also deletes stored keys absent from ``df`` in the same transaction
    (for small derived tables without year partitions, e.g. ``forecast_eval``).
    ``fail_after_stage`` injects a failure after staging (for tests).
    """
    spec = table_spec(name)
    if replace and spec.partition_by_year is not None:
        raise WarehouseError(f"replace=True is only for tables without year partitions ({name!r})")
    now = now or datetime.now(timezone.utc)
    staged: list[parquet.StagedFile] = []
    if parquet.clean_stale_temp(wh.parquet_dir):
        log.warning("removed temp files of an interrupted write under %s", wh.parquet_dir)
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        _create_table(con, spec, df)
        columns = table_columns(con, spec.name)
        frame = _prepare(df, spec, columns, now)
        con.register("_ra_stage", frame)
        keys = " AND ".join(f't."{k}" = s."{k}"' for k in spec.key)
        values = [c for c in columns if c not in spec.key and c != "ingested_at"]
        differs = " OR ".join(f't."{c}" IS DISTINCT FROM s."{c}"' for c in values) or "FALSE"
        collist = ", ".join(f'"{c}"' for c in columns)
        n_before = con.execute(f'SELECT count(*) FROM "{spec.name}"').fetchall()[0][0]
        changed = con.execute(
            f"SELECT * FROM _ra_stage s WHERE NOT EXISTS "
            f'(SELECT 1 FROM "{spec.name}" t WHERE {keys} AND NOT ({differs}))'
        ).df()
        updated = con.execute(
            f'DELETE FROM "{spec.name}" t USING _ra_stage s WHERE {keys} AND ({differs})'
        ).fetchall()[0][0]
        removed = 0
        if replace:
            removed = con.execute(
                f'DELETE FROM "{spec.name}" t WHERE NOT EXISTS '
                f"(SELECT 1 FROM _ra_stage s WHERE {keys})"
            ).fetchall()[0][0]
        con.execute(
            f'INSERT INTO "{spec.name}" ({collist}) SELECT {collist} FROM _ra_stage s '
            f'WHERE NOT EXISTS (SELECT 1 FROM "{spec.name}" t WHERE {keys})'
        ).fetchall()
        n_after = con.execute(f'SELECT count(*) FROM "{spec.name}"').fetchall()[0][0]
        con.unregister("_ra_stage")
        if not changed.empty or removed:
            staged = _stage_parquet(wh, con, spec, changed if not changed.empty else frame)
        if fail_after_stage:
            raise WarehouseError(f"injected failure while writing {spec.name!r}")
        con.execute("COMMIT").fetchall()
    except BaseException:
        con.execute("ROLLBACK").fetchall()
        parquet.discard(staged)
        raise
    parquet.publish(staged)
    inserted = n_after - n_before + updated + removed
    result = UpsertResult(spec.name, inserted - updated, updated, len(frame) - inserted, n_after)
    log.info("upsert %s: %s", spec.name, result)
    return result


def _arrow(result: duckdb.DuckDBPyConnection) -> pa.Table:
    """Arrow table of a result (``to_arrow_table`` in DuckDB 2, ``fetch_arrow_table`` before)."""
    fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # DuckDB 2 notes an extra copy
        return fetch()


def _years(frame: pd.DataFrame, col: str) -> list[int]:
    return sorted({int(y) for y in pd.to_datetime(frame[col]).dt.year.unique()})


def _stage_parquet(
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
    staged = _stage_parquet(wh, con, spec, frame)
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
