"""Robustness checks of an allocator design on sub-universes built from any universe.

The sub-universes come from the universe's own asset classes, so nothing is tied to the
bundled ETFs: the equity-only assets, the defensive and real assets (bonds, credit,
commodities, real estate), and random halves of the risky assets (seeded). Each check runs
riskalloc and the risk-based baselines through the shared walk-forward runner.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from riskalloc.allocate.design import AllocatorDesign
from riskalloc.backtest.grid import baseline_factories, run_grid
from riskalloc.backtest.headline import (
    DEFAULT_COST_BPS,
    DEFAULT_REBALANCE,
    add_significance,
    designed_factories,
    forecasts_for,
)
from riskalloc.market import MarketData

CHECK_BASELINES: tuple[str, ...] = ("erc", "inverse_vol", "equal_weight")
DEFENSIVE_CLASSES: tuple[str, ...] = ("bond", "credit", "commodity", "real_estate")


def sub_universes(md: MarketData, halves: int = 5, seed: int = 0) -> dict[str, list[str]]:
    """Named ticker lists: ``equity_only``, ``bonds_real_assets`` and ``half_<k>`` (each with
    the cash ticker, when the universe has one, so cash keeps earning the risk-free rate)."""
    risky = [t for t in md.tickers if t != md.cash]
    cash = [md.cash] if md.cash else []
    cls = md.asset_classes
    out = {
        "equity_only": [t for t in risky if cls.get(t) == "equity"],
        "bonds_real_assets": [t for t in risky if cls.get(t) in DEFENSIVE_CLASSES],
    }
    rng = np.random.default_rng(seed)
    for k in range(halves):
        pick = sorted(rng.choice(len(risky), size=len(risky) // 2, replace=False))
        out[f"half_{k}"] = [risky[i] for i in pick]
    return {name: [*t, *cash] for name, t in out.items() if len(t) >= 2}


def run_checks(
    md: MarketData,
    design: AllocatorDesign,
    universes: dict[str, list[str]],
    start: str,
    end: str,
    costs: Iterable[float] = (DEFAULT_COST_BPS,),
    rebalance: str = DEFAULT_REBALANCE,
    seeds: Iterable[int] = (0,),
) -> pd.DataFrame:
    """Metrics of riskalloc and :data:`CHECK_BASELINES` on each sub-universe (column
    ``universe``), with the Ledoit-Wolf p-values against ERC and equal weight."""
    frames = []
    for name, tickers in universes.items():
        sub = md.select(tickers)
        vols = forecasts_for([design], sub, start, end)
        factories = designed_factories(sub, {"riskalloc": design}, vol_forecast=vols)
        factories |= baseline_factories(list(CHECK_BASELINES))
        grid = run_grid(
            factories,
            sub,
            start,
            end,
            costs=costs,
            rebalances=(rebalance,),
            risk_measures=("variance",),
            seeds=seeds,
        )
        frames.append(add_significance(grid).assign(universe=name, n_assets=len(tickers)))
    return pd.concat(frames, ignore_index=True)
