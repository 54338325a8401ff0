"""The one place riskalloc's Dagster objects are wired together: ``defs``.

Data flow: ingest (prices, macro) → features → forecast → allocate / backtest → reports.
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.assets import allocate, backtest, features, forecast, ingest, reports
from pipelines.checks import DOWNSTREAM_CHECKS, INGEST_CHECKS, REPORT_CHECKS
from pipelines.resources import DEFAULT_DB, SourceResource, WarehouseResource
from pipelines.schedules import build_schedules

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
_WEIGHTS = dg.AssetSelection.assets("target_weights")
_DAILY = dg.AssetSelection.assets("target_weights", "trade_list", "daily_report")

ingest_job = dg.define_asset_job(
    "ingest_job", selection=dg.AssetSelection.groups("ingest"), description="Prices and macro."
)
main_job = dg.define_asset_job(
    "main_job",
    selection=dg.AssetSelection.all() - _DAILY,
    description="Everything but the partitioned target weights: ingest, features, forecaster, "
    "walk-forward backtest, production allocator, reports.",
)
weights_job = dg.define_asset_job(
    "weights_job",
    selection=_WEIGHTS,
    description="Publish target weights for a day (or, as one run, a range of days).",
)
nightly_job = dg.define_asset_job(
    "nightly_job",
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
    selection=dg.AssetSelection.assets("vol_forecaster", "vol_forecasts", "allocator_network"),
    description="Refit the volatility forecaster and the first allocator's network.",
)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    # in-process: steps are CPU-bound on a 2-core box and each subprocess would pay ~10 s of
    # imports; see the README's scaling section for the multiprocess / k8s / celery executors
    executor=dg.in_process_executor,
    asset_checks=[*INGEST_CHECKS, *DOWNSTREAM_CHECKS, *REPORT_CHECKS],
    jobs=[ingest_job, main_job, weights_job, nightly_job, retrain_job],
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
