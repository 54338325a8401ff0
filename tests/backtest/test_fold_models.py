"""Fold models trained once (the ``allocator_fold_models`` asset) are the walk-forward's own:
saved, loaded and handed to the backtest, they give its weights without any retraining."""

from __future__ import annotations

import pandas as pd
import pytest

import riskalloc.allocate.strategy as strategy_module
from riskalloc.allocate.artefacts import load_allocator, save_allocator
from riskalloc.allocate.train import TrainConfig
from riskalloc.backtest.fold_models import (
    FOLD_MODEL_LABEL,
    fold_model_cache,
    missing_fold_models,
    train_fold_models,
)
from riskalloc.backtest.headline import riskalloc_factories
from riskalloc.backtest.walkforward import run_walk_forward

TICKERS = ["SPY", "EFA", "TLT", "GLD", "BIL"]
FAST = TrainConfig(epochs=1, blocks_per_epoch=8, batch=4, block=8, val_days=126, patience=1)
START, END = "2015-01-01", "2016-06-30"


@pytest.fixture(scope="module")
def md(sample_md):
    m = sample_md.select(TICKERS)
    return m.until(END)


def _walk(md, cache):
    strat = riskalloc_factories(md, None, [FOLD_MODEL_LABEL], FAST, cache)[FOLD_MODEL_LABEL](
        "variance", 3
    )
    return run_walk_forward(strat, md, START, END, "yearly", "monthly")


def test_loaded_fold_models_give_the_backtest_weights_without_retraining(md, tmp_path, monkeypatch):
    models = train_fold_models(md, None, START, END, seed=3, train_cfg=FAST)
    assert [m.meta["train_end"] for m in models] == ["2014-12-31", "2015-12-31"]
    fresh = _walk(md, {})
    loaded = [load_allocator(save_allocator(m, tmp_path)) for m in models]
    cache = fold_model_cache(loaded)

    def no_training(*args, **kwargs):
        raise AssertionError("the walk-forward retrained a fold model it was given")

    monkeypatch.setattr(strategy_module, "train_allocator", no_training)
    reused = _walk(md, cache)
    pd.testing.assert_frame_equal(reused, fresh, rtol=0, atol=0)
    assert len(cache) == 2  # nothing was added: every fold hit the cache


def test_a_backtest_with_another_config_retrains_instead_of_reusing(md):
    models = train_fold_models(md, None, START, END, seed=3, train_cfg=FAST)
    cache = fold_model_cache(models)
    other = {"epochs": 2}
    strat = riskalloc_factories(
        md, None, [FOLD_MODEL_LABEL], TrainConfig(**{**FAST.to_dict(), **other}), cache
    )[FOLD_MODEL_LABEL]("variance", 3)
    strat.fit(md.until("2014-12-31"))
    assert strat.trained is not models[0]  # keyed by config: a new model was trained
    assert len(cache) == 3


def test_fold_models_on_two_workers_are_the_serial_ones_and_missing_ones_are_named(md):
    """Folds trained in two worker processes give the same networks; a cache built from them
    lacks nothing for their config and seed, and every fold for another seed."""
    import torch

    serial = train_fold_models(md, None, START, END, seed=3, train_cfg=FAST)
    par = train_fold_models(md, None, START, END, seed=3, train_cfg=FAST, n_jobs=2)
    assert [m.meta["train_end"] for m in par] == [m.meta["train_end"] for m in serial]
    for a, b in zip(serial, par, strict=True):
        sa, sb = a.model.state_dict(), b.model.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    cache = fold_model_cache(par)
    assert missing_fold_models(cache, md, START, END, seed=3, train_cfg=FAST) == []
    assert missing_fold_models(cache, md, START, END, seed=4, train_cfg=FAST) == [
        "2014-12-31",
        "2015-12-31",
    ]
