"""The bundled snapshot of real data: 35 ETFs (2000-2022) and 14 FRED series (1990-2022).

Shipped as package data so a plain install runs with no network; provenance and terms
are in ``riskalloc/sources/data/README.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import pandas as pd

from riskalloc.errors import DataError
from riskalloc.sources.schema import (
    macro_from_wide,
    prices_from_wide,
    validate_macro,
    validate_prices,
)

PRICES_FILE = "etf_prices_daily.csv.gz"
MACRO_FILE = "fred_macro_daily.csv.gz"
SOURCE_NAME = "sample"


@lru_cache(maxsize=2)
def _read_wide(name: str) -> pd.DataFrame:
    path = resources.files("riskalloc.sources") / "data" / name
    with resources.as_file(path) as p:
        return pd.read_csv(p, index_col="date", parse_dates=True)


def sample_prices_wide() -> pd.DataFrame:
    """Adjusted closes, date x ticker (a copy; NaN before each fund's inception)."""
    return _read_wide(PRICES_FILE).copy()


def sample_macro_wide() -> pd.DataFrame:
    """FRED values, date x series (a copy; NaN where FRED has no observation)."""
    return _read_wide(MACRO_FILE).copy()


def _select(wide: pd.DataFrame, names: Sequence[str] | None, what: str) -> pd.DataFrame:
    if names is None:
        return wide
    unknown = [n for n in names if n not in wide.columns]
    if unknown:
        raise DataError(
            f"sample {what}: unknown {unknown}; the bundled snapshot has {list(wide.columns)}"
        )
    return wide.loc[:, list(names)]


def _window(wide: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    return wide.loc[pd.Timestamp(start) if start else None : pd.Timestamp(end) if end else None]


@dataclass(frozen=True)
class SampleSource:
    """Prices and macro series from the bundled snapshot."""

    name: str = SOURCE_NAME

    def fetch_prices(
        self,
        tickers: Sequence[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        since: dict[str, pd.Timestamp] | None = None,
    ) -> pd.DataFrame:
        """Long price rows for ``tickers`` between ``start`` and ``end`` (inclusive).

        ``since`` is accepted for interface parity and ignored: the snapshot is small and
        the upsert skips unchanged rows.
        """
        wide = _window(_select(sample_prices_wide(), tickers, "tickers"), start, end)
        return validate_prices(prices_from_wide(wide, SOURCE_NAME), expected=tickers)

    def fetch_macro(
        self,
        series_ids: Sequence[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        since: dict[str, pd.Timestamp] | None = None,
    ) -> pd.DataFrame:
        """Long macro rows with ``available_at`` = the next business day (``since`` ignored)."""
        wide = _window(_select(sample_macro_wide(), series_ids, "series"), start, end)
        return validate_macro(macro_from_wide(wide, SOURCE_NAME), expected=series_ids)
