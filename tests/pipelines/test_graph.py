"""The whole asset graph, end to end, on a five-ETF slice of the bundled data (fast settings)."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from pipelines.checks import DOWNSTREAM_CHECKS, INGEST_CHECKS
from pipelines.definitions import ALL_ASSETS
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.allocate.publish import validate_target_weights
from riskalloc.warehouse import Warehouse, read_table

UNIVERSE = """
name: tiny
equity_proxy: SPY
cash: BIL
risk_free_rate: DTB3
assets:
  - {ticker: SPY, asset_class: equity}
  - {ticker: EFA, asset_class: equity}
  - {ticker: TLT, asset_class: bond}
  - {ticker: LQD, asset_class: credit}
  - {ticker: GLD, asset_class: commodity}
  - {ticker: BIL, asset_class: cash}
series:
  - {series_id: VIXCLS, role: volatility_expectation}
  - {series_id: BAA10Y, role: credit_spread}
  - {series_id: BAMLH0A0HYM2, role: credit_spread}
  - {series_id: T10Y2Y, role: curve_slope}
  - {series_id: T10Y3M, role: curve_slope}
  - {series_id: DTB3, role: risk_free_rate}
"""

FAST = {
    "vol_forecaster": {"start": "2019-01-01", "max_epochs": 2},
    "allocator_network": {"epochs": 2},
    "allocator_fold_models": {"start": "2022-01-01", "end": "2022-12-31", "epochs": 2},
    "backtest": {"start": "2022-01-01", "end": "2022-12-31", "epochs": 2},
    "backtest_report": {"start": "2022-01-01", "end": "2022-12-31"},
    "shap_report": {"start": "2022-10-01", "nsamples": 60},
}


@pytest.mark.slow
def test_whole_graph_materialises_and_publishes_valid_weights(tmp_path):
    uni = tmp_path / "tiny.yaml"
    uni.write_text(UNIVERSE)
    db = tmp_path / "wh" / "riskalloc.duckdb"
    resources = {
        "warehouse": WarehouseResource(database=str(db)),
        "source": SourceResource(source="sample", universe_file=str(uni)),
    }
    daily = {"target_weights", "trade_list", "daily_report"}
    unpartitioned = [a for a in ALL_ASSETS if a.key.to_user_string() not in daily]
    run_config = {"ops": {k: {"config": v} for k, v in FAST.items()}}
    result = dg.materialize(
        [*unpartitioned, *INGEST_CHECKS, *DOWNSTREAM_CHECKS[:-1]],
        resources=resources,
        run_config=run_config,
    )
    assert result.success
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed <= {"prices_plausible_moves"}
    weights = [a for a in ALL_ASSETS if a.key.to_user_string() == "target_weights"]
    res_w = dg.materialize(
        [*unpartitioned, *weights, DOWNSTREAM_CHECKS[-1]],
        selection=dg.AssetSelection.assets("target_weights"),
        resources=resources,
        partition_key="2022-12-30",
    )
    assert res_w.success
    # the morning: trade list from a holdings file, then the day's HTML page
    holdings = tmp_path / "holdings.csv"
    holdings.write_text("ticker,shares\nSPY,100\nTLT,50\nCASH,1000\n")
    morning = [a for a in ALL_ASSETS if a.key.to_user_string() in daily]
    res_m = dg.materialize(
        [*unpartitioned, *morning],
        selection=dg.AssetSelection.assets("trade_list", "daily_report"),
        resources=resources,
        partition_key="2022-12-30",
        run_config={"ops": {"trade_list": {"config": {"holdings_file": str(holdings)}}}},
    )
    assert res_m.success
    page = db.parent / "reports" / "daily" / "2022-12-30.html"
    assert page.exists() and "Trade list" in page.read_text()
    wh = Warehouse.from_db_path(db)
    with wh.connect() as con:
        tw = read_table(con, "target_weights")
        reg = read_table(con, "model_registry")
        metrics = read_table(con, "backtest_metrics")
        ev = read_table(con, "forecast_eval")
        shap_rows = read_table(con, "shap_attributions")
        regimes = read_table(con, "regimes")
        trades = read_table(con, "trade_lists")
    assert set(trades["ticker"]) == {"SPY", "EFA", "TLT", "LQD", "GLD", "CASH"}
    assert tw["regime"].iloc[0] in set(regimes["regime"].unique()) | {"calm", "normal", "stress"}
    assert list(tw["date"].unique()) == [pd.Timestamp("2022-12-30")]
    validate_target_weights(tw, ["SPY", "EFA", "TLT", "LQD", "GLD", "BIL"])
    # the weights of 2022-12-30 come from the production design (the riskalloc backtest rows)
    from riskalloc.allocate.design import load_design
    from riskalloc.allocate.design_weights import design_version

    assert tw["model_version"].eq(design_version(load_design())).all()
    assert not reg.empty  # the forecaster's (and v1's) artefacts are still registered
    # the fold model asset trained riskalloc_v1's one 2022 fold; the backtest reused it
    folds = result.output_for_node("allocator_fold_models")
    assert len(folds) == 1 and folds[0] in set(reg["version"])
    assert "riskalloc_v1" in set(metrics["strategy"])
    bt = result.asset_materializations_for_node("backtest")[0].metadata
    assert bt["fold_models_reused"].value == 1
    day = shap_rows.loc[shap_rows["date"] == pd.Timestamp("2022-12-30")]
    assert {"weight", "exposure"} <= set(day["target"])  # the published day is explained
    assert {"riskalloc", "erc", "hrp", "dl_lstm"} <= set(metrics["strategy"])
    assert {"lstm", "ewma", "garch", "har"} <= set(ev["model"])
    assert shap_rows["date"].nunique() >= 3
    assert regimes["date"].max() == pd.Timestamp("2022-12-30")
    assert (wh.root / "reports" / "backtest" / "equity_curve.png").exists()
