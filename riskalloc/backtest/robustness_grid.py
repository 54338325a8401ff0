"""The robustness grid as independent cells: costs × rebalancing × risk measure × seeds.

The grid evaluates the headline's strategies (riskalloc, optionally its ablations and the
first allocator, and the baselines) over 2017-2022 under every setting of a
:class:`GridSpec`. Its unit of work is a :class:`~riskalloc.backtest.grid.GridCell` (one
strategy, one risk measure, one seed, every rebalance frequency and cost), so the cells run
anywhere, in any order: one after another (:func:`run_spec`), or as the partitions of the
Dagster ``backtest_grid`` asset, each computing its rows with :func:`run_unit` and writing
them to its own Parquet files (:mod:`riskalloc.warehouse.units`). :func:`combine` then adds
the Sharpe-ratio tests, which compare cells with each other (against ERC and equal weight on
the same days), and :func:`~riskalloc.backtest.grid.seed_summary` the mean ± std over seeds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from riskalloc.allocate.design import AllocatorDesign, load_design
from riskalloc.allocate.designed import DesignedStrategy
from riskalloc.allocate.strategy import LearnedAllocatorStrategy
from riskalloc.allocate.train import TrainConfig
from riskalloc.backtest.grid import (
    COSTS_BPS,
    GridCell,
    GridResult,
    StrategyFactory,
    baseline_factories,
    grid_cells,
    run_grid_cell,
    seed_summary,
)
from riskalloc.backtest.headline import (
    BASELINES,
    V1_VARIANTS,
    add_significance,
    design_ablations,
    designed_factories,
    forecasts_for,
    riskalloc_factories,
)
from riskalloc.backtest.schedule import DEFAULT_RETRAIN, REBALANCES
from riskalloc.errors import ConfigError
from riskalloc.market import MarketData

if TYPE_CHECKING:
    from riskalloc.universe import Universe
    from riskalloc.warehouse.connection import Warehouse

TABLES: tuple[str, ...] = ("backtest_metrics", "backtest_returns", "backtest_weights")
EXPERIMENT = "backtest_grid"  # the folder of its unit files under <warehouse>/research


@dataclass(frozen=True)
class GridSpec:
    """What the grid runs: window, settings, strategies (the whole experiment, fixed up front)."""

    start: str = "2017-01-01"
    end: str = "2022-12-31"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    costs: tuple[float, ...] = COSTS_BPS
    rebalances: tuple[str, ...] = REBALANCES
    risk_measures: tuple[str, ...] = ("variance", "cvar")
    ablations: bool = False  # also riskalloc's ablations and the first allocator (v1)
    baselines: tuple[str, ...] = BASELINES
    strategies: tuple[str, ...] | None = None  # keep only these strategy names (None: all)
    tickers: tuple[str, ...] | None = None  # a sub-universe (None: every ticker)
    retrain: str = DEFAULT_RETRAIN

    def __post_init__(self) -> None:
        if not self.seeds or not self.risk_measures or not self.rebalances or not self.costs:
            raise ConfigError("a grid needs at least one seed, risk measure, rebalance and cost")

    @property
    def period(self) -> str:
        """The full-window period label of the metrics (e.g. ``2017-2022``)."""
        return f"{pd.Timestamp(self.start).year}-{pd.Timestamp(self.end).year}"

    def designs(self, design: AllocatorDesign | None = None) -> dict[str, AllocatorDesign]:
        """The allocator designs by name: the production one (and its ablations)."""
        design = design or load_design()
        return design_ablations(design) if self.ablations else {"riskalloc": design}

    def names(self) -> list[str]:
        """Every strategy name of the grid, in the headline's order."""
        names = [*self.designs(), *(V1_VARIANTS if self.ablations else ()), *self.baselines]
        return [n for n in names if self.strategies is None or n in self.strategies]


def _probes(spec: GridSpec) -> dict[str, StrategyFactory]:
    """Factories of bare strategies (no data, no training): enough to plan the cells."""
    designs = spec.designs()
    out: dict[str, StrategyFactory] = {}
    base = baseline_factories(spec.baselines)
    for name in spec.names():
        if name in designs:
            out[name] = lambda rm, seed, d=designs[name]: DesignedStrategy(design=d, seed=seed)
        elif name in V1_VARIANTS:
            out[name] = lambda rm, seed, n=name: LearnedAllocatorStrategy(name=n)
        else:
            out[name] = base[name]
    return out


def spec_cells(spec: GridSpec) -> list[GridCell]:
    """The grid's cells, known before any data is read (the partitions of ``backtest_grid``)."""
    return grid_cells(_probes(spec), spec.risk_measures, spec.seeds)


def cell_by_key(spec: GridSpec, key: str) -> GridCell:
    """The cell named ``key`` (``<label>@<seed>``); ConfigError if the grid has none."""
    cells = {c.key: c for c in spec_cells(spec)}
    if key not in cells:
        raise ConfigError(f"the grid has no cell {key!r}; it has {sorted(cells)[:8]} ...")
    return cells[key]


def spec_market(md: MarketData, spec: GridSpec) -> MarketData:
    """The market the grid runs on (the spec's sub-universe, if any)."""
    return md.select(list(spec.tickers)) if spec.tickers else md


def cell_factory(
    md: MarketData,
    vol_forecast: pd.DataFrame | None,
    spec: GridSpec,
    name: str,
    train_cfg: TrainConfig | None = None,
) -> StrategyFactory:
    """The headline's factory of strategy ``name`` (built alone: a cell pays only for its own
    strategy's inputs)."""
    designs = spec.designs()
    if name in designs:
        vols = forecasts_for([designs[name]], md, spec.start, spec.end)
        return designed_factories(md, {name: designs[name]}, train_cfg, vol_forecast=vols)[name]
    if name in V1_VARIANTS:
        if vol_forecast is None:
            raise ConfigError(f"{name} needs the LSTM vol forecasts; materialise them first")
        return riskalloc_factories(md, vol_forecast, [name], train_cfg)[name]
    return baseline_factories([name])[name]


