"""``riskalloc backtest``: walk-forward evaluation of riskalloc and the baselines on your files.

Reads a wide (or long) price file and a FRED-style macro file with
:class:`riskalloc.sources.files.FileSource`, runs each strategy out of sample over
[--start, --end] and writes ``returns.csv``, ``weights.csv``, ``metrics.csv``, a report
folder, ``forecast_eval.csv`` and ``backtest.duckdb`` into --out, through the same runner
and defaults as the ``backtest`` asset (weekly, 10 bps, yearly retrains); ``metrics.csv``
carries the Ledoit-Wolf p-values against ERC and equal weight. Returns 0, or 2 with a clear
message on bad input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from riskalloc.backtest.baselines import BASELINES
from riskalloc.backtest.grid import StrategyFactory, baseline_factories, run_grid
from riskalloc.backtest.outputs import write_warehouse
from riskalloc.backtest.report import write_report
from riskalloc.backtest.schedule import (
    DEFAULT_COST_BPS,
    DEFAULT_REBALANCE,
    DEFAULT_RETRAIN,
    REBALANCES,
    RETRAINS,
)
from riskalloc.errors import ConfigError, DataError, RiskallocError
from riskalloc.market import MarketData
from riskalloc.parallel import effective_n_jobs
from riskalloc.sources.files import FileSource
from riskalloc.universe import Asset, Series, Universe, load_universe

log = logging.getLogger(__name__)

DEFAULT_STRATEGIES: tuple[str, ...] = (
    "equal_weight",
    "inverse_vol",
    "erc",
    "min_variance",
    "hrp",
    "dl_lstm",
    "riskalloc",
)
RISKALLOC_STRATEGIES: tuple[str, ...] = ("riskalloc", "riskalloc_v1")
ROLE_ARGS = {  # CLI option -> series role
    "vix": "volatility_expectation",
    "credit": "credit_spread",
    "slope": "curve_slope",
    "rf": "risk_free_rate",
}


def build_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of ``riskalloc backtest`` (also the parent of the ``riskalloc`` subcommand)."""
    p = argparse.ArgumentParser(
        prog="riskalloc backtest", description=__doc__.splitlines()[0], add_help=add_help
    )
    p.add_argument("--prices", required=True, help="wide CSV/Parquet of adjusted closes")
    p.add_argument("--macro", required=True, help="FRED-style macro CSV/Parquet")
    p.add_argument("--start", required=True, help="first out-of-sample date")
    p.add_argument("--end", required=True, help="last out-of-sample date")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--universe", default=None, help="universe YAML giving classes and roles")
    p.add_argument(
        "--cash",
        default=None,
        help="cash ticker (earns the risk-free rate, never a risky asset); 'none' for no cash. "
        "Default: the universe file's, or the bundled universe's when its cash ticker is a column",
    )
    p.add_argument("--vix", default=None, help="series id of the volatility expectation")
    p.add_argument("--credit", default=None, help="comma-separated credit-spread series ids")
    p.add_argument("--slope", default=None, help="comma-separated curve-slope series ids")
    p.add_argument("--rf", default=None, help="series id of the risk-free rate")
    p.add_argument(
        "--strategies",
        nargs="+",
        default=None,
        help=f"names (space/comma separated; default: {','.join(DEFAULT_STRATEGIES)})",
    )
    p.add_argument("--cost-bps", type=float, default=DEFAULT_COST_BPS)
    p.add_argument("--rebalance", default=DEFAULT_REBALANCE, choices=list(REBALANCES))
    p.add_argument("--retrain", default=DEFAULT_RETRAIN, choices=list(RETRAINS))
    p.add_argument(
        "--design",
        default=None,
        help="allocator design JSON for riskalloc (default: the committed selected design)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="strategies run at once in worker processes (-1: every core); same results",
    )
    return p


def _ids(value: str | None) -> list[str]:
    return [s.strip() for s in (value or "").split(",") if s.strip()]


