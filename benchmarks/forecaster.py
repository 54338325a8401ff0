"""Forecaster timings per walk-forward fold (v1 LSTM, GARCH, the production forecaster) and
inference for 50 assets.

Prints a table and merges its run (keyed by thread count) into benchmarks/results/forecaster.json.
Usage: python benchmarks/forecaster.py [--threads 1] [--folds 2009,2017,2022]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from riskalloc.features.asset import log_returns
from riskalloc.forecast.lstm import LSTMConfig, predict_lstm, train_lstm
from riskalloc.forecast.panel import build_panel
from riskalloc.forecast.production import PRODUCTION, extend_production, save_production
from riskalloc.forecast.selection import candidate_forecasts
from riskalloc.forecast.walkforward import _garch_fold, fold_plan
from riskalloc.market import MarketData

OUT = Path(__file__).resolve().parent / "results"


def tile_assets(md: MarketData, n: int) -> MarketData:
    """Replicate the universe's columns (renamed, slightly rescaled) until it has ``n`` assets."""
    cols, k = {}, 0
    while len(cols) < n:
        for t in md.tickers:
            if len(cols) == n:
                break
            name = t if k == 0 else f"{t}_{k}"
            cols[name] = md.prices[t] * (1.0 + 0.01 * k)
        k += 1
    prices = pd.DataFrame(cols)
    classes = {c: md.asset_classes.get(c.split("_")[0], "other") for c in cols}
    return replace(md, prices=prices, asset_classes=classes)


def main() -> None:
    """Time fold training for a few folds and inference on 50 assets."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--folds", default="2009,2017,2022")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    md = MarketData.sample()
    cfg = LSTMConfig(threads=args.threads)
    t0 = time.perf_counter()
    panel = build_panel(md)
    panel_secs = time.perf_counter() - t0
    folds = {f.name: f for f in fold_plan(panel.dates, "2009-01-01", "2022-12-31")}
    log_ret = log_returns(md)
    rows = []
    trained = None
    fold_nets: dict = {}  # the production networks of the fold being timed
    for name in args.folds.split(","):
        fold = folds[name]
        t0 = time.perf_counter()
        trained = train_lstm(panel, fold.label_end, cfg)
        lstm_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _garch_fold(panel, log_ret, fold)
        garch_s = time.perf_counter() - t0
        # the production forecaster's whole fold: its networks, GARCH/HAR refits and the
        # combination (warm-up off: the timing of one fold, not of the year before it too)
        t0 = time.perf_counter()
        fold_nets.clear()
        _, det = candidate_forecasts(
            md,
            f"{name}-01-01",
            f"{name}-12-31",
            (PRODUCTION,),
            warmup_years=0,
            on_net_model=lambda n, f, t: fold_nets.__setitem__(n, t),
        )
        prod_s = time.perf_counter() - t0
        nets = {k: v[-1] for k, v in det["nets"].items() if v}
        rows.append(
            {
                "fold": name,
                "assets": len(panel.tickers),
                "lstm_train_s": round(lstm_s, 2),
                "epochs": len(trained.history),
                "n_train": trained.meta["n_train"],
                "garch_fit_s": round(garch_s, 2),
                "production_fold_s": round(prod_s, 2),
                **{f"{k}_train_s": v["train_seconds"] for k, v in nets.items()},
                **{f"{k}_kept_epoch": v["kept_epoch"] for k, v in nets.items()},
                **{f"{k}_epochs_run": v["epochs_run"] for k, v in nets.items()},
            }
        )
    # the nightly step for the production forecaster: one new day from the stored newest fold
    with tempfile.TemporaryDirectory() as tmp:
        save_production(tmp, name, fold_nets, det)
        t0 = time.perf_counter()
        extend_production(md, md.dates[-1], md.dates[-1], tmp)
        nightly_s = time.perf_counter() - t0
    big = tile_assets(md, 50)
    t0 = time.perf_counter()
    big_panel = build_panel(big)
    feat50 = time.perf_counter() - t0
    assert trained is not None
    # tiled tickers the model never saw use the "unknown" embedding row
    last = len(big_panel.dates) - 1
    t0 = time.perf_counter()
    out = predict_lstm(trained, big_panel, last, last)
    infer_day = time.perf_counter() - t0
    t0 = time.perf_counter()
    out_year = predict_lstm(trained, big_panel, last - 251, last)
    infer_year = time.perf_counter() - t0
    result = {
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "lstm_config": cfg.to_dict(),
        "production": PRODUCTION.name,
        "panel_build_35_s": round(panel_secs, 2),
        "production_nightly_one_day_35_s": round(nightly_s, 2),
        "folds": rows,
        "inference_50_assets": {
            "features_panel_s": round(feat50, 2),
            "one_day_s": round(infer_day, 4),
            "one_year_252_days_s": round(infer_year, 3),
            "finite_forecasts_one_day": int(np.isfinite(out).sum()),
            "finite_forecasts_one_year": int(np.isfinite(out_year).sum()),
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "forecaster.json"
    runs = json.loads(path.read_text()) if path.exists() else {}
    runs[f"threads_{args.threads}"] = result
    path.write_text(json.dumps(runs, indent=2))
    print(pd.DataFrame(rows).to_string(index=False))
    inf = result["inference_50_assets"]
    print(f"\npanel build (35 assets): {panel_secs:.2f} s; 50-asset features: {feat50:.2f} s")
    print(f"production forecaster, nightly extension by one day (35 assets): {nightly_s:.2f} s")
    print(
        f"LSTM inference, 50 assets: one day {inf['one_day_s']:.4f} s, "
        f"252 days {inf['one_year_252_days_s']:.3f} s ({args.threads} threads)"
    )


if __name__ == "__main__":
    main()
