"""Ingest: fetch from a source, validate, upsert into the warehouse, summarise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import duckdb
import pandas as pd

from riskalloc.config import Universe
from riskalloc.sources.schema import validate_macro, validate_prices
from riskalloc.warehouse.reads import last_dates
from riskalloc.warehouse.store import UpsertResult, Warehouse, upsert


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


def _summary(result: UpsertResult, df: pd.DataFrame) -> IngestSummary:
    return IngestSummary(
        result=result,
        rows_fetched=len(df),
        first_date=df["date"].min() if len(df) else None,
        last_date=df["date"].max() if len(df) else None,
        preview=df.sort_values("date").tail(10),
    )


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
    since = last_dates(con, "prices", "ticker") if incremental else None
    raw = source.fetch_prices(universe.tickers, start=start, end=end, since=since or None)
    df = validate_prices(raw, expected=None if since else universe.tickers, what=source.name)
    return _summary(upsert(wh, con, "prices", df), df)


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
    since = last_dates(con, "macro", "series_id") if incremental else None
    raw = source.fetch_macro(universe.series_ids, start=start, end=end, since=since or None)
    df = validate_macro(raw, expected=None if since else universe.series_ids, what=source.name)
    return _summary(upsert(wh, con, "macro", df), df)
