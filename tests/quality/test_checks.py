"""Each data-quality check passes on real sample data and fails on a crafted bad frame."""

from __future__ import annotations

import pandas as pd
import pytest

from riskalloc import quality
from riskalloc.sources.sample import SampleSource


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return SampleSource().fetch_prices(["SPY", "TLT", "GLD", "HYG"], "2018-01-01", "2019-12-31")


@pytest.fixture(scope="module")
def macro() -> pd.DataFrame:
    return SampleSource().fetch_macro(["VIXCLS", "BAA10Y", "DTB3"], "2018-01-01", "2019-12-31")


def test_real_sample_passes_every_blocking_check(prices, macro):
    assert quality.check_unique_keys(prices).passed
    assert quality.check_positive_prices(prices).passed
    assert quality.check_gaps(prices).passed
    assert quality.check_present(prices, ["SPY", "TLT", "GLD", "HYG"]).passed
    assert quality.check_stale_series(macro).passed
    assert quality.check_point_in_time(macro).passed
    assert quality.check_unique_keys(macro, ("date", "series_id")).passed


def test_duplicate_rows_fail(prices):
    bad = pd.concat([prices, prices.iloc[[5]]])
    out = quality.check_unique_keys(bad)
    assert not out.passed and len(out.rows) == 2
    assert set(out.rows["ticker"]) == {prices.iloc[5]["ticker"]}


def test_zero_and_negative_prices_fail(prices):
    bad = prices.copy()
    bad.loc[bad.index[3], "adj_close"] = 0.0
    bad.loc[bad.index[7], "adj_close"] = -1.0
    out = quality.check_positive_prices(bad)
    assert not out.passed and len(out.rows) == 2


def test_gap_beyond_n_trading_days_fails(prices):
    spy = prices[prices.ticker == "SPY"]
    hole = spy[(spy.date >= "2019-03-01") & (spy.date <= "2019-03-15")].index
    out = quality.check_gaps(prices.drop(hole), max_gap_days=5)
    assert not out.passed
    assert list(out.rows["ticker"]) == ["SPY"]
    assert out.rows["missing_sessions"].iloc[0] == len(hole)
    # weekends and NYSE holidays (e.g. 2019-07-04) are not gaps
    assert quality.check_gaps(prices, max_gap_days=0).passed


def test_implausible_move_is_a_warning_with_rows(prices):
    bad = prices.copy()
    bad.loc[(bad.ticker == "TLT") & (bad.date >= "2019-06-03"), "adj_close"] = (
        prices.loc[(prices.ticker == "TLT") & (prices.date >= "2019-06-03"), "adj_close"] / 2
    )  # an unadjusted 2:1 split seam
    out = quality.check_daily_moves(bad, 0.25)
    assert not out.passed and out.severity == "warn"
    assert list(out.rows["ticker"]) == ["TLT"]
    assert out.rows["date"].iloc[0] == pd.Timestamp("2019-06-03")


def test_missing_ticker_and_series_fail(prices, macro):
    out = quality.check_present(prices, ["SPY", "XYZ"])
    assert not out.passed and "XYZ" in out.message
    out = quality.check_present(macro, ["VIXCLS", "NOPE"], key="series_id")
    assert not out.passed and "NOPE" in out.message


def test_stale_series_fails(macro):
    stale = macro[~((macro.series_id == "BAA10Y") & (macro.date > "2019-10-01"))]
    out = quality.check_stale_series(stale, max_lag_days=10)
    assert not out.passed and list(out.rows["series_id"]) == ["BAA10Y"]
    flat = macro.copy()
    flat.loc[(flat.series_id == "VIXCLS") & (flat.date > "2019-09-01"), "value"] = 15.0
    out = quality.check_stale_series(flat, max_flat_obs=30)
    assert not out.passed and list(out.rows["series_id"]) == ["VIXCLS"]


def test_look_ahead_availability_fails(macro):
    bad = macro.copy()
    bad.loc[bad.index[0], "available_at"] = bad.loc[bad.index[0], "date"] - pd.Timedelta(days=1)
    assert not quality.check_point_in_time(bad).passed


def test_trading_calendar():
    assert not quality.is_trading_day("2020-07-03")  # Independence Day observed
    assert quality.is_trading_day("2020-07-02")
    assert quality.previous_trading_day("2020-07-05") == pd.Timestamp("2020-07-02")
    assert len(quality.trading_days("2020-01-01", "2020-12-31")) == 253
