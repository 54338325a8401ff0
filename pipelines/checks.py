"""Asset checks: thin wrappers around the pure ``riskalloc.quality`` functions."""

from collections.abc import Callable, Iterator
from typing import NamedTuple

import dagster as dg
import numpy as np
import pandas as pd

from pipelines.resources import SourceResource, WarehouseResource
from riskalloc import quality
from riskalloc.allocate.design import load_design
from riskalloc.allocate.publish import validate_target_weights
from riskalloc.errors import PublishError
from riskalloc.quality import CheckOutcome
from riskalloc.reports.guard import JumpLimits, jump_violations, weight_jumps
from riskalloc.universe import Universe
from riskalloc.warehouse import not_positive, read_table
from riskalloc.warehouse.catalog import table_exists


def _result(
    o: CheckOutcome, check_name: str | None = None, asset: str | None = None
) -> dg.AssetCheckResult:
    """A Dagster check result from a library outcome (named, for a multi-asset check)."""
    sev = dg.AssetCheckSeverity.WARN if o.severity == "warn" else dg.AssetCheckSeverity.ERROR
    meta: dict[str, object] = {"message": o.message, "offending_rows": len(o.rows)}
    if not o.rows.empty:
        meta["rows"] = dg.MetadataValue.md(o.preview())
    return dg.AssetCheckResult(
        passed=o.passed, severity=sev, metadata=meta, check_name=check_name, asset_key=asset
    )


def _table(warehouse: WarehouseResource, name: str):
    with warehouse.get_connection() as con:
        return read_table(con, name)


class Check(NamedTuple):
    """One check of a table: its description, whether it blocks, and the library test of the
    table's rows against the universe's ids (tickers or series)."""

    description: str
    blocking: bool
    run: Callable[[pd.DataFrame, list[str]], CheckOutcome]


def table_checks(
    asset: str, checks: dict[str, Check], ids: Callable[[Universe], list[str]], description: str
) -> dg.AssetChecksDefinition:
    """The checks of one table as one multi-asset check: the table is read once for all of
    them (at 500 assets the prices table has ~3 M rows; five checks read it five times)."""
    specs = [
        dg.AssetCheckSpec(name, asset=asset, blocking=c.blocking, description=c.description)
        for name, c in checks.items()
    ]

    @dg.multi_asset_check(
        specs=specs, can_subset=True, name=f"{asset}_checks", description=description
    )
    def _checks(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        source: SourceResource,
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {k.name for k in context.selected_asset_check_keys}
        frame, known = _table(warehouse, asset), ids(source.universe())
        for name, c in checks.items():
            if name in selected:
                yield _result(c.run(frame, known), name, asset)

    return _checks


PRICE_CHECKS = {
    # duplicate keys must not flow on
    "prices_unique": Check(
        "No duplicate (date, ticker).",
        True,
        lambda p, _: quality.check_unique_keys(p, ("date", "ticker")),
    ),
    # zero, negative or missing prices must not flow on
    "prices_positive": Check(
        "All prices finite and > 0.", True, lambda p, _: quality.check_positive_prices(p)
    ),
    # gaps mean a broken download; measured against the NYSE calendar
    "prices_no_gaps": Check(
        "No gap over 5 NYSE sessions inside a history.",
        True,
        lambda p, _: quality.check_gaps(p, max_gap_days=5),
    ),
    # big moves are often real (2008, 2020) but can be split seams: shown, not blocked
    "prices_plausible_moves": Check(
        "Daily moves over 25% (warning, rows in metadata).",
        False,
        lambda p, _: quality.check_daily_moves(p, 0.25),
    ),
    # a ticker missing from the warehouse would silently drop out of the portfolio
    "prices_complete": Check(
        "Every universe ticker present.", True, lambda p, ids: quality.check_present(p, ids)
    ),
}
MACRO_CHECKS = {
    # duplicate keys must not flow on
    "macro_unique": Check(
        "No duplicate (date, series_id).",
        True,
        lambda m, _: quality.check_unique_keys(m, ("date", "series_id")),
    ),
    # a stale VIX or spread would freeze the regime signal
    "macro_not_stale": Check(
        "No series stopped updating.", True, lambda m, _: quality.check_stale_series(m)
    ),
    # look-ahead guard for every downstream feature
    "macro_point_in_time": Check(
        "available_at >= date everywhere.", True, lambda m, _: quality.check_point_in_time(m)
    ),
    # a missing indicator would break the macro state
    "macro_complete": Check(
        "Every universe series present.",
        True,
        lambda m, ids: quality.check_present(m, ids, key="series_id"),
    ),
}

prices_checks = table_checks(
    "prices",
    PRICE_CHECKS,
    lambda u: u.tickers,
    "Keys, positivity, gaps, moves and coverage of the prices table, on one read of it.",
)
macro_checks = table_checks(
    "macro",
    MACRO_CHECKS,
    lambda u: u.series_ids,
    "Keys, staleness, point-in-time availability and coverage of the macro table.",
)
INGEST_CHECKS = [prices_checks, macro_checks]


# --- downstream checks ----------------------------------------------------------------------


def _features_finite(f: pd.DataFrame, _: list[str]) -> CheckOutcome:
    """Warm-up rows are dropped upstream, so any NaN here is a bug or bad data."""
    num = f.select_dtypes("number")
    bad = f.loc[~np.isfinite(num.to_numpy(float)).all(axis=1)]
    return CheckOutcome(
        "features_finite", bad.empty, f"{len(bad)} feature rows with NaN/inf", rows=bad.head(20)
    )


def _features_cover(f: pd.DataFrame, tickers: list[str]) -> CheckOutcome:
    """An asset without features would silently leave the allocation."""
    missing = sorted(set(tickers) - set(f["ticker"]))
    rows = pd.DataFrame({"ticker": missing})
    return CheckOutcome(
        "features_cover", not missing, f"tickers without features: {missing}", rows=rows
    )


FEATURE_CHECKS = {
    "features_finite": Check("No NaN/inf feature values.", True, _features_finite),
    "features_cover_universe": Check("Every risky asset has features.", True, _features_cover),
}
features_checks = table_checks(
    "features",
    FEATURE_CHECKS,
    lambda u: u.tickers,
    "Finite values and coverage of every universe ticker, on one read of the features.",
)


@dg.asset_check(asset="vol_forecasts", blocking=True, description="Forecasts finite and > 0.")
def vol_forecasts_positive(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """A zero or NaN vol forecast would break the covariance (counted in DuckDB: the table
    holds every fold's forecasts of every model, millions of rows at a few hundred assets)."""
    with warehouse.get_connection() as con:
        count, bad = not_positive(con, "vol_forecasts", "forecast_vol")
    return _result(CheckOutcome("vol_positive", count == 0, f"{count} invalid forecasts", rows=bad))


@dg.asset_check(
    asset="target_weights",
    blocking=True,
    description=(
        "Weights ≥ 0, sum = exposure ≤ the design's cap (1 unless it levers), risk "
        "contributions = budgets, known tickers."
    ),
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
        cap = max(1.0, load_design().max_exposure)
        validate_target_weights(w, source.universe().tickers, max_exposure=cap)
    except PublishError as exc:
        return _result(CheckOutcome("target_weights", False, str(exc)))
    return _result(
        CheckOutcome("target_weights", True, f"{len(w)} rows on {w['date'].nunique()} dates valid")
    )


DOWNSTREAM_CHECKS = [
    features_checks,
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
