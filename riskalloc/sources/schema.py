"""The one tidy long schema every source produces, and its validation.

Date parsing (ISO/YYYYMMDD only, the market's today) lives in :mod:`riskalloc.sources.dates`.

``prices``: one row per (date, ticker); ``macro``: one row per (date, series_id) with
``available_at``, the first date a value could have been known (point in time).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from riskalloc.errors import DataError, SchemaError
from riskalloc.sources.dates import (
    market_today,
    normalize_dates,
)
from riskalloc.sources.dates import show_items as _show
from riskalloc.universe import SERIES_PATTERN, TICKER_PATTERN

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
# Implausible prices: below a millionth of a unit or above a billion, the data is wrong.
MIN_PRICE, MAX_PRICE = 1e-6, 1e9
# Implausible macro values: no FRED daily series comes near a billion in absolute value.
MAX_ABS_MACRO = 1e9
# Daily adjusted-close moves beyond this |log return| are reported (crashes are real).
WARN_LOG_RETURN = 0.25
# Availability more than this many days after the observation date is reported.
WARN_AVAILABILITY_LAG_DAYS = 366
# FRED series that cannot be negative (volatility indices, credit spreads).
NONNEGATIVE_SERIES: frozenset[str] = frozenset(
    {
        "VIXCLS",
        "VXVCLS",
        "VXNCLS",
        "VXDCLS",
        "RVXCLS",
        "OVXCLS",
        "GVZCLS",
        "EVZCLS",
        "VXEEMCLS",
        "BAMLH0A0HYM2",
        "BAMLC0A0CM",
    }
)
log = logging.getLogger(__name__)


def _refuse_future(out: pd.DataFrame, key: str, what: str) -> None:
    today = market_today()
    future = out["date"] > today
    if future.any():
        raise DataError(
            f"{what}: rows dated after today ({today.date()} in New York) for "
            f"{_rows(out.loc[future], key)}; future dates are data errors (check the file's "
            "date column and format)"
        )


def _check_keys(values: pd.Series, pattern: re.Pattern[str], kind: str, what: str) -> None:
    bad = sorted({v for v in values.unique() if not pattern.fullmatch(v)})
    if bad:
        shown = [v if len(v) <= 40 else f"{v[:40]}... ({len(v)} characters)" for v in bad]
        raise DataError(
            f"{what}: implausible {kind}s {_show(shown, 5)}; expected 1-32 letters, digits "
            "or . - _ ^ = / &"
        )


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
    _check_keys(out["ticker"], TICKER_PATTERN, "ticker", what)
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
    negvol = out["volume"] < 0
    if negvol.any():
        raise DataError(f"{what}: negative volume for {_rows(out.loc[negvol])}")
    nonpos = (out[list(PRICE_VALUE_COLUMNS)] <= 0).any(axis=1)
    if nonpos.any():
        raise DataError(f"{what}: zero or negative prices for {_rows(out.loc[nonpos])}")
    values = out[list(PRICE_VALUE_COLUMNS)]
    odd = ((values < MIN_PRICE) | (values > MAX_PRICE)).any(axis=1)
    if odd.any():
        raise DataError(
            f"{what}: implausible prices (outside {MIN_PRICE:g} to {MAX_PRICE:g}) for "
            f"{_rows(out.loc[odd])}, e.g. adj_close {out.loc[odd, 'adj_close'].iloc[0]:g}"
        )
    dup = out.duplicated(["date", "ticker"], keep=False)
    if dup.any():
        raise DataError(f"{what}: duplicate (date, ticker) rows for {_rows(out.loc[dup])}")
    _refuse_future(out, "ticker", what)
    weekend = out["date"].dt.day_of_week >= 5
    if weekend.any():
        raise DataError(
            f"{what}: prices on a Saturday or Sunday (not NYSE trading days) for "
            f"{_rows(out.loc[weekend])}; check the date column and its format"
        )
    if expected is not None:
        absent = sorted(set(expected) - set(out["ticker"]))
        if absent:
            raise DataError(
                f"{what}: no rows for tickers {absent}; check the universe file and the dates"
            )
    return out.sort_values(["ticker", "date"], kind="mergesort").reset_index(drop=True)


def validate_macro(
    df: pd.DataFrame,
    expected: Iterable[str] | None = None,
    what: str = "macro",
    nonnegative: Iterable[str] = (),
) -> pd.DataFrame:
    """Check a long macro frame and return it normalised and sorted by (series_id, date).

    Negative values of ``nonnegative`` series (and of the known volatility indices and
    credit spreads, :data:`NONNEGATIVE_SERIES`) are refused.
    """
    missing = [c for c in MACRO_COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(f"{what}: missing columns {missing}; expected {list(MACRO_COLUMNS)}")
    out = df.loc[:, list(MACRO_COLUMNS)].copy().reset_index(drop=True)
    out["date"] = normalize_dates(out["date"], what)
    out["available_at"] = normalize_dates(out["available_at"], f"{what} available_at")
    out["series_id"] = out["series_id"].astype(str)
    out["source"] = out["source"].astype(str)
    _check_keys(out["series_id"], SERIES_PATTERN, "series id", what)
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
    huge = out["value"].abs() > MAX_ABS_MACRO
    if huge.any():
        raise DataError(
            f"{what}: implausible values (beyond +-{MAX_ABS_MACRO:g}) for "
            f"{_rows(out.loc[huge], 'series_id')}, e.g. {out.loc[huge, 'value'].iloc[0]:g}"
        )
    positive_only = NONNEGATIVE_SERIES | set(nonnegative)
    negative = out["series_id"].isin(positive_only) & (out["value"] < 0)
    if negative.any():
        raise DataError(
            f"{what}: negative values of a series that cannot be negative (volatility "
            f"index or credit spread) for {_rows(out.loc[negative], 'series_id')}, e.g. "
            f"{out.loc[negative, 'value'].iloc[0]:g}"
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
    _refuse_future(out, "series_id", what)
    if expected is not None:
        absent = sorted(set(expected) - set(out["series_id"]))
        if absent:
            raise DataError(
                f"{what}: no rows for series {absent}; check the universe file and the dates"
            )
    return out.sort_values(["series_id", "date"], kind="mergesort").reset_index(drop=True)


def _rows(df: pd.DataFrame, key: str = "ticker", limit: int = 5) -> str:
    pairs = [f"{k} {pd.Timestamp(d).date()}" for k, d in zip(df[key], df["date"], strict=True)]
    return _show(pairs, limit)


def prices_from_wide(wide: pd.DataFrame, source: str, what: str = "prices") -> pd.DataFrame:
    """Long price rows from a wide (date x ticker) table of adjusted closes.

    Empty cells before a ticker's first price (inception) and after its last (delisting)
    are dropped; an empty cell between them is a gap, refused naming ticker and date,
    as a missing ``adj_close`` is in the long layout. Only ``adj_close`` is known, so
    open/high/low/close/volume stay missing.
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
    values = w.apply(pd.to_numeric, errors="coerce")
    listed = values.notna().cummax() & values.notna()[::-1].cummax()[::-1]
    gaps = listed & w.isna()
    if gaps.to_numpy().any():
        cells = gaps.stack(future_stack=True)
        cells = cells[cells].reset_index()
        cells.columns = ["date", "ticker", "_"]
        raise DataError(
            f"{what}: empty price cells inside the listed life of {_rows(cells)}; fill or "
            "remove the rows (only cells before a ticker's first or after its last price "
            "may be empty)"
        )
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


