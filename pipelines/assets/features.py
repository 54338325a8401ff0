"""Feature assets: point-in-time per-asset features and the macro state."""

import dagster as dg

from pipelines.metadata import date_range, table_preview
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.features.asset import build_asset_features
from riskalloc.features.macro import build_macro_features
from riskalloc.warehouse.market import load_market_data
from riskalloc.warehouse.store import upsert


@dg.asset(group_name="features", deps=["prices", "macro"], kinds={"duckdb", "pandas"})
def features(
    context: dg.AssetExecutionContext, source: SourceResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Per-asset returns, realised/EWMA/downside vol, momentum, drawdown, equity correlation."""
    with warehouse.get_connection() as con:
        md = load_market_data(con, source.universe())
    df = build_asset_features(md)
    with warehouse.get_connection() as con:
        res = upsert(warehouse.warehouse(), con, "features", df)
    context.log.info("features: %s", res)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": res.total_rows,
            "rows_changed": res.inserted + res.updated,
            "tickers": int(df["ticker"].nunique()),
            "date_range": date_range(df["date"].min(), df["date"].max()),
            "preview": table_preview(df.tail(10)),
        }
    )


@dg.asset(group_name="features", deps=["macro"], kinds={"duckdb", "pandas"})
def macro_features(
    context: dg.AssetExecutionContext, source: SourceResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """VIX, credit spreads, curve slopes and the risk-free rate, as known at each close."""
    with warehouse.get_connection() as con:
        md = load_market_data(con, source.universe())
    df = build_macro_features(md)
    with warehouse.get_connection() as con:
        res = upsert(warehouse.warehouse(), con, "macro_features", df)
    context.log.info("macro_features: %s", res)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": res.total_rows,
            "rows_changed": res.inserted + res.updated,
            "columns": ", ".join(c for c in df.columns if c != "date"),
            "date_range": date_range(df["date"].min(), df["date"].max()),
            "preview": table_preview(df.tail(10)),
        }
    )
