"""The robustness grid as a Dagster backfill: costs × rebalancing × risk measure × seeds, 2017-2022.

Run after ``make run`` (the cells read prices, macro and forecasts from the warehouse):
``.venv/bin/python scripts/backtest_grid.py [--max-concurrent 2] [--partitions erc@0,...]``,
or ``make backtest-grid``. A thin wrapper over the Dagster objects:

1. every partition of ``backtest_grid`` (one grid cell, ``<strategy>@<seed>``) as its own run
   of ``grid_job``, ``--max-concurrent`` runs at a time (:mod:`pipelines.backfill`);
2. ``backtest_grid_summary``: the cells merged into the warehouse tables ``backtest_metrics``,
   ``backtest_returns`` and ``backtest_weights`` with the Sharpe tests, and the mean ± std over
   seeds;
3. the full table to ``benchmarks/results/backtest_grid.csv``, the summary to
   ``backtest_grid.md`` and the wall time to ``backtest_grid.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import dagster as dg

from pipelines.backfill import backfill, reconstructable_job
from pipelines.definitions import GRID_SPEC
from riskalloc.atomic import atomic_write_text
from riskalloc.backtest.robustness_grid import spec_cells
from riskalloc.warehouse.reads import read_table
from riskalloc.warehouse.store import Warehouse

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def list_schedule(durations: list[float], workers: int) -> float:
    """Makespan of running ``durations`` in order, each on the first free of ``workers``."""
    free = [0.0] * max(1, workers)
    for d in durations:
        i = free.index(min(free))
        free[i] += d
    return max(free)


def main(argv: list[str] | None = None) -> int:
    """Backfill the grid's partitions, merge them, write the outputs; 0 on success."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=os.environ.get("RISKALLOC_DB", "warehouse/riskalloc.duckdb"))
    ap.add_argument("--max-concurrent", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--partitions", default="", help="comma-separated cells (default: all)")
    ap.add_argument("--note", default="", help="recorded in backtest_grid.json (e.g. load)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ["RISKALLOC_DB"] = str(Path(args.db).resolve())  # the runs' warehouse resource
    keys = [k for k in args.partitions.split(",") if k] or None
    t0 = time.perf_counter()
    instance = dg.DagsterInstance.get()
    runs = backfill("grid_job", keys, args.max_concurrent, instance)
    failed = [r.partition for r in runs if not r.success]
    if failed:
        print(f"grid cells failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    cpu0 = time.process_time()
    if not dg.execute_job(reconstructable_job("grid_summary_job"), instance).success:
        print("backtest_grid_summary failed", file=sys.stderr)
        return 1
    summary_cpu = time.process_time() - cpu0
    wall = time.perf_counter() - t0
    wh = Warehouse.from_db_path(args.db)
    with wh.connect(read_only=True) as con:
        metrics = read_table(con, "backtest_metrics")
    labels = {c.key.split("@")[0] for c in spec_cells(GRID_SPEC)}
    metrics = metrics.loc[
        metrics["strategy"].isin(labels)
        & metrics["seed"].isin(GRID_SPEC.seeds)
        & metrics["cost_bps"].isin(GRID_SPEC.costs)
        & metrics["rebalance"].isin(GRID_SPEC.rebalances)
    ]
    summary = (wh.root / "reports" / "backtest_grid" / "summary.md").read_text()
    OUT.mkdir(parents=True, exist_ok=True)
    metrics.to_csv(OUT / "backtest_grid.csv", index=False)
    title = f"# Robustness grid {GRID_SPEC.period} ({wall:.0f} s)"
    atomic_write_text(OUT / "backtest_grid.md", f"{title}\n\n{summary}")
    record = {
        "wall_s": round(wall, 1),
        "cells": len(runs),
        "max_concurrent": args.max_concurrent,
        "cpus": os.cpu_count(),
        "seeds": len(GRID_SPEC.seeds),
        "costs": list(GRID_SPEC.costs),
        "rebalances": list(GRID_SPEC.rebalances),
        "risk_measures": list(GRID_SPEC.risk_measures),
    }
    cpu = [r.cpu_s for r in runs]
    record |= {
        "cells_cpu_s": round(sum(cpu), 1),
        "summary_cpu_s": round(summary_cpu, 1),
        # the same schedule (next cell to the first free worker) on idle cores: CPU time as wall
        "idle_estimate_s": round(list_schedule(cpu, args.max_concurrent) + summary_cpu, 1),
        "cell_cpu_s": {r.partition: r.cpu_s for r in runs},
    }
    if args.note:
        record["note"] = args.note
    atomic_write_text(OUT / "backtest_grid.json", json.dumps(record) + "\n")
    print(summary)
    print(f"{len(runs)} cells in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
