"""The first allocator's fold models: one network per walk-forward fold, trained once.

The ``allocator_fold_models`` asset trains them, saves and registers them; the ``backtest``
asset then reuses the very same networks through :func:`fold_model_cache` instead of training
its own copies inside the walk-forward (same data, config and seed give the same weights).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from riskalloc.allocate.train import TrainConfig, TrainedNetwork
from riskalloc.backtest.headline import FoldModels, riskalloc_factories
from riskalloc.backtest.schedule import DEFAULT_RETRAIN, fold_starts
from riskalloc.errors import DataError
from riskalloc.market import MarketData

__all__ = ["FOLD_MODEL_LABEL", "fold_model_cache", "train_fold_models"]

FOLD_MODEL_LABEL = "riskalloc_v1"  # the backtest label whose fold models are kept


def train_fold_models(
    md: MarketData,
    vol_forecast: pd.DataFrame,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    seed: int = 0,
    train_cfg: TrainConfig | None = None,
    retrain: str = DEFAULT_RETRAIN,
) -> list[TrainedNetwork]:
    """One :data:`FOLD_MODEL_LABEL` network per fold of [start, end], each fit on
    ``md.until(last day before the fold)``, exactly as the walk-forward fits it."""
    cache: FoldModels = {}
    factory = riskalloc_factories(md, vol_forecast, [FOLD_MODEL_LABEL], train_cfg, cache)
    strategy = factory[FOLD_MODEL_LABEL]("variance", seed)
    models = []
    for f0 in fold_starts(start, end, retrain):
        before = md.dates[md.dates < f0]
        if len(before) == 0:
            raise DataError(f"no price history before the fold starting {f0.date()}")
        strategy.fit(md.until(before[-1]))
        models.append(strategy.trained)
    return models


def fold_model_cache(models: Iterable[TrainedNetwork], label: str = FOLD_MODEL_LABEL) -> FoldModels:
    """The walk-forward model cache holding ``models`` under ``label`` (keyed by their own
    train config and train end, so a backtest with another config retrains instead)."""
    cache: FoldModels = {}
    for m in models:
        end = str(pd.Timestamp(m.meta["train_end"]).date())
        cache[(label, m.train_cfg, end)] = m
    return cache
