"""A small robustness grid as its own Dagster definitions, loadable by step processes.

Four cells (ERC under variance and CVaR, the deep-learning baseline for two seeds) on a
five-ETF slice of the bundled data over the second half of 2019, monthly rebalancing, two
costs. The warehouse is ``$RISKALLOC_DB`` (each test sets its own).
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.assets import research
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.backtest.robustness_grid import GridSpec

SPEC = GridSpec(
    start="2019-07-01",
    end="2019-12-31",
    seeds=(0, 1),
    costs=(0.0, 10.0),
    rebalances=("monthly",),
    risk_measures=("variance", "cvar"),
    strategies=("erc", "dl_lstm"),
    tickers=("SPY", "TLT", "GLD", "HYG", "BIL"),
)
ASSETS = research.grid_assets(SPEC)

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[
        dg.define_asset_job(
            "grid_job",
            selection=dg.AssetSelection.assets("backtest_grid"),
            executor_def=dg.multiprocess_executor.configured({"max_concurrent": 1}),
        )
    ],
    resources={
        "warehouse": WarehouseResource(database=os.environ.get("RISKALLOC_DB", "unset.duckdb")),
        "source": SourceResource(source="sample"),
    },
)
