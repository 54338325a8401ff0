"""DuckDB warehouse writes: schema, atomic idempotent upserts, deletes.

Connections live in :mod:`riskalloc.warehouse.connection`, reads in
:mod:`riskalloc.warehouse.reads`, the Parquet mirror in :mod:`riskalloc.warehouse.mirror`.

All SQL of riskalloc lives in this package. Identifiers come from the table
allow-list in :mod:`riskalloc.warehouse.tables`; values are always bound parameters.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from riskalloc.atomic import atomic_write_text
from riskalloc.errors import SchemaError, WarehouseError
from riskalloc.warehouse import mirror
from riskalloc.warehouse.catalog import table_columns, table_exists
from riskalloc.warehouse.connection import DB_FILE, Warehouse, connect_with_wait, resolve_inside
from riskalloc.warehouse.mirror import (
    file_fingerprint,
    partition_fingerprint,
    repair_pending,
    stage_partitions,
    stale_years,
)
from riskalloc.warehouse.tables import TableSpec, table_spec

log = logging.getLogger(__name__)

__all__ = [
    "DB_FILE",  # re-exported: the connection names were always importable from here
    "UpsertResult",
    "Warehouse",
    "connect_with_wait",
    "delete_range",
    "drop_table",
    "resolve_inside",
    "upsert",
    "upsert_many",
]


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """Row counts of one upsert."""

    table: str
    inserted: int
    updated: int
    unchanged: int
    total_rows: int


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
    """``df`` in the table's column order (one copy, ``ingested_at`` added where missing)."""
    stamp = "ingested_at" in columns and "ingested_at" not in df.columns
    have = set(df.columns) | ({"ingested_at"} if stamp else set())
    extra, missing = sorted(have - set(columns)), sorted(set(columns) - have)
    if extra or missing:
        raise SchemaError(
            f"table {spec.name!r}: frame columns do not match the table "
            f"(missing {missing}, unexpected {extra})"
        )
    dup = df.duplicated(list(spec.key), keep=False)
    if dup.any():
        sample = df.loc[dup, list(spec.key)].head(5).astype(str).values.tolist()
        raise SchemaError(f"table {spec.name!r}: duplicate keys in frame, e.g. {sample}")
    out = df.loc[:, [c for c in columns if c in df.columns]]
    if stamp:
        out.insert(columns.index("ingested_at"), "ingested_at", pd.Timestamp(now).tz_localize(None))
    return out


@dataclass
class _Pending:
    """One table's part of a multi-table upsert, between its statements and the commit."""

    spec: TableSpec
    n_before: int
    n_after: int
    updated: int
    removed: int
    n_frame: int
    staged: list[mirror.StagedFile]


def _upsert_in_transaction(
    wh: Warehouse,
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    df: pd.DataFrame,
    now: datetime,
    replace: bool,
) -> _Pending:
    """The statements of one table's upsert (inside an open transaction) and its staging."""
    _create_table(con, spec, df)
    columns = table_columns(con, spec.name)
    frame = _prepare(df, spec, columns, now)
    con.register("_ra_stage", frame)
    try:
        keys = " AND ".join(f't."{k}" = s."{k}"' for k in spec.key)
        values = [c for c in columns if c not in spec.key and c != "ingested_at"]
        differs = " OR ".join(f't."{c}" IS DISTINCT FROM s."{c}"' for c in values) or "FALSE"
        collist = ", ".join(f'"{c}"' for c in columns)
        n_before = con.execute(f'SELECT count(*) FROM "{spec.name}"').fetchall()[0][0]
        # only what the mirror needs of the new or changed rows: their partitions (a whole-
        # table first write would otherwise come back to pandas in full)
        col = spec.partition_by_year
        what = f's."{col}"' if col is not None else "1"
        changed = con.execute(
            f"SELECT DISTINCT {what} AS part FROM _ra_stage s WHERE NOT EXISTS "
            f'(SELECT 1 FROM "{spec.name}" t WHERE {keys} AND NOT ({differs}))'
        ).df()
        if col is not None:
            changed = changed.rename(columns={"part": col})
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
    finally:
        con.unregister("_ra_stage")
    touched = changed if not changed.empty else frame.iloc[0:0]
    if removed:
        touched = frame
    if col is None:  # one file: rewritten when anything changed or it is stale
        redo = (
            bool(len(touched))
            or bool(removed)
            or bool(stale_years(wh.parquet_dir, con, spec, frame))
        )
        staged = stage_partitions(wh.parquet_dir, con, spec, frame) if redo else []
        return _Pending(spec, n_before, n_after, updated, removed, len(frame), staged)
    done = {int(y) for y in pd.to_datetime(touched[col]).dt.year.unique()}
    untouched = frame[~pd.to_datetime(frame[col]).dt.year.isin(done)]
    stale = stale_years(wh.parquet_dir, con, spec, untouched) if len(untouched) else []
    if stale:
        log.warning("repairing stale Parquet partitions of %r: %s", spec.name, stale)
    extra = untouched[pd.to_datetime(untouched[col]).dt.year.isin(stale)]
    marks = pd.concat([touched[[col]], extra[[col]]], ignore_index=True)
    staged = stage_partitions(wh.parquet_dir, con, spec, marks) if len(marks) else []
    return _Pending(spec, n_before, n_after, updated, removed, len(frame), staged)


