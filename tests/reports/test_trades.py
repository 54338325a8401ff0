"""Trade list: holdings → orders at the day's close, backtest cost model, bands, errors, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskalloc.cli import main
from riskalloc.errors import DataError, SchemaError
from riskalloc.reports.trades import (
    CASH,
    CSV_COLUMNS,
    Holdings,
    TradeSettings,
    build_trade_list,
    load_holdings,
    run_trade_list,
)
from riskalloc.sources.sample import SampleSource
from riskalloc.warehouse.catalog import table_exists
from riskalloc.warehouse.reads import read_table
from riskalloc.warehouse.store import Warehouse, upsert

TICKERS = ["SPY", "TLT", "GLD", "LQD"]
DAYS = ["2022-12-29", "2022-12-30"]


def _inverse_vol_target(prices: pd.DataFrame, day: str, exposure: float = 0.9) -> pd.DataFrame:
    """Real inverse-vol weights (63 days to ``day``) scaled to ``exposure``: a published day."""
    wide = prices.pivot(index="date", columns="ticker", values="adj_close").loc[:day]
    vol = wide.pct_change().tail(63).std()
    w = (1 / vol) / (1 / vol).sum() * exposure
    return pd.DataFrame(
        {
            "date": pd.Timestamp(day),
            "ticker": w.index,
            "weight": w.to_numpy(),
            "risk_budget": 1 / len(w),
            "risk_contribution": 1 / len(w),
            "exposure": exposure,
            "regime": "calm",
            "model_version": "test",
        }
    )


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return SampleSource().fetch_prices(TICKERS, "2022-09-01", "2022-12-30")


@pytest.fixture()
def warehouse(tmp_path: Path, prices: pd.DataFrame) -> Warehouse:
    wh = Warehouse(tmp_path / "wh")
    with wh.connect() as con:
        upsert(wh, con, "prices", prices)
        target = pd.concat([_inverse_vol_target(prices, d) for d in DAYS], ignore_index=True)
        upsert(wh, con, "target_weights", target)
    return wh


def _closes(prices: pd.DataFrame, day: str) -> pd.Series:
    p = prices.loc[prices["date"] == pd.Timestamp(day)]
    return pd.Series(p["adj_close"].to_numpy(), index=p["ticker"])


def test_share_holdings_trade_to_the_target_with_the_backtest_cost(prices) -> None:
    day = DAYS[-1]
    px, target = _closes(prices, day), _inverse_vol_target(prices, day)
    held = Holdings("shares", pd.Series({"SPY": 300.0, "TLT": 100.0, CASH: 5_000.0}))
    tl = build_trade_list(held, target, px)
    value = 300 * px["SPY"] + 100 * px["TLT"] + 5_000
    assert tl.nav == pytest.approx(value)  # nav defaults to the holdings' value
    rows = tl.rows.set_index("ticker")
    assert list(tl.rows["ticker"]) == [*target["ticker"], CASH]  # one row per target ticker
    assert rows.loc["SPY", "current_weight"] == pytest.approx(300 * px["SPY"] / value)
    assert rows.loc[CASH, "current_weight"] == pytest.approx(5_000 / value)
    assert rows.loc[CASH, "target_weight"] == pytest.approx(0.1)
    assert float(rows["current_weight"].sum()) == pytest.approx(1.0)
    # whole shares; after the orders every weight is within one share of its target
    assert (rows["order_shares"].drop(CASH) % 1 == 0).all()
    after = (rows["current_shares"] + rows["order_shares"]).drop(CASH) * px.reindex(
        rows.index.drop(CASH)
    )
    assert np.all(np.abs(after / value - rows["target_weight"].drop(CASH)) <= px.max() / value)
    # the cash leg balances the orders; cost = cost_bps / 1e4 × L1 turnover incl. cash
    assert rows["order_notional"].sum() == pytest.approx(0.0, abs=1e-6)
    assert tl.total_cost == pytest.approx(10 / 1e4 * tl.turnover * tl.nav)
    ideal = (rows["target_weight"] - rows["current_weight"]).abs().sum()
    assert tl.turnover == pytest.approx(ideal, abs=2 * len(rows) * px.max() / value)
    assert "turnover" in tl.summary() and "estimated cost" in tl.summary()


def test_weight_holdings_need_a_nav_and_leave_the_rest_in_cash(prices) -> None:
    day = DAYS[-1]
    px, target = _closes(prices, day), _inverse_vol_target(prices, day)
    held = Holdings("weight", pd.Series({"SPY": 0.5, "GLD": 0.3}))
    with pytest.raises(DataError, match="need a NAV"):
        build_trade_list(held, target, px)
    tl = build_trade_list(held, target, px, nav=1_000_000)
    rows = tl.rows.set_index("ticker")
    assert rows.loc[CASH, "current_weight"] == pytest.approx(0.2)
    assert rows.loc["SPY", "order_notional"] == pytest.approx(
        round((rows.loc["SPY", "target_weight"] - 0.5) * 1e6 / px["SPY"]) * px["SPY"]
    )
    with pytest.raises(DataError, match=r"sum to 1\.1"):
        build_trade_list(Holdings("weight", pd.Series({"SPY": 0.6, "TLT": 0.5})), target, px, 1e6)


def test_band_and_minimum_trade_suppress_small_orders(prices) -> None:
    day = DAYS[-1]
    px, target = _closes(prices, day), _inverse_vol_target(prices, day)
    tw = target.set_index("ticker")["weight"]
    nav = 1_000_000.0
    near = tw + np.array([0.002, -0.002, 0.03, -0.03])  # two small and two large deviations
    held = Holdings("weight", pd.concat([near, pd.Series({CASH: 1 - near.sum()})]))
    free = build_trade_list(held, target, px, nav).rows.set_index("ticker")
    assert free.drop(CASH)["traded"].all()
    banded = build_trade_list(held, target, px, nav, TradeSettings(band=0.005)).rows
    traded = set(banded.loc[banded["traded"], "ticker"]) - {CASH}
    assert traded == set(tw.index[2:])
    big = build_trade_list(held, target, px, nav, TradeSettings(min_trade=10_000)).rows
    assert set(big.loc[big["traded"], "ticker"]) - {CASH} == set(tw.index[2:])
    with pytest.raises(DataError, match="band"):
        TradeSettings(band=-0.1)


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("ticker,shares\nSPY,10\nXYZ,5\n", DataError, r"outside the universe: \['XYZ'\]"),
        ("ticker,shares\nSPY,-10\n", DataError, "negative"),
        ("ticker,shares\nSPY,\nTLT,3\n", DataError, "SPY .line 2. is missing"),
        ("ticker,shares\nSPY,ten\n", DataError, "not a number"),
        ("ticker,qty\nSPY,10\n", SchemaError, "ticker,shares or ticker,weight"),
        ("ticker,shares\nSPY,1\nspy,2\n", DataError, "appears twice"),
    ],
)
def test_bad_holdings_are_refused_and_nothing_is_written(
    warehouse: Warehouse, tmp_path: Path, text: str, error: type, match: str
) -> None:
    f = tmp_path / "holdings.csv"
    f.write_text(text)
    out = tmp_path / "orders.csv"
    with pytest.raises(error, match=match):
        run_trade_list(warehouse, f, DAYS[-1], out=out)
    assert not out.exists()
    with warehouse.connect(read_only=True) as con:
        assert not table_exists(con, "trade_lists")


def test_a_date_without_published_weights_is_an_error(warehouse: Warehouse, tmp_path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("ticker,shares\nSPY,10\n")
    with pytest.raises(DataError, match="no target weights were published on 2022-12-28"):
        run_trade_list(warehouse, f, "2022-12-28", out=tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()


def test_cli_writes_the_csv_and_the_table(
    warehouse: Warehouse, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    f = tmp_path / "holdings.csv"
    f.write_text("ticker,shares\nSPY,300\nTLT,100\nCASH,5000\n")
    out = tmp_path / "orders.csv"
    db = str(warehouse.db_path)
    rc = main(["--db", db, "trades", "--holdings", str(f), "--out", str(out), "--band", "0.001"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "2022-12-30" in printed and "turnover" in printed and str(out) in printed
    csv = pd.read_csv(out)
    assert list(csv.columns[:6]) == CSV_COLUMNS[:6]
    assert list(csv["ticker"]) == [*sorted(TICKERS), CASH]
    with warehouse.connect(read_only=True) as con:
        stored = read_table(con, "trade_lists")
    assert len(stored) == len(csv) and (stored["date"] == pd.Timestamp(DAYS[-1])).all()
    # bad input: exit 2, one clear line, nothing written
    rc = main(["--db", db, "trades", "--holdings", str(f), "--date", "2022-12-28", "--out", "x"])
    assert rc == 2 and "no target weights were published" in capsys.readouterr().err
    assert not Path("x").exists()
    with pytest.raises(SystemExit) as exc:  # argparse refuses a negative NAV: exit 2
        main(["--db", db, "trades", "--holdings", str(f), "--nav", "-5"])
    assert exc.value.code == 2


def test_load_holdings_normalises_tickers(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("Ticker,Weight\n spy ,0.4\ncash,0.6\n")
    h = load_holdings(f)
    assert h.kind == "weight" and h.quantities.to_dict() == {"SPY": 0.4, CASH: 0.6}
