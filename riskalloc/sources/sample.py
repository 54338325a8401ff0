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
from riskalloc.sources._retry import no_rows_message, to_timestamp
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


def _window(wide: pd.DataFrame, start: str | None, end: str | None, what: str) -> pd.DataFrame:
    """Rows in ``[start, end]``; keys left without a value there are named with the reason."""
    first, last = to_timestamp(start), to_timestamp(end)
    out = wide.loc[first:last]
    empty = [c for c in out.columns if out[c].isna().all()]
    if empty:
        held = {
            c: f"the bundled snapshot has {c} from {wide[c].first_valid_index().date()} to "
            f"{wide[c].last_valid_index().date()}"
            for c in empty
            if wide[c].notna().any()
        }
        raise DataError(no_rows_message(f"sample {what}", what, empty, start, end, None, 0, held))
    return out


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
        wide = _window(_select(sample_prices_wide(), tickers, "tickers"), start, end, "tickers")
        return validate_prices(prices_from_wide(wide, SOURCE_NAME), expected=tickers)

    def fetch_macro(
        self,
        series_ids: Sequence[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        since: dict[str, pd.Timestamp] | None = None,
    ) -> pd.DataFrame:
        """Long macro rows with ``available_at`` = the next business day (``since`` ignored)."""
        wide = _window(_select(sample_macro_wide(), series_ids, "series"), start, end, "series")
        return validate_macro(macro_from_wide(wide, SOURCE_NAME), expected=series_ids)
