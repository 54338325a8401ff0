"""Backtest assets: the walk-forward out-of-sample evaluation and its report."""

import dagster as dg
import pandas as pd

from pipelines.config import BacktestConfig
from pipelines.metadata import table_preview
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.allocate.dataset import load_allocator_inputs
from riskalloc.allocate.registry import allocator_record, data_hash, save_allocator
from riskalloc.allocate.train import TrainConfig
from riskalloc.backtest.headline import run_headline
from riskalloc.backtest.metrics import HEADLINE
from riskalloc.backtest.report import write_report
from riskalloc.warehouse.reads import read_table
from riskalloc.warehouse.registry import register
from riskalloc.warehouse.store import upsert

HEADLINE_COLUMNS = ["strategy", *HEADLINE]


@dg.asset(group_name="backtest", deps=["vol_forecasts"], kinds={"pytorch", "duckdb"})
def backtest(
    context: dg.AssetExecutionContext,
    config: BacktestConfig,
    source: SourceResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Yearly walk-forward retrains of riskalloc (the selected design) and its ablations against
    equal weight, inverse vol, ERC, minimum variance, HRP, a deep-learning baseline and the
    first allocator (riskalloc_v1), net of costs, with Ledoit-Wolf p-values against ERC and
    equal weight; riskalloc_v1's fold models are registered for its regime and SHAP views."""
    wh = warehouse.warehouse()
    with warehouse.get_connection() as con:
        inputs = load_allocator_inputs(con, source.universe())
    registry_rows = []

    def on_fit(name, seed, trained, data) -> None:
        if name == "riskalloc_v1" and seed == config.seed:
            path = save_allocator(trained, wh.models_dir)
            registry_rows.append(
                allocator_record(trained, path, data_hash(data.asset_x, data.vol, data.macro_x))
            )
            context.log.info("fold model %s (train end %s)", path.name, trained.meta["train_end"])

    head = run_headline(
        inputs.md,
        inputs.forecast(),
        config.start,
        config.end,
        costs=(config.cost_bps,),
        rebalances=(config.rebalance,),
        seeds=(config.seed,),
        ablations=config.ablations,
        train_cfg=TrainConfig(epochs=config.epochs),
        on_fit=on_fit,
    )
    g = head.grid
    with warehouse.get_connection() as con:
        upsert(wh, con, "backtest_returns", g.returns)
        upsert(wh, con, "backtest_weights", g.weights)
        upsert(wh, con, "backtest_metrics", g.metrics)
        register(wh, con, "allocator", registry_rows)
        if not head.drawdowns.empty:
            upsert(
                wh,
                con,
                "stress_drawdowns",
                head.drawdowns.assign(
                    cost_bps=config.cost_bps, rebalance=config.rebalance, seed=config.seed
                ),
            )
        if not head.covid.empty:
            upsert(
                wh,
                con,
                "covid_exposure_cut",
                head.covid.assign(
                    cost_bps=config.cost_bps, rebalance=config.rebalance, seed=config.seed
                ),
            )
    period = f"{pd.Timestamp(config.start).year}-{pd.Timestamp(config.end).year}"
    hl = g.metrics.loc[g.metrics["period"] == period]
    hl = hl.loc[:, [c for c in HEADLINE_COLUMNS if c in hl.columns]].sort_values(
        "sharpe", ascending=False
    )
    return dg.MaterializeResult(
        metadata={
            "headline": table_preview(hl, limit=20),
            "stress_drawdowns_vs_erc": table_preview(head.drawdowns, limit=60),
            "covid_equity_cut": table_preview(head.covid, limit=20),
            "strategies": len(hl),
            "fold_models_registered": len(registry_rows),
        }
    )


@dg.asset(group_name="backtest", deps=["backtest"], kinds={"html"})
def backtest_report(
    context: dg.AssetExecutionContext, config: BacktestConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Equity curves, drawdowns and the metrics table (PNG, Markdown, HTML)."""
    wh = warehouse.warehouse()
    keys = {"cost_bps": config.cost_bps, "rebalance": config.rebalance, "seed": config.seed}
    with warehouse.get_connection() as con:
        rets = read_table(con, "backtest_returns", where=keys)
        mets = read_table(con, "backtest_metrics", where=keys)
    wide = rets.pivot(index="date", columns="strategy", values="return").sort_index()
    period = f"{pd.Timestamp(config.start).year}-{pd.Timestamp(config.end).year}"
    order = mets["period"].eq(period).map({True: 0, False: 1})
    mets = mets.assign(_o=order).sort_values(["_o", "period", "strategy"]).drop(columns="_o")
    paths = write_report(
        wide.loc[config.start : config.end],
        mets,
        wh.root / "reports" / "backtest",
        title=f"Walk-forward backtest {period}",
    )
    hl = mets.loc[mets["period"] == period]
    return dg.MaterializeResult(
        metadata={
            "headline": table_preview(
                hl.loc[:, [c for c in HEADLINE_COLUMNS if c in hl.columns]].sort_values(
                    "sharpe", ascending=False
                ),
                limit=20,
            ),
            "equity_curve": dg.MetadataValue.path(str(paths["equity_curve"])),
            "drawdown": dg.MetadataValue.path(str(paths["drawdown"])),
            "report": dg.MetadataValue.path(str(paths["html"])),
        }
    )
