"""Feature assets: point-in-time per-asset features and the macro state."""

import dagster as dg

from pipelines.metadata import date_range, table_preview
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.features.asset import build_asset_features
from riskalloc.features.macro import build_macro_features
from riskalloc.market import load_market_data
from riskalloc.warehouse.store import upsert


def _store(context, source, warehouse, table, build, describe) -> dg.MaterializeResult:
    """Build ``table`` from the warehouse's market data and upsert it; shared metadata."""
    with warehouse.get_connection() as con:
        md = load_market_data(con, source.universe())
    df = build(md)
    with warehouse.get_connection() as con:
        res = upsert(warehouse.warehouse(), con, table, df)
    context.log.info("%s: %s", table, res)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": res.total_rows,
            "rows_changed": res.inserted + res.updated,
            **describe(df),
            "date_range": date_range(df["date"].min(), df["date"].max()),
            "preview": table_preview(df.tail(10)),
        }
    )


@dg.asset(group_name="features", deps=["prices", "macro"], kinds={"duckdb", "pandas"})
def features(
    context: dg.AssetExecutionContext, source: SourceResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Per-asset returns, realised/EWMA/downside vol, momentum, drawdown, equity correlation."""
    return _store(
        context,
        source,
        warehouse,
        "features",
        build_asset_features,
        lambda df: {"tickers": int(df["ticker"].nunique())},
    )


@dg.asset(group_name="features", deps=["macro"], kinds={"duckdb", "pandas"})
def macro_features(
    context: dg.AssetExecutionContext, source: SourceResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """VIX, credit spreads, curve slopes and the risk-free rate, as known at each close."""
    return _store(
        context,
        source,
        warehouse,
        "macro_features",
        build_macro_features,
        lambda df: {"columns": ", ".join(c for c in df.columns if c != "date")},
    )
