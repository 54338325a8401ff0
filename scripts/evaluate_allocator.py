"""The one out-of-sample run of the selected allocator design, 2017-2022, and its robustness checks.

``.venv/bin/python scripts/evaluate_allocator.py`` reads the committed
``riskalloc/allocate/selected_design.json`` (never chooses anything itself), runs riskalloc,
its ablations and every baseline through the shared runner (weekly, yearly retrains) at 0,
10 and 25 bps on the bundled data, then the sub-universe checks, and writes
``benchmarks/results/allocator_oos.json`` and ``benchmarks/results/robustness.csv``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import pandas as pd

from riskalloc.allocate.design import load_design, load_selection_record
from riskalloc.backtest.headline import run_headline
from riskalloc.backtest.robustness import run_checks, sub_universes
from riskalloc.market import MarketData

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
START, END, PERIOD = "2017-01-01", "2022-12-31", "2017-2022"
KEEP = [
    "ann_return",
    "ann_vol",
    "sharpe",
    "max_drawdown",
    "turnover",
    "avg_exposure",
    "p_sharpe_vs_erc",
    "p_sharpe_vs_equal_weight",
    "deflated_sharpe",
]


TIE = 1e-9


def _rows(metrics: pd.DataFrame, period: str, cost: float) -> dict[str, dict]:
    m = metrics.loc[(metrics["period"] == period) & (metrics["cost_bps"] == cost)]
    agg = m.groupby("strategy")[KEEP].agg(["mean", "std"])
    out = {}
    for strat in agg.index:
        row = {k: float(agg.loc[strat, (k, "mean")]) for k in KEEP}
        row["sharpe_std_seeds"] = float(agg.loc[strat, ("sharpe", "std")])
        row["seeds"] = int(m.loc[m["strategy"] == strat, "seed"].nunique())
        out[strat] = row
    return out


def targets(res: dict[str, dict], stress: pd.DataFrame, checks: pd.DataFrame) -> dict:
    """The issue's must-targets, each with the numbers behind its verdict."""
    ra, erc, iv = res["riskalloc"], res["erc"], res["inverse_vol"]
    std = 0.0 if pd.isna(ra["sharpe_std_seeds"]) else ra["sharpe_std_seeds"]
    sub = checks.loc[(checks["period"] == PERIOD) & (checks["cost_bps"] == 10.0)]
    piv = sub.pivot_table(index="universe", columns="strategy", values="sharpe")
    # TIE: float noise of two identical strategies (riskalloc = ERC gives 1e-16 apart)
    sub_ok = {u: bool(piv.loc[u, "riskalloc"] >= piv.loc[u, "erc"] - std - TIE) for u in piv.index}
    return {
        "sharpe_ge_erc": ra["sharpe"] >= erc["sharpe"] - TIE,
        "sharpe_ge_inverse_vol": ra["sharpe"] >= iv["sharpe"] - TIE,
        "max_dd_le_erc": ra["max_drawdown"] <= erc["max_drawdown"] + TIE,
        "turnover_le_2x_erc": ra["turnover"] <= 2 * erc["turnover"],
        "sub_universes_no_worse_than_erc_minus_seed_std": sub_ok,
        "aim_sharpe_ge_1.55x_erc": ra["sharpe"] >= 1.55 * erc["sharpe"],
        "aim_sharpe_ge_1.23x_dl_lstm": ra["sharpe"] >= 1.23 * res["dl_lstm"]["sharpe"],
        "stress_drawdown_reduction_vs_erc": stress.to_dict(orient="records"),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the out-of-sample evaluation once and write its outputs."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t0 = time.perf_counter()
    design, record = load_design(), load_selection_record()
    md = MarketData.sample()
    seeds = tuple(range(args.seeds))
    head = run_headline(md, None, START, END, costs=(10.0, 0.0, 25.0), seeds=seeds, v1=False)
    metrics = head.grid.metrics
    res = {c: _rows(metrics, PERIOD, c) for c in (0.0, 10.0, 25.0)}
    checks = run_checks(md, design, sub_universes(md), START, END, costs=(10.0,))
    OUT.mkdir(parents=True, exist_ok=True)
    checks.to_csv(OUT / "robustness.csv", index=False)
    metrics.to_csv(OUT / "allocator_oos_metrics.csv", index=False)
    per_year = metrics.loc[
        (metrics["cost_bps"] == 10.0) & metrics["period"].str.fullmatch(r"\d{4}")
    ].pivot_table(index="period", columns="strategy", values="sharpe")
    doc = {
        "period": PERIOD,
        "rebalance": "weekly",
        "design": design.to_dict(),
        "candidate": record.get("candidate"),
        "n_trials": record.get("n_trials"),
        "results_by_cost_bps": {f"{c:g}": r for c, r in res.items()},
        "per_year_sharpe_10bps": per_year.round(4).to_dict(),
        "targets_10bps": targets(res[10.0], head.drawdowns, checks),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    (OUT / "allocator_oos.json").write_text(json.dumps(doc, indent=2, default=float) + "\n")
    show = pd.DataFrame(res[10.0]).T.loc[:, ["sharpe", "sharpe_std_seeds", "max_drawdown"]]
    print(show.join(pd.DataFrame(res[10.0]).T[["turnover", "p_sharpe_vs_erc"]]).to_string())
    print(json.dumps(doc["targets_10bps"], indent=1, default=str)[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
