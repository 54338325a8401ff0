"""Forecaster v2 on the bundled data: the development-fold selection, then ONE out-of-sample run.

``--select`` scores every candidate of ``riskalloc.forecast.selection.CANDIDATES`` on the
2009-2016 folds only (data cut at 2016-12-31) and writes
benchmarks/results/forecaster_selection.csv (+ .json with per-fold epochs and weights).
Without it: the walk-forward 2009-2022 of the production forecaster, the v1 LSTM and the
baselines, evaluated on 2009-2016 (development) and 2017-2022 (out of sample); writes
benchmarks/results/forecast_eval.csv and .json and prints markdown tables.
Usage: python scripts/evaluate_forecaster.py [--select] [--threads 1] [--seed 0] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd
import torch

from riskalloc.forecast.evaluate import evaluate_forecasts
from riskalloc.forecast.production import PRODUCTION, production_forecasts
from riskalloc.forecast.selection import select_forecaster
from riskalloc.market import MarketData

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
PERIODS = {"2009-2016": ("2009-01-01", "2016-12-31"), "2017-2022": ("2017-01-01", "2022-12-31")}


def markdown(df: pd.DataFrame, floatfmt: str = "{:.4f}") -> str:
    """A plain GitHub markdown table (no extra dependency)."""
    cells = [
        [floatfmt.format(v) if isinstance(v, float) else str(v) for v in row]
        for row in df.itertuples(index=False)
    ]
    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    return "\n".join([head, sep, *("| " + " | ".join(c) + " |" for c in cells)])


def run_selection(md: MarketData, seed: int, n_jobs: int = 1) -> None:
    """Development-fold selection; writes forecaster_selection.csv/.json."""
    t0 = time.perf_counter()
    table, _, details = select_forecaster(md, seed=seed, n_jobs=n_jobs)
    secs = time.perf_counter() - t0
    table.to_csv(OUT / "forecaster_selection.csv", index=False)
    details["selection_seconds"] = round(secs, 1)
    (OUT / "forecaster_selection.json").write_text(json.dumps(details, indent=2, default=str))
    cols = ["trial", "candidate", "dev_qlike", "dev_rmse_log", "dev_mz_r2", "dm_p_vs_chosen"]
    cols += ["mcs_pvalue", "in_mcs"]
    print(markdown(table[[*cols, "kept_epochs", "chosen"]]))
    print(f"\nselection: {len(table)} candidates, {secs:.0f} s")


def run_oos(md: MarketData, seed: int, threads: int, n_jobs: int = 1) -> None:
    """The one out-of-sample run of the production forecaster (and the comparison models)."""
    t0 = time.perf_counter()
    fc, details = production_forecasts(md, "2009-01-01", "2022-12-31", seed=seed, n_jobs=n_jobs)
    wf_secs = time.perf_counter() - t0
    ev = evaluate_forecasts(fc, md.asset_classes, PERIODS, production=PRODUCTION.name)
    ev.to_csv(OUT / "forecast_eval.csv", index=False)
    payload = {
        "walk_forward_seconds": round(wf_secs, 1),
        "threads": threads,
        "seed": seed,
        "production": PRODUCTION.name,
        "details": details,
        "n_forecasts": len(fc),
        "rows": json.loads(ev.to_json(orient="records")),
    }
    (OUT / "forecast_eval.json").write_text(json.dumps(payload, indent=2, default=str))
    models = sorted(set(ev["model"]))
    base = ["model", "production", "qlike", "rmse_log", "mz_r2", "n_obs"]
    others = [m for m in ("ewma", "garch", "har") if m in models]
    dm = [c for m in others for c in (f"dm_vs_{m}", f"dm_p_vs_{m}")]
    for period in PERIODS:
        sub = ev.loc[(ev["period"] == period) & (ev["asset_class"] == "all"), base + dm]
        print(f"\n### {period} (all assets; DM < 0: row model has lower QLIKE)\n")
        print(markdown(sub))
    oos = ev.loc[(ev["period"] == "2017-2022") & (ev["asset_class"] != "all")]
    for metric in ("qlike", "mz_r2"):
        piv = oos.pivot(index="asset_class", columns="model", values=metric).reset_index()
        print(f"\n### 2017-2022 {metric} by asset class\n")
        print(markdown(piv))
    prod = oos.loc[oos["model"] == PRODUCTION.name, ["asset_class", *dm]]
    print(f"\n### 2017-2022 {PRODUCTION.name} Diebold-Mariano by asset class\n")
    print(markdown(prod))
    print(f"\nwalk-forward 2008-2022 incl. warm-up ({threads} threads): {wf_secs:.1f} s")


def main() -> None:
    """Parse arguments and run the selection or the out-of-sample evaluation."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--select", action="store_true", help="development-fold selection only")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the networks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=1, help="folds at once (same results)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    torch.set_num_threads(args.threads)
    md = MarketData.sample()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.select:
        run_selection(md, args.seed, args.n_jobs)
    else:
        run_oos(md, args.seed, args.threads, args.n_jobs)


if __name__ == "__main__":
    main()
