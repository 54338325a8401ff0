"""The Strategy protocol every allocator implements, and the shared look-back machinery.

The cash ETF (``md.cash``) is left out of risky universes by default: cash is modelled by the
risk-free rate on the part of the portfolio that is not invested (1 − sum of weights).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from riskalloc.market import TRADING_DAYS, MarketData, risky_tickers

LOOKBACK = TRADING_DAYS


@runtime_checkable
class Strategy(Protocol):
    """Fit on the past, then give target weights decided at the close of each date."""

    name: str

    def fit(self, md: MarketData) -> None:
        """Learn from ``md`` (already cut at the training end: no future rows)."""

    def weights(self, md: MarketData, dates: pd.DatetimeIndex) -> pd.DataFrame:
        """Rows = ``dates``, columns = ``md.tickers``; sum ≤ 1 (rest cash; up to an optional
        ``max_gross`` attribute for a strategy that levers), 0 for unpriced."""


def eligible_window(
    returns: pd.DataFrame, date: pd.Timestamp, lookback: int = LOOKBACK
) -> pd.DataFrame:
    """The last ``lookback`` daily returns dated ≤ ``date`` of assets with none missing.

    Empty (no columns) when fewer than ``lookback`` rows exist: only assets with a full
    look-back are eligible.
    """
    past = returns.loc[returns.index <= date].tail(lookback)
    if len(past) < lookback:
        return past.iloc[:, :0]
    return past.loc[:, past.notna().all(axis=0).to_numpy()]


class LookbackStrategy:
    """Base of the rolling-window baselines: nothing to fit, one allocation per date.

    Subclasses implement :meth:`allocate` on a (lookback × eligible assets) window and return
    weights summing to 1 over those assets.
    """

    name = "lookback"
    risk_measures: tuple[str, ...] = ("none",)
    stochastic = False

    def __init__(self, lookback: int = LOOKBACK, exclude_cash: bool = True) -> None:
        self.lookback = lookback
        self.exclude_cash = exclude_cash

    def fit(self, md: MarketData) -> None:
        """Rolling-window rules learn nothing ahead of time."""

    def allocate(self, window: pd.DataFrame) -> np.ndarray:
        """Fully invested long-only weights for the window's columns."""
        raise NotImplementedError

    def weights(self, md: MarketData, dates: Iterable[pd.Timestamp]) -> pd.DataFrame:
        """One allocation per date from the trailing window of eligible assets."""
        idx = pd.DatetimeIndex(list(dates), name="date")
        risky = risky_tickers(md, self.exclude_cash)
        prices = md.prices.loc[:, risky]
        col = {t: j for j, t in enumerate(md.tickers)}
        out = np.zeros((len(idx), len(col)))
        for i, d in enumerate(idx):
            # a return reads only the previous row's price, so the returns of the last
            # `lookback` rows from the last `lookback + 1` prices equal those of all history
            hi = int(prices.index.searchsorted(d, side="right"))
            tail = prices.iloc[max(0, hi - self.lookback - 1) : hi]
            win = eligible_window(tail.pct_change(fill_method=None), d, self.lookback)
            if win.shape[1] == 0:
                continue
            w = np.clip(np.asarray(self.allocate(win), dtype=float), 0.0, None)
            if w.sum() > 0:
                out[i, [col[t] for t in win.columns]] = w / w.sum()
        return pd.DataFrame(out, index=idx, columns=md.tickers)
