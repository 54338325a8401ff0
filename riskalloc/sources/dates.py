"""Dates as riskalloc accepts them: ISO YYYY-MM-DD (optionally timed, with an offset) or
YYYYMMDD; ambiguous day-first forms are refused, never guessed, and "today" is New York's."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

import numpy as np
import pandas as pd

from riskalloc.errors import SchemaError

MARKET_TZ = "America/New_York"
# Dates outside these are typos (and outside what nanosecond timestamps can hold).
EARLIEST_DATE, LATEST_DATE = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-12-31")


def show_items(items: Iterable[object], limit: int = 10) -> str:
    """``[a, b, c] (+n more)``: a short list for an error message."""
    items = list(items)
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return f"{items[:limit]}{more}"


_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_ISO_TZ = re.compile(r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$")
_BASIC = re.compile(r"^\d{8}$")  # YYYYMMDD
_DAY_MONTH = re.compile(r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}$")
DATE_FORMATS = "ISO YYYY-MM-DD (optionally with a time and offset) or YYYYMMDD"


def market_today() -> pd.Timestamp:
    """Today's date on the exchange (New York): no stored value may be dated after it."""
    return pd.Timestamp.now(tz=MARKET_TZ).normalize().tz_localize(None)


def _to_datetime(text: pd.Series, fmt: str, utc: bool, what: str) -> pd.Series:
    """``pd.to_datetime`` with one format; an impossible date is named (month 13, day 32)."""
    try:
        return pd.to_datetime(text, format=fmt, utc=utc)
    except (ValueError, OverflowError):
        for value in text:
            try:
                pd.to_datetime(value, format=fmt, utc=utc)
            except (ValueError, OverflowError):
                raise SchemaError(
                    f"{what}: {value[:40]!r} is not a valid calendar date; write dates as "
                    f"{DATE_FORMATS}"
                ) from None
        raise


def _date_strings(text: pd.Series, what: str) -> pd.Series:
    """Parse date strings in the documented formats only; anything else is refused."""
    text = text.str.strip()
    iso = text.str.match(_ISO)
    if iso.all():
        utc = bool(text.str.contains(_ISO_TZ).any())
        parsed = _to_datetime(text, "ISO8601", utc, what)
        return parsed.dt.tz_convert(MARKET_TZ).dt.tz_localize(None) if utc else parsed
    if text.str.match(_BASIC).all():
        return _to_datetime(text, "%Y%m%d", False, what)
    bad = text[~iso & ~text.str.match(_BASIC)]
    sample = show_items(bad.head(3).tolist(), 3)
    if bad.str.match(_DAY_MONTH).any():
        raise SchemaError(
            f"{what}: ambiguous dates {sample}: day-first and month-first read differently; "
            f"write dates as {DATE_FORMATS}"
        )
    raise SchemaError(f"{what}: unparseable dates {sample}; write dates as {DATE_FORMATS}")


def _parse_dates(values: pd.Series, what: str) -> pd.Series:
    """Dates from datetime values, date objects, YYYYMMDD integers or documented strings."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if values.isna().any():
        raise SchemaError(f"{what}: {int(values.isna().sum())} missing dates")
    if pd.api.types.is_bool_dtype(values):
        raise SchemaError(f"{what}: dates are booleans; write dates as {DATE_FORMATS}")
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
        if not (numbers == numbers.round()).all():
            raise SchemaError(f"{what}: numeric dates are not YYYYMMDD; use {DATE_FORMATS}")
        return _date_strings(numbers.astype("int64").astype(str), what)
    kinds = {type(v) for v in values}
    if kinds <= {str}:
        return _date_strings(values.astype(str), what)
    if all(issubclass(k, (date, pd.Timestamp, np.datetime64)) for k in kinds):
        return pd.to_datetime(values)
    raise SchemaError(
        f"{what}: date values of types {sorted(k.__name__ for k in kinds)}; use {DATE_FORMATS}"
    )


def normalize_dates(values: pd.Series | pd.Index, what: str) -> pd.Series:
    """Turn dates/timestamps into tz-naive midnight dates in the US market's time zone.

    Strings must be ISO (``YYYY-MM-DD``, optionally with a time and offset) or
    ``YYYYMMDD``: day-first or month-first forms like ``03/01/2023`` are ambiguous and
    refused. Timezone-aware stamps are converted to New York time first (yfinance returns
    midnight New York, which is 04:00/05:00 UTC); naive stamps with a time of day are
    rejected because their calendar date is ambiguous.
    """
    try:
        ts = _parse_dates(pd.Series(values).reset_index(drop=True), what)
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(
            f"{what}: unparseable date values ({exc}); write dates as {DATE_FORMATS}"
        ) from None
    if ts.isna().any():
        raise SchemaError(f"{what}: {int(ts.isna().sum())} missing dates")
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert(MARKET_TZ).dt.tz_localize(None)
    off = ts != ts.dt.normalize()
    if off.any():
        raise SchemaError(
            f"{what}: timestamps with a time of day, e.g. {show_items(ts[off].astype(str), 3)}; "
            "give dates, or timezone-aware timestamps"
        )
    early, late = ts < EARLIEST_DATE, ts > LATEST_DATE
    if early.any() or late.any():
        odd = ts[early | late].astype(str)
        raise SchemaError(
            f"{what}: implausible dates {show_items(odd, 3)}; dates must lie between "
            f"{EARLIEST_DATE.date()} and {LATEST_DATE.date()}"
        )
    return ts.dt.normalize().astype("datetime64[ns]").reset_index(drop=True)


def parse_date(value: object, what: str = "date") -> pd.Timestamp:
    """One date argument (CLI, config, library) in the documented formats, as midnight."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        if isinstance(value, str) and len(value) > 40:
            raise SchemaError(f"{what}: not a date ({value[:40]!r}...); use {DATE_FORMATS}")
        return normalize_dates(pd.Series([str(value)]), what).iloc[0]
    if isinstance(value, (date, pd.Timestamp, np.datetime64)):
        return normalize_dates(pd.Series([pd.Timestamp(value)]), what).iloc[0]
    raise SchemaError(f"{what}: not a date ({value!r}); use {DATE_FORMATS}")
