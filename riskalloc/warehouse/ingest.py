"""Ingest: fetch from a source, validate, upsert into the warehouse, summarise.

:func:`ingest` is all-or-nothing: every table is fetched and validated before anything is
written, then all are upserted in one transaction (:func:`upsert_many`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import duckdb
import pandas as pd

from riskalloc.errors import ConfigError, DataError
from riskalloc.sources._retry import to_timestamp
from riskalloc.sources.dates import market_today
from riskalloc.sources.schema import (
    macro_warnings,
    price_warnings,
    validate_macro,
    validate_prices,
)
from riskalloc.universe import Universe
from riskalloc.warehouse.catalog import table_exists
from riskalloc.warehouse.reads import last_dates
from riskalloc.warehouse.store import UpsertResult, Warehouse, upsert_many

log = logging.getLogger(__name__)

# Roles whose series cannot be negative (a VIX below zero is a data error).
NONNEGATIVE_ROLES: tuple[str, ...] = ("volatility_expectation", "credit_spread")


class PriceSource(Protocol):
    """Anything that returns long price rows (sample, yahoo, files)."""

    name: str

    def fetch_prices(self, tickers, start=None, end=None, since=None) -> pd.DataFrame: ...


class MacroSource(Protocol):
    """Anything that returns long macro rows (sample, fred, files)."""

    name: str

    def fetch_macro(self, series_ids, start=None, end=None, since=None) -> pd.DataFrame: ...


@dataclass(frozen=True)
class IngestSummary:
    """What one ingest did: upsert counts plus the date range and a preview of the rows."""

    result: UpsertResult
    rows_fetched: int
    first_date: pd.Timestamp | None
    last_date: pd.Timestamp | None
    preview: pd.DataFrame
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Fetched:
    """Validated rows of one table, not yet written, with their plausibility warnings."""

    table: str
    rows: pd.DataFrame
    warnings: tuple[str, ...]


def _summary(result: UpsertResult, f: Fetched) -> IngestSummary:
    df = f.rows
    return IngestSummary(
        result=result,
        rows_fetched=len(df),
        first_date=df["date"].min() if len(df) else None,
        last_date=df["date"].max() if len(df) else None,
        preview=df.sort_values("date").tail(10),
        warnings=f.warnings,
    )


def check_window(start: str | None, end: str | None) -> None:
    """Dates parse (ISO) and ``start`` is not after ``end``."""
    first, last = to_timestamp(start), to_timestamp(end)
    if first is not None and last is not None and first > last:
        raise ConfigError(f"start {first.date()} is after end {last.date()}; nothing to ingest")


def _since(con: duckdb.DuckDBPyConnection, table: str, key: str) -> dict[str, pd.Timestamp]:
    """Last stored date per key; rows stored after today block incremental ingests."""
    since = last_dates(con, table, key)
    today = market_today()
    future = {k: d for k, d in since.items() if d > today}
    if future:
        first = min(future.values()).date()
        shown = {k: str(d.date()) for k, d in sorted(future.items())[:5]}
        raise DataError(
            f"{table}: the warehouse holds rows dated after today ({today.date()}) for "
            f"{shown}, so an incremental ingest would start after them; delete them with "
            f"`riskalloc delete {table} --start {first}` and re-run"
        )
    return since


def _with_stored_seam(con: duckdb.DuckDBPyConnection, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` plus each ticker's last stored price before it, so a jump at the seam shows."""
    if df.empty or not table_exists(con, "prices"):
        return df
    firsts = df.groupby("ticker", as_index=False)["date"].min()
    con.register("_ra_firsts", firsts)
    try:
        prior = con.execute(
            "SELECT p.date, p.ticker, p.adj_close FROM prices p JOIN _ra_firsts f "
            "ON p.ticker = f.ticker AND p.date < f.date "
            "QUALIFY row_number() OVER (PARTITION BY p.ticker ORDER BY p.date DESC) = 1"
        ).df()
    finally:
        con.unregister("_ra_firsts")
    if prior.empty:
        return df
    prior["date"] = pd.to_datetime(prior["date"])
    return pd.concat([prior, df[["date", "ticker", "adj_close"]]], ignore_index=True)