def _universe(args: argparse.Namespace, tickers: list[str], series: list[str]) -> Universe:
    """The universe file, or one built from the files' tickers and the bundled roles."""
    base = load_universe(args.universe) if args.universe else None
    bundled = load_universe()
    ref = base or bundled
    classes = ref.asset_classes()
    roles = {s.series_id: s.role for s in ref.series if s.series_id in series}
    for opt, role in ROLE_ARGS.items():
        given = _ids(getattr(args, opt, None))
        missing = sorted(set(given) - set(series))
        if missing:
            raise DataError(f"--{opt} series {missing} not in {args.macro}; it has {series[:20]}")
        if given:
            roles = {k: v for k, v in roles.items() if v != role} | dict.fromkeys(given, role)
    if base is not None:
        keep = [a for a in base.assets if a.ticker in tickers]
    else:
        unknown = [t for t in tickers if t not in classes]
        if unknown:
            log.warning("no asset class known for %s; treated as equity", unknown)
        keep = [Asset(t, classes.get(t, "equity")) for t in tickers]
    if not keep:
        raise DataError(f"no ticker of {args.prices} is in the universe {ref.name!r}")
    cash = _cash(args.cash, base, bundled, [a.ticker for a in keep])
    if cash is not None and cash not in [a.ticker for a in keep]:
        raise DataError(f"cash ticker {cash!r} is not a column of {args.prices}")
    rf = [s for s, r in roles.items() if r == "risk_free_rate"]
    proxy = ref.equity_proxy if ref.equity_proxy in [a.ticker for a in keep] else None
    return Universe(
        name=f"{ref.name}-files",
        assets=tuple(keep),
        series=tuple(Series(s, roles.get(s, "other")) for s in series),
        cash=cash,
        risk_free_rate=rf[0] if rf else None,
        equity_proxy=proxy,
    )


def _cash(
    given: str | None, base: Universe | None, bundled: Universe, tickers: list[str]
) -> str | None:
    """--cash, else the universe file's cash, else the bundled universe's cash ticker when
    it is a column (so BIL is never silently treated as a risky asset); warns otherwise."""
    if given is not None:
        return None if given.strip().lower() == "none" else given
    if base is not None:
        return base.cash
    if bundled.cash in tickers:
        log.info("cash: %s (from the bundled universe)", bundled.cash)
        return bundled.cash
    log.warning(
        "no cash ticker given: every column is a risky asset and the uninvested part earns the "
        "risk-free rate; pass --cash TICKER if one column is a money-market or T-bill fund"
    )
    return None


def _vol_forecasts(md: MarketData, start: pd.Timestamp, seed: int) -> pd.DataFrame:
    """Walk-forward LSTM forecasts from up to six years before ``start`` (each made by a model
    trained before its year), the inputs the allocator trains and trades on."""
    from riskalloc.allocate.dataset import forecast_wide
    from riskalloc.forecast.walkforward import walk_forward_forecasts

    first = max(md.dates[0] + pd.DateOffset(years=3), start - pd.DateOffset(years=6))
    lo = pd.Timestamp(first.year + (first.month > 1 or first.day > 1), 1, 1)
    if lo >= start:
        raise DataError(
            f"riskalloc needs at least 4 years of prices before --start {start.date()} "
            f"(data starts {md.dates[0].date()}); drop it with --strategies or start later"
        )
    log.info("riskalloc: walk-forward LSTM forecasts from %s", lo.date())
    fc = walk_forward_forecasts(
        md, start=str(lo.date()), end=str(md.dates[-1].date()), seed=seed, models=("lstm",)
    )
    return forecast_wide(fc)


def _factories(
    names: list[str],
    md: MarketData,
    start: pd.Timestamp,
    seed: int,
    design_path: str | None = None,
    end: pd.Timestamp | None = None,
) -> dict[str, StrategyFactory]:
    """Factories of the named strategies, in the order given, from the shared runner (a
    forecast-vol design gets the production forecaster's walk-forward vols)."""
    from riskalloc.allocate.design import load_design
    from riskalloc.backtest.headline import designed_factories, forecasts_for, riskalloc_factories

    out: dict[str, StrategyFactory] = {}
    for name in names:
        if name == "riskalloc":
            design = load_design(design_path)
            vols = forecasts_for([design], md, start, end or md.dates[-1], seed)
            out |= designed_factories(md, {"riskalloc": design}, vol_forecast=vols)
        elif name == "riskalloc_v1":
            vol = _vol_forecasts(md, start, seed)
            out |= riskalloc_factories(md, vol, ["riskalloc_v1"])
        else:
            out |= baseline_factories([name])
    return out


