"""The warehouse → market data → vol forecasts → allocator data sequence, in one library call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskalloc.allocate.dataset import build_allocator_data, load_allocator_inputs
from riskalloc.errors import DataError
from riskalloc.sources.sample import SampleSource
from riskalloc.universe import load_universe
from riskalloc.warehouse import Warehouse, upsert
from riskalloc.warehouse.ingest import ingest


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """The bundled data for 2010-2013 ingested into a fresh warehouse."""
    wh = Warehouse(tmp_path_factory.mktemp("wh"))
    with wh.connect() as con:
        src = SampleSource()
        ingest(wh, con, load_universe(), src, src, start="2010-01-01", end="2013-12-31")
    return wh


def test_without_forecasts_the_market_loads_and_the_data_names_what_is_missing(warehouse):
    with warehouse.connect() as con:
        inputs = load_allocator_inputs(con, load_universe(), end="2013-06-28")
    assert inputs.vol_forecast is None
    assert inputs.md.dates[-1] == pd.Timestamp("2013-06-28")
    with pytest.raises(DataError, match="materialise vol_forecaster"):
        inputs.data()


def test_inputs_equal_building_them_by_hand(warehouse):
    with warehouse.connect() as con:
        md = load_allocator_inputs(con, load_universe()).md
    rv = md.returns().rolling(21).std() * np.sqrt(252)  # any positive forecasts will do
    long = rv.stack().rename("forecast_vol").reset_index()
    long.columns = ["date", "ticker", "forecast_vol"]
    long = long.assign(model="lstm", target_vol=np.nan, fold="test", model_version="v0")
    with warehouse.connect() as con:
        upsert(warehouse, con, "vol_forecasts", long)
        inputs = load_allocator_inputs(con, load_universe())
    assert inputs.forecast().shape[1] == md.prices.shape[1]
    got, want = inputs.data(), build_allocator_data(md, rv.dropna(how="all"))
    assert list(got.dates) == list(want.dates) and len(got.dates) > 100
    np.testing.assert_allclose(got.vol, want.vol, rtol=1e-12)


def test_the_ewma_fallback_vol_of_each_asset_is_its_own():
    """Without forecasts the allocator reads each asset's own EWMA vol. The universe order is
    not alphabetical: the fallback once came back in sorted column order, so every asset got
    another asset's vol."""
    from riskalloc.allocate.dataset import ALLOCATOR_MIN_VOL
    from riskalloc.features.asset import ewma_vol, log_returns
    from riskalloc.market import MarketData

    md = MarketData.sample().select(["SPY", "TLT", "GLD", "EFA", "BIL"]).until("2012-12-31")
    data = build_allocator_data(md)
    assert data.tickers != sorted(data.tickers)
    own = ewma_vol(log_returns(md)).loc[data.dates, data.tickers].to_numpy()
    np.testing.assert_array_equal(data.vol, np.maximum(own, ALLOCATOR_MIN_VOL))