def price_warnings(df: pd.DataFrame, limit: int = 5) -> list[str]:
    """Plausibility warnings on validated prices: holiday rows, missing sessions, big moves.

    Crashes and unadjusted split seams both show up here; the rows are stored.
    """
    if df.empty:
        return []
    out = []
    holidays = _weekday_holidays(df["date"])
    if holidays.any():
        out.append(
            f"{int(holidays.sum())} rows on weekdays that are not NYSE sessions (holidays): "
            f"{_rows(df.loc[holidays], 'ticker', limit)}; check the dates"
        )
    missing = _missing_sessions(df)
    if missing:
        out.append(
            f"{len(missing)} NYSE sessions without a row inside a ticker's listed life: "
            f"{_show(missing, limit)}; gaps over 5 sessions fail the prices_no_gaps check"
        )
    d = df.sort_values(["ticker", "date"])
    lr = np.log(d["adj_close"]).groupby(d["ticker"]).diff()
    big = lr.abs() > WARN_LOG_RETURN
    if big.any():
        rows = d.loc[big].assign(ratio=np.exp(lr[big]))
        shown = [
            f"{t} {pd.Timestamp(day).date()} x{r:.3g}"
            for t, day, r in zip(rows["ticker"], rows["date"], rows["ratio"], strict=True)
        ]
        out.append(
            f"{int(big.sum())} daily moves beyond {WARN_LOG_RETURN:.0%} (log return): "
            f"{_show(shown, limit)}; check for split seams or bad prints"
        )
    return out


def _missing_sessions(df: pd.DataFrame) -> list[str]:
    """``"TICKER date"`` for each NYSE session between a ticker's first and last row it lacks."""
    from riskalloc.calendar import trading_days

    sessions = trading_days(df["date"].min(), df["date"].max())
    out: list[str] = []
    for ticker, dates in df.groupby("ticker", sort=True)["date"]:
        inside = sessions[(sessions > dates.min()) & (sessions < dates.max())]
        out += [f"{ticker} {d.date()}" for d in inside.difference(pd.DatetimeIndex(dates))]
    return out


def _weekday_holidays(dates: pd.Series) -> pd.Series:
    """Weekdays inside the NYSE calendar's range that are not sessions."""
    from riskalloc.calendar import calendar_bounds, trading_days

    days = pd.DatetimeIndex(dates.unique())
    first, last = calendar_bounds()
    sessions = trading_days(days.min(), days.max())
    inside = (days >= first) & (days <= last) & (days.day_of_week < 5)
    odd = set(days[inside & ~days.isin(sessions)])
    return dates.isin(odd)


def macro_warnings(df: pd.DataFrame, limit: int = 5) -> list[str]:
    """Plausibility warnings on validated macro rows: values available long after their date."""
    if df.empty:
        return []
    lag = (df["available_at"] - df["date"]).dt.days
    late = lag > WARN_AVAILABILITY_LAG_DAYS
    if not late.any():
        return []
    return [
        f"{int(late.sum())} values become available over {WARN_AVAILABILITY_LAG_DAYS} days "
        f"after their date: {_rows(df.loc[late], 'series_id', limit)}; check available_at"
    ]
