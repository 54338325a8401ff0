"""SampleSource: the bundled snapshot has the universe, known values and point-in-time stamps."""

from __future__ import annotations

import pandas as pd
import pytest

from riskalloc.errors import ConfigError, DataError
from riskalloc.sources import SampleSource, make_source
from riskalloc.universe import load_universe


def test_all_35_universe_tickers_present():
    universe = load_universe()
    tickers = [a.ticker for a in universe.assets]
    out = SampleSource().fetch_prices(tickers, "2020-03-13", "2020-03-16")
    assert out["ticker"].nunique() == 35 == len(tickers)
    assert set(out["ticker"]) == set(tickers)
    assert (out["adj_close"] > 0).all()
    assert set(out["date"]) == {pd.Timestamp("2020-03-13"), pd.Timestamp("2020-03-16")}


def test_known_vix_values():
    vix = SampleSource().fetch_macro(["VIXCLS"]).set_index("date")["value"]
    assert vix.loc["2020-03-16"] == 82.69  # COVID crash close, the series' record
    assert vix.loc["2008-11-20"] == 80.86  # GFC peak close
    assert vix.max() == 82.69


def test_unknown_ticker_and_series_named():
    with pytest.raises(DataError, match=r"\['NOPE'\]"):
        SampleSource().fetch_prices(["SPY", "NOPE"])
    with pytest.raises(DataError, match=r"\['NOSERIES'\]"):
        SampleSource().fetch_macro(["NOSERIES"])


def test_every_macro_row_available_after_its_date():
    universe = load_universe()
    out = SampleSource().fetch_macro([s.series_id for s in universe.series])
    assert out["series_id"].nunique() == 14
    assert (out["available_at"] > out["date"]).all()
    assert out["value"].notna().all()


def test_make_source_by_name():
    assert isinstance(make_source("sample"), SampleSource)
    assert isinstance(make_source(" Sample "), SampleSource)
    with pytest.raises(ConfigError, match=r"unknown source 'bloomberg'.*'files', 'fred'"):
        make_source("bloomberg")
    with pytest.raises(ConfigError, match="bad options"):
        make_source("sample", colour="red")
