"""Daily HTML report: asset-class weights and change since the last rebalance, regime, drivers,
trade list and drawdown, from a warehouse holding real Q4 2022 prices and published targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskalloc.backtest.engine import simulate
from riskalloc.errors import DataError
from riskalloc.market import MarketData
from riskalloc.reports.daily import daily_report_from_warehouse, last_rebalance, top_drivers
from riskalloc.reports.trades import run_trade_list
from riskalloc.sources.sample import SampleSource
from riskalloc.warehouse.store import Warehouse, upsert

TICKERS = ["SPY", "TLT", "GLD", "LQD"]
CLASSES = {"SPY": "equity", "TLT": "bond", "GLD": "commodity", "LQD": "credit"}
DAY = pd.Timestamp("2022-12-30")


@pytest.fixture(scope="module")
def md() -> MarketData:
    return MarketData.sample().select(TICKERS)


def _targets(md: MarketData) -> pd.DataFrame:
    """Real inverse-vol targets, 85-95 % invested, every trading day of Q4 2022."""
    vol = md.returns().rolling(63).std().loc["2022-10-03":"2022-12-30"]
    w = (1 / vol).div((1 / vol).sum(axis=1), axis=0)
    expo = 0.9 + 0.05 * np.sign(np.sin(np.arange(len(w))))
    w = w.mul(expo, axis=0)
    rows = w.stack().rename("weight").rename_axis(["date", "ticker"]).reset_index()
    rows["asset_class"] = rows["ticker"].map(CLASSES)
    rows["exposure"] = rows.groupby("date")["weight"].transform("sum")
    rows["risk_budget"] = 0.25
    rows["regime"] = "normal"
    return rows


@pytest.fixture()
def warehouse(tmp_path: Path, md: MarketData) -> Warehouse:
    wh = Warehouse(tmp_path / "wh")
    prices = SampleSource().fetch_prices(TICKERS, "2022-12-01", "2022-12-30")
    reg = pd.DataFrame({"date": md.dates[-70:], "regime": "normal", "p_normal": 0.8})
    reg["p_stress"] = 0.2
    shap = pd.DataFrame(
        {
            "date": DAY,
            "ticker": ["PORTFOLIO", "PORTFOLIO", "SPY", "TLT"],
            "target": ["exposure", "exposure", "risk_budget", "risk_budget"],
            "feature": ["asset:vol_forecast", "macro:VIXCLS", "macro:VIXCLS", "macro:VIXCLS"],
            "value": [-0.05, 0.01, 0.02, -0.02],
        }
    )
    with wh.connect() as con:
        upsert(wh, con, "prices", prices)
        upsert(wh, con, "target_weights", _targets(md))
        upsert(wh, con, "regimes", reg)
        upsert(wh, con, "shap_attributions", shap)
    return wh


def test_the_page_says_what_a_pm_needs(warehouse: Warehouse, md: MarketData, tmp_path) -> None:
    holdings = tmp_path / "h.csv"
    holdings.write_text("ticker,shares\nSPY,100\nTLT,300\nCASH,10000\n")
    run_trade_list(warehouse, holdings, DAY)
    with warehouse.connect() as con:
        rep = daily_report_from_warehouse(con, md, DAY, warehouse.root / "reports" / "daily")
    assert rep.path == warehouse.root / "reports" / "daily" / "2022-12-30.html"
    assert rep.last_rebalance == pd.Timestamp("2022-12-23")  # the Friday before
    bc = rep.by_class
    assert bc["weight"].sum() == pytest.approx(1.0) and bc["at_last_rebalance"].sum() == 1.0
    t = _targets(md)
    prev = t.loc[t["date"] == "2022-12-23"].set_index("asset_class")["weight"]
    now = t.loc[t["date"] == DAY].set_index("asset_class")["weight"]
    assert bc.loc["bond", "change"] == pytest.approx(now["bond"] - prev["bond"])
    assert (rep.regime, rep.reference_regime) == ("normal", "normal")
    # drawdown of the targets held weekly at 10 bps since the first published day
    wide = t.pivot(index="date", columns="ticker", values="weight")
    wealth = simulate(wide, md, 10, wide.index[0], DAY, rebalance="weekly").wealth
    assert rep.drawdown == pytest.approx(1 - wealth.iloc[-1] / wealth.max())
    assert 0 <= rep.drawdown <= rep.max_drawdown < 0.5
    assert rep.drivers.iloc[0]["feature"] == "asset:vol_forecast"  # largest |SHAP| first
    page = rep.path.read_text()
    for text in ("Weights by asset class", "Published regime", "Drawdown", "vol_forecast"):
        assert text in page
    assert rep.trades_summary is not None and "turnover" in page


def test_no_weights_that_day_is_an_error(warehouse: Warehouse, md: MarketData) -> None:
    with warehouse.connect() as con, pytest.raises(DataError, match="2022-12-24"):
        daily_report_from_warehouse(con, md, "2022-12-24", warehouse.root / "d")
    assert not (warehouse.root / "d").exists()


def test_helpers() -> None:
    d = pd.bdate_range("2022-12-01", "2022-12-30")
    assert last_rebalance(d, d, pd.Timestamp("2022-12-30"), "weekly") == pd.Timestamp("2022-12-23")
    assert last_rebalance(d[:1], d, pd.Timestamp("2022-12-05"), "weekly") is None  # 2nd unpublished
    assert top_drivers(None).empty
