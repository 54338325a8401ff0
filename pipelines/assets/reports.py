"""Report assets: regimes, SHAP attributions, the morning trade list and the daily page."""

import os

import dagster as dg
import pandas as pd

from pipelines.assets.allocate import WEEKDAYS
from pipelines.config import ShapConfig, TradeListConfig
from pipelines.metadata import table_preview
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.allocate.artefacts import KIND
from riskalloc.allocate.dataset import load_allocator_inputs
from riskalloc.allocate.design import load_design
from riskalloc.allocate.design_weights import design_target_weights, stored_design_forecasts
from riskalloc.backtest.schedule import period_ends
from riskalloc.market import load_market_data
from riskalloc.reports.daily import daily_report_from_warehouse
from riskalloc.reports.design_attributions import explain_design_weights
from riskalloc.reports.regimes import run_regime_report
from riskalloc.reports.shap_report import shap_report as render_shap_report
from riskalloc.reports.trades import TradeSettings, run_trade_list
from riskalloc.warehouse.catalog import table_exists
from riskalloc.warehouse.reads import read_table
from riskalloc.warehouse.store import upsert

HMM_TRAIN_END = "2016-12-31"


def _image(path) -> dg.MetadataValue:
    return dg.MetadataValue.path(str(path))


@dg.asset(
    group_name="reports",
    deps=["macro_features", "allocator_network", "allocator_fold_models", "vol_forecasts"],
    kinds={"duckdb", "html"},
)
def regime_report(
    context: dg.AssetExecutionContext, source: SourceResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Filtered regime probabilities of a volatility-and-credit HMM reference (selected and
    fitted on pre-2017 data), the allocator's own regimes named after it, transitions."""
    wh = warehouse.warehouse()
    with warehouse.get_connection() as con:
        inputs = load_allocator_inputs(con, source.universe())
        have_models = table_exists(con, "vol_forecasts") and table_exists(con, "model_registry")
        registry = read_table(con, "model_registry", where={"kind": KIND}) if have_models else None
    md = inputs.md
    # the regime head reads features only: no correlation factor model over the whole history
    have_inputs = have_models and inputs.vol_forecast is not None
    data = inputs.data(factors=False) if have_inputs else None
    out_dir = wh.root / "reports" / "regime"
    run = run_regime_report(md, out_dir, data, registry, wh.models_dir, train_end=HMM_TRAIN_END)
    rep = run.report
    with warehouse.get_connection() as con:
        upsert(wh, con, "regimes", rep.regimes)
    context.log.info("current regime %s since %d days", rep.current_regime, rep.current_spell_days)
    meta: dict[str, object] = {
        "as_of": str(rep.as_of.date()),
        "current_regime": rep.current_regime,
        "reference": f"{run.model.inputs}, {run.model.n_states} states",
        "current_probabilities": table_preview(rep.current_probabilities.rename("p").reset_index()),
        "selection": dg.MetadataValue.md(run.selection.to_markdown(index=False, floatfmt=".4g")),
        "check_periods": dg.MetadataValue.md(run.periods.to_markdown(floatfmt=".2f")),
        "transition_probabilities": dg.MetadataValue.md(
            rep.transition_probabilities.to_markdown(floatfmt=".3f")
        ),
        "time_in_regime": dg.MetadataValue.md(rep.time_in_regime.to_markdown(floatfmt=".3f")),
        "plot": _image(rep.files.get("png", out_dir / "regimes.png")),
        "report": dg.MetadataValue.path(str(out_dir / "regime_report.html")),
        "dagster/row_count": len(rep.regimes),
    }
    if rep.allocator_current is not None:
        meta["allocator_regime"] = str(rep.allocator_current.idxmax())
        meta["allocator_agreement"] = float(rep.agreement or 0.0)
    return dg.MaterializeResult(metadata=meta)


def _last_published_day(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """The partition window's last day with published target weights (None if there is none)."""
    window = context.partition_time_window
    lo = pd.Timestamp(window.start.date())
    hi = pd.Timestamp(window.end.date()) - pd.Timedelta(days=1)
    with warehouse.get_connection() as con:
        if not table_exists(con, "target_weights"):
            return None
        w = read_table(con, "target_weights", start=lo, end=hi)
    return None if w.empty else pd.Timestamp(w["date"].max())


@dg.asset(
    group_name="reports",
    deps=["target_weights"],
    partitions_def=WEEKDAYS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"duckdb", "csv"},
)
def trade_list(
    context: dg.AssetExecutionContext, config: TradeListConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Orders from the configured holdings to the day's target weights, with their cost under
    the backtest's model; stored in ``trade_lists`` and ``trades/<date>.csv``."""
    holdings = config.holdings_file or os.environ.get("RISKALLOC_HOLDINGS", "")
    if not holdings:
        return dg.MaterializeResult(metadata={"skipped": "no holdings_file configured"})
    day = _last_published_day(context, warehouse)
    if day is None:
        raise dg.Failure(f"no target weights published in partition {context.partition_key}")
    settings = TradeSettings(config.band, config.min_trade, config.cost_bps)
    trades, path = run_trade_list(warehouse.warehouse(), holdings, day, config.nav, settings)
    orders = trades.rows.loc[trades.rows["traded"]]
    return dg.MaterializeResult(
        metadata={
            "date": str(day.date()),
            "summary": trades.summary(),
            "nav": trades.nav,
            "turnover": trades.turnover,
            "est_cost": trades.total_cost,
            "csv": dg.MetadataValue.path(str(path)),
            "orders": table_preview(orders, limit=40),
        }
    )


@dg.asset(
    group_name="reports",
    deps=["target_weights", "trade_list", "regime_report"],
    partitions_def=WEEKDAYS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"html"},
)
def daily_report(
    context: dg.AssetExecutionContext, source: SourceResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """One HTML page for the day: weights by asset class and change since the last rebalance,
    regime, top drivers, trade list, drawdown (``reports/daily/<date>.html``)."""
    day = _last_published_day(context, warehouse)
    if day is None:
        return dg.MaterializeResult(metadata={"skipped": "no weights published in the window"})
    out_dir = warehouse.warehouse().root / "reports" / "daily"
    with warehouse.get_connection() as con:
        md = load_market_data(con, source.universe(), day)
        rep = daily_report_from_warehouse(con, md, day, out_dir)
    meta: dict[str, object] = {
        "date": str(day.date()),
        "report": dg.MetadataValue.path(str(rep.path)),
        "report_url": dg.MetadataValue.url(rep.path.resolve().as_uri()),
        "regime": rep.regime,
        "reference_regime": rep.reference_regime or "",
        "drawdown": rep.drawdown,
        "by_asset_class": dg.MetadataValue.md(rep.by_class.to_markdown(floatfmt=".4f")),
    }
    if not rep.drivers.empty:
        meta["top_drivers"] = dg.MetadataValue.md(rep.drivers.to_markdown(index=False))
    if rep.trades_summary:
        meta["trades"] = rep.trades_summary
    return dg.MaterializeResult(metadata=meta)


@dg.asset(group_name="reports", deps=["prices", "macro", "regime_report"], kinds={"duckdb", "html"})
def shap_report(
    context: dg.AssetExecutionContext,
    config: ShapConfig,
    source: SourceResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Exact Shapley attributions of the production design's weights and exposure (layer,
    trend, vol target, partial rebalance) at month ends and the newest date, per regime."""
    wh = warehouse.warehouse()
    design = load_design()
    with warehouse.get_connection() as con:
        md = load_market_data(con, source.universe())
        regimes = read_table(con, "regimes")
        vols = stored_design_forecasts(con, design)  # None unless it reads forecast vols
    dates = md.dates[md.dates >= pd.Timestamp(config.start)]
    chosen = pd.DatetimeIndex(sorted({*period_ends(dates, "monthly"), md.dates[-1]}))
    weights, _ = design_target_weights(md, design, chosen, vol_forecast=vols)
    if weights.empty:
        raise dg.Failure(f"no date from {config.start} has a full look-back to explain")
    shap_long = explain_design_weights(weights)
    context.log.info("explained %d dates", shap_long["date"].nunique())
    labels = regimes.set_index("date")["regime"]
    rep = render_shap_report(shap_long, labels, wh.root / "reports" / "shap")
    with warehouse.get_connection() as con:
        res = upsert(wh, con, "shap_attributions", shap_long)
    meta: dict[str, object] = {
        "dates_explained": int(shap_long["date"].nunique()),
        "dagster/row_count": res.total_rows,
        "local_accuracy": "checked on every date (|w - base - sum SHAP| <= 1e-9)",
    }
    for target, table in rep.tables.items():
        meta[f"mean_abs_shap_{target}"] = dg.MetadataValue.md(
            table.head(12).to_markdown(floatfmt=".4f")
        )
    for name, path in rep.files.items():
        if str(path).endswith(".png"):
            meta[f"plot_{name}"] = _image(path)
    return dg.MaterializeResult(metadata=meta)
