"""The headline evaluation: riskalloc (and its ablations) against every baseline, one engine.

Used by the Dagster ``backtest`` asset, the ``riskalloc backtest`` CLI and the robustness grid
script, so all three measure exactly the same thing with the same defaults
(:data:`DEFAULT_REBALANCE`, :data:`DEFAULT_COST_BPS`, :data:`DEFAULT_RETRAIN`).

``riskalloc`` is the production allocator: the design committed in
``riskalloc/allocate/selected_design.json`` (chosen on 2009-2016 by
:mod:`riskalloc.backtest.selection`). Its ablations switch one part of that design off;
``riskalloc_v1`` is the first allocator (learned budget heads, absolute vol target) and
``uysal_e2e`` that model without macro state.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from riskalloc.allocate.dataset import AllocatorData, build_allocator_data
from riskalloc.allocate.design import AllocatorDesign, load_design, load_selection_record
from riskalloc.allocate.designed import DesignedStrategy
from riskalloc.allocate.strategy import ABLATIONS, LearnedAllocatorStrategy
from riskalloc.allocate.train import TrainConfig, TrainedNetwork
from riskalloc.backtest.baselines import BASELINES as BASELINE_REGISTRY
from riskalloc.backtest.grid import GridResult, StrategyFactory, baseline_factories, run_grid
from riskalloc.backtest.metrics import (
    drawdown_reduction,
    equity_exposure,
    exposure_cut,
    periods,
)
from riskalloc.backtest.schedule import DEFAULT_COST_BPS, DEFAULT_REBALANCE, DEFAULT_RETRAIN
from riskalloc.backtest.significance import deflated_sharpe_ratio, sharpe_difference_test
from riskalloc.errors import ConfigError, DataError
from riskalloc.market import MarketData

BASELINES: tuple[str, ...] = tuple(BASELINE_REGISTRY)  # every baseline, registry order
V1_VARIANTS = {"riskalloc_v1": "riskalloc", "uysal_e2e": "uysal_e2e"}  # label -> v1 ablation
SIGNIFICANCE_AGAINST = ("erc", "equal_weight")
# trained v1 networks by (label, train config, train end): the walk-forward's model cache
FoldModels = MutableMapping[tuple[str, TrainConfig, str], TrainedNetwork]


def design_ablations(design: AllocatorDesign) -> dict[str, AllocatorDesign]:
    """The production design and, for each part it uses, the design with that part off."""
    out = {"riskalloc": design}
    if design.trend_floor < 1.0:
        out["riskalloc_no_trend"] = replace(design, trend_floor=1.0)
    if design.vol_target is not None:
        out["riskalloc_no_target"] = replace(design, vol_target=None)
    if design.rebalance_speed < 1.0:
        out["riskalloc_full_rebalance"] = replace(design, rebalance_speed=1.0)
    if design.budgets != "equal":
        out["riskalloc_equal_budgets"] = replace(design, budgets="equal", ensemble=1)
    return out


def designed_factories(
    md: MarketData,
    designs: dict[str, AllocatorDesign],
    train_cfg: TrainConfig | None = None,
    data: AllocatorData | None = None,
    vol_forecast: pd.DataFrame | None = None,
) -> dict[str, StrategyFactory]:
    """Factories (risk_measure, seed) -> fresh :class:`DesignedStrategy` per named design;
    a ``vol_source="forecast"`` design reads ``vol_forecast`` (wide, annualised, walk-forward:
    see :func:`design_forecasts`) and is refused up front without it."""
    needs = sorted(n for n, d in designs.items() if d.vol_source == "forecast")
    if needs and vol_forecast is None:
        raise ConfigError(
            f"designs {needs} use vol_source='forecast' but no volatility forecasts were given "
            "(riskalloc backtest computes them; in the library pass vol_forecast="
            "design_forecasts(md, start, end))"
        )
    learned = any(d.learned for d in designs.values())
    pre = data if data is not None or not learned else build_allocator_data(md)
    base = train_cfg or TrainConfig()
    cache: dict = {}

    def make(name: str, design: AllocatorDesign) -> StrategyFactory:
        def factory(rm: str, seed: int) -> DesignedStrategy:
            return DesignedStrategy(
                design=design,
                name=name,
                seed=seed,
                train_cfg=replace(base, seed=seed),
                vol_forecast=vol_forecast if design.vol_source == "forecast" else None,
                precomputed=pre,
                cache=cache,
            )

        return factory

    return {n: make(n, d) for n, d in designs.items()}


def forecasts_for(
    designs: Iterable[AllocatorDesign],
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    seed: int = 0,
) -> pd.DataFrame | None:
    """:func:`design_forecasts` when one of ``designs`` reads forecast vols, else None."""
    if not any(d.vol_source == "forecast" for d in designs):
        return None
    return design_forecasts(md, start, end, seed)


def design_forecasts(
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    seed: int = 0,
    n_jobs: int | None = 1,
) -> pd.DataFrame:
    """Wide walk-forward vols of the production forecaster from a year before ``start`` to
    ``end`` (each year's models fitted on data before it): the inputs of a forecast-vol design
    (the year before covers its first decision and the partial rebalance's look-back)."""
    from riskalloc.allocate.dataset import forecast_wide
    from riskalloc.forecast.production import PRODUCTION, production_forecasts

    lo = pd.Timestamp(start) - pd.DateOffset(years=1)
    hi = str(pd.Timestamp(end).date())
    fc, _ = production_forecasts(md, str(lo.date()), hi, seed, (), n_jobs=n_jobs)
    return forecast_wide(fc, PRODUCTION.name)


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
    fold_models: FoldModels | None = None,
    data: AllocatorData | None = None,
) -> dict[str, StrategyFactory]:
    """Factories (risk_measure, seed) -> fresh v1 :class:`LearnedAllocatorStrategy` per variant
    (``names`` are keys of :data:`V1_VARIANTS` or of the v1 ``ABLATIONS``).

    ``fold_models`` is the cache the strategies share (a fold's model is trained once for all
    rebalance frequencies and costs); pass the one :func:`fold_model_cache` built from trained
    fold models to reuse them instead of retraining. It is filled in place (in this process:
    a grid run with ``n_jobs`` > 1 fills its workers' copies).
    """
    pre = data if data is not None else build_allocator_data(md, vol_forecast)
    base = train_cfg or TrainConfig()
    cache: FoldModels = {} if fold_models is None else fold_models

    def make(name: str) -> StrategyFactory:
        def factory(rm: str, seed: int) -> LearnedAllocatorStrategy:
            objective = "starr" if rm == "cvar" else base.objective
            return LearnedAllocatorStrategy(
                name=name,
                switches=ABLATIONS[V1_VARIANTS.get(name, name)],
                vol_forecast=vol_forecast,
                train_cfg=replace(base, seed=seed, objective=objective),
                precomputed=pre,
                cache=cache,
            )

        return factory

    return {n: make(n) for n in names}


def run_headline(
    md: MarketData,
    vol_forecast: pd.DataFrame | None,
    start: str = "2017-01-01",
    end: str = "2022-12-31",
    costs: Iterable[float] = (DEFAULT_COST_BPS,),
    rebalances: Iterable[str] = (DEFAULT_REBALANCE,),
    seeds: Iterable[int] = (0,),
    risk_measures: Iterable[str] = ("variance",),
    ablations: bool = True,
    baselines: Iterable[str] = BASELINES,
    train_cfg: TrainConfig | None = None,
    fold_models: FoldModels | None = None,
    design: AllocatorDesign | None = None,
    v1: bool | None = None,
    retrain: str = DEFAULT_RETRAIN,
    n_trials: int | None = None,
    n_jobs: int | None = 1,
) -> Headline:
    """Walk-forward every strategy over [start, end], test each Sharpe ratio against ERC and
    equal weight, and summarise the stress periods (``n_jobs`` strategies at a time).

    ``design`` defaults to the committed production design; ``v1`` (default: with the
    ablations) adds the first allocator, which needs ``vol_forecast``; its fold models are
    taken from ``fold_models`` where they are there (see :func:`train_fold_models`).
    """
    design = design or load_design()
    designs = design_ablations(design) if ablations else {"riskalloc": design}
    vols = forecasts_for(designs.values(), md, start, end)
    factories: dict[str, StrategyFactory] = designed_factories(
        md, designs, train_cfg, vol_forecast=vols
    )
    if (ablations if v1 is None else v1) and vol_forecast is not None:
        factories |= riskalloc_factories(
            md, vol_forecast, list(V1_VARIANTS), train_cfg, fold_models
        )
    factories |= baseline_factories(list(baselines))
    grid = run_grid(
        factories,
        md,
        start,
        end,
        costs=costs,
        rebalances=rebalances,
        risk_measures=risk_measures,
        seeds=seeds,
        retrain=retrain,
        n_jobs=n_jobs,
    )
    grid.metrics = add_significance(grid, n_trials=n_trials)
    return Headline(grid, *stress_summary(grid, md))


def backtest(
    design: AllocatorDesign | None = None,
    *,
    md: MarketData | None = None,
    prices: pd.DataFrame | None = None,
    macro: pd.DataFrame | None = None,
    start: str = "2017-01-01",
    end: str = "2022-12-31",
    baselines: Iterable[str] | None = None,
    ablations: bool = False,
    costs: Iterable[float] | None = None,
    rebalances: Iterable[str] | None = None,
    seeds: Iterable[int] = (0,),
    retrain: str | None = None,
) -> Headline:
    """``riskalloc.backtest(...)``: the headline run of a design against the baselines, on the
    bundled data by default (the library face of :func:`run_headline`).

    Parameters
    ----------
    design : AllocatorDesign, optional
        Default: the committed production design (``riskalloc.allocate.load_design()``).
    md : MarketData, optional
        The market; else built from ``prices`` (date x ticker) and ``macro`` (date x FRED id),
        else the bundled data.
    start, end : str
        Out-of-sample window.
    baselines : iterable of str, optional
        Default: all of ``riskalloc.backtest.headline.BASELINES``.
    ablations : bool, default False
        Add the design's ablations (each part of it switched off).
    costs, rebalances, seeds, retrain
        Grid settings; defaults are the headline's (10 bps, weekly, seed 0, yearly).

    Returns
    -------
    riskalloc.backtest.headline.Headline
        ``.grid.metrics`` (one row per strategy, setting and period, with Sharpe p-values
        against ERC and equal weight), ``.grid.results`` (daily returns, weights),
        ``.drawdowns`` and ``.covid``.
    """
    if md is None:
        md = MarketData.sample() if prices is None else MarketData.from_wide(prices, macro)
    return run_headline(
        md,
        None,
        start=start,
        end=end,
        costs=(DEFAULT_COST_BPS,) if costs is None else costs,
        rebalances=(DEFAULT_REBALANCE,) if rebalances is None else rebalances,
        seeds=seeds,
        ablations=ablations,
        baselines=BASELINES if baselines is None else baselines,
        design=design,
        v1=False,
        retrain=DEFAULT_RETRAIN if retrain is None else retrain,
    )


def add_significance(grid: GridResult, n_trials: int | None = None) -> pd.DataFrame:
    """``grid.metrics`` with, per row, the Ledoit-Wolf p-value of its Sharpe ratio against ERC
    and equal weight on the same days and settings (``p_sharpe_vs_erc``,
    ``p_sharpe_vs_equal_weight``), and for ``riskalloc`` the deflated Sharpe ratio for the
    ``n_trials`` candidates of the selection (``deflated_sharpe``)."""
    m = grid.metrics.copy()
    cols = [f"p_sharpe_vs_{b}" for b in SIGNIFICANCE_AGAINST]
    for c in [*cols, "deflated_sharpe"]:
        m[c] = np.nan
    excess = {k: r.returns - r.rf for k, r in grid.results.items()}
    record = load_selection_record()
    n_trials = int(record.get("n_trials", 1)) if n_trials is None else n_trials
    trial_var = record.get("trial_sharpe_var")
    for i, row in m.iterrows():
        key = (row["strategy"], float(row["cost_bps"]), row["rebalance"], int(row["seed"]))
        if key not in excess:
            continue
        ours = excess[key]
        span = periods(ours.index).get(row["period"])
        if span is None:
            continue
        ours = ours.loc[span[0] : span[1]]
        for base, col in zip(SIGNIFICANCE_AGAINST, cols, strict=True):
            other = next(
                (excess[k] for k in [(base, *key[1:]), (base, *key[1:3], 0)] if k in excess),
                None,
            )
            if other is None or row["strategy"] == base:
                continue
            try:
                m.at[i, col] = sharpe_difference_test(ours, other)["p_value"]
            except DataError:
                continue
        if row["strategy"] == "riskalloc" and len(ours) >= 30:
            m.at[i, "deflated_sharpe"] = deflated_sharpe_ratio(ours, n_trials, trial_var)["dsr"]
    return m


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
