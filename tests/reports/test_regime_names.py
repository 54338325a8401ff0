"""Allocator regimes named after the reference: overlap, training-window-only naming, weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from riskalloc.allocate.artefacts import allocator_record, save_allocator
from riskalloc.allocate.dataset import AllocatorData, build_allocator_data
from riskalloc.allocate.strategy import allocation_frame
from riskalloc.allocate.train import TrainConfig, TrainedNetwork, train_allocator
from riskalloc.errors import DataError
from riskalloc.market import MarketData
from riskalloc.reports.regime_names import (
    _model_regime_probs,
    allocator_named_history,
    allocator_regime_probs,
    name_target_regimes,
    named_probs,
    overlap_table,
    regime_names,
)
from riskalloc.reports.regime_reference import fit_regime_hmm
from riskalloc.warehouse.registry import registry_frame

FAST = TrainConfig(epochs=1, blocks_per_epoch=8, batch=8, block=8, val_days=126)
TICKERS = ["SPY", "TLT", "GLD", "LQD", "BIL"]


@pytest.fixture(scope="module")
def md() -> MarketData:
    return MarketData.sample().select(TICKERS)


@pytest.fixture(scope="module")
def ref(md: MarketData) -> pd.DataFrame:
    hmm = fit_regime_hmm(md, n_states=3, inputs="vol+BAMLH0A0HYM2", n_init=1)
    return hmm.filter_probabilities(md)


@pytest.fixture(scope="module")
def data(md: MarketData) -> AllocatorData:
    return build_allocator_data(md.until("2013-06-28"), start="2010-01-01")


@pytest.fixture(scope="module")
def trained(data: AllocatorData) -> TrainedNetwork:
    torch.set_num_threads(1)
    cut = data.index_of("2012-12-31")
    return train_allocator(data.slice(0, cut + 1), train_cfg=FAST)


@pytest.fixture(scope="module")
def saved(
    trained: TrainedNetwork, data: AllocatorData, tmp_path_factory
) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("models")
    path = save_allocator(trained, root)
    return root, registry_frame([allocator_record(trained, path, "test")])


def test_fast_regime_path_equals_the_full_allocation(trained, data) -> None:
    idx = np.arange(len(data.dates) - 30, len(data.dates))
    fast = _model_regime_probs(trained, data, idx)
    full = trained.allocate(data, idx).regime_probs.double().numpy()
    np.testing.assert_allclose(fast, full, atol=1e-6)
    assert fast.shape == (30, trained.cfg.regimes)


def test_overlap_names_and_named_probabilities(trained, data, ref) -> None:
    idx = np.flatnonzero(data.dates.isin(ref.index) & (data.dates <= "2012-12-31"))
    alloc = allocator_regime_probs(trained, data, idx)
    ov = overlap_table(alloc, ref)
    np.testing.assert_allclose(ov.sum(axis=1), 1.0, atol=1e-9)  # a conditional distribution
    names = regime_names(ov)
    assert set(names) == set(range(trained.cfg.regimes))
    assert set(names.values()) <= set(ref.columns)
    for k, name in names.items():
        assert ov.loc[k, name] == ov.loc[k].max()
    named = named_probs(alloc, names, list(ref.columns))
    assert list(named.columns) == list(ref.columns)
    np.testing.assert_allclose(named.sum(axis=1), 1.0, atol=1e-6)


def test_target_weights_carry_a_name_fixed_on_training_dates(trained, data, ref, saved) -> None:
    root, reg = saved
    version = str(reg["version"].iloc[0])
    idx = np.flatnonzero(data.dates > "2012-12-31")[:20]
    frame = allocation_frame(trained, data, idx, {t: "x" for t in data.tickers})
    frame["model_version"] = version
    named = name_target_regimes(frame, data, ref, root)
    assert named["regime"].map(type).eq(str).all()
    assert set(named["regime"]) <= set(ref.columns)
    assert named.groupby("date")["regime"].nunique().max() == 1
    # the name of each regime is fixed on the model's training dates (≤ 2012): rewriting the
    # reference after them leaves every published name unchanged
    later = ref.copy()
    later.loc["2013-01-01":] = np.roll(later.loc["2013-01-01":].to_numpy(), 1, axis=1)
    pd.testing.assert_frame_equal(name_target_regimes(frame, data, later, root), named)
    hist = allocator_named_history(data, ref, reg, root)
    assert hist.index.min() > pd.Timestamp("2012-12-31")  # only dates after the training end
    by_day = hist.idxmax(axis=1)
    days = pd.to_datetime(named["date"])
    assert (named["regime"].to_numpy() == by_day.loc[days].to_numpy()).all()


def test_regimes_read_features_only_data_the_same(trained, md, ref, saved) -> None:
    """The regime report builds its inputs without the correlation factor model (an n x n
    estimate every few days over the whole history): the named history is the same, and a
    full allocation from such data is refused."""
    root, reg = saved
    full = build_allocator_data(md.until("2013-06-28"), start="2010-01-01")
    light = build_allocator_data(md.until("2013-06-28"), start="2010-01-01", factors=False)
    assert full.has_factors and not light.has_factors
    np.testing.assert_array_equal(light.asset_x, full.asset_x)
    np.testing.assert_array_equal(light.macro_x, full.macro_x)
    hist = allocator_named_history(light, ref, reg, root)
    pd.testing.assert_frame_equal(hist, allocator_named_history(full, ref, reg, root))
    idx = np.arange(5)
    with pytest.raises(DataError, match="factors=True"):
        trained.allocate(light, idx)
