"""Asset checks: thin wrappers around the pure ``riskalloc.quality`` functions."""


import dagster as dg

from pipelines.resources import SourceResource, WarehouseResource
from riskalloc import quality
from riskalloc.quality import CheckOutcome
from riskalloc.warehouse import read_table


def _result(o: CheckOutcome) -> dg.AssetCheckResult:
    sev = dg.AssetCheckSeverity.WARN if o.severity == "warn" else dg.AssetCheckSeverity.ERROR
    meta: dict[str, object] = {"message": o.message, "offending_rows": len(o.rows)}
    if not o.rows.empty:
        meta["rows"] = dg.MetadataValue.md(o.preview())
    return dg.AssetCheckResult(passed=o.passed, severity=sev, metadata=meta)


def _prices(warehouse: WarehouseResource):
    with warehouse.get_connection() as con:
        return read_table(con, "prices")


def _macro(warehouse: WarehouseResource):
    with warehouse.get_connection() as con:
        return read_table(con, "macro")


@dg.asset_check(asset="prices", blocking=True, description="No duplicate (date, ticker).")
def prices_unique(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Duplicate keys must not flow on."""
    return _result(quality.check_unique_keys(_prices(warehouse), ("date", "ticker")))


@dg.asset_check(asset="prices", blocking=True, description="All prices finite and > 0.")
def prices_positive(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Zero, negative or missing prices must not flow on."""
    return _result(quality.check_positive_prices(_prices(warehouse)))


@dg.asset_check(
    asset="prices", blocking=True, description="No gap over 5 NYSE sessions inside a history."
)
def prices_no_gaps(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Gaps mean a broken download; measured against the NYSE calendar."""
    return _result(quality.check_gaps(_prices(warehouse), max_gap_days=5))


@dg.asset_check(asset="prices", description="Daily moves over 25% (warning, rows in metadata).")
def prices_plausible_moves(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Big moves are often real (2008, 2020) but can be split seams: shown, not blocked."""
    return _result(quality.check_daily_moves(_prices(warehouse), 0.25))


@dg.asset_check(asset="prices", blocking=True, description="Every universe ticker present.")
def prices_complete(
    warehouse: WarehouseResource, source: SourceResource
) -> dg.AssetCheckResult:
    """A ticker missing from the warehouse would silently drop out of the portfolio."""
    return _result(quality.check_present(_prices(warehouse), source.universe().tickers))


@dg.asset_check(asset="macro", blocking=True, description="No duplicate (date, series_id).")
def macro_unique(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Duplicate keys must not flow on."""
    return _result(quality.check_unique_keys(_macro(warehouse), ("date", "series_id")))


@dg.asset_check(asset="macro", blocking=True, description="No series stopped updating.")
def macro_not_stale(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """A stale VIX or spread would freeze the regime signal."""
    return _result(quality.check_stale_series(_macro(warehouse)))


@dg.asset_check(asset="macro", blocking=True, description="available_at >= date everywhere.")
def macro_point_in_time(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Look-ahead guard for every downstream feature."""
    return _result(quality.check_point_in_time(_macro(warehouse)))


@dg.asset_check(asset="macro", blocking=True, description="Every universe series present.")
def macro_complete(warehouse: WarehouseResource, source: SourceResource) -> dg.AssetCheckResult:
    """A missing indicator would break the macro state."""
    m = _macro(warehouse)
    return _result(quality.check_present(m, source.universe().series_ids, key="series_id"))


INGEST_CHECKS = [
    prices_unique,
    prices_positive,
    prices_no_gaps,
    prices_plausible_moves,
    prices_complete,
    macro_unique,
    macro_not_stale,
    macro_point_in_time,
    macro_complete,
]
