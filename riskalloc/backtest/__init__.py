"""Walk-forward backtest: strategies, engine, baselines, metrics, grid, report and CLI.

Typical use::

    w = run_walk_forward(strategy, md, "2017-01-01", "2022-12-31", rebalance="monthly")
    res = simulate(w, md, cost_bps=10, start="2017-01-01", end="2022-12-31")
    metrics_table(res)

The package itself is callable: ``riskalloc.backtest(design, start=..., end=...)`` is
:func:`riskalloc.backtest.headline.backtest`, the headline runner the CLI and the asset use.
"""

import sys
import types
from typing import Any

from riskalloc.backtest.baselines import BASELINES, erc_weights, make_baseline
from riskalloc.backtest.engine import BacktestResult, simulate
from riskalloc.backtest.grid import GridResult, baseline_factories, run_grid
from riskalloc.backtest.metrics import (
    STRESS_WINDOWS,
    compute_metrics,
    drawdown_reduction,
    equity_exposure,
    exposure_cut,
    metrics_table,
)
from riskalloc.backtest.outputs import (
    metrics_frame,
    returns_frame,
    weights_frame,
    write_warehouse,
)
from riskalloc.backtest.schedule import rebalance_dates
from riskalloc.backtest.strategy import LookbackStrategy, Strategy
from riskalloc.backtest.walkforward import assert_no_lookahead, run_walk_forward

__all__ = [
    "BASELINES",
    "STRESS_WINDOWS",
    "BacktestResult",
    "GridResult",
    "LookbackStrategy",
    "Strategy",
    "assert_no_lookahead",
    "baseline_factories",
    "compute_metrics",
    "drawdown_reduction",
    "equity_exposure",
    "erc_weights",
    "exposure_cut",
    "make_baseline",
    "metrics_frame",
    "metrics_table",
    "rebalance_dates",
    "returns_frame",
    "run_grid",
    "run_walk_forward",
    "simulate",
    "weights_frame",
    "write_warehouse",
]


class _CallableModule(types.ModuleType):
    """``riskalloc.backtest(...)`` runs :func:`~riskalloc.backtest.headline.backtest`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The headline walk-forward backtest (see :func:`riskalloc.backtest.headline.backtest`)."""
        from riskalloc.backtest.headline import backtest

        return backtest(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
