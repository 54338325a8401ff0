"""Ingest assets: ``prices`` and ``macro`` into DuckDB + Parquet."""

import dagster as dg

from pipelines.config import IngestConfig
from pipelines.metadata import date_range, table_preview
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.warehouse.ingest import IngestSummary, ingest_macro, ingest_prices


def _metadata(s: IngestSummary) -> dict[str, object]:
    return {
        "rows_fetched": s.rows_fetched,
        "rows_inserted": s.result.inserted,
        "rows_updated": s.result.updated,
        "rows_unchanged": s.result.unchanged,
        "dagster/row_count": s.result.total_rows,
        "date_range": date_range(s.first_date, s.last_date),
        "preview": table_preview(s.preview),
        "warnings": "\n".join(s.warnings) or "none",
    }


def _ingest(context, config, source, warehouse, src, fn) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        s = fn(
            warehouse.warehouse(),
            con,
            src,
            source.universe(),
            config.start,
            config.end,
            config.incremental,
        )
    context.log.info("%s from %s: %s", s.result.table, src.name, s.result)
    for w in s.warnings:  # implausible values found by the library (stored, reported)
        context.log.warning("%s: %s", s.result.table, w)
    return dg.MaterializeResult(metadata={"source": src.name, **_metadata(s)})


@dg.asset(group_name="ingest", kinds={"duckdb", "parquet"})
def prices(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    source: SourceResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Daily adjusted closes (and bars where the source has them) for the universe."""
    return _ingest(context, config, source, warehouse, source.price_source(), ingest_prices)


@dg.asset(group_name="ingest", kinds={"duckdb", "parquet"})
def macro(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    source: SourceResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """FRED series with the date each value became available (point in time)."""
    return _ingest(context, config, source, warehouse, source.macro_source(), ingest_macro)
