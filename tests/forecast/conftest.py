"""Small slices of the bundled data and a tiny LSTM config so forecast tests stay fast."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from riskalloc.forecast.lstm import LSTMConfig
from riskalloc.market import MarketData

torch.set_num_threads(1)

TICKERS = ["SPY", "TLT", "BIL", "GLD"]
TINY = LSTMConfig(
    seq_len=10,
    hidden=8,
    emb_dim=2,
    stride=5,
    max_epochs=2,
    patience=1,
    val_days=126,
    batch_size=64,
    shrink_grid=(1.0,),  # keep the net's full correction so tests exercise it
)


@pytest.fixture(scope="session")
def small_md() -> MarketData:
    """Four assets, 2004-2009 (BIL starts mid-2007, so one asset is young)."""
    full = MarketData.sample().select(TICKERS)
    idx = full.prices.index
    prices = full.prices.loc[(idx >= "2004-01-01") & (idx <= "2009-06-30")]
    m = full.macro
    macro = m.loc[(m["date"] >= "2003-01-01") & (m["date"] <= "2009-06-30")]
    return replace(full, prices=prices, macro=macro.reset_index(drop=True))
