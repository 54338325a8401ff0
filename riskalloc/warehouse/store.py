"""DuckDB warehouse: connections, schema and atomic idempotent upserts.

Reads live in :mod:`riskalloc.warehouse.reads`, the Parquet mirror in
:mod:`riskalloc.warehouse.mirror`.

All SQL of riskalloc lives in this package. Identifiers come from the table
allow-list in :mod:`riskalloc.warehouse.tables`; values are always bound parameters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from riskalloc.errors import SchemaError, WarehouseError, WarehouseLockedError
from riskalloc.warehouse import parquet
from riskalloc.warehouse.catalog import table_columns
from riskalloc.warehouse.mirror import stage_partitions
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
            staged = stage_partitions(wh, con, spec, changed if not changed.empty else frame)
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
