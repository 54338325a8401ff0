"""Asset checks: thin wrappers around the pure ``riskalloc.quality`` functions."""

import dagster as dg
import numpy as np
import pandas as pd

from pipelines.resources import SourceResource, WarehouseResource
from riskalloc import quality
from riskalloc.allocate.publish import validate_target_weights
from riskalloc.errors import PublishError
from riskalloc.quality import CheckOutcome
from riskalloc.reports.guard import JumpLimits, jump_violations, weight_jumps
from riskalloc.warehouse import read_table
from riskalloc.warehouse.catalog import table_exists


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
def prices_complete(warehouse: WarehouseResource, source: SourceResource) -> dg.AssetCheckResult:
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


# --- downstream checks ----------------------------------------------------------------------


def _table(warehouse: WarehouseResource, name: str):
    with warehouse.get_connection() as con:
        return read_table(con, name)


@dg.asset_check(asset="features", blocking=True, description="No NaN/inf feature values.")
def features_finite(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Warm-up rows are dropped upstream, so any NaN here is a bug or bad data."""
    f = _table(warehouse, "features")
    num = f.select_dtypes("number")
    bad = f.loc[~np.isfinite(num.to_numpy(float)).all(axis=1)]
    return _result(
        CheckOutcome(
            "features_finite", bad.empty, f"{len(bad)} feature rows with NaN/inf", rows=bad.head(20)
        )
    )


@dg.asset_check(asset="features", blocking=True, description="Every risky asset has features.")
def features_cover_universe(
    warehouse: WarehouseResource, source: SourceResource
) -> dg.AssetCheckResult:
    """An asset without features would silently leave the allocation."""
    f = _table(warehouse, "features")
    missing = sorted(set(source.universe().tickers) - set(f["ticker"]))
    rows = pd.DataFrame({"ticker": missing})
    return _result(
        CheckOutcome(
            "features_cover", not missing, f"tickers without features: {missing}", rows=rows
        )
    )


@dg.asset_check(asset="vol_forecasts", blocking=True, description="Forecasts finite and > 0.")
def vol_forecasts_positive(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """A zero or NaN vol forecast would break the covariance."""
    f = _table(warehouse, "vol_forecasts")
    bad = f.loc[~(np.isfinite(f["forecast_vol"]) & (f["forecast_vol"] > 0))]
    return _result(
        CheckOutcome("vol_positive", bad.empty, f"{len(bad)} invalid forecasts", rows=bad.head(20))
    )


@dg.asset_check(
    asset="target_weights",
    blocking=True,
    description="Weights ≥ 0, sum = exposure ≤ 1, risk contributions = budgets, known tickers.",
)
def target_weights_valid(
    warehouse: WarehouseResource, source: SourceResource
) -> dg.AssetCheckResult:
    """Re-validates everything published (the asset refuses to publish invalid weights)."""
    with warehouse.get_connection() as con:
        if not table_exists(con, "target_weights"):
            return _result(CheckOutcome("target_weights", True, "nothing published yet"))
    w = _table(warehouse, "target_weights")
    try:
        validate_target_weights(w, source.universe().tickers)
    except PublishError as exc:
        return _result(CheckOutcome("target_weights", False, str(exc)))
    return _result(
        CheckOutcome("target_weights", True, f"{len(w)} rows on {w['date'].nunique()} dates valid")
    )


DOWNSTREAM_CHECKS = [
    features_finite,
    features_cover_universe,
    vol_forecasts_positive,
    target_weights_valid,
]


@dg.asset_check(
    asset="target_weights",
    blocking=True,
    description="No turnover/exposure jump beyond RISKALLOC_MAX_TURNOVER / "
    "RISKALLOC_MAX_EXPOSURE_JUMP without a regime change (off when unset).",
)
def target_weights_no_unexplained_jump(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """The latest published day against the one before (the asset refuses such days anyway)."""
    limits = JumpLimits.from_env()
    if not limits.enabled:
        return _result(CheckOutcome("weight_jumps", True, "jump guard off (no limits set)"))
    with warehouse.get_connection() as con:
        if not table_exists(con, "target_weights"):
            return _result(CheckOutcome("weight_jumps", True, "nothing published yet"))
        w = read_table(con, "target_weights")
        regimes = read_table(con, "regimes") if table_exists(con, "regimes") else None
    days = sorted(pd.to_datetime(w["date"]).unique())[-2:]
    recent = w.loc[pd.to_datetime(w["date"]).isin(days)]
    ref = None if regimes is None else regimes.set_index("date")["regime"]
    jumps = weight_jumps(recent.loc[recent["date"] == days[-1]], recent, ref)
    bad = jump_violations(jumps, limits)
    msg = (
        f"{len(bad)} day(s) jump beyond {limits} without a regime change"
        if len(bad)
        else f"latest day within {limits}"
    )
    return _result(CheckOutcome("weight_jumps", bad.empty, msg, rows=bad))


REPORT_CHECKS = [target_weights_no_unexplained_jump]
