"""Walk-forward guard: no strategy is ever shown a day it trades; look-ahead detection."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from riskalloc.backtest.baselines import make_baseline
from riskalloc.backtest.walkforward import assert_no_lookahead, run_walk_forward
from riskalloc.errors import ModelError


class Spy:
    """Records the latest price date and macro availability it is shown."""

    name = "spy"

    def __init__(self) -> None:
        self.fits: list[tuple[pd.Timestamp, pd.Timestamp]] = []
        self.calls: list[tuple[pd.DatetimeIndex, pd.Timestamp, pd.Timestamp]] = []

    def fit(self, md) -> None:
        self.fits.append((md.dates.max(), md.macro["available_at"].max()))

    def weights(self, md, dates) -> pd.DataFrame:
        self.calls.append((pd.DatetimeIndex(dates), md.dates.max(), md.macro["available_at"].max()))
        return pd.DataFrame(1.0 / len(md.tickers), index=dates, columns=md.tickers)


class Peeker(Spy):
    """Cheats: weights follow the last price it can see, whatever the date asked."""

    name = "peeker"

    def weights(self, md, dates) -> pd.DataFrame:
        last = md.prices.iloc[-1].fillna(0.0)
        return pd.DataFrame(
            [(last / last.sum()).to_numpy()] * len(dates), index=dates, columns=md.tickers
        )


def test_no_strategy_sees_a_day_it_trades(sample_md) -> None:
    spy = Spy()
    w = run_walk_forward(spy, sample_md, "2017-01-01", "2018-12-31", rebalance="weekly")
    days = sample_md.dates
    assert len(spy.fits) == 2  # yearly retraining: 2017 and 2018 folds
    fold_starts = [pd.Timestamp("2017-01-01"), pd.Timestamp("2018-01-01")]
    for (seen_px, seen_macro), f0 in zip(spy.fits, fold_starts):
        assert seen_px < f0 and seen_macro < f0
    asked = pd.DatetimeIndex(np.concatenate([c[0] for c in spy.calls]))
    assert asked.equals(w.index) and len(asked) > 100
    for dates, seen_px, seen_macro in spy.calls:
        held_from = days[days.searchsorted(dates.min(), side="right")]  # first day traded
        assert seen_px <= dates.min() < held_from
        assert seen_macro <= dates.min()
    # each fold's fit precedes every date it trades in that fold
    assert all(d >= fold_starts[1] for d in w.index if d.year == 2018)


def test_future_prices_do_not_change_past_weights(sample_md) -> None:
    md = sample_md.select(["SPY", "TLT", "GLD", "HYG", "VNQ"])
    cut = pd.Timestamp("2017-06-30")
    noise = np.random.default_rng(0).lognormal(0, 0.05, md.prices.shape)
    keep = np.broadcast_to((md.prices.index <= cut)[:, None], md.prices.shape)
    scrambled = md.prices.where(keep, md.prices * noise)
    md2 = replace(md, prices=scrambled)
    a = run_walk_forward(make_baseline("erc"), md, "2017-01-01", "2017-12-31")
    b = run_walk_forward(make_baseline("erc"), md2, "2017-01-01", "2017-12-31")
    pd.testing.assert_frame_equal(a.loc[:cut], b.loc[:cut])
    assert not np.allclose(a.loc[cut:].iloc[1:], b.loc[cut:].iloc[1:])


def test_assert_no_lookahead_catches_a_peeker(sample_md) -> None:
    md = sample_md.select(["SPY", "TLT", "GLD"])
    dates = pd.DatetimeIndex(["2019-01-31", "2019-02-28", "2019-03-29"])
    assert_no_lookahead(make_baseline("hrp"), md, dates)
    with pytest.raises(ModelError, match=r"peeker.*2019-01-31"):
        assert_no_lookahead(Peeker(), md, dates)
    # in the default per-date mode even the peeker cannot see the future
    w = run_walk_forward(Peeker(), md, "2019-02-01", "2019-03-31")
    expected = md.prices.loc[w.index].div(md.prices.loc[w.index].sum(axis=1), axis=0)
    np.testing.assert_allclose(w.to_numpy(), expected.to_numpy())
