"""``riskalloc backtest`` on small user files: outputs written, bad input gives exit code 2."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from riskalloc.backtest.cli import run_backtest_cli

TICKERS = ["SPY", "TLT", "GLD", "BIL"]


@pytest.fixture
def files(sample_md, tmp_path: Path) -> tuple[Path, Path]:
    px = sample_md.prices.loc["2015-01-01":"2017-12-31", TICKERS]
    prices = tmp_path / "prices.csv"
    px.rename_axis("date").reset_index().to_csv(prices, index=False)
    m = sample_md.macro
    m = m.loc[
        m["series_id"].isin(["DTB3", "VIXCLS"])
        & (m["date"] >= "2015-01-01")
        & (m["date"] <= "2017-12-31")
    ]
    wide = m.pivot(index="date", columns="series_id", values="value")
    macro = tmp_path / "macro.csv"
    wide.rename_axis("date").reset_index().to_csv(macro, index=False, na_rep=".")
    return prices, macro


def _argv(files, out: Path, *extra: str) -> list[str]:
    prices, macro = files
    return [
        "--prices",
        str(prices),
        "--macro",
        str(macro),
        "--start",
        "2016-01-01",
        "--end",
        "2017-12-31",
        "--out",
        str(out),
        *extra,
    ]


def test_cli_writes_metrics_reports_and_warehouse(files, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code = run_backtest_cli(
        _argv(
            files,
            out,
            "--cash",
            "BIL",
            "--strategies",
            "equal_weight,erc",
            "hrp",
            "--cost-bps",
            "5",
        )
    )
    assert code == 0, capsys.readouterr().err
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics["strategy"]) == {"equal_weight", "erc", "hrp"}
    assert {"2016-2017", "2016", "2017"} <= set(metrics["period"])
    head = metrics.loc[metrics["period"] == "2016-2017"].set_index("strategy")
    assert (head["cost_bps"] == 5).all() and head["n_days"].eq(503).all()
    assert head["ann_vol"].between(0.005, 0.3).all()
    weights = pd.read_csv(out / "weights.csv")
    assert "BIL" not in set(weights["ticker"])  # cash ETF is modelled by the risk-free rate
    assert weights.groupby(["strategy", "date"])["weight"].sum().round(9).eq(1).all()
    returns = pd.read_csv(out / "returns.csv")
    assert len(returns) == 3 * 503
    for f in ("equity_curve.png", "drawdown.png", "metrics.md", "metrics.html"):
        assert (out / "report" / f).stat().st_size > 0
    with duckdb.connect(str(out / "backtest.duckdb"), read_only=True) as con:
        n = con.execute("SELECT count(*) FROM backtest_metrics").fetchone()[0]
    assert n == len(metrics)
    assert "erc" in capsys.readouterr().out


def test_cli_via_riskalloc_main_namespace(files, tmp_path) -> None:
    from riskalloc.cli import build_parser

    out = tmp_path / "ns"
    ns = build_parser().parse_args(["backtest", *_argv(files, out, "--rebalance", "weekly")])
    ns.strategies = ["inverse_vol"]
    assert run_backtest_cli(ns) == 0
    assert pd.read_csv(out / "metrics.csv")["rebalance"].eq("weekly").all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rf", "NOPE"], "NOPE"),
        (["--cash", "XYZ"], "XYZ"),
        (["--strategies", "magic"], "magic"),
        (["--n-jobs", "0"], "n_jobs=0"),
    ],
)
def test_cli_bad_input_exits_2(files, tmp_path, capsys, extra, message) -> None:
    assert run_backtest_cli(_argv(files, tmp_path / "bad", *extra)) == 2
    assert message in capsys.readouterr().err


def test_cli_missing_file_and_bad_dates(files, tmp_path, capsys) -> None:
    argv = _argv(files, tmp_path / "o")
    argv[1] = str(tmp_path / "missing.csv")
    assert run_backtest_cli(argv) == 2
    assert "missing.csv" in capsys.readouterr().err
    argv = _argv(files, tmp_path / "o")
    argv[5], argv[7] = "2017-12-31", "2016-01-01"
    assert run_backtest_cli(argv) == 2
    assert "before --end" in capsys.readouterr().err
    assert run_backtest_cli(["--prices", "x.csv"]) == 2  # argparse usage error


def test_cli_uses_the_bundled_cash_ticker_and_reports_significance(files, tmp_path, capsys):
    """Without --cash, BIL (the bundled universe's cash) is cash, never a risky asset."""
    out = tmp_path / "out"
    code = run_backtest_cli(_argv(files, out, "--strategies", "erc,riskalloc"))
    assert code == 0, capsys.readouterr().err
    weights = pd.read_csv(out / "weights.csv")
    assert "BIL" not in set(weights["ticker"])
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["rebalance"].eq("weekly").all()  # the shared runner's default
    head = metrics.loc[metrics["period"] == "2016-2017"].set_index("strategy")
    assert head.loc["erc", "ann_vol"] > 0.02  # with BIL as a risky asset ERC's vol was ~1 %
    p = head.loc["riskalloc", "p_sharpe_vs_erc"]
    assert 0.0 <= p <= 1.0
    assert pd.isna(head.loc["erc", "p_sharpe_vs_erc"])
    assert 0.0 <= head.loc["riskalloc", "deflated_sharpe"] <= 1.0


def test_cli_cash_none_makes_every_column_risky(files, tmp_path, capsys):
    out = tmp_path / "out"
    code = run_backtest_cli(_argv(files, out, "--cash", "none", "--strategies", "erc"))
    assert code == 0, capsys.readouterr().err
    assert "BIL" in set(pd.read_csv(out / "weights.csv")["ticker"])


def test_cli_asset_and_runner_share_their_defaults():
    """One evaluation runner: the CLI's defaults are the backtest asset's."""
    from pipelines.config import BacktestConfig
    from riskalloc.backtest.cli import build_parser
    from riskalloc.backtest.headline import DEFAULT_COST_BPS, DEFAULT_REBALANCE, DEFAULT_RETRAIN

    args = build_parser().parse_args(
        [
            "--prices",
            "p",
            "--macro",
            "m",
            "--start",
            "2017-01-01",
            "--end",
            "2018-01-01",
            "--out",
            "o",
        ]
    )
    asset = BacktestConfig()
    assert (args.rebalance, args.cost_bps, args.retrain) == (
        DEFAULT_REBALANCE,
        DEFAULT_COST_BPS,
        DEFAULT_RETRAIN,
    )
    assert (asset.rebalance, asset.cost_bps) == (DEFAULT_REBALANCE, DEFAULT_COST_BPS)


def test_cli_warns_when_no_cash_is_known(files, tmp_path, capsys, caplog):
    """Tickers outside the bundled universe and no --cash: a loud warning, every column risky."""
    prices, macro = files
    px = pd.read_csv(prices).rename(columns={"SPY": "MYFUND", "BIL": "MYBILL"})
    renamed = tmp_path / "mine.csv"
    px.to_csv(renamed, index=False)
    with caplog.at_level("WARNING"):
        code = run_backtest_cli(_argv((renamed, macro), tmp_path / "o", "--strategies", "erc"))
    assert code == 0, capsys.readouterr().err
    assert "no cash ticker given" in caplog.text and "MYFUND" in caplog.text


def test_cli_runs_a_forecast_vol_design_on_the_production_forecasters_vols(
    sample_md, tmp_path, capsys
) -> None:
    """--design with vol_source="forecast": the CLI computes the walk-forward forecasts the
    design reads; without them the shared runner refuses the design up front."""
    import json

    from riskalloc.allocate.design import AllocatorDesign
    from riskalloc.backtest.headline import designed_factories
    from riskalloc.errors import ConfigError

    design = AllocatorDesign(vol_source="forecast")
    with pytest.raises(ConfigError, match="vol_source='forecast'"):
        designed_factories(sample_md, {"riskalloc": design})
    px = sample_md.prices.loc["2011-01-01":"2017-12-31", TICKERS]
    prices = tmp_path / "prices.csv"
    px.rename_axis("date").reset_index().to_csv(prices, index=False)
    m = sample_md.macro
    m = m.loc[m["series_id"].isin(["DTB3", "VIXCLS"]) & (m["date"] >= "2011-01-01")]
    wide = m.pivot(index="date", columns="series_id", values="value").loc[:"2017-12-31"]
    macro = tmp_path / "macro.csv"
    wide.rename_axis("date").reset_index().to_csv(macro, index=False, na_rep=".")
    path = tmp_path / "design.json"
    path.write_text(json.dumps({"design": design.to_dict()}))
    out = tmp_path / "out"
    argv = _argv((prices, macro), out, "--design", str(path), "--strategies", "riskalloc,erc")
    code = run_backtest_cli([*argv, "--rebalance", "monthly"])
    assert code == 0, capsys.readouterr().err
    metrics = pd.read_csv(out / "metrics.csv").set_index(["strategy", "period"])
    ours, erc = metrics.loc[("riskalloc", "2016-2017")], metrics.loc[("erc", "2016-2017")]
    assert ours["n_days"] == erc["n_days"] == 503
    assert abs(ours["sharpe"] - erc["sharpe"]) > 1e-6  # other vols, other weights
