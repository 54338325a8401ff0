"""The one place riskalloc's Dagster objects are wired together: ``defs``.

Data flow: ingest (prices, macro) → features → forecast → allocate / backtest → reports.
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.assets import allocate, backtest, features, forecast, ingest, reports, research
from pipelines.checks import DOWNSTREAM_CHECKS, INGEST_CHECKS, REPORT_CHECKS
from pipelines.executors import executor_from_env
from pipelines.resources import DEFAULT_DB, SourceResource, WarehouseResource
from pipelines.schedules import build_schedules
from riskalloc.backtest.robustness_grid import GridSpec

ALL_ASSETS = [
    ingest.prices,
    ingest.macro,
    features.features,
    features.macro_features,
    forecast.vol_forecaster,
    forecast.vol_forecasts,
    forecast.forecast_evaluation,
    allocate.allocator_network,
    allocate.target_weights,
    backtest.allocator_fold_models,
    backtest.backtest,
    backtest.backtest_report,
    reports.regime_report,
    reports.shap_report,
    reports.trade_list,
    reports.daily_report,
]
GRID_SPEC = GridSpec()  # 5 seeds x 4 costs x 3 rebalancing frequencies x 2 risk measures
RESEARCH_ASSETS = [*research.grid_assets(GRID_SPEC), *research.selection_assets()]
_RESEARCH = dg.AssetSelection.groups(research.GROUP)
# DuckDB takes one writing process: jobs that write it carry this tag, and the run coordinator
# (deploy/dagster.yaml, deploy/helm-values.yaml) runs one of them at a time
WRITES_DUCKDB = {"riskalloc/duckdb-writer": "true"}
_WEIGHTS = dg.AssetSelection.assets("target_weights")
_DAILY = dg.AssetSelection.assets("target_weights", "trade_list", "daily_report")

ingest_job = dg.define_asset_job(
    "ingest_job",
    tags=WRITES_DUCKDB,
    selection=dg.AssetSelection.groups("ingest"),
    description="Prices and macro.",
)
main_job = dg.define_asset_job(
    "main_job",
    tags=WRITES_DUCKDB,
    selection=dg.AssetSelection.all() - _DAILY - _RESEARCH,
    description="Everything but the partitioned target weights and the research runs: ingest, "
    "features, forecaster, walk-forward backtest, production allocator, reports.",
)
weights_job = dg.define_asset_job(
    "weights_job",
    tags=WRITES_DUCKDB,
    selection=_WEIGHTS,
    description="Publish target weights for a day (or, as one run, a range of days).",
)
nightly_job = dg.define_asset_job(
    "nightly_job",
    tags=WRITES_DUCKDB,
    selection=dg.AssetSelection.assets(
        "prices",
        "macro",
        "features",
        "macro_features",
        "vol_forecasts",
        "target_weights",
        "regime_report",
        "trade_list",
        "daily_report",
    ),
    description="After the close: ingest the day → features → forecasts → weights → regimes "
    "→ trade list → daily report.",
)
retrain_job = dg.define_asset_job(
    "retrain_job",
    tags=WRITES_DUCKDB,
    selection=dg.AssetSelection.assets("vol_forecaster", "vol_forecasts", "allocator_network"),
    description="Refit the volatility forecaster and the first allocator's network.",
)

# research runs: one partition per unit of work; a backfill spreads them over processes
# (pipelines/backfill.py) or a cluster (deploy/)
grid_job = dg.define_asset_job(
    "grid_job",
    selection=dg.AssetSelection.assets("backtest_grid"),
    description="One cell of the robustness grid per partition (backfill them all).",
)
grid_summary_job = dg.define_asset_job(
    "grid_summary_job",
    tags=WRITES_DUCKDB,
    selection=dg.AssetSelection.assets("backtest_grid_summary"),
    description="Merge the grid's cells into DuckDB: Sharpe tests, mean ± std over seeds.",
)
selection_job = dg.define_asset_job(
    "selection_job",
    selection=dg.AssetSelection.assets("model_selection"),
    description="One (design, seed) of the allocator selection per partition.",
)
selection_summary_job = dg.define_asset_job(
    "selection_summary_job",
    tags=WRITES_DUCKDB,
    selection=dg.AssetSelection.assets("model_selection_summary"),
    description="Score every candidate on the development folds and choose the design.",
)

defs = dg.Definitions(
    assets=[*ALL_ASSETS, *RESEARCH_ASSETS],
    # in-process by default: steps are CPU-bound on a 2-core box and each subprocess would pay
    # ~10 s of imports; RISKALLOC_EXECUTOR=multiprocess|k8s|celery (pipelines/executors.py)
    executor=executor_from_env(),
    asset_checks=[*INGEST_CHECKS, *DOWNSTREAM_CHECKS, *REPORT_CHECKS],
    jobs=[
        ingest_job,
        main_job,
        weights_job,
        nightly_job,
        retrain_job,
        grid_job,
        grid_summary_job,
        selection_job,
        selection_summary_job,
    ],
    schedules=build_schedules(nightly_job, retrain_job),
    resources={
        "warehouse": WarehouseResource(database=DEFAULT_DB),
        "source": SourceResource(
            source=dg.EnvVar("RISKALLOC_SOURCE").get_value("sample") or "sample",
            # the key stays an EnvVar (never a plain value); absent, the FRED source says so
            fred_api_key=dg.EnvVar("FRED_API_KEY") if os.environ.get("FRED_API_KEY") else None,
        ),
    },
)
