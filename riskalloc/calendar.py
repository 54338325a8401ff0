"""Trading days of the US market, from ``exchange-calendars`` (NYSE): a ground module, since
sources, quality checks, partitions and schedules all need it."""

from __future__ import annotations

from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

CALENDAR = "XNYS"


@lru_cache(maxsize=1)
def _calendar() -> xcals.ExchangeCalendar:
    return xcals.get_calendar(CALENDAR, start="1990-01-02")


def trading_days(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """NYSE sessions in ``[start, end]`` as tz-naive dates."""
    cal = _calendar()
    lo = max(pd.Timestamp(start), cal.first_session)
    hi = min(pd.Timestamp(end), cal.last_session)
    if lo > hi:
        return pd.DatetimeIndex([])
    s = cal.sessions_in_range(lo, hi)
    return pd.DatetimeIndex(s.tz_localize(None) if s.tz is not None else s)


def is_trading_day(day: str | pd.Timestamp) -> bool:
    """Whether ``day`` is an NYSE session."""
    return bool(_calendar().is_session(pd.Timestamp(day).normalize()))


def previous_trading_day(day: str | pd.Timestamp) -> pd.Timestamp:
    """The last NYSE session on or before ``day``."""
    cal = _calendar()
    d = pd.Timestamp(day).normalize()
    s = cal.date_to_session(d, direction="previous")
    return pd.Timestamp(s).tz_localize(None) if pd.Timestamp(s).tz else pd.Timestamp(s)


def calendar_bounds() -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last session the NYSE calendar knows (outside them nothing is judged)."""
    cal = _calendar()
    return tuple(  # type: ignore[return-value]
        pd.Timestamp(s).tz_localize(None) if pd.Timestamp(s).tz else pd.Timestamp(s)
        for s in (cal.first_session, cal.last_session)
    )
