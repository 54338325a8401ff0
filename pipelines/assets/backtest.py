"""Backtest assets: the first allocator's fold models, the walk-forward out-of-sample
evaluation and its report."""

import dagster as dg
import pandas as pd

from pipelines.config import BacktestConfig
from pipelines.metadata import table_preview
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.allocate.artefacts import (
    allocator_record,
    inputs_hash,
    load_allocator,
    save_allocator,
)
from riskalloc.allocate.dataset import load_allocator_inputs
from riskalloc.allocate.train import TrainConfig
from riskalloc.backtest.fold_models import (
    fold_model_cache,
    missing_fold_models,
    train_ends,
    train_fold_models,
)
from riskalloc.backtest.headline import run_headline
from riskalloc.backtest.metrics import HEADLINE
from riskalloc.backtest.report import write_report
from riskalloc.backtest.schedule import DEFAULT_RETRAIN
from riskalloc.warehouse.reads import read_table
from riskalloc.warehouse.registry import register
from riskalloc.warehouse.store import upsert

HEADLINE_COLUMNS = ["strategy", *HEADLINE]


@dg.asset(group_name="backtest", deps=["vol_forecasts"], kinds={"pytorch", "duckdb"})
def allocator_fold_models(
    context: dg.AssetExecutionContext,
    config: BacktestConfig,
    source: SourceResource,
    warehouse: WarehouseResource,
) -> list[str]:
    """The first allocator's (riskalloc_v1) network of every walk-forward fold, trained once,
    saved and registered: the backtest reuses them and the regime and SHAP views read them.
    Its value is the saved versions, oldest fold first."""
    wh = warehouse.warehouse()
    with warehouse.get_connection() as con:
        inputs = load_allocator_inputs(con, source.universe())
    models = train_fold_models(
        inputs.md,
        inputs.forecast(),
        config.start,
        config.end,
        seed=config.seed,
        train_cfg=TrainConfig(epochs=config.epochs),
        n_jobs=config.n_jobs,
    )
    data = inputs.data()
    digest = inputs_hash(data)
    paths = [save_allocator(m, wh.models_dir) for m in models]
    with warehouse.get_connection() as con:
        register(
            wh,
            con,
            "allocator",
            [allocator_record(m, p, digest) for m, p in zip(models, paths, strict=True)],
        )
    for m, p in zip(models, paths, strict=True):
        context.log.info("fold model %s (train end %s)", p.name, m.meta["train_end"])
    context.add_output_metadata(
        {"fold_models": len(paths), "versions": ", ".join(p.name for p in paths)}
    )
    return [p.name for p in paths]


@dg.asset(group_name="backtest", kinds={"pytorch", "duckdb"})
def backtest(
    context: dg.AssetExecutionContext,
    config: BacktestConfig,
    source: SourceResource,
    warehouse: WarehouseResource,
    allocator_fold_models: list[str],
) -> dg.MaterializeResult:
    """Yearly walk-forward retrains of riskalloc (the selected design) and its ablations against
    equal weight, inverse vol, ERC, minimum variance, HRP, a deep-learning baseline and the
    first allocator (riskalloc_v1, whose fold models come from ``allocator_fold_models``),
    net of costs, with Ledoit-Wolf p-values against ERC and equal weight."""
    wh = warehouse.warehouse()
    with warehouse.get_connection() as con:
        inputs = load_allocator_inputs(con, source.universe())
    folds = fold_model_cache(
        load_allocator(wh.models_dir / "allocator" / v) for v in allocator_fold_models
    )
    train_cfg = TrainConfig(epochs=config.epochs)
    missing = missing_fold_models(
        folds, inputs.md, config.start, config.end, config.seed, train_cfg
    )
    n_folds = len(train_ends(inputs.md, config.start, config.end, DEFAULT_RETRAIN))
    if config.ablations and missing:
        context.log.warning(
            "%d riskalloc_v1 fold models will be retrained (none registered for this config): %s",
            len(missing),
            ", ".join(missing),
        )
    head = run_headline(
        inputs.md,
        inputs.forecast(),
        config.start,
        config.end,
        costs=(config.cost_bps,),
        rebalances=(config.rebalance,),
        seeds=(config.seed,),
        ablations=config.ablations,
        train_cfg=train_cfg,
        fold_models=folds,
        n_jobs=config.n_jobs,
    )
    g = head.grid
    with warehouse.get_connection() as con:
        upsert(wh, con, "backtest_returns", g.returns)
        upsert(wh, con, "backtest_weights", g.weights)
        upsert(wh, con, "backtest_metrics", g.metrics)
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
            "fold_models_reused": n_folds - len(missing) if config.ablations else 0,
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
