"""Trading calendars of a backtest: rebalance dates and walk-forward retraining folds."""

from __future__ import annotations

from typing import Literal

import pandas as pd

from riskalloc.errors import ConfigError, DataError

Rebalance = Literal["daily", "weekly", "monthly"]
Retrain = Literal["once", "yearly", "quarterly", "monthly"]
REBALANCES: tuple[str, ...] = ("daily", "weekly", "monthly")
# the one set of evaluation defaults: the CLI, the backtest asset and the grid share them
DEFAULT_REBALANCE = "weekly"
DEFAULT_COST_BPS = 10.0
DEFAULT_RETRAIN = "yearly"
RETRAINS: tuple[str, ...] = ("once", "yearly", "quarterly", "monthly")
_PERIOD = {"weekly": "W", "monthly": "M"}
_FOLD_FREQ = {"yearly": "YS", "quarterly": "QS", "monthly": "MS"}


def period_ends(dates: pd.DatetimeIndex, rebalance: str) -> pd.DatetimeIndex:
    """The last trading day of each day/week/month among ``dates`` (a trading calendar)."""
    if rebalance not in REBALANCES:
        raise ConfigError(f"unknown rebalance {rebalance!r}; use one of {list(REBALANCES)}")
    idx = pd.DatetimeIndex(dates)
    if rebalance == "daily":
        return idx
    keys = idx.to_period(_PERIOD[rebalance])
    last = ~pd.Index(keys).duplicated(keep="last")
    return idx[last]


def window_days(
    dates: pd.DatetimeIndex, start: str | pd.Timestamp, end: str | pd.Timestamp
) -> pd.DatetimeIndex:
    """Trading days in ``[start, end]``; an error if there are none."""
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    if s > e:
        raise DataError(f"backtest start {s.date()} is after end {e.date()}")
    idx = pd.DatetimeIndex(dates)
    days = idx[(idx >= s) & (idx <= e)]
    if len(days) == 0:
        raise DataError(f"no trading days between {s.date()} and {e.date()} in the price data")
    return days


def rebalance_dates(
    dates: pd.DatetimeIndex,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    rebalance: str = "monthly",
) -> pd.DatetimeIndex:
    """Decision dates of a backtest over ``[start, end]``.

    The last trading day before ``start`` (so the first day is already invested), then every
    last trading day of a day/week/month inside the window except the window's final day
    (a trade there would never be held).
    """
    idx = pd.DatetimeIndex(dates)
    days = window_days(idx, start, end)
    ends = period_ends(idx, rebalance)
    inside = ends[(ends >= days[0]) & (ends < days[-1])]
    before = idx[idx < days[0]]
    if len(before):
        inside = pd.DatetimeIndex([before[-1]]).append(inside)
    return pd.DatetimeIndex(inside, name="date")


def fold_starts(
    start: str | pd.Timestamp, end: str | pd.Timestamp, retrain: str = "yearly"
) -> list[pd.Timestamp]:
    """Calendar starts of the retraining folds: ``start`` then each new year/quarter/month."""
    if retrain not in RETRAINS:
        raise ConfigError(f"unknown retrain {retrain!r}; use one of {list(RETRAINS)}")
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    if retrain == "once":
        return [s]
    later = pd.date_range(s, e, freq=_FOLD_FREQ[retrain])
    return [s, *[d for d in later if d > s]]
