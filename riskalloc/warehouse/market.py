"""Read the warehouse's ``prices`` and ``macro`` tables back as one :class:`MarketData`."""

from __future__ import annotations

import duckdb
import pandas as pd

from riskalloc.config import Universe
from riskalloc.errors import DataError
from riskalloc.market import MarketData
from riskalloc.warehouse.reads import read_table


def load_market_data(
    con: duckdb.DuckDBPyConnection, universe: Universe, end: str | pd.Timestamp | None = None
) -> MarketData:
    """Prices and macro of the universe's tickers and series, cut at ``end`` (point in time)."""
    prices = read_table(con, "prices", where={"ticker": universe.tickers})
    macro = read_table(con, "macro", where={"series_id": universe.series_ids})
    if prices.empty:
        raise DataError("the warehouse has no prices for the universe; run the ingest first")
    md = MarketData.from_long(prices, macro, universe)
    return md if end is None else md.until(end)
