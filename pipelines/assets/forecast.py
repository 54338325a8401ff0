"""Forecast assets: the walk-forward LSTM and baselines, daily forecasts, and their evaluation."""

import time

import dagster as dg
import pandas as pd

from pipelines.config import ForecasterConfig
from pipelines.metadata import date_range, table_preview
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.errors import ModelError
from riskalloc.forecast.artefacts import forecaster_record, load_model, market_hash, save_model
from riskalloc.forecast.evaluate import evaluate_forecasts
from riskalloc.forecast.garch_fits import GarchFitCache
from riskalloc.forecast.lstm import LSTMConfig
from riskalloc.forecast.panel import Panels
from riskalloc.forecast.production import (
    GARCH_FITS,
    PRODUCTION,
    extend_production,
    production_forecasts,
    save_production,
)
from riskalloc.forecast.walkforward import MODELS, forecast_range
from riskalloc.market import load_market_data
from riskalloc.warehouse.catalog import table_columns, table_exists
from riskalloc.warehouse.reads import last_dates, read_table
from riskalloc.warehouse.registry import register
from riskalloc.warehouse.store import drop_table, upsert


@dg.asset(group_name="forecast", deps=["features", "macro_features"], kinds={"pytorch", "duckdb"})
def vol_forecaster(
    context: dg.AssetExecutionContext,
    config: ForecasterConfig,
    source: SourceResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Yearly expanding-window retrains of the LSTM (and EWMA, GARCH, HAR) and of the production
    forecaster (chosen on the 2009-2016 folds) with their out-of-sample forecasts; every fold's
    v1 LSTM, which the allocator reads, is saved and registered."""
    wh = warehouse.warehouse()
    with warehouse.get_connection() as con:
        md = load_market_data(con, source.universe())
    versions: list[str] = []
    timings: list[dict] = []
    clock = [time.perf_counter()]

    def on_fold(fold, trained) -> None:
        cut = pd.Timestamp(trained.meta.get("train_end", md.dates[-1]))
        extra = {"data_hash": market_hash(md, cut), "fold": fold.name}
        metrics = {"best_val_loss": min((h["val_loss"] for h in trained.history), default=None)}
        versions.append(save_model(trained, extra, metrics, wh.models_dir))
        now = time.perf_counter()
        timings.append({"fold": fold.name, "seconds": round(now - clock[0], 1)})
        clock[0] = now
        context.log.info("forecaster fold %s trained (%s)", fold.name, versions[-1])

    newest: dict = {}  # the newest fold's production networks, for the nightly step

    def on_net(name, fold, trained) -> None:
        if newest.get("fold") != fold.name:
            newest.clear()
            newest["fold"] = fold.name
        newest[name] = trained

    forecasts, details = production_forecasts(
        md,
        config.start,
        str(md.dates[-1].date()),
        seed=config.seed,
        include=MODELS,
        lstm_config=LSTMConfig(max_epochs=config.max_epochs, seed=config.seed),
        on_fold_model=on_fold,
        on_net_model=on_net,
        # every fold's GARCH fit, for the next retrain and the nightly extension to reuse
        garch_cache=GarchFitCache(wh.models_dir / "production" / GARCH_FITS),
        n_jobs=config.n_jobs,
    )
    nets = {k: v for k, v in newest.items() if k != "fold"}
    save_production(wh.models_dir / "production", str(newest.get("fold")), nets, details)
    kept = [{"model": name, **row} for name, rows in details["nets"].items() for row in rows]
    records = [forecaster_record(v, wh.models_dir) for v in versions]
    with warehouse.get_connection() as con:
        res = upsert(wh, con, "vol_forecasts", forecasts)
        register(wh, con, "forecaster", records)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": res.total_rows,
            "models": ", ".join(sorted(forecasts["model"].unique())),
            "folds": len(versions),
            "lstm_versions": ", ".join(versions),
            "fold_seconds": table_preview(pd.DataFrame(timings), limit=50),
            "production_model": PRODUCTION.name,
            "kept_epochs": table_preview(pd.DataFrame(kept), limit=50) if kept else "none",
            "date_range": date_range(forecasts["date"].min(), forecasts["date"].max()),
        }
    )


@dg.asset(
    group_name="forecast",
    deps=["vol_forecaster", "features", "macro_features"],
    kinds={"pytorch", "duckdb"},
)
def vol_forecasts(
    context: dg.AssetExecutionContext, source: SourceResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Extends the LSTM forecasts to the newest dates with the latest registered forecaster, and
    the production forecaster's with the pieces the last ``vol_forecaster`` run stored."""
    wh = warehouse.warehouse()
    with warehouse.get_connection() as con:
        md = load_market_data(con, source.universe())
        reg = read_table(con, "model_registry", where={"kind": "forecaster"})
        have = last_dates(con, "vol_forecasts", "model").get("lstm")
    if reg.empty:
        raise ModelError("no registered forecaster; materialise vol_forecaster first")
    latest = reg.sort_values(["train_end", "trained_at"]).iloc[-1]
    new_dates = md.dates[md.dates > pd.Timestamp(have)] if have is not None else md.dates[-1:]
    if len(new_dates) == 0:
        context.log.info("LSTM forecasts already reach %s", pd.Timestamp(have).date())
        return dg.MaterializeResult(
            metadata={
                "new_dates": 0,
                "up_to": str(pd.Timestamp(have).date()),
                "model_version": str(latest["version"]),
            }
        )
    trained = load_model(wh.models_dir / "forecaster" / str(latest["version"]))
    panels = Panels(md)  # one input panel for the LSTM and the production forecaster
    df = forecast_range(md, trained, new_dates[0], new_dates[-1], panels)
    df["model"] = "lstm"
    df["target_vol"] = float("nan")
    df["fold"] = "live"
    df["model_version"] = str(latest["version"])
    try:  # the production forecaster's rows for the same days (its own model name)
        prod = extend_production(
            md, new_dates[0], new_dates[-1], wh.models_dir / "production", panels=panels
        )
    except ModelError as exc:
        context.log.warning("production forecasts not extended: %s", exc)
        prod = df.iloc[:0]
    with warehouse.get_connection() as con:
        res = upsert(wh, con, "vol_forecasts", pd.concat([df, prod], ignore_index=True))
    return dg.MaterializeResult(
        metadata={
            "new_dates": len(new_dates),
            "rows_changed": res.inserted + res.updated,
            "model_version": str(latest["version"]),
            "production_rows": len(prod),
            "preview": table_preview(df.tail(10)),
        }
    )


@dg.asset(group_name="forecast", deps=["vol_forecasts"], kinds={"duckdb"})
def forecast_evaluation(
    context: dg.AssetExecutionContext, source: SourceResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """QLIKE, RMSE of log vol, Mincer-Zarnowitz R² and Diebold-Mariano tests, per period and
    asset class (development years up to 2016, out of sample 2017-2022); ``production`` marks
    the production forecaster's rows."""
    wh = warehouse.warehouse()
    with warehouse.get_connection() as con:
        df = read_table(con, "vol_forecasts")
    first = pd.Timestamp(df["date"].min()) if not df.empty else pd.Timestamp("2017-01-01")
    periods = {"2017-2022": ("2017-01-01", "2022-12-31")}
    if first.year <= 2016:  # development years the forecasts cover (selection: 2009-2016)
        dev = max(first.year, 2009)
        periods = {f"{dev}-2016": (f"{dev}-01-01", "2016-12-31"), **periods}
    ev = evaluate_forecasts(
        df, source.universe().asset_classes(), periods, production=PRODUCTION.name
    )
    with warehouse.get_connection() as con:
        # a pure function of the forecasts; a table from an older model set or from before the
        # ``production`` column is rebuilt rather than refused (its columns follow the models)
        stored = set(table_columns(con, "forecast_eval")) - {"ingested_at"}
        if table_exists(con, "forecast_eval") and stored != set(ev.columns) - {"ingested_at"}:
            context.log.warning("forecast_eval columns changed with the models; rebuilding it")
            drop_table(wh, con, "forecast_eval")
        upsert(wh, con, "forecast_eval", ev, replace=True)
    cols = ["model", "production", "period", "qlike", "rmse_log", "mz_r2"]
    head = ev.loc[ev["asset_class"] == "all", cols]
    return dg.MaterializeResult(
        metadata={"dagster/row_count": len(ev), "evaluation": table_preview(head, limit=20)}
    )