def _warn(table: str, warnings: list[str]) -> tuple[str, ...]:
    for w in warnings:
        log.warning("%s: %s", table, w)
    return tuple(warnings)


def fetch_prices_rows(
    con: duckdb.DuckDBPyConnection,
    source: PriceSource,
    universe: Universe,
    start: str | None = None,
    end: str | None = None,
    incremental: bool = True,
) -> Fetched:
    """Fetch and validate the universe's prices (after the last stored date); writes nothing."""
    check_window(start, end)
    since = _since(con, "prices", "ticker") if incremental else None
    raw = source.fetch_prices(universe.tickers, start=start, end=end, since=since or None)
    df = validate_prices(raw, expected=None if since else universe.tickers, what=source.name)
    return Fetched("prices", df, _warn("prices", price_warnings(_with_stored_seam(con, df))))


def fetch_macro_rows(
    con: duckdb.DuckDBPyConnection,
    source: MacroSource,
    universe: Universe,
    start: str | None = None,
    end: str | None = None,
    incremental: bool = True,
) -> Fetched:
    """Fetch and validate the universe's FRED series (incrementally); writes nothing."""
    check_window(start, end)
    since = _since(con, "macro", "series_id") if incremental else None
    raw = source.fetch_macro(universe.series_ids, start=start, end=end, since=since or None)
    nonneg = [s for role in NONNEGATIVE_ROLES for s in universe.series_with_role(role)]
    df = validate_macro(
        raw,
        expected=None if since else universe.series_ids,
        what=source.name,
        nonnegative=nonneg,
    )
    return Fetched("macro", df, _warn("macro", macro_warnings(df)))


def write_fetched(
    wh: Warehouse, con: duckdb.DuckDBPyConnection, fetched: list[Fetched]
) -> dict[str, IngestSummary]:
    """Upsert validated tables in one transaction: all are written, or none."""
    results = upsert_many(wh, con, {f.table: f.rows for f in fetched})
    return {f.table: _summary(results[f.table], f) for f in fetched}


def ingest(
    wh: Warehouse,
    con: duckdb.DuckDBPyConnection,
    universe: Universe,
    prices_source: PriceSource | None = None,
    macro_source: MacroSource | None = None,
    start: str | None = None,
    end: str | None = None,
    incremental: bool = True,
    on_fetched: Callable[[list[Fetched]], None] | None = None,
) -> dict[str, IngestSummary]:
    """Prices and/or macro, all-or-nothing: fetch and validate both, then one transaction.

    ``on_fetched`` is called between validation and the write (progress output, tests).
    """
    if prices_source is None and macro_source is None:
        raise ConfigError("ingest: give a prices source and/or a macro source")
    fetched = []
    if prices_source is not None:
        fetched.append(fetch_prices_rows(con, prices_source, universe, start, end, incremental))
    if macro_source is not None:
        fetched.append(fetch_macro_rows(con, macro_source, universe, start, end, incremental))
    if on_fetched is not None:
        on_fetched(fetched)
    return write_fetched(wh, con, fetched)


def ingest_prices(
    wh: Warehouse,
    con: duckdb.DuckDBPyConnection,
    source: PriceSource,
    universe: Universe,
    start: str | None = None,
    end: str | None = None,
    incremental: bool = True,
) -> IngestSummary:
    """Fetch the universe's prices (after the last stored date when incremental) and upsert."""
    fetched = fetch_prices_rows(con, source, universe, start, end, incremental)
    return write_fetched(wh, con, [fetched])["prices"]


def ingest_macro(
    wh: Warehouse,
    con: duckdb.DuckDBPyConnection,
    source: MacroSource,
    universe: Universe,
    start: str | None = None,
    end: str | None = None,
    incremental: bool = True,
) -> IngestSummary:
    """Fetch the universe's FRED series (incrementally) and upsert."""
    fetched = fetch_macro_rows(con, source, universe, start, end, incremental)
    return write_fetched(wh, con, [fetched])["macro"]
