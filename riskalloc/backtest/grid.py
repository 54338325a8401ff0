"""The experiment grid: strategies × rebalance × risk measure × seed, re-simulated per cost.

Weights are computed once per (strategy, rebalance, seed, risk_measure) by walk-forward and
re-simulated for each cost. Strategies whose ``stochastic`` attribute is False run for the
first seed only; ``risk_measures`` (default ``("none",)``) lists the measures a strategy
takes. Labels: the strategy name, suffixed ``_cvar`` etc. for non-variance measures, so the
returns/weights tables (whose keys lack ``risk_measure``) stay unique.

The unit of work is a :class:`GridCell` (strategy, risk measure, seed): cells share nothing
but their inputs, so :func:`run_grid` runs them one after another (or ``n_jobs`` at a time
in worker processes) and the Dagster ``backtest_grid`` asset runs each as a partition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial

import pandas as pd

from riskalloc.backtest.baselines import make_baseline
from riskalloc.backtest.engine import BacktestResult, simulate
from riskalloc.backtest.outputs import metrics_frame, returns_frame, weights_frame
from riskalloc.backtest.schedule import REBALANCES, rebalance_dates
from riskalloc.backtest.strategy import Strategy
from riskalloc.backtest.walkforward import run_walk_forward
from riskalloc.market import MarketData
from riskalloc.parallel import effective_n_jobs, parallel_map

log = logging.getLogger(__name__)

COSTS_BPS: tuple[float, ...] = (0.0, 5.0, 10.0, 25.0)
StrategyFactory = Callable[[str, int], Strategy]  # (risk_measure, seed) -> fresh strategy


@dataclass
class GridResult:
    """Frames for the three backtest tables, every simulated result, and the dates on which a
    solver failed and inverse volatility was used instead (per label, rebalance, seed)."""

    metrics: pd.DataFrame
    returns: pd.DataFrame
    weights: pd.DataFrame
    results: dict[tuple[str, float, str, int], BacktestResult] = field(default_factory=dict)
    fallbacks: dict[tuple[str, str, int], list[pd.Timestamp]] = field(default_factory=dict)


def label(name: str, risk_measure: str) -> str:
    """Strategy label used in the tables: ``erc``, ``erc_cvar``, ``dl_lstm``."""
    return name if risk_measure in ("variance", "none") else f"{name}_{risk_measure}"


def baseline_factories(names: Iterable[str], lookback: int = 252) -> dict[str, StrategyFactory]:
    """Factories of the named baselines (see ``riskalloc.backtest.baselines.BASELINES``)."""
    return {
        n: (
            lambda rm, seed, n=n: make_baseline(
                n, rm if rm != "none" else "variance", seed, lookback
            )
        )
        for n in names
    }


@dataclass(frozen=True)
class GridCell:
    """One independent unit of the grid: a strategy under one risk measure and one seed, over
    every rebalance frequency and cost (so the grid can run as partitions, in any order)."""

    name: str
    risk_measure: str
    seed: int

    @property
    def key(self) -> str:
        """``<label>@<seed>``, e.g. ``erc_cvar@0``: the cell's name and partition key."""
        return f"{label(self.name, self.risk_measure)}@{self.seed}"


def grid_cells(
    factories: Mapping[str, StrategyFactory], risk_measures: Iterable[str], seeds: Iterable[int]
) -> list[GridCell]:
    """The cells of a grid (one probe per strategy): each measure a strategy takes (``none``
    if it takes none), every seed if it is ``stochastic`` else the first; strategy-major."""
    wanted, seeds = list(risk_measures), [int(s) for s in seeds]
    cells = []
    for name, factory in factories.items():
        probe = factory("variance", seeds[0])
        takes = list(getattr(probe, "risk_measures", ("none",)))
        measures = [m for m in wanted if m in takes] if takes != ["none"] else ["none"]
        run_seeds = seeds if getattr(probe, "stochastic", True) else seeds[:1]
        cells += [GridCell(name, rm, s) for rm in measures for s in run_seeds]
    return cells


def concat_results(parts: Iterable[GridResult]) -> GridResult:
    """One GridResult from several (e.g. the cells of a grid), in order."""
    parts = [p for p in parts if len(p.metrics)]
    return GridResult(
        metrics=pd.concat([p.metrics for p in parts], ignore_index=True),
        returns=pd.concat([p.returns for p in parts], ignore_index=True),
        weights=pd.concat([p.weights for p in parts], ignore_index=True),
        results={k: v for p in parts for k, v in p.results.items()},
        fallbacks={k: v for p in parts for k, v in p.fallbacks.items()},
    )


