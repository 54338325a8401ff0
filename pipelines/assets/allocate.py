"""Allocation assets: the first allocator's network on all history and the daily, published
target weights of the production design."""

import time

import dagster as dg
import pandas as pd

from pipelines.config import AllocatorNetworkConfig
from pipelines.metadata import date_range, table_preview
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.allocate.artefacts import allocator_record, inputs_hash, save_allocator
from riskalloc.allocate.dataset import load_allocator_inputs
from riskalloc.allocate.design import load_design
from riskalloc.allocate.design_weights import design_target_weights, stored_design_forecasts
from riskalloc.allocate.publish import validate_target_weights
from riskalloc.allocate.train import TrainConfig, train_allocator
from riskalloc.calendar import trading_days
from riskalloc.market import load_market_data
from riskalloc.reports.daily import top_drivers
from riskalloc.reports.design_attributions import explain_design_weights
from riskalloc.reports.guard import JumpLimits, guard_publish
from riskalloc.reports.regime_names import reference_for_naming, reference_regime_labels
from riskalloc.warehouse.catalog import table_exists
from riskalloc.warehouse.reads import read_table
from riskalloc.warehouse.registry import register
from riskalloc.warehouse.store import upsert

# Weekday partitions (holidays produce no rows); the current day is included once it closes.
WEEKDAYS = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5",
    start="2000-01-03",
    fmt="%Y-%m-%d",
    timezone="America/New_York",
    end_offset=1,
)


@dg.asset(group_name="allocate", deps=["vol_forecasts"], kinds={"pytorch", "duckdb"})
def allocator_network(
    context: dg.AssetExecutionContext,
    config: AllocatorNetworkConfig,
    source: SourceResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The first allocator's (riskalloc_v1) network, trained end to end on all history up to
    the newest date: the regime and SHAP views of the learned allocator read it for dates after
    the last fold (the published weights come from the design, which needs no training)."""
    wh = warehouse.warehouse()
    with warehouse.get_connection() as con:
        inputs = load_allocator_inputs(con, source.universe())
    data = inputs.data()
    trained = train_allocator(
        data, train_cfg=TrainConfig(seed=config.seed, epochs=config.epochs), progress=True
    )
    path = save_allocator(trained, wh.models_dir)
    record = allocator_record(trained, path, inputs_hash(data))
    with warehouse.get_connection() as con:
        register(wh, con, "allocator", [record])
    hist = pd.DataFrame(trained.meta["history"])
    context.log.info("allocator %s: validation Sharpe %.3f", path.name, trained.meta["val_sharpe"])
    return dg.MaterializeResult(
        metadata={
            "version": path.name,
            "train_window": f"{trained.meta['train_start']} .. {trained.meta['train_end']}",
            "validation_from": trained.meta["val_start"],
            "val_sharpe": float(trained.meta["val_sharpe"]),
            "history": table_preview(hist, limit=50),
        }
    )


@dg.asset(
    group_name="allocate",
    deps=["prices", "macro"],
    partitions_def=WEEKDAYS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"duckdb"},
)
def target_weights(
    context: dg.AssetExecutionContext, source: SourceResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Daily target weights of the production design (``selected_design.json``): weights,
    risk budgets and contributions of the exact layer, trend multipliers, exposure and the
    reference regime per ticker, each day from data up to it; validated before publishing."""
    window = context.partition_time_window
    lo, hi = (
        pd.Timestamp(window.start.date()),
        pd.Timestamp(window.end.date()) - pd.Timedelta(days=1),
    )
    days = trading_days(lo, hi)
    if len(days) == 0:
        context.log.info("no trading day in %s .. %s", lo.date(), hi.date())
        return dg.MaterializeResult(metadata={"published_rows": 0, "trading_days": 0})
    universe = source.universe()
    # the production design (the riskalloc rows of backtest_metrics), each day from data ≤ it
    design = load_design()
    with warehouse.get_connection() as con:
        md = load_market_data(con, universe, hi)
        vols = stored_design_forecasts(con, design, hi)  # None unless it reads forecast vols
    df, skipped = design_target_weights(md, design, pd.DatetimeIndex(days), vol_forecast=vols)
    if skipped:
        context.log.warning(
            "%d trading days skipped (no prices or no full look-back), e.g. %s",
            len(skipped),
            skipped[0].date(),
        )
    if df.empty:
        return dg.MaterializeResult(metadata={"published_rows": 0, "skipped_days": len(skipped)})
    with warehouse.get_connection() as con:
        regimes = read_table(con, "regimes") if table_exists(con, "regimes") else None
        before = lo - pd.Timedelta(days=14), lo - pd.Timedelta(days=1)
        previous = (
            read_table(con, "target_weights", start=before[0], end=before[1])
            if table_exists(con, "target_weights")
            else None
        )
    # the design has no regime module: each day carries the reference state known by then
    labels = reference_regime_labels(df["date"].unique(), reference_for_naming(md, regimes))
    df["regime"] = df["date"].map(labels)
    # raises: nothing is published
    validate_target_weights(df, universe.tickers, max_exposure=max(1.0, design.max_exposure))
    if previous is not None and not previous.empty:
        previous = previous.loc[previous["date"] == previous["date"].max()]
    reference = None if regimes is None else regimes.set_index("date")["regime"]
    # off by default; with RISKALLOC_MAX_TURNOVER / _EXPOSURE_JUMP set, refuses to publish
    jumps = guard_publish(df, previous, JumpLimits.from_env(), reference)
    # every published weight explained: exact Shapley values of the layer, trend, vol-target
    # and rebalance players, adding up to each published weight and to the exposure (raises
    # before anything is written when they do not)
    t0 = time.perf_counter()
    shap_rows = explain_design_weights(df)
    shap_s = time.perf_counter() - t0
    with warehouse.get_connection() as con:
        res = upsert(warehouse.warehouse(), con, "target_weights", df)
        if not shap_rows.empty:
            upsert(warehouse.warehouse(), con, "shap_attributions", shap_rows)
    last = df.loc[df["date"] == df["date"].max()]
    drivers = top_drivers(shap_rows.loc[shap_rows["date"] == last["date"].iloc[0]])
    by_class = last.groupby("asset_class")["weight"].sum().rename("weight").reset_index()
    return dg.MaterializeResult(
        metadata={
            "published_rows": len(df),
            "rows_changed": res.inserted + res.updated,
            "skipped_days": len(skipped),
            "date_range": date_range(df["date"].min(), df["date"].max()),
            "exposure_last": float(last["exposure"].iloc[0]),
            "regime_last": str(last["regime"].iloc[0]),
            "turnover_last": float(jumps["turnover"].iloc[-1]) if len(jumps) else 0.0,
            "exposure_by_class_last": table_preview(by_class, limit=10),
            "shap_dates": int(shap_rows["date"].nunique()),
            "shap_seconds": round(shap_s, 2),
            "top_drivers_last": dg.MetadataValue.md(drivers.to_markdown(index=False)),
            "weights_last": table_preview(
                last.sort_values("weight", ascending=False)[
                    ["ticker", "weight", "risk_budget", "risk_contribution"]
                ],
                limit=40,
            ),
        }
    )
