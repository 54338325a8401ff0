"""The one place riskalloc's Dagster objects are wired together: ``defs``."""

from __future__ import annotations

import dagster as dg

from pipelines.assets import ingest
from pipelines.checks import INGEST_CHECKS
from pipelines.resources import DEFAULT_DB, SourceResource, WarehouseResource

ingest_job = dg.define_asset_job(
    "ingest_job", selection=dg.AssetSelection.groups("ingest"), description="Prices and macro."
)
main_job = dg.define_asset_job(
    "main_job", selection=dg.AssetSelection.all(), description="The whole graph, end to end."
)

defs = dg.Definitions(
    assets=[ingest.prices, ingest.macro],
    asset_checks=INGEST_CHECKS,
    jobs=[ingest_job, main_job],
    resources={
        "warehouse": WarehouseResource(database=DEFAULT_DB),
        "source": SourceResource(
            source=dg.EnvVar("RISKALLOC_SOURCE").get_value("sample") or "sample",
            fred_api_key=dg.EnvVar("FRED_API_KEY"),
        ),
    },
)
