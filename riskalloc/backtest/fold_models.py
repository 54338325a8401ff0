"""The first allocator's fold models: one network per walk-forward fold, trained once.

The ``allocator_fold_models`` asset trains them, saves and registers them; the ``backtest``
asset then reuses the very same networks through :func:`fold_model_cache` instead of training
its own copies inside the walk-forward (same data, config and seed give the same weights).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import partial

import pandas as pd

from riskalloc.allocate.train import TrainConfig, TrainedNetwork
from riskalloc.backtest.grid import StrategyFactory
from riskalloc.backtest.headline import FoldModels, riskalloc_factories
from riskalloc.backtest.schedule import DEFAULT_RETRAIN, fold_starts
from riskalloc.errors import DataError
from riskalloc.market import MarketData
from riskalloc.parallel import effective_n_jobs, parallel_map

__all__ = [
    "FOLD_MODEL_LABEL",
    "fold_model_cache",
    "missing_fold_models",
    "train_ends",
    "train_fold_models",
]

FOLD_MODEL_LABEL = "riskalloc_v1"  # the backtest label whose fold models are kept


def train_fold_models(
    md: MarketData,
    vol_forecast: pd.DataFrame,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    seed: int = 0,
    train_cfg: TrainConfig | None = None,
    retrain: str = DEFAULT_RETRAIN,
    n_jobs: int | None = 1,
) -> list[TrainedNetwork]:
    """One :data:`FOLD_MODEL_LABEL` network per fold of [start, end], each fit on
    ``md.until(last day before the fold)``, exactly as the walk-forward fits it; ``n_jobs``
    folds train at once (each fit is seeded and single-threaded: the same networks)."""
    effective_n_jobs(n_jobs)
    ends = train_ends(md, start, end, retrain)
    factory = riskalloc_factories(md, vol_forecast, [FOLD_MODEL_LABEL], train_cfg, {})
    return list(parallel_map(partial(_fit_fold, factory[FOLD_MODEL_LABEL], md, seed), ends, n_jobs))


def train_ends(
    md: MarketData, start: str | pd.Timestamp, end: str | pd.Timestamp, retrain: str
) -> list[pd.Timestamp]:
    """The last trading day before each fold of [start, end]: where each fold model's data end."""
    ends = []
    for f0 in fold_starts(start, end, retrain):
        before = md.dates[md.dates < f0]
        if len(before) == 0:
            raise DataError(f"no price history before the fold starting {f0.date()}")
        ends.append(before[-1])
    return ends


def missing_fold_models(
    cache: FoldModels,
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    seed: int = 0,
    train_cfg: TrainConfig | None = None,
    retrain: str = DEFAULT_RETRAIN,
) -> list[str]:
    """Train ends of the folds whose :data:`FOLD_MODEL_LABEL` network is not in ``cache`` for
    this config and seed: the ones a backtest will train again instead of reusing."""
    cfg = replace(train_cfg or TrainConfig(), seed=seed)
    have = {k[2] for k in cache if k[0] == FOLD_MODEL_LABEL and k[1] == cfg}
    wanted = [str(d.date()) for d in train_ends(md, start, end, retrain)]
    return [d for d in wanted if d not in have]


def _fit_fold(
    factory: StrategyFactory, md: MarketData, seed: int, train_end: pd.Timestamp
) -> TrainedNetwork:
    """The fold network trained on ``md`` up to ``train_end``."""
    strategy = factory("variance", seed)
    strategy.fit(md.until(train_end))
    return strategy.trained


def fold_model_cache(models: Iterable[TrainedNetwork], label: str = FOLD_MODEL_LABEL) -> FoldModels:
    """The walk-forward model cache holding ``models`` under ``label`` (keyed by their own
    train config and train end, so a backtest with another config retrains instead)."""
    cache: FoldModels = {}
    for m in models:
        end = str(pd.Timestamp(m.meta["train_end"]).date())
        cache[(label, m.train_cfg, end)] = m
    return cache
