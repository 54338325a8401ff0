"""The one tidy long schema every source produces, and its validation.

``prices``: one row per (date, ticker); ``macro``: one row per (date, series_id) with
``available_at``, the first date a value could have been known (point in time).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from riskalloc.errors import DataError, SchemaError

PRICE_COLUMNS: tuple[str, ...] = (
    "date",
    "ticker",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "source",
)
MACRO_COLUMNS: tuple[str, ...] = (
    "date",
    "series_id",
    "value",
    "available_at",
    "source",
)
PRICE_VALUE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")
MARKET_TZ = "America/New_York"


def _show(items: Iterable[object], limit: int = 10) -> str:
    items = list(items)
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return f"{items[:limit]}{more}"


def normalize_dates(values: pd.Series | pd.Index, what: str) -> pd.Series:
    """Turn dates/timestamps into tz-naive midnight dates in the US market's time zone.

    Timezone-aware stamps are converted to New York time first (yfinance returns
    midnight New York, which is 04:00/05:00 UTC); naive stamps with a time of day are
    rejected because their calendar date is ambiguous.
    """
    try:
        ts = pd.to_datetime(pd.Series(values), errors="raise")
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{what}: unparseable date values ({exc})") from exc
    if ts.isna().any():
        raise SchemaError(f"{what}: {int(ts.isna().sum())} missing dates")
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert(MARKET_TZ).dt.tz_localize(None)
    off = ts != ts.dt.normalize()
    if off.any():
        raise SchemaError(
            f"{what}: timestamps with a time of day, e.g. {_show(ts[off].astype(str), 3)}; "
            "give dates, or timezone-aware timestamps"
        )
    return ts.dt.normalize().astype("datetime64[ns]").reset_index(drop=True)


def next_business_day(dates: pd.Series) -> pd.Series:
    """The weekday after each date: when a FRED daily value for that date is published."""
    return (pd.to_datetime(dates) + pd.offsets.BDay(1)).astype("datetime64[ns]")


def validate_prices(
    df: pd.DataFrame, expected: Iterable[str] | None = None, what: str = "prices"
) -> pd.DataFrame:
    """Check a long price frame and return it normalised and sorted by (ticker, date).

    Raises a :class:`DataError` naming the ticker and dates for missing columns,
    duplicate (date, ticker) keys, missing or non-positive adjusted closes, and
    expected tickers that have no rows.
    """
    missing = [c for c in PRICE_COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(f"{what}: missing columns {missing}; expected {list(PRICE_COLUMNS)}")
    out = df.loc[:, list(PRICE_COLUMNS)].copy().reset_index(drop=True)
    out["date"] = normalize_dates(out["date"], what)
    out["ticker"] = out["ticker"].astype(str)
    out["source"] = out["source"].astype(str)
    for c in (*PRICE_VALUE_COLUMNS, "volume"):
        try:
            out[c] = pd.to_numeric(out[c], errors="raise").astype("float64")
        except (ValueError, TypeError) as exc:
            raise SchemaError(f"{what}: column {c!r} is not numeric ({exc})") from exc
    vals = out[list(PRICE_VALUE_COLUMNS)].to_numpy()
    if np.isinf(vals).any():
        bad = out.loc[np.isinf(vals).any(axis=1), ["ticker", "date"]]
        raise DataError(f"{what}: infinite prices for {_rows(bad)}")
    nan_adj = out["adj_close"].isna()
    if nan_adj.any():
        raise DataError(f"{what}: missing adj_close for {_rows(out.loc[nan_adj])}")
    nonpos = (out[list(PRICE_VALUE_COLUMNS)] <= 0).any(axis=1)
    if nonpos.any():
        raise DataError(f"{what}: zero or negative prices for {_rows(out.loc[nonpos])}")
    dup = out.duplicated(["date", "ticker"], keep=False)
    if dup.any():
        raise DataError(f"{what}: duplicate (date, ticker) rows for {_rows(out.loc[dup])}")
    if expected is not None:
        absent = sorted(set(expected) - set(out["ticker"]))
        if absent:
            raise DataError(f"{what}: no rows for tickers {absent}; check the universe file")
    return out.sort_values(["ticker", "date"], kind="mergesort").reset_index(drop=True)


def validate_macro(
    df: pd.DataFrame, expected: Iterable[str] | None = None, what: str = "macro"
) -> pd.DataFrame:
    """Check a long macro frame and return it normalised and sorted by (series_id, date)."""
    missing = [c for c in MACRO_COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(f"{what}: missing columns {missing}; expected {list(MACRO_COLUMNS)}")
    out = df.loc[:, list(MACRO_COLUMNS)].copy().reset_index(drop=True)
    out["date"] = normalize_dates(out["date"], what)
    out["available_at"] = normalize_dates(out["available_at"], f"{what} available_at")
    out["series_id"] = out["series_id"].astype(str)
    out["source"] = out["source"].astype(str)
    try:
        out["value"] = pd.to_numeric(out["value"], errors="raise").astype("float64")
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{what}: column 'value' is not numeric ({exc})") from exc
    bad = ~np.isfinite(out["value"].to_numpy())
    if bad.any():
        raise DataError(
            f"{what}: missing or infinite values for {_rows(out.loc[bad], 'series_id')}; "
            "drop FRED's missing markers ('.') before validation"
        )
    early = out["available_at"] < out["date"]
    if early.any():
        raise DataError(
            f"{what}: available_at before date (look-ahead) for "
            f"{_rows(out.loc[early], 'series_id')}"
        )
    dup = out.duplicated(["date", "series_id"], keep=False)
    if dup.any():
        raise DataError(
            f"{what}: duplicate (date, series_id) rows for {_rows(out.loc[dup], 'series_id')}"
        )
    if expected is not None:
        absent = sorted(set(expected) - set(out["series_id"]))
        if absent:
            raise DataError(f"{what}: no rows for series {absent}; check the universe file")
    return out.sort_values(["series_id", "date"], kind="mergesort").reset_index(drop=True)


def _rows(df: pd.DataFrame, key: str = "ticker", limit: int = 5) -> str:
    pairs = [f"{k} {pd.Timestamp(d).date()}" for k, d in zip(df[key], df["date"], strict=True)]
    return _show(pairs, limit)


def prices_from_wide(wide: pd.DataFrame, source: str, what: str = "prices") -> pd.DataFrame:
    """Long price rows from a wide (date x ticker) table of adjusted closes.

    Cells that are empty (before a fund's inception) are dropped; only ``adj_close``
    is known, so open/high/low/close/volume stay missing.
    """
    if wide.index.has_duplicates:
        dups = wide.index[wide.index.duplicated()].unique()
        raise DataError(f"{what}: duplicate dates {_show([str(d)[:10] for d in dups], 5)}")
    idx = normalize_dates(wide.index.to_series(), what)
    if not idx.is_monotonic_increasing:
        raise DataError(f"{what}: dates are not in increasing order")
    w = wide.copy()
    w.index = pd.DatetimeIndex(idx, name="date")
    w.columns = [str(c) for c in w.columns]
    long = w.stack(future_stack=True).rename("adj_close").reset_index()
    long.columns = ["date", "ticker", "adj_close"]
    long = long.dropna(subset=["adj_close"])
    for c in ("open", "high", "low", "close", "volume"):
        long[c] = np.nan
    long["source"] = source
    return long.loc[:, list(PRICE_COLUMNS)]


def macro_from_wide(wide: pd.DataFrame, source: str, what: str = "macro") -> pd.DataFrame:
    """Long macro rows from a wide (date x series) table; ``available_at`` = next weekday."""
    if wide.index.has_duplicates:
        dups = wide.index[wide.index.duplicated()].unique()
        raise DataError(f"{what}: duplicate dates {_show([str(d)[:10] for d in dups], 5)}")
    idx = normalize_dates(wide.index.to_series(), what)
    w = wide.copy()
    w.index = pd.DatetimeIndex(idx, name="date")
    w.columns = [str(c) for c in w.columns]
    long = w.stack(future_stack=True).rename("value").reset_index()
    long.columns = ["date", "series_id", "value"]
    long = long.dropna(subset=["value"])
    long["available_at"] = next_business_day(long["date"])
    long["source"] = source
    return long.loc[:, list(MACRO_COLUMNS)]


def to_wide(long: pd.DataFrame, value: str = "adj_close", key: str = "ticker") -> pd.DataFrame:
    """Wide (date x key) table from a long frame, dates sorted ascending."""
    return long.pivot(index="date", columns=key, values=value).sort_index()
