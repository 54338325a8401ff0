"""Daily backtest of target weights: drift between rebalances, turnover costs, cash at rf.

Weights decided at the close of rebalance date t are held from t+1. Between rebalances the
holdings drift with asset returns; the uninvested part (1 − sum of weights) is cash earning
``md.rf_daily()``. On a rebalance day the cost ``cost_bps/1e4 × turnover`` is charged, where
turnover is the L1 distance between the new target and the drifted weights *including the
cash leg* (so moving 10 % from cash into an asset counts 0.2).

Weights may sum to more than 1 only when the caller allows it (``max_gross``, for a levered
design): the cash leg is then negative, a loan that pays the risk-free rate plus
``borrow_spread_bps`` a year, as levered risk parity is financed in practice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskalloc.allocate.design import MAX_GROSS_EXPOSURE
from riskalloc.backtest.schedule import rebalance_dates, window_days
from riskalloc.errors import DataError
from riskalloc.market import TRADING_DAYS, MarketData

SUM_TOL = 1e-6
# a conventional broker spread over T-bills (50 bps a year), not fitted to any data
BORROW_SPREAD_BPS = 50.0


@dataclass(frozen=True)
class BacktestResult:
    """Daily outcome of one simulated strategy (all series on the window's trading days)."""

    returns: pd.Series  # net daily portfolio return
    gross_returns: pd.Series  # before costs
    rf: pd.Series  # daily risk-free return over the same days
    exposure: pd.Series  # sum of risky weights held during the day (cash ETF excluded)
    turnover: pd.Series  # L1 incl. cash on rebalance days, 0 otherwise
    costs: pd.Series  # fraction of wealth paid on the day
    holdings: pd.DataFrame  # risky weights held during each day (after drift)
    weights: pd.DataFrame  # targets applied, one row per rebalance date
    cost_bps: float

    @property
    def wealth(self) -> pd.Series:
        """Growth of 1 invested at the start."""
        return (1.0 + self.returns).cumprod().rename("wealth")


def _check_targets(w: pd.DataFrame, prices: pd.DataFrame, max_gross: float) -> pd.DataFrame:
    """Targets aligned to the price columns; errors name the ticker and date at fault."""
    unknown = sorted(set(w.columns) - set(prices.columns))
    if unknown:
        raise DataError(f"weights for tickers {unknown} that have no price column")
    w = w.reindex(columns=prices.columns).fillna(0.0).astype("float64")
    vals = w.to_numpy()
    if not np.isfinite(vals).all():
        i, j = np.argwhere(~np.isfinite(vals))[0]
        raise DataError(f"weight of {w.columns[j]} on {w.index[i].date()} is not finite")
    sums = vals.sum(axis=1)
    if (sums > max_gross + SUM_TOL).any():
        i = int(np.argmax(sums))
        what = "no leverage" if max_gross == 1.0 else "the leverage allowed"
        raise DataError(
            f"weights on {w.index[i].date()} sum to {sums[i]:.6f} > {max_gross:g} ({what})"
        )
    missing = pd.Index(w.index).difference(prices.index)
    if len(missing):
        raise DataError(f"rebalance date {missing[0].date()} is not a trading day of the prices")
    unpriced = (w != 0.0) & prices.loc[w.index].isna()
    if unpriced.to_numpy().any():
        i, j = np.argwhere(unpriced.to_numpy())[0]
        raise DataError(
            f"weight {w.iat[i, j]:.4g} on {w.columns[j]} on {w.index[i].date()}, "
            "which has no price that day"
        )
    return w


def simulate(
    weights: pd.DataFrame,
    md: MarketData,
    cost_bps: float,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    rebalance: str | None = None,
    max_gross: float = 1.0,
    borrow_spread_bps: float = BORROW_SPREAD_BPS,
) -> BacktestResult:
    """Simulate holding ``weights`` (rows = decision dates) over the trading days in [start, end].

    ``rebalance`` ("daily"/"weekly"/"monthly") keeps only the rows on
    :func:`~riskalloc.backtest.schedule.rebalance_dates` (period ends, and the last trading day
    before ``start``); None uses every row. A row dated
    before the window is the opening position: its turnover and cost are booked on day one.
    ``max_gross`` is the largest sum of weights accepted (1: no leverage); a negative cash leg
    pays rf + ``borrow_spread_bps``/1e4 a year.
    """
    if not 1.0 <= max_gross <= MAX_GROSS_EXPOSURE:
        raise DataError(f"max_gross must be in [1, {MAX_GROSS_EXPOSURE:g}], got {max_gross}")
    if not (np.isfinite(borrow_spread_bps) and borrow_spread_bps >= 0):
        raise DataError(f"borrow_spread_bps must be finite and ≥ 0, got {borrow_spread_bps}")
    days = window_days(md.dates, start, end)
    w = weights.copy()
    w.index = pd.DatetimeIndex(w.index, name="date")
    if w.index.has_duplicates:
        dup = w.index[w.index.duplicated()][0]
        raise DataError(f"weights have duplicate dates, e.g. {dup.date()}")
    w = w.sort_index()
    w = w.loc[w.index <= days[-1]]
    if rebalance is not None:
        w = w.loc[w.index.isin(rebalance_dates(md.dates, start, end, rebalance))]
    w = _check_targets(w, md.prices, max_gross)
    opening = w.loc[w.index < days[0]].tail(1)
    w = w.loc[w.index >= days[0]]

    tickers = list(md.prices.columns)
    r = md.prices.ffill().pct_change(fill_method=None).reindex(days).fillna(0.0).to_numpy()
    rf = md.rf_daily().reindex(days).fillna(0.0).to_numpy()
    targets = {days.get_loc(d): row for d, row in zip(w.index, w.to_numpy(), strict=True)}
    c = float(cost_bps) / 1e4
    spread = float(borrow_spread_bps) / 1e4 / TRADING_DAYS
    n, k = r.shape
    h = np.zeros(k)
    h_cash = 1.0
    first_turnover = 0.0
    if len(opening):
        h = opening.to_numpy()[0].copy()
        h_cash = 1.0 - h.sum()
        first_turnover = np.abs(h).sum() + abs(h_cash - 1.0)
    risky = np.array([x != md.cash for x in tickers], dtype=float)
    net, gross, expo, turn, cost = (np.zeros(n) for _ in range(5))
    held = np.zeros((n, k))
    for t in range(n):
        held[t] = h
        expo[t] = h @ risky
        r_cash = rf[t] + (spread if h_cash < 0.0 else 0.0)  # a loan pays the spread
        g = float(h @ r[t] + h_cash * r_cash)
        gross[t] = g
        v = h * (1.0 + r[t]) / (1.0 + g)
        v_cash = h_cash * (1.0 + r_cash) / (1.0 + g)
        to = first_turnover if t == 0 else 0.0
        if t in targets:
            new = targets[t]
            new_cash = 1.0 - new.sum()
            to += float(np.abs(new - v).sum() + abs(new_cash - v_cash))
            v, v_cash = new.copy(), new_cash
        turn[t] = to
        cost[t] = c * to * (1.0 + g)  # paid out of the end-of-day wealth
        net[t] = g - cost[t]
        h, h_cash = v, v_cash

    applied = pd.concat([opening, w]) if len(opening) else w
    applied.index.name = "date"
    return BacktestResult(
        returns=pd.Series(net, index=days, name="return"),
        gross_returns=pd.Series(gross, index=days, name="gross_return"),
        rf=pd.Series(rf, index=days, name="rf"),
        exposure=pd.Series(expo, index=days, name="exposure"),
        turnover=pd.Series(turn, index=days, name="turnover"),
        costs=pd.Series(cost, index=days, name="cost"),
        holdings=pd.DataFrame(held, index=days, columns=tickers),
        weights=applied,
        cost_bps=float(cost_bps),
    )