def run_cell(
    md: MarketData, vol_forecast: pd.DataFrame | None, spec: GridSpec, cell: GridCell
) -> GridResult:
    """Every rebalance frequency and cost of one cell, on one torch thread (no significance:
    see :func:`combine`)."""
    md = spec_market(md, spec)
    factory = cell_factory(md, vol_forecast, spec, cell.name)
    with one_torch_thread():
        return run_grid_cell(
            factory, md, spec.start, spec.end, cell, spec.costs, spec.rebalances, spec.retrain
        )


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Train and predict on one torch thread, then restore the count: torch's sums depend on
    the thread count, so a cell's rows then do not depend on the machine or on what runs
    beside it (and parallel cells do not oversubscribe the cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cell_frames(result: GridResult) -> dict[str, pd.DataFrame]:
    """A cell's rows of the three backtest tables."""
    return {
        "backtest_metrics": result.metrics,
        "backtest_returns": result.returns,
        "backtest_weights": result.weights,
    }


@dataclass(frozen=True)
class _DailyExcess:
    """The part of a backtest result the Sharpe tests read (net returns and the rf)."""

    returns: pd.Series
    rf: pd.Series


def combine(
    md: MarketData,
    spec: GridSpec,
    metrics: pd.DataFrame,
    returns: pd.DataFrame,
    n_trials: int | None = None,
) -> pd.DataFrame:
    """The metrics of every cell with the headline's Sharpe tests (against ERC and equal
    weight on the same days, the deflated Sharpe of riskalloc), from the stored rows: the
    same numbers as one serial run, since the rf is the market's on the same days."""
    md = spec_market(md, spec)
    rf = md.rf_daily()
    results = {}
    for key, g in returns.groupby(["strategy", "cost_bps", "rebalance", "seed"], sort=False):
        days = pd.DatetimeIndex(g["date"])
        ret = pd.Series(g["return"].to_numpy(), index=days, name="return")
        rf_days = pd.Series(rf.reindex(days).fillna(0.0).to_numpy(), index=days, name="rf")
        results[(key[0], float(key[1]), key[2], int(key[3]))] = _DailyExcess(ret, rf_days)
    grid = GridResult(metrics, returns, pd.DataFrame(), results)  # type: ignore[arg-type]
    return add_significance(grid, n_trials=n_trials)


def run_spec(
    md: MarketData,
    vol_forecast: pd.DataFrame | None,
    spec: GridSpec,
    cells: Sequence[GridCell] | None = None,
) -> GridResult:
    """Every cell one after another in this process, then :func:`combine` (the reference the
    partitioned run must equal)."""
    from riskalloc.backtest.grid import concat_results

    parts = [run_cell(md, vol_forecast, spec, c) for c in (cells or spec_cells(spec))]
    grid = concat_results(parts)
    grid.metrics = combine(md, spec, grid.metrics, grid.returns)
    return grid


def keys_of(cells: Iterable[GridCell]) -> list[str]:
    """The cells' keys (partition keys), in order."""
    return [c.key for c in cells]


def _inputs(wh: Warehouse, universe: Universe) -> tuple[MarketData, pd.DataFrame | None]:
    """Market and LSTM forecasts, read with a read-only connection (units run in parallel)."""
    from riskalloc.allocate.dataset import load_allocator_inputs

    with wh.connect(read_only=True) as con:
        inputs = load_allocator_inputs(con, universe)
    return inputs.md, inputs.vol_forecast


def run_unit(wh: Warehouse, universe: Universe, spec: GridSpec, key: str) -> GridResult:
    """One partition of the grid: run cell ``key`` on the warehouse's data and write its rows
    to its own Parquet files (never to DuckDB: see :mod:`riskalloc.warehouse.units`)."""
    from riskalloc.warehouse.units import write_unit

    md, vol_forecast = _inputs(wh, universe)
    result = run_cell(md, vol_forecast, spec, cell_by_key(spec, key))
    write_unit(wh, EXPERIMENT, key, cell_frames(result))
    return result


@dataclass
class GridTables:
    """The merged grid: every row (with the Sharpe tests) and the seed summary."""

    metrics: pd.DataFrame
    returns: pd.DataFrame
    weights: pd.DataFrame
    summary: pd.DataFrame


def merge_units(
    wh: Warehouse, universe: Universe, spec: GridSpec, keys: Iterable[str] | None = None
) -> GridTables:
    """Read the cells' unit files, add the Sharpe tests and upsert the three tables into
    DuckDB in one transaction (the only DuckDB writer of the grid); the seed summary."""
    from riskalloc.warehouse.store import upsert_many
    from riskalloc.warehouse.units import read_units

    keys = keys_of(spec_cells(spec)) if keys is None else list(keys)
    frames = {t: read_units(wh, EXPERIMENT, t, keys) for t in TABLES}
    md, _ = _inputs(wh, universe)
    metrics = combine(md, spec, frames["backtest_metrics"], frames["backtest_returns"])
    frames["backtest_metrics"] = metrics
    with wh.connect() as con:
        upsert_many(wh, con, {t: f for t, f in frames.items() if len(f)})
    return GridTables(
        metrics,
        frames["backtest_returns"],
        frames["backtest_weights"],
        seed_summary(metrics, spec.period),
    )
