"""The experiment grid: strategies × rebalance × risk measure × seed, re-simulated per cost.

Weights are computed once per (strategy, rebalance, seed, risk_measure) by walk-forward and
re-simulated for each cost. Strategies whose ``stochastic`` attribute is False run for the
first seed only; ``risk_measures`` (default ``("none",)``) lists the measures a strategy
takes. Labels: the strategy name, suffixed ``_cvar`` etc. for non-variance measures, so the
returns/weights tables (whose keys lack ``risk_measure``) stay unique.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from riskalloc.backtest.baselines import make_baseline
from riskalloc.backtest.engine import BacktestResult, simulate
from riskalloc.backtest.outputs import metrics_frame, returns_frame, weights_frame
from riskalloc.backtest.schedule import REBALANCES
from riskalloc.backtest.strategy import Strategy
from riskalloc.backtest.walkforward import run_walk_forward
from riskalloc.market import MarketData

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
    per_fold: Iterable[str] = (),
) -> GridResult:
    """Run every combination; one metrics frame with strategy, period, cost_bps, rebalance,
    seed, risk_measure and the metrics.

    Strategies named in ``per_fold`` get one ``weights`` call per fold (see
    :func:`~riskalloc.backtest.walkforward.run_walk_forward`); the others one call per date.
    """
    costs, rebalances = list(costs), list(rebalances)
    wanted, seeds, batch = list(risk_measures), list(seeds), set(per_fold)
    mets, rets, wts, results, fallbacks = [], [], [], {}, {}
    for name, factory in factories.items():
        probe = factory("variance", seeds[0])
        takes = list(getattr(probe, "risk_measures", ("none",)))
        measures = [m for m in wanted if m in takes] if takes != ["none"] else ["none"]
        run_seeds = seeds if getattr(probe, "stochastic", True) else seeds[:1]
        for rm in measures:
            for seed in run_seeds:
                for reb in rebalances:
                    strat = factory(rm if rm != "none" else "variance", seed)
                    w = run_walk_forward(
                        strat, md, start, end, retrain, reb, per_fold=name in batch
                    )
                    lab = label(name, rm)
                    fallbacks[(lab, reb, seed)] = list(getattr(strat, "fallback_dates", []))
                    log.info("grid: %s seed %d %s weights done", lab, seed, reb)
                    for c in costs:
                        res = simulate(w, md, c, start, end)
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
