"""The ML allocator as a backtest strategy (fit on the past, allocate at each rebalance date).

Ablations are the same strategy with switches off: no regime module, no adaptive risk
target, fixed equal budgets, and an Uysal-style end-to-end risk budgeting without macro state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from riskalloc.allocate.covariance import factor_cov
from riskalloc.allocate.dataset import AllocatorData, build_allocator_data
from riskalloc.allocate.model import NetworkConfig
from riskalloc.allocate.risk_budgeting import risk_contributions
from riskalloc.allocate.train import TrainConfig, TrainedNetwork, train_allocator
from riskalloc.errors import DataError, ModelError
from riskalloc.market import MarketData, PointInTime, point_in_time

ABLATIONS: dict[str, dict[str, bool]] = {
    "riskalloc": {},
    "riskalloc_no_regime": {"use_regime": False},
    "riskalloc_no_target": {"adaptive_target": False},
    "riskalloc_equal_budgets": {"learn_budgets": False},
    "uysal_e2e": {"use_regime": False, "adaptive_target": False, "use_macro": False},
}


@dataclass
class LearnedAllocatorStrategy:
    """Walk-forward wrapper around :func:`train_allocator`.

    ``vol_forecast`` (wide, annualised) should hold out-of-sample forecasts (each made by a
    model trained before its date). ``precomputed`` may hold :class:`AllocatorData` built once
    on the full history (every row depends only on data up to its own date, tested, so its cut
    equals a rebuild). Both are held as :class:`~riskalloc.market.PointInTime` and read only as
    of the market view the walk-forward hands over: no row after it is reachable.
    """

    name: str = "riskalloc"
    vol_forecast: pd.DataFrame | PointInTime | None = None
    train_cfg: TrainConfig = field(default_factory=TrainConfig)
    switches: dict[str, bool] | None = None
    precomputed: AllocatorData | PointInTime | None = None
    trained: TrainedNetwork | None = None
    risk_measures: tuple[str, ...] = ("variance", "cvar")
    cache: dict | None = None  # shared by one grid: (name, train config, train end) -> model

    def __post_init__(self) -> None:
        """Hold the time-indexed inputs point in time: they are read only as of the view the
        walk-forward hands over (rows dated ≤ its last date), never beyond it."""
        self.vol_forecast = point_in_time(self.vol_forecast)
        self.precomputed = point_in_time(self.precomputed)

    def _data(self, md: MarketData) -> AllocatorData:
        if self.precomputed is not None and md.dates[-1] <= self.precomputed.last_date:
            return self.precomputed.as_of(md)
        vf = None if self.vol_forecast is None else self.vol_forecast.as_of(md)
        return build_allocator_data(md, vf)

    def fit(self, md: MarketData) -> None:
        """Train on everything in ``md`` (already cut at the training end)."""
        data = self._data(md)
        sw = ABLATIONS.get(self.name, {}) if self.switches is None else self.switches
        cfg = NetworkConfig(len(data.asset_features), len(data.macro_features), **sw)
        key = (self.name, self.train_cfg, str(data.dates[-1].date()))
        if self.cache is not None and key in self.cache:
            self.trained = self.cache[key]  # same data, config and seed: the same model
            return
        self.trained = train_allocator(data, cfg, self.train_cfg)
        if self.cache is not None:
            self.cache[key] = self.trained

    def weights(self, md: MarketData, dates: pd.DatetimeIndex) -> pd.DataFrame:
        """Target weights at ``dates`` (rows) for every ticker of ``md``; cash ETF gets 0."""
        if self.trained is None:
            raise ModelError(f"strategy {self.name!r}: weights() before fit()")
        data = self._data(md)
        missing = [d for d in dates if d not in data.dates]
        if missing:
            raise DataError(
                f"strategy {self.name!r}: no allocator inputs on {missing[0].date()} "
                f"(and {len(missing) - 1} more dates)"
            )
        idx = data.dates.get_indexer(dates)
        alloc = self.trained.allocate(data, idx)
        w = pd.DataFrame(alloc.weights.double().cpu().numpy(), index=dates, columns=data.tickers)
        return w.reindex(columns=md.tickers, fill_value=0.0)

    def with_seed(self, seed: int) -> LearnedAllocatorStrategy:
        """A fresh copy trained with another seed."""
        return replace(self, train_cfg=replace(self.train_cfg, seed=seed), trained=None)


def allocation_frame(
    trained: TrainedNetwork, data: AllocatorData, idx: np.ndarray, asset_classes: dict[str, str]
) -> pd.DataFrame:
    """Long (date, ticker, asset_class, weight, risk_budget, risk_contribution, exposure,
    target_vol, regime) rows for the allocations at rows ``idx``."""
    alloc = trained.allocate(data, idx)
    cov = factor_cov(
        torch.from_numpy(data.vol[idx]),
        torch.from_numpy(data.loadings[idx]),
        torch.from_numpy(data.uniq[idx]),
    )
    rc = risk_contributions(cov, alloc.rb_weights.double()).numpy()
    n = len(data.tickers)

    def per_date(values: torch.Tensor) -> np.ndarray:
        return np.repeat(values.double().numpy(), n)

    return pd.DataFrame(
        {
            "date": np.repeat(data.dates[idx].to_numpy(), n),
            "ticker": np.tile(data.tickers, len(idx)),
            "asset_class": np.tile([asset_classes.get(t, "other") for t in data.tickers], len(idx)),
            "weight": alloc.weights.double().numpy().ravel(),
            "risk_budget": alloc.budgets.double().numpy().ravel(),
            "risk_contribution": rc.ravel(),
            "exposure": per_date(alloc.exposure),
            "target_vol": per_date(alloc.target_vol),
            "regime": np.repeat(alloc.regime_probs.double().numpy().argmax(-1), n),
        }
    )
