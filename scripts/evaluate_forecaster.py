"""Full 2012-2022 walk-forward of the vol forecasters on the bundled data, then the eval table.

Writes benchmarks/results/forecast_eval.csv and .json, prints a markdown table and timings.
Usage: python scripts/evaluate_forecaster.py [--threads 1] [--seed 0] [--forecasts-out f.parquet]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from riskalloc.forecast import evaluate_forecasts, walk_forward_forecasts
from riskalloc.forecast.lstm import LSTMConfig
from riskalloc.market import MarketData

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def markdown(df: pd.DataFrame, floatfmt: str = "{:.4f}") -> str:
    """A plain GitHub markdown table (no extra dependency)."""
    cells = [
        [floatfmt.format(v) if isinstance(v, float) else str(v) for v in row]
        for row in df.itertuples(index=False)
    ]
    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    return "\n".join([head, sep, *("| " + " | ".join(c) + " |" for c in cells)])


def main() -> None:
    """Run, evaluate, write and print."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the LSTM")
    ap.add_argument("--forecasts-out", default=None, help="optional Parquet of all forecasts")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = LSTMConfig(seed=args.seed, threads=args.threads)
    md = MarketData.sample()
    t0 = time.perf_counter()
    fc = walk_forward_forecasts(md, "2012-01-01", "2022-12-31", seed=args.seed, lstm_config=cfg)
    wf_secs = time.perf_counter() - t0
    if args.forecasts_out:
        fc.to_parquet(args.forecasts_out, index=False)
    ev = evaluate_forecasts(fc, md.asset_classes)
    OUT.mkdir(parents=True, exist_ok=True)
    ev.to_csv(OUT / "forecast_eval.csv", index=False)
    payload = {
        "walk_forward_seconds": round(wf_secs, 1),
        "threads": args.threads,
        "seed": args.seed,
        "lstm_config": cfg.to_dict(),
        "n_forecasts": len(fc),
        "rows": json.loads(ev.to_json(orient="records")),
    }
    (OUT / "forecast_eval.json").write_text(json.dumps(payload, indent=2))
    base = ["model", "period", "asset_class", "qlike", "rmse_log", "mz_r2", "n_obs"]
    dm = [f"dm_vs_{m}" for m in ("ewma", "garch", "har")] + [
        f"dm_p_vs_{m}" for m in ("ewma", "garch", "har")
    ]
    for period in ("2012-2016", "2017-2022"):
        sub = ev.loc[(ev["period"] == period) & (ev["asset_class"] == "all"), base + dm]
        print(f"\n### {period} (all assets; DM < 0: row model has lower QLIKE)\n")
        print(markdown(sub))
    oos = ev.loc[(ev["period"] == "2017-2022") & (ev["asset_class"] != "all")]
    piv = oos.pivot(index="asset_class", columns="model", values="qlike").reset_index()
    print("\n### 2017-2022 QLIKE by asset class\n")
    print(markdown(piv))
    print(f"\nwalk-forward 2012-2022 (11 folds, {args.threads} threads): {wf_secs:.1f} s")


if __name__ == "__main__":
    main()
