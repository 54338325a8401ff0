"""Choose the allocator design on the 2009-2016 development folds (never on 2017 onwards).

``.venv/bin/python scripts/select_allocator.py [--jobs 2] [--db warehouse/riskalloc.duckdb]``
runs :func:`riskalloc.backtest.selection.run_selection` on the bundled data cut at
2016-12-31 and writes:

- ``benchmarks/results/model_selection.csv``: one row per candidate (score, spread, turnover,
  drawdown, eligibility, the design as JSON), and ``model_selection_folds.csv``: every
  candidate × seed × fold;
- ``riskalloc/allocate/selected_design.json``: the choice that the out-of-sample run and
  production read (commit it, so the choice is visible in review);
- the ``model_selection`` warehouse table, when ``--db`` names an existing warehouse.

``model_selection_daily.parquet`` holds every unit's daily net excess returns (what the
gate tests). ``--reuse benchmarks/results/model_selection_folds.csv`` takes the fold rows
(and the daily returns from ``model_selection_daily.parquet`` beside it) of the candidates
already there (same key, same design) and runs only the new ones: how a later round adds
candidates without re-running the earlier ones. Every candidate still counts as a trial.
Run without it to recompute everything.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd

from riskalloc.backtest.selection import (
    SelectionConfig,
    run_selection,
    search_space,
    selection_table,
    write_selected,
)
from riskalloc.market import MarketData

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
SELECTED = ROOT / "riskalloc" / "allocate" / "selected_design.json"
DAILY_FILE = "model_selection_daily.parquet"


def main(argv: list[str] | None = None) -> int:
    """Run the selection and write its outputs; 0 on success."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--db", default=None, help="warehouse to upsert model_selection into")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--selected", default=str(SELECTED))
    ap.add_argument("--reuse", default=None, help="fold rows (CSV) of candidates already run")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t0 = time.perf_counter()
    md = MarketData.sample()
    reuse = reuse_daily = None
    if args.reuse:
        reuse = pd.read_csv(args.reuse)
        daily_path = Path(args.reuse).with_name(DAILY_FILE)
        reuse_daily = pd.read_parquet(daily_path) if daily_path.exists() else None
    result = run_selection(
        md, search_space(), SelectionConfig(), args.jobs, reuse=reuse, reuse_daily=reuse_daily
    )
    wall = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = selection_table(result)
    table.to_csv(out / "model_selection.csv", index=False)
    folds = result.rows.assign(kind="candidate")
    refs = result.references.assign(kind="reference")
    pd.concat([folds, refs], ignore_index=True).to_csv(
        out / "model_selection_folds.csv", index=False
    )
    result.daily.to_parquet(out / DAILY_FILE, index=False)
    write_selected(result, args.selected)
    if args.db and Path(args.db).exists():
        from riskalloc.warehouse.store import Warehouse, upsert

        wh = Warehouse.from_db_path(args.db)
        with wh.connect() as con:
            upsert(wh, con, "model_selection", table)
    cols = ["candidate", "n_seeds", "mean_sharpe", "fold_std", "seed_std", "score", "turnover"]
    print(table.loc[:, [*cols, "max_drawdown", "eligible"]].to_string(index=False))
    ref = result.references.groupby("candidate")[["sharpe", "turnover", "max_drawdown"]]
    print("\nreferences (same folds):")
    print(ref.agg({"sharpe": "mean", "turnover": "mean", "max_drawdown": "max"}).to_string())
    gate = result.gate
    if gate:
        print(
            f"\ngate vs {gate['reference']}: SPA p = {gate['spa_pvalue']:.3f}, "
            f"StepM superior at {gate['alpha']}: {gate['superior'] or 'none'}"
        )
    print(f"\nchosen: {result.chosen.key} ({result.n_trials} candidates, {wall:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
