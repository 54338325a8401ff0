"""Engine: cost accounting on a hand-computed toy, drift, rebalance filtering, bad weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskalloc.backtest.engine import simulate
from riskalloc.backtest.schedule import period_ends, rebalance_dates
from riskalloc.errors import DataError

DATES = ["2021-01-04", "2021-01-05", "2021-01-06", "2021-01-07"]


def test_two_asset_three_day_costs_by_hand(toy) -> None:
    # rf: 25.2 % a year -> 0.001 a day; 10 bps costs
    md = toy.build({"A": [100, 110, 99, 99], "B": [50, 50, 55, 55]}, DATES, 25.2)
    w = pd.DataFrame(
        {"A": [0.5, 0.2], "B": [0.3, 0.6]}, index=pd.to_datetime(["2021-01-04", "2021-01-06"])
    )
    res = simulate(w, md, 10, "2021-01-05", "2021-01-07")
    c, rf = 0.001, 0.001
    # day 1: opening position decided on 01-04 (from all cash): turnover .5+.3+|.2-1| = 1.6
    g1 = 0.5 * 0.10 + 0.3 * 0.0 + 0.2 * rf
    to1 = 0.5 + 0.3 + 0.8
    r1 = g1 - c * to1 * (1 + g1)
    a1, b1, k1 = 0.5 * 1.10 / (1 + g1), 0.3 / (1 + g1), 0.2 * (1 + rf) / (1 + g1)
    # day 2: A -10 %, B +10 %, then rebalance at the close to (.2, .6, cash .2)
    g2 = a1 * -0.10 + b1 * 0.10 + k1 * rf
    a2, b2, k2 = a1 * 0.9 / (1 + g2), b1 * 1.1 / (1 + g2), k1 * (1 + rf) / (1 + g2)
    to2 = abs(0.2 - a2) + abs(0.6 - b2) + abs(0.2 - k2)
    r2 = g2 - c * to2 * (1 + g2)
    # day 3: prices flat, only the cash earns rf
    r3 = 0.2 * rf
    np.testing.assert_allclose(res.returns.to_numpy(), [r1, r2, r3], rtol=0, atol=1e-15)
    np.testing.assert_allclose(res.turnover.to_numpy(), [to1, to2, 0.0], atol=1e-15)
    np.testing.assert_allclose(res.exposure.to_numpy(), [0.8, a1 + b1, 0.8], atol=1e-15)
    assert res.costs.iloc[2] == 0.0
    # without costs the same targets give exactly the gross returns
    free = simulate(w, md, 0, "2021-01-05", "2021-01-07")
    np.testing.assert_allclose(free.returns.to_numpy(), [g1, g2, r3], atol=1e-15)


def test_weights_drift_between_rebalances(sample_md) -> None:
    md = sample_md.select(["SPY", "TLT", "GLD"])
    w0 = pd.DataFrame({"SPY": [0.5], "TLT": [0.3], "GLD": [0.1]}, index=[md.dates[3000]])
    start, end = md.dates[3001], md.dates[3060]
    res = simulate(w0, md, 5, start, end)
    growth = md.prices.loc[start:end] / md.prices.loc[md.dates[3000]]
    cash = (1 + md.rf_daily().loc[start:end]).cumprod()
    value = growth.mul([0.5, 0.3, 0.1], axis=1)
    total = value.sum(axis=1) + 0.1 * cash
    # buy and hold: wealth is the value of the initial units (minus the opening cost)
    opening_cost = 5e-4 * 1.8 * (1 + res.gross_returns.iloc[0])
    gross_wealth = res.wealth / (1 - opening_cost / (1 + res.gross_returns.iloc[0]))
    np.testing.assert_allclose(gross_wealth.to_numpy(), total.to_numpy(), rtol=1e-12)
    # holdings on day t are the weights at the previous close: value share of total wealth
    held = value.div(total, axis=0).shift(1).iloc[1:]
    np.testing.assert_allclose(res.holdings.iloc[1:].to_numpy(), held.to_numpy(), rtol=1e-12)
    assert (res.turnover.iloc[1:] == 0).all()


def test_rebalance_filter_keeps_period_ends(sample_md) -> None:
    md = sample_md.select(["SPY", "IEF"])
    days = md.dates[(md.dates >= "2015-12-01") & (md.dates <= "2016-03-31")]
    daily = pd.DataFrame({"SPY": 0.6, "IEF": 0.4}, index=days)
    res = simulate(daily, md, 10, "2016-01-01", "2016-03-31", rebalance="monthly")
    traded = res.turnover[res.turnover > 0].index
    # opening (booked on day one), then the month ends of January and February
    assert list(traded.strftime("%Y-%m-%d")) == ["2016-01-04", "2016-01-29", "2016-02-29"]
    # the final day's row is dropped: a trade there would never be held
    assert list(res.weights.index.strftime("%Y-%m-%d")) == [
        "2015-12-31",
        "2016-01-29",
        "2016-02-29",
    ]


def test_rebalance_dates_calendar(sample_md) -> None:
    d = rebalance_dates(sample_md.dates, "2020-01-01", "2020-03-31", "weekly")
    assert d[0] == pd.Timestamp("2019-12-31")  # opening position: last day before start
    assert (d[1:].day_of_week == 4).sum() >= 9  # mostly Fridays
    assert pd.Timestamp("2020-04-09") not in d and d[-1] < pd.Timestamp("2020-03-31")
    m = period_ends(sample_md.dates, "monthly")
    assert pd.Timestamp("2020-02-28") in m and pd.Timestamp("2020-02-27") not in m


def test_weight_on_unpriced_asset_raises(sample_md) -> None:
    md = sample_md.select(["SPY", "ACWI"])  # ACWI starts trading in 2008
    w = pd.DataFrame({"SPY": [0.5], "ACWI": [0.5]}, index=pd.to_datetime(["2007-06-29"]))
    with pytest.raises(DataError, match=r"ACWI.*2007-06-29"):
        simulate(w, md, 10, "2007-07-01", "2007-12-31")


def test_leverage_and_unknown_tickers_raise(sample_md) -> None:
    md = sample_md.select(["SPY", "IEF"])
    d = pd.to_datetime(["2016-06-30"])
    with pytest.raises(DataError, match=r"2016-06-30.*sum"):
        simulate(
            pd.DataFrame({"SPY": [0.8], "IEF": [0.5]}, index=d), md, 0, "2016-07-01", "2016-07-29"
        )
    with pytest.raises(DataError, match="XYZ"):
        simulate(pd.DataFrame({"XYZ": [0.5]}, index=d), md, 0, "2016-07-01", "2016-07-29")


def test_a_levered_position_pays_rf_plus_the_spread_on_the_loan(toy) -> None:
    # rf 25.2 % a year -> 0.001 a day; spread 252 bps a year -> 0.0001 a day; no costs
    md = toy.build({"A": [100, 110, 99]}, DATES[:3], 25.2)
    w = pd.DataFrame({"A": [1.5]}, index=pd.to_datetime(["2021-01-04"]))
    with pytest.raises(DataError, match=r"sum to 1.500000 > 1 \(no leverage\)"):
        simulate(w, md, 0, "2021-01-05", "2021-01-06")
    res = simulate(w, md, 0, "2021-01-05", "2021-01-06", max_gross=2.0, borrow_spread_bps=252)
    loan = 0.001 + 0.0001
    g1 = 1.5 * 0.10 - 0.5 * loan
    a1, k1 = 1.5 * 1.10 / (1 + g1), -0.5 * (1 + loan) / (1 + g1)
    g2 = a1 * -0.10 + k1 * loan
    np.testing.assert_allclose(res.returns.to_numpy(), [g1, g2], rtol=0, atol=1e-15)
    assert res.exposure.iloc[0] == pytest.approx(1.5)
    # the spread is charged on loans only: an unlevered book earns plain rf on its cash
    half = simulate(w * 0.5, md, 0, "2021-01-05", "2021-01-06", max_gross=2.0)
    assert half.returns.iloc[0] == pytest.approx(0.75 * 0.10 + 0.25 * 0.001, abs=1e-15)
    for bad in ({"max_gross": 0.5}, {"max_gross": 10.0}, {"borrow_spread_bps": -1.0}):
        with pytest.raises(DataError, match=next(iter(bad))):
            simulate(w, md, 0, "2021-01-05", "2021-01-06", **bad)


def test_exposure_excludes_the_cash_etf(sample_md) -> None:
    md = sample_md.select(["SPY", "BIL"])
    assert md.cash == "BIL"
    w = pd.DataFrame({"SPY": [0.5], "BIL": [0.3]}, index=pd.to_datetime(["2016-06-30"]))
    res = simulate(w, md, 0, "2016-07-01", "2016-07-05")
    assert res.exposure.iloc[0] == pytest.approx(0.5)
    assert res.holdings["BIL"].iloc[0] == pytest.approx(0.3)