def _result(p: _Pending) -> UpsertResult:
    inserted = p.n_after - p.n_before + p.updated + p.removed
    return UpsertResult(
        p.spec.name, inserted - p.updated, p.updated, p.n_frame - inserted, p.n_after
    )


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is open; never hides the exception being handled."""
    # e.g. "no transaction is active": the COMMIT went through (or failed and rolled back)
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK").fetchall()


def _settle_failed_commit(con: duckdb.DuckDBPyConnection, pending: list[_Pending]) -> None:
    """After COMMIT raised (e.g. Ctrl-C landing on it): publish what DuckDB now holds.

    DuckDB may raise ``Query interrupted`` from a COMMIT that has gone through. Each
    staged partition is published when its checksum equals the DuckDB partition (the
    commit held) and discarded otherwise (it rolled back), so both stores agree.
    """
    _rollback(con)
    for p in pending:
        for s in p.staged:
            part = s.final.parent.name
            year = int(part.removeprefix("year=")) if part.startswith("year=") else None
            want = partition_fingerprint(con, p.spec, year)
            if s.tmp is None:
                holds_new = want[0] == 0
            else:
                holds_new = file_fingerprint(con, p.spec, s.tmp) == want
            if holds_new:
                mirror.publish([s])
            else:
                mirror.discard([s])


def _settled(con: duckdb.DuckDBPyConnection, pending: list[_Pending]) -> bool:
    """:func:`_settle_failed_commit`, reporting failure instead of masking the first error."""
    try:
        _settle_failed_commit(con, pending)
    except Exception:
        log.warning("could not settle an interrupted commit; the next write repairs the mirror")
        return False
    return True


def _publish_committed(pending: list[_Pending], journals: list[Path]) -> None:
    """Move the staged files of a committed write into place, then clear its journal.

    Interrupted here, the renames are finished before the interrupt propagates; if even
    that fails, the journal stays and the next write (or ``riskalloc repair``) rewrites
    the mirror of those tables from DuckDB.
    """

    def finish() -> None:
        for p in pending:
            mirror.publish(p.staged)
        for journal in journals:
            journal.unlink(missing_ok=True)

    try:
        finish()
    except BaseException:
        try:
            finish()
        except Exception:
            log.warning("Parquet mirror left for repair by the next write: %s", journals)
        raise


def upsert_many(
    wh: Warehouse,
    con: duckdb.DuckDBPyConnection,
    frames: Mapping[str, pd.DataFrame],
    *,
    now: datetime | None = None,
    fail_after_stage: bool = False,
    replace: bool = False,
) -> dict[str, UpsertResult]:
    """Upsert several tables in one DuckDB transaction: all of them are written, or none.

    Per table, new keys are inserted and changed rows replaced; unchanged rows (and their
    ``ingested_at``) are left alone, so the same input twice leaves identical tables. The
    touched Parquet partitions are staged to temp files inside the transaction, a journal
    marker is written, and the files are moved into place only after the commit; any
    failure before the commit rolls DuckDB back and deletes the temp files. An interrupt
    landing on the commit itself publishes or discards each file to match what DuckDB
    holds; a writer killed between commit and publish leaves the journal, and the next
    writer rewrites that table's mirror first. ``replace=True`` also deletes stored keys
    absent from a frame (tables without year partitions only, e.g. ``forecast_eval``).
    ``fail_after_stage`` injects a failure after staging (for tests).
    """
    specs = [table_spec(name) for name in frames]
    if replace:
        for spec in specs:
            if spec.partition_by_year is not None:
                raise WarehouseError(
                    f"replace=True is only for tables without year partitions ({spec.name!r})"
                )
    now = now or datetime.now(timezone.utc)
    if mirror.clean_stale_temp(wh.parquet_dir):
        log.warning("removed temp files of an interrupted write under %s", wh.parquet_dir)
    repair_pending(wh.parquet_dir, con)
    pending: list[_Pending] = []
    journals: list[Path] = []
    committing = False
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        for spec in specs:
            pending.append(_upsert_in_transaction(wh, con, spec, frames[spec.name], now, replace))
        if fail_after_stage:
            raise WarehouseError(
                f"injected failure while writing {', '.join(repr(s.name) for s in specs)}"
            )
        for p in pending:
            if p.staged:
                journal = mirror.journal_path(wh.parquet_dir, p.spec.name)
                atomic_write_text(journal, f"{now.isoformat()}\n")
                journals.append(journal)
        committing = True
        con.execute("COMMIT").fetchall()
    except BaseException:
        if not committing:
            _rollback(con)
            mirror.discard([s for p in pending for s in p.staged])
        elif not _settled(con, pending):
            raise  # the journals stay: the next write rewrites those mirrors
        for journal in journals:
            journal.unlink(missing_ok=True)
        raise
    _publish_committed(pending, journals)
    results = {p.spec.name: _result(p) for p in pending}
    for r in results.values():
        log.info("upsert %s: %s", r.table, r)
    return results


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

    See :func:`upsert_many` (this is its one-table case) for the guarantees.
    """
    return upsert_many(
        wh, con, {name: df}, now=now, fail_after_stage=fail_after_stage, replace=replace
    )[table_spec(name).name]


