"""The look-ahead guarantee is in the interface: what a strategy holds of its own (forecasts,
inputs built once on the whole history) is point in time and read only as of the view the
walk-forward hands it, so rows after a decision date cannot change its weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskalloc.allocate.dataset import build_allocator_data
from riskalloc.allocate.strategy import LearnedAllocatorStrategy
from riskalloc.allocate.train import TrainConfig
from riskalloc.errors import DataError
from riskalloc.market import PointInTime

TICKERS = ["SPY", "EFA", "TLT", "GLD", "BIL"]
FAST = TrainConfig(epochs=1, blocks_per_epoch=8, batch=4, block=8, val_days=126, patience=1)
CUT = pd.Timestamp("2013-03-28")


@pytest.fixture(scope="module")
def md(sample_md):
    return sample_md.select(TICKERS).until("2013-12-31")


@pytest.fixture(scope="module")
def vol(md):
    """An annualised EWMA vol 'forecast' per risky asset."""
    return md.returns().ewm(halflife=20).std().mul(np.sqrt(252)).dropna(how="all")


def test_point_in_time_reads_only_rows_up_to_the_view(md, vol):
    pit = PointInTime(vol)
    seen = pit.as_of(md.until(CUT))
    assert seen.index.max() == CUT and pit.last_date == vol.index.max() > CUT
    data = build_allocator_data(md, vol)
    assert PointInTime(data).as_of(md.until(CUT)).dates[-1] == CUT
    with pytest.raises(DataError, match="DatetimeIndex"):
        PointInTime(vol.reset_index(drop=True))


def test_poisoned_future_forecasts_do_not_change_the_weights_before_them(md, vol):
    """Each strategy holds the whole forecast frame; the second one's rows after CUT are
    scaled tenfold. Up to CUT their weights agree exactly; after it they differ."""
    poisoned = vol.copy()
    poisoned.loc[poisoned.index > CUT] *= 10
    clean = LearnedAllocatorStrategy(name="riskalloc_v1", vol_forecast=vol, train_cfg=FAST)
    clean.fit(md.until("2012-12-31"))
    dirty = LearnedAllocatorStrategy(
        name="riskalloc_v1", vol_forecast=poisoned, train_cfg=FAST, trained=clean.trained
    )
    before = md.dates[(md.dates > "2013-03-01") & (md.dates <= CUT)]
    for d in before:
        one = pd.DatetimeIndex([d])
        a, b = clean.weights(md.until(d), one), dirty.weights(md.until(d), one)
        pd.testing.assert_frame_equal(a, b, rtol=0, atol=0)
    later = pd.DatetimeIndex([md.dates[md.dates > CUT][5]])
    a, b = clean.weights(md.until(later[0]), later), dirty.weights(md.until(later[0]), later)
    assert not np.allclose(a.to_numpy(), b.to_numpy())


def test_precomputed_inputs_are_held_point_in_time(md, vol):
    full = build_allocator_data(md, vol)
    strat = LearnedAllocatorStrategy(vol_forecast=vol, precomputed=full, train_cfg=FAST)
    assert isinstance(strat.precomputed, PointInTime)
    assert isinstance(strat.vol_forecast, PointInTime)
    assert strat._data(md.until(CUT)).dates[-1] == CUT
