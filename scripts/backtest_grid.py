"""The robustness grid: costs × rebalancing × risk measure × seeds, 2017-2022 out of sample.

Run after ``make run`` (it reads prices, macro and the walk-forward LSTM forecasts from the
warehouse):  ``.venv/bin/python scripts/backtest_grid.py [--seeds 5] [--quick]``.
Writes the rows to the warehouse tables ``backtest_metrics``/``backtest_returns``/
``backtest_weights``, the full table to ``benchmarks/results/backtest_grid.csv`` and the
seed mean ± std summary to ``benchmarks/results/backtest_grid.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from riskalloc.allocate.dataset import load_allocator_inputs
from riskalloc.backtest.headline import run_headline
from riskalloc.universe import load_universe
from riskalloc.warehouse.store import Warehouse, upsert

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
SUMMARY_METRICS = ["sharpe", "ann_return", "ann_vol", "max_drawdown", "cvar_95", "turnover"]


def summarise(metrics: pd.DataFrame, period: str = "2017-2022") -> pd.DataFrame:
    """Mean and std across seeds of the headline metrics, per setting."""
    m = metrics.loc[metrics["period"] == period]
    keys = ["strategy", "risk_measure", "rebalance", "cost_bps"]
    agg = m.groupby(keys)[SUMMARY_METRICS].agg(["mean", "std"])
    agg.columns = [f"{a}_{b}" for a, b in agg.columns]
    agg["seeds"] = m.groupby(keys)["seed"].nunique()
    return agg.reset_index().sort_values(["cost_bps", "rebalance", "sharpe_mean"], ascending=False)


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run the grid, write the outputs; 0 on success."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=os.environ.get("RISKALLOC_DB", "warehouse/riskalloc.duckdb"))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--costs", default="0,5,10,25")
    ap.add_argument("--rebalances", default="daily,weekly,monthly")
    ap.add_argument("--risk-measures", default="variance,cvar")
    ap.add_argument("--ablations", action="store_true", help="also the riskalloc ablations")
    ap.add_argument("--quick", action="store_true", help="2 seeds, weekly+monthly, 10 bps")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    seeds = range(2 if args.quick else args.seeds)
    costs = [10.0] if args.quick else [float(c) for c in args.costs.split(",")]
    rebs = ["weekly", "monthly"] if args.quick else args.rebalances.split(",")
    wh = Warehouse.from_db_path(args.db)
    with wh.connect() as con:
        inputs = load_allocator_inputs(con, load_universe())
    md = inputs.md
    t0 = time.perf_counter()
    head = run_headline(
        md,
        inputs.forecast(),
        costs=costs,
        rebalances=rebs,
        seeds=seeds,
        risk_measures=args.risk_measures.split(","),
        ablations=args.ablations,
    )
    g = head.grid
    with wh.connect() as con:
        upsert(wh, con, "backtest_metrics", g.metrics)
        upsert(wh, con, "backtest_returns", g.returns)
        upsert(wh, con, "backtest_weights", g.weights)
    OUT.mkdir(parents=True, exist_ok=True)
    g.metrics.to_csv(OUT / "backtest_grid.csv", index=False)
    summary = summarise(g.metrics)
    text = summary.to_markdown(index=False, floatfmt=".3f")
    wall = time.perf_counter() - t0
    (OUT / "backtest_grid.md").write_text(f"# Robustness grid 2017-2022 ({wall:.0f} s)\n\n{text}\n")
    (OUT / "backtest_grid.json").write_text(
        json.dumps(
            {"wall_s": round(wall, 1), "seeds": len(seeds), "costs": costs, "rebalances": rebs}
        )
        + "\n"
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