def delete_range(
    wh: Warehouse,
    con: duckdb.DuckDBPyConnection,
    name: str,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    where: Mapping[str, Sequence[str]] | None = None,
) -> int:
    """Delete the rows of ``name`` dated in ``[start, end]`` (and matching ``where``) atomically.

    The DuckDB delete and the rewrite of the touched Parquet partitions follow the same
    commit protocol as :func:`upsert_many`. Returns the number of rows deleted.
    """
    spec = table_spec(name)
    if spec.partition_by_year is None:
        raise WarehouseError(f"table {spec.name!r} has no date partitions; nothing to delete")
    if start is None and end is None:
        raise WarehouseError("give a start and/or an end date: refusing to delete every row")
    if not table_exists(con, spec.name):
        raise WarehouseError(f"table {spec.name!r} does not exist yet; nothing to delete")
    col = spec.partition_by_year
    cols = set(table_columns(con, spec.name))
    clauses, params = [], []
    if start is not None:
        clauses.append(f'"{col}" >= ?')
        params.append(pd.Timestamp(start).date())
    if end is not None:
        clauses.append(f'"{col}" <= ?')
        params.append(pd.Timestamp(end).date())
    for c, vals in (where or {}).items():
        if c not in cols:
            raise SchemaError(f"table {spec.name!r} has no column {c!r}")
        clauses.append(f'"{c}" IN (SELECT unnest(?))')
        params.append([str(v) for v in vals])
    cond = " AND ".join(clauses)
    if mirror.clean_stale_temp(wh.parquet_dir):
        log.warning("removed temp files of an interrupted write under %s", wh.parquet_dir)
    repair_pending(wh.parquet_dir, con)
    journal = mirror.journal_path(wh.parquet_dir, spec.name)
    pending: _Pending | None = None
    committing = False
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        gone = con.execute(f'SELECT "{col}" FROM "{spec.name}" WHERE {cond}', params).df()
        n_before = con.execute(f'SELECT count(*) FROM "{spec.name}"').fetchall()[0][0]
        con.execute(f'DELETE FROM "{spec.name}" WHERE {cond}', params).fetchall()
        staged = stage_partitions(wh.parquet_dir, con, spec, gone) if len(gone) else []
        pending = _Pending(spec, n_before, n_before - len(gone), 0, len(gone), 0, staged)
        if staged:
            atomic_write_text(journal, f"{datetime.now(timezone.utc).isoformat()}\n")
        committing = True
        con.execute("COMMIT").fetchall()
    except BaseException:
        if not committing or pending is None:
            _rollback(con)
            if pending is not None:
                mirror.discard(pending.staged)
        elif not _settled(con, [pending]):
            raise  # the journal stays: the next write rewrites the mirror
        journal.unlink(missing_ok=True)
        raise
    _publish_committed([pending], [journal])
    log.info("deleted %d rows of %s where %s", len(gone), spec.name, cond)
    return len(gone)


def drop_table(wh: Warehouse, con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Drop table ``name`` and its Parquet mirror (a derived table whose columns changed is
    rebuilt from scratch by the next upsert); returns whether the table existed."""
    spec = table_spec(name)
    existed = table_exists(con, spec.name)
    if existed:
        con.execute(f'DROP TABLE "{spec.name}"').fetchall()
    mirror.drop_mirror(wh.parquet_dir, spec.name)
    return existed