def run_grid_cell(
    factory: StrategyFactory,
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    cell: GridCell,
    costs: Iterable[float] = COSTS_BPS,
    rebalances: Iterable[str] = REBALANCES,
    retrain: str = "yearly",
) -> GridResult:
    """Every (rebalance, cost) of one cell: weights by walk-forward (once for all frequencies
    when daily is among them, else once per frequency), re-simulated for each cost."""
    costs, rebalances = list(costs), list(rebalances)
    mets, rets, wts, results, fallbacks = [], [], [], {}, {}
    rm, seed, lab = cell.risk_measure, cell.seed, label(cell.name, cell.risk_measure)
    shared = None
    if "daily" in rebalances and len(rebalances) > 1:
        # every schedule's dates are trading days, so the daily targets hold them all: one
        # walk-forward (one fit per fold) serves every frequency, row for row the same
        strat = factory(rm if rm != "none" else "variance", seed)
        shared = run_walk_forward(strat, md, start, end, retrain, "daily")
        shared_fallbacks = list(getattr(strat, "fallback_dates", []))
    for reb in rebalances:
        if shared is not None:
            dates = rebalance_dates(md.dates, start, end, reb)
            w = shared.loc[dates]
            fallbacks[(lab, reb, seed)] = [d for d in shared_fallbacks if d in set(dates)]
        else:
            strat = factory(rm if rm != "none" else "variance", seed)
            w = run_walk_forward(strat, md, start, end, retrain, reb)
            fallbacks[(lab, reb, seed)] = list(getattr(strat, "fallback_dates", []))
        log.info("grid: %s seed %d %s weights done", lab, seed, reb)
        for c in costs:
            res = simulate(w, md, c, start, end, max_gross=getattr(strat, "max_gross", 1.0))
            results[(lab, float(c), reb, seed)] = res
            mets.append(metrics_frame(res, lab, reb, seed, rm))
            rets.append(returns_frame(res, lab, reb, seed))
            wts.append(weights_frame(res, lab, reb, seed))
    return GridResult(
        metrics=pd.concat(mets, ignore_index=True),
        returns=pd.concat(rets, ignore_index=True),
        weights=pd.concat(wts, ignore_index=True),
        results=results,
        fallbacks=fallbacks,
    )


def run_grid(
    factories: Mapping[str, StrategyFactory],
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    costs: Iterable[float] = COSTS_BPS,
    rebalances: Iterable[str] = REBALANCES,
    risk_measures: Iterable[str] = ("variance", "cvar"),
    seeds: Iterable[int] = (0,),
    retrain: str = "yearly",
    n_jobs: int | None = 1,
) -> GridResult:
    """Run every combination; one metrics frame with strategy, period, cost_bps, rebalance,
    seed, risk_measure and the metrics (the :func:`grid_cells`, ``n_jobs`` at a time, in
    worker processes when more than one; the rows and their order do not depend on it)."""
    costs, rebalances = list(costs), list(rebalances)
    effective_n_jobs(n_jobs)
    cells = grid_cells(factories, risk_measures, seeds)
    run = partial(_run_cell, md, start, end, costs, rebalances, retrain)
    return concat_results(parallel_map(run, [(factories[c.name], c) for c in cells], n_jobs))


def _run_cell(
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    costs: list[float],
    rebalances: list[str],
    retrain: str,
    job: tuple[StrategyFactory, GridCell],
) -> GridResult:
    """:func:`run_grid_cell` of one (factory, cell) pair (the unit ``parallel_map`` sends)."""
    factory, cell = job
    return run_grid_cell(factory, md, start, end, cell, costs, rebalances, retrain)


SUMMARY_METRICS: tuple[str, ...] = (
    "sharpe",
    "ann_return",
    "ann_vol",
    "max_drawdown",
    "cvar_95",
    "turnover",
)


def seed_summary(metrics: pd.DataFrame, period: str) -> pd.DataFrame:
    """Mean and std across seeds of the headline metrics, per setting, for one ``period``."""
    m = metrics.loc[metrics["period"] == period]
    keys = ["strategy", "risk_measure", "rebalance", "cost_bps"]
    cols = [c for c in SUMMARY_METRICS if c in m.columns]
    agg = m.groupby(keys)[cols].agg(["mean", "std"])
    agg.columns = [f"{a}_{b}" for a, b in agg.columns]
    agg["seeds"] = m.groupby(keys)["seed"].nunique()
    return agg.reset_index().sort_values(["cost_bps", "rebalance", "sharpe_mean"], ascending=False)