def _names(args: argparse.Namespace) -> list[str]:
    raw = getattr(args, "strategies", None) or list(DEFAULT_STRATEGIES)
    names = [n for item in raw for n in _ids(item)]
    known = [*BASELINES, *RISKALLOC_STRATEGIES]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(f"unknown strategies {unknown}; use {known}")
    return names


def _dates(args: argparse.Namespace) -> tuple[pd.Timestamp, pd.Timestamp]:
    try:
        start, end = pd.Timestamp(args.start), pd.Timestamp(args.end)
    except ValueError as exc:
        raise ConfigError(f"--start/--end must be dates YYYY-MM-DD ({exc})") from None
    if start >= end:
        raise ConfigError(f"--start {start.date()} must be before --end {end.date()}")
    return start, end


def run(args: argparse.Namespace) -> pd.DataFrame:
    """Do the backtest described by ``args``; return the metrics frame (also on disk)."""
    start, end = _dates(args)
    names = _names(args)
    n_jobs = int(getattr(args, "n_jobs", 1))
    effective_n_jobs(n_jobs)  # --n-jobs 0 fails before any reading or fitting
    src = FileSource(prices_path=args.prices, macro_path=args.macro)
    prices, macro = src.fetch_prices(), src.fetch_macro()
    uni = _universe(args, sorted(set(prices["ticker"])), sorted(set(macro["series_id"])))
    md = MarketData.from_long(prices, macro, uni)
    if md.dates[0] >= start or md.dates[-1] < start:
        raise DataError(
            f"{args.prices} covers {md.dates[0].date()}..{md.dates[-1].date()}: it needs "
            f"history before --start {start.date()} (a year for the baselines)"
        )
    seed, reb = int(getattr(args, "seed", 0)), args.rebalance
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from riskalloc.forecast.production import write_forecast_eval  # forecasts vs baselines

    write_forecast_eval(md, start, end, out, seed)
    grid = run_grid(
        _factories(names, md, start, seed, getattr(args, "design", None), end),
        md,
        start,
        end,
        costs=(args.cost_bps,),
        rebalances=(reb,),
        risk_measures=("variance",),
        seeds=(seed,),
        retrain=getattr(args, "retrain", DEFAULT_RETRAIN),
        n_jobs=n_jobs,
    )
    returns, weights = grid.returns, grid.weights
    from riskalloc.backtest.headline import add_significance

    metrics = add_significance(grid)
    wide = {k[0]: r.returns for k, r in grid.results.items()}
    returns.to_csv(out / "returns.csv", index=False)
    weights.to_csv(out / "weights.csv", index=False)
    metrics.to_csv(out / "metrics.csv", index=False)
    write_report(
        pd.DataFrame(wide),
        metrics,
        out / "report",
        f"Walk-forward {start.date()}..{end.date()}, {args.cost_bps:g} bps, {reb}",
    )
    write_warehouse(out / "backtest.duckdb", returns, weights, metrics)
    return metrics


def run_backtest_cli(argv: Sequence[str] | argparse.Namespace) -> int:
    """Entry point: a list of CLI arguments, or the namespace parsed by ``riskalloc.cli``."""
    if isinstance(argv, argparse.Namespace):
        args = argv
    else:
        try:
            args = build_parser().parse_args(list(argv))
        except SystemExit as exc:  # argparse has printed the usage error
            return int(exc.code or 0)
    try:
        metrics = run(args)
    except RiskallocError as exc:
        print(f"riskalloc backtest: error: {exc}", file=sys.stderr)
        return 2
    head = metrics.loc[metrics["period"] == metrics["period"].iloc[0]]
    cols = ["strategy", "ann_return", "ann_vol", "sharpe", "max_drawdown", "turnover"]
    print(head.loc[:, cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote metrics.csv, returns.csv, weights.csv, report/ and backtest.duckdb to {args.out}")
    return 0
