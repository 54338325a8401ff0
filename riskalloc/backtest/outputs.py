"""Backtest results as rows of the warehouse tables ``backtest_returns``, ``backtest_weights``
and ``backtest_metrics`` (key columns first), and writing them to a DuckDB warehouse."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from riskalloc.backtest.engine import BacktestResult
from riskalloc.backtest.metrics import metrics_table

WEIGHT_EPS = 1e-12


def returns_frame(result: BacktestResult, strategy: str, rebalance: str, seed: int) -> pd.DataFrame:
    """``backtest_returns`` rows: one per day."""
    return pd.DataFrame(
        {
            "strategy": strategy,
            "date": result.returns.index,
            "cost_bps": result.cost_bps,
            "rebalance": rebalance,
            "seed": int(seed),
            "return": result.returns.to_numpy(),
            "exposure": result.exposure.to_numpy(),
            "turnover": result.turnover.to_numpy(),
        }
    )


def weights_frame(result: BacktestResult, strategy: str, rebalance: str, seed: int) -> pd.DataFrame:
    """``backtest_weights`` rows: the non-zero target weights on each rebalance date."""
    w = result.weights.copy()
    w.index = pd.DatetimeIndex(w.index, name="date")
    long = w.stack().rename("weight").rename_axis(["date", "ticker"]).reset_index()
    long = long.loc[long["weight"].abs() > WEIGHT_EPS]
    long.insert(0, "strategy", strategy)
    long["cost_bps"] = result.cost_bps
    long["rebalance"] = rebalance
    long["seed"] = int(seed)
    return long.loc[
        :, ["strategy", "date", "ticker", "cost_bps", "rebalance", "seed", "weight"]
    ].reset_index(drop=True)


def metrics_frame(
    result: BacktestResult, strategy: str, rebalance: str, seed: int, risk_measure: str
) -> pd.DataFrame:
    """``backtest_metrics`` rows: one per period with every metric."""
    m = metrics_table(result)
    keys = pd.DataFrame(
        {
            "strategy": strategy,
            "period": m["period"],
            "cost_bps": result.cost_bps,
            "rebalance": rebalance,
            "seed": int(seed),
            "risk_measure": risk_measure,
        }
    )
    return pd.concat([keys, m.drop(columns="period")], axis=1)


def write_warehouse(
    db_path: str | Path,
    returns: pd.DataFrame,
    weights: pd.DataFrame,
    metrics: pd.DataFrame,
) -> dict[str, int]:
    """Upsert the three frames into ``db_path`` in one transaction; rows now in each table."""
    from riskalloc.warehouse.store import Warehouse, upsert_many

    wh = Warehouse.from_db_path(db_path)
    frames = {
        table: df
        for table, df in (
            ("backtest_returns", returns),
            ("backtest_weights", weights),
            ("backtest_metrics", metrics),
        )
        if len(df)
    }
    with wh.connect() as con:
        results = upsert_many(wh, con, frames) if frames else {}
    return {table: r.total_rows for table, r in results.items()}
