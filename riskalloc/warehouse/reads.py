"""Reading the warehouse: filtered table reads, fingerprints and the users' read-only SQL."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from riskalloc.errors import ConfigError, SchemaError, WarehouseError, WarehouseLockedError
from riskalloc.warehouse.catalog import table_columns, table_exists
from riskalloc.warehouse.tables import table_spec

QUERY_TIMEOUT_ENV = "RISKALLOC_QUERY_TIMEOUT"
DEFAULT_QUERY_TIMEOUT = 120.0


def default_query_timeout() -> float | None:
    """Seconds a user query may run: ``RISKALLOC_QUERY_TIMEOUT`` (0 = no limit) or 120."""
    raw = os.environ.get(QUERY_TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_QUERY_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{QUERY_TIMEOUT_ENV}={raw[:20]!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{QUERY_TIMEOUT_ENV} must be >= 0 seconds, got {raw[:20]!r}")
    return value or None


def _open_readonly(db_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection, no file or network access, settings locked (no ``SET``)."""
    if not db_path.exists():
        raise WarehouseError(f"no warehouse at {db_path}; run `riskalloc ingest` first")
    if not db_path.is_file():
        raise WarehouseError(f"{db_path} is not a file; give the DuckDB file with --db")
    try:
        return duckdb.connect(
            str(db_path),
            read_only=True,
            config={"enable_external_access": False, "lock_configuration": True},
        )
    except duckdb.Error as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "lock" in text.lower():
            raise WarehouseLockedError(
                f"warehouse {db_path} is busy: another process holds its write lock; "
                f"retry when it finishes ({text})"
            ) from None
        raise WarehouseError(f"{db_path} is not a readable DuckDB warehouse: {text}") from None


def _run_interruptible(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object], timeout: float | None
) -> pd.DataFrame:
    """Run ``sql`` on a worker thread so Ctrl-C and the timeout can interrupt DuckDB.

    The main thread waits on an event (an interrupted ``Thread.join`` can return early
    on Python < 3.12), calls ``con.interrupt()`` and waits for the worker to let go.
    """
    box: dict[str, object] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["df"] = con.execute(sql, params).df()
        except BaseException as exc:  # handed to the waiting thread
            box["exc"] = exc
        finally:
            done.set()

    def stop() -> None:
        con.interrupt()
        while not done.wait(0.05):
            con.interrupt()

    deadline = None if timeout is None else time.monotonic() + timeout
    worker = threading.Thread(target=work, name="riskalloc-query", daemon=True)
    try:
        worker.start()  # inside the try: a Ctrl-C at any point from here still stops DuckDB
        while not done.wait(0.05):
            if deadline is not None and time.monotonic() >= deadline:
                stop()
                raise WarehouseError(
                    f"query stopped after {timeout:g} s (the time limit; raise it with "
                    f"--timeout or {QUERY_TIMEOUT_ENV}, 0 = no limit)"
                )
    except KeyboardInterrupt:
        stop()
        raise
    exc = box.get("exc")
    if isinstance(exc, duckdb.Error):
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WarehouseError(f"query failed: {text}") from None
    if isinstance(exc, BaseException):
        raise exc
    return box["df"]  # type: ignore[return-value]


def query_readonly(
    db_path: Path,
    sql: str,
    params: Sequence[object] = (),
    timeout: float | None = None,
) -> pd.DataFrame:
    """Run a user's SQL on a read-only connection with no file or network access.

    Writes, ``COPY``, ``ATTACH`` and file readers are all refused by DuckDB itself. The
    query runs at most ``timeout`` seconds (None: :func:`default_query_timeout`; 0: no
    limit) and Ctrl-C stops it.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise WarehouseError("query failed: empty SQL; give one SELECT statement")
    limit = default_query_timeout() if timeout is None else timeout
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int | float) or not limit >= 0
    ):
        raise ConfigError(f"query timeout must be >= 0 seconds (0 = no limit), got {limit!r}")
    con = _open_readonly(Path(db_path))
    try:
        return _run_interruptible(con, sql, list(params), limit or None)
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


def not_positive(
    con: duckdb.DuckDBPyConnection, name: str, column: str, limit: int = 20
) -> tuple[int, pd.DataFrame]:
    """How many rows of ``name`` have ``column`` missing, NaN, infinite or ≤ 0, and the first
    ``limit`` of them by key: counted inside DuckDB, so a check of a large table reads no rows
    it does not report."""
    spec = table_spec(name)
    if not table_exists(con, spec.name):
        raise WarehouseError(f"table {spec.name!r} does not exist yet; materialise it first")
    if column not in table_columns(con, spec.name):
        raise SchemaError(f"table {spec.name!r} has no column {column!r}")
    bad = f'"{column}" IS NULL OR NOT (isfinite("{column}") AND "{column}" > 0)'
    (count,) = con.execute(f'SELECT count(*) FROM "{spec.name}" WHERE {bad}').fetchone()
    keys = ", ".join(f'"{k}"' for k in spec.key)
    head = con.execute(
        f'SELECT * FROM "{spec.name}" WHERE {bad} ORDER BY {keys} LIMIT {int(limit)}'
    ).df()
    return int(count), head


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
