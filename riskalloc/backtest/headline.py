"""The headline evaluation: riskalloc (and its ablations) against every baseline, one engine.

Used by the Dagster ``backtest`` asset, the ``riskalloc backtest`` CLI and the robustness grid
script, so all three measure exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import pandas as pd

from riskalloc.allocate.dataset import AllocatorData, build_allocator_data
from riskalloc.allocate.strategy import ABLATIONS, RiskallocStrategy
from riskalloc.allocate.train import TrainConfig, TrainedAllocator
from riskalloc.backtest.grid import GridResult, StrategyFactory, baseline_factories, run_grid
from riskalloc.backtest.metrics import drawdown_reduction, equity_exposure, exposure_cut
from riskalloc.market import MarketData

BASELINES = ("equal_weight", "inverse_vol", "erc", "min_variance", "hrp", "dl_lstm")
OnFit = Callable[[str, int, TrainedAllocator, AllocatorData], None]


@dataclass
class Headline:
    """Grid frames plus the stress-period summaries the README quotes."""

    grid: GridResult
    drawdowns: pd.DataFrame  # max drawdown vs ERC per stress window
    covid: pd.DataFrame  # equity-exposure cut before the 2020-03-23 trough, per strategy


def riskalloc_factories(
    md: MarketData,
    vol_forecast: pd.DataFrame | None,
    names: Iterable[str] = ("riskalloc",),
    train_cfg: TrainConfig | None = None,
    on_fit: OnFit | None = None,
    data: AllocatorData | None = None,
) -> dict[str, StrategyFactory]:
    """Factories (risk_measure, seed) -> fresh RiskallocStrategy for each named variant."""
    pre = data if data is not None else build_allocator_data(md, vol_forecast)
    base = train_cfg or TrainConfig()
    cache: dict = {}  # rebalance frequencies and costs reuse each fold's model

    def make(name: str) -> StrategyFactory:
        def factory(rm: str, seed: int) -> RiskallocStrategy:
            hook = None
            if on_fit is not None:

                def hook(tr: TrainedAllocator, d: AllocatorData) -> None:
                    on_fit(name, seed, tr, d)

            objective = "starr" if rm == "cvar" else base.objective
            return RiskallocStrategy(
                name=name,
                vol_forecast=vol_forecast,
                train_cfg=replace(base, seed=seed, objective=objective),
                precomputed=pre,
                on_fit=hook,
                cache=cache,
            )

        return factory

    return {n: make(n) for n in names}


def run_headline(
    md: MarketData,
    vol_forecast: pd.DataFrame | None,
    start: str = "2017-01-01",
    end: str = "2022-12-31",
    costs: Iterable[float] = (10.0,),
    rebalances: Iterable[str] = ("weekly",),
    seeds: Iterable[int] = (0,),
    risk_measures: Iterable[str] = ("variance",),
    ablations: bool = True,
    baselines: Iterable[str] = BASELINES,
    train_cfg: TrainConfig | None = None,
    on_fit: OnFit | None = None,
) -> Headline:
    """Walk-forward every strategy over [start, end] and summarise the stress periods."""
    names = list(ABLATIONS) if ablations else ["riskalloc"]
    factories = {
        **riskalloc_factories(md, vol_forecast, names, train_cfg, on_fit),
        **baseline_factories(list(baselines)),
    }
    grid = run_grid(
        factories,
        md,
        start,
        end,
        costs=costs,
        rebalances=rebalances,
        risk_measures=risk_measures,
        seeds=seeds,
    )
    return Headline(grid, *stress_summary(grid, md))


def stress_summary(grid: GridResult, md: MarketData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drawdowns vs ERC in stress windows and the COVID equity-exposure cut, per strategy
    (first cost, rebalance and seed of the grid)."""
    if not grid.results:
        return pd.DataFrame(), pd.DataFrame()
    first = next(iter(grid.results))
    _, cost, reb, seed = first
    chosen = {k[0]: v for k, v in grid.results.items() if k[1:] == (cost, reb, seed)}
    rets = {name: res.returns for name, res in chosen.items()}
    dd = drawdown_reduction(rets, "erc") if "erc" in rets else pd.DataFrame()
    rows = []
    for name, res in chosen.items():
        path = equity_exposure(res, md.asset_classes)
        if path.loc["2020-01-01":"2020-03-31"].empty:
            continue
        cut = exposure_cut(path)
        rows.append({"strategy": name, **cut})
    covid = pd.DataFrame(rows)
    if not covid.empty:
        covid["cut_date"] = pd.to_datetime(covid["cut_date"])
        covid["days_before_trough"] = pd.to_numeric(covid["days_before_trough"], errors="coerce")
    return dd, covid
