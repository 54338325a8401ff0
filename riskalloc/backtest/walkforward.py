"""Walk-forward evaluation: retrain on the past at each fold start, decide weights date by date.

For each fold [fold_start, fold_end) the strategy is fit on ``md.until(day before fold_start)``
and then asked for the weights of each rebalance date d in the fold, shown ``md.until(d)``
only (one call per date). That is the look-ahead guarantee, and it lives in the interface: a
strategy sees the market through the view it is handed, and the time-indexed inputs it holds
(forecasts, inputs built once on the whole history) are :class:`~riskalloc.market.PointInTime`
and read only as of that view. :func:`assert_no_lookahead` checks a strategy from outside.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from riskalloc.backtest.schedule import fold_starts, rebalance_dates
from riskalloc.backtest.strategy import Strategy
from riskalloc.errors import DataError, ModelError
from riskalloc.market import MarketData

log = logging.getLogger(__name__)


def _checked(w: pd.DataFrame, strategy: Strategy, md: MarketData, dates: pd.DatetimeIndex) -> None:
    if not isinstance(w, pd.DataFrame) or not pd.DatetimeIndex(w.index).equals(dates):
        raise ModelError(f"strategy {strategy.name!r} did not return one row per requested date")
    unknown = sorted(set(w.columns) - set(md.tickers))
    if unknown:
        raise ModelError(f"strategy {strategy.name!r} returned unknown tickers {unknown}")


def run_walk_forward(
    strategy: Strategy,
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    retrain: str = "yearly",
    rebalance: str = "monthly",
) -> pd.DataFrame:
    """Target weights (rows = rebalance dates in [start, end], cols = ``md.tickers``).

    The first row is the last trading day before ``start`` (the opening position).
    """
    dates = rebalance_dates(md.dates, start, end, rebalance)
    if len(dates) == 0:
        raise DataError(f"no rebalance dates between {start} and {end}")
    starts = fold_starts(start, end, retrain)
    bounds = [*starts[1:], pd.Timestamp.max]
    frames = []
    for i, (f0, f1) in enumerate(zip(starts, bounds, strict=True)):
        in_fold = dates[(dates < f1) & ((dates >= f0) | (i == 0))]
        if len(in_fold) == 0:
            continue
        train_end = md.dates[md.dates < f0]
        if len(train_end) == 0:
            raise DataError(f"no price history before the fold starting {f0.date()}")
        log.info("%s: fit until %s, %d dates", strategy.name, train_end[-1].date(), len(in_fold))
        strategy.fit(md.until(train_end[-1]))
        for d in in_fold:
            one = pd.DatetimeIndex([d], name="date")
            w = strategy.weights(md.until(d), one)
            _checked(w, strategy, md, one)
            frames.append(w)
    out = pd.concat(frames).reindex(columns=md.tickers).fillna(0.0)
    out.index = pd.DatetimeIndex(out.index, name="date")
    return out


def assert_no_lookahead(
    strategy: Strategy,
    md: MarketData,
    dates: pd.DatetimeIndex,
    atol: float = 1e-10,
) -> None:
    """Raise ModelError if a batch call on ``md.until(last date)`` differs from per-date calls.

    A strategy that peeks at rows after a decision date gives different weights when those
    rows exist; run it on a fitted strategy that holds data of its own outside the view.
    """
    dates = pd.DatetimeIndex(dates)
    batch = strategy.weights(md.until(dates[-1]), dates)
    for d in dates:
        one = strategy.weights(md.until(d), pd.DatetimeIndex([d]))
        a = batch.loc[[d]].reindex(columns=md.tickers).fillna(0.0).to_numpy()
        b = one.reindex(columns=md.tickers).fillna(0.0).to_numpy()
        if not np.allclose(a, b, atol=atol, rtol=0.0):
            raise ModelError(
                f"strategy {strategy.name!r} looks ahead: its weights on {d.date()} change "
                "when later data is present"
            )
