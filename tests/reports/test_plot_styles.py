"""Backtest plots: every strategy has its own colour and its own line style."""

from __future__ import annotations

import pandas as pd

from riskalloc.backtest.report import strategy_styles, write_report
from riskalloc.market import MarketData

HEADLINE = [
    "equal_weight",
    "dl_lstm",
    "inverse_vol",
    "erc",
    "riskalloc_equal_budgets",
    "riskalloc_no_target",
    "riskalloc",
    "uysal_e2e",
    "riskalloc_no_regime",
    "hrp",
    "min_variance",
]


def test_every_headline_strategy_has_a_distinct_colour_and_line_style() -> None:
    styles = strategy_styles(HEADLINE)
    assert len({str(s["color"]) for s in styles.values()}) == len(HEADLINE)
    assert len({str(s["linestyle"]) for s in styles.values()}) == len(HEADLINE)
    assert styles["dl_lstm"]["color"] != styles["uysal_e2e"]["color"]
    assert styles["riskalloc"]["linewidth"] > styles["erc"]["linewidth"]
    many = strategy_styles([f"s{i}" for i in range(40)])  # pairs stay unique beyond that
    assert len({(str(s["color"]), str(s["linestyle"])) for s in many.values()}) == 40


def test_report_plots_real_returns(tmp_path) -> None:
    rets = MarketData.sample().returns().loc["2022", ["SPY", "TLT", "GLD"]]
    metrics = pd.DataFrame({"strategy": ["SPY"], "period": ["2022"], "sharpe": [-0.5]})
    paths = write_report(rets, metrics, tmp_path)
    assert paths["equity_curve"].read_bytes()[:4] == b"\x89PNG"
