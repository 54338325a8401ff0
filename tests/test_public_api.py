"""The public library API: the README's example runs as written, and the estimator keeps the
scikit-learn / skfolio conventions and the production allocator's numbers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

import riskalloc
from riskalloc import datasets
from riskalloc.allocate.design import AllocatorDesign, load_design
from riskalloc.allocate.designed import DesignedStrategy
from riskalloc.errors import ConfigError, DataError
from riskalloc.market import MarketData

README = Path(__file__).resolve().parents[1] / "README.md"
TICKERS = ["SPY", "EFA", "TLT", "IEF", "GLD", "LQD"]


def readme_example() -> str:
    """The first Python block of the README's "Use it as a library" section."""
    text = README.read_text()
    section = text.split("## Use it as a library", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's library section has no python example"
    return blocks[0]


@pytest.fixture(scope="module")
def returns() -> pd.DataFrame:
    """Daily returns of six bundled ETFs with full history, 2014-2018."""
    px = datasets.load_etf_prices(TICKERS, start="2014-01-01", end="2018-12-31")
    return px.pct_change().iloc[1:]


def test_readme_example_runs_and_its_numbers_hold(capsys: pytest.CaptureFixture[str]) -> None:
    ns: dict = {}
    exec(compile(readme_example(), str(README), "exec"), ns)
    model, w, cov = ns["model"], ns["w"], ns["cov"]
    assert model.weights_.sum() == pytest.approx(model.exposure_)
    assert 0.0 <= model.exposure_ <= 1.0 + 1e-12
    assert np.allclose(model.risk_budgets_, 1.0 / len(model.risk_budgets_))
    assert model.regime_probabilities_ is None
    rc = w * (cov @ w)
    assert np.allclose(rc / rc.sum(), 1 / 6, atol=1e-12)
    assert np.allclose(
        [a.weights for a in ns["ours"]], [b.weights for b in ns["theirs"]], atol=1e-4
    )
    vol = ns["vol"]
    assert vol.shape == ns["X"].shape and (vol.dropna() > 0).all().all()
    metrics = ns["result"].grid.metrics
    assert {"riskalloc", "erc", "equal_weight"} <= set(metrics["strategy"])
    assert "riskalloc" in capsys.readouterr().out


def test_import_riskalloc_is_light() -> None:
    code = "import sys, riskalloc; print('torch' in sys.modules, 'skfolio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    for name in riskalloc.__all__:
        assert getattr(riskalloc, name) is not None


def test_datasets_are_wide_pandas_with_a_datetime_index() -> None:
    px = datasets.load_etf_prices(start="2020-01-01")
    macro = datasets.load_fred_macro(["VIXCLS", "DTB3"], end="2000-12-31")
    uni = datasets.load_universe()
    assert isinstance(px.index, pd.DatetimeIndex) and px.index.is_monotonic_increasing
    assert px.shape[1] == 35 and (px.dropna() > 0).all().all()
    assert list(macro.columns) == ["VIXCLS", "DTB3"] and macro.index[-1] <= pd.Timestamp(
        "2000-12-31"
    )
    assert list(uni.index) == list(px.columns)
    assert uni.loc["BIL", "role"] == "cash" and uni.loc["TLT", "asset_class"] == "bond"
    with pytest.raises(DataError, match="NOPE"):
        datasets.load_etf_prices(["SPY", "NOPE"])


def test_params_round_trip_clone_and_defaults_are_the_committed_design() -> None:
    est = riskalloc.AdaptiveRiskBudgeting()
    assert est.design() == load_design()
    params = est.get_params()
    assert set(AllocatorDesign().to_dict()) <= set(params) and params["random_state"] == 0
    other = clone(est.set_params(rebalance_speed=1.0, vol_source="sample", corr_window=252))
    assert other.get_params() == est.get_params()
    assert other.design().key == "equal-sample"
    with pytest.raises(ConfigError, match="vol_source"):
        riskalloc.AdaptiveRiskBudgeting(vol_source="garch").fit(pd.DataFrame())


def test_estimator_gives_the_backtest_strategys_weights(returns: pd.DataFrame) -> None:
    """Prices in, the production design: the same weights as DesignedStrategy on MarketData."""
    day = pd.Timestamp("2017-06-30")
    md = MarketData.sample().select(TICKERS).until(day)
    strat = DesignedStrategy(design=load_design())
    strat.fit(md)
    want = strat.weights(md, pd.DatetimeIndex([day])).iloc[0]
    px = datasets.load_etf_prices(TICKERS, end=str(day.date()))
    est = riskalloc.AdaptiveRiskBudgeting(prices=True).fit(px)
    assert np.allclose(est.weights_.reindex(want.index).to_numpy(), want.to_numpy(), atol=1e-12)
    # returns in gives the same weights on the same window
    on_returns = riskalloc.AdaptiveRiskBudgeting().fit(px.pct_change().iloc[1:])
    assert np.allclose(on_returns.weights_, est.weights_, atol=1e-10)


def test_forecast_vols_and_leverage_through_the_estimator(returns: pd.DataFrame) -> None:
    """vol_source="forecast" reads the forecasts given to fit (only up to X's last date) and
    refuses to run without them; a levered vol target stays under its cap."""
    window = returns.loc[:"2016-12-30"]
    vols = window.rolling(63).std().mul(np.sqrt(252)).dropna()
    later = pd.DataFrame(9.9, index=[pd.Timestamp("2017-01-03")], columns=vols.columns)
    est = riskalloc.AdaptiveRiskBudgeting(vol_source="forecast")
    a = est.fit(window, vol_forecast=vols).weights_
    b = riskalloc.AdaptiveRiskBudgeting(vol_source="forecast").fit(
        window, vol_forecast=pd.concat([vols, later])
    )
    assert np.allclose(a, b.weights_, atol=1e-12)
    sample = riskalloc.AdaptiveRiskBudgeting().fit(window).weights_
    assert not np.allclose(a, sample, atol=1e-4)
    with pytest.raises(ConfigError, match="needs vol_forecast"):
        riskalloc.AdaptiveRiskBudgeting(vol_source="forecast").fit(window)
    lev = riskalloc.AdaptiveRiskBudgeting(vol_target=1.0, max_exposure=2.0).fit(window)
    assert 0 < lev.exposure_ <= 2.0


def test_walk_forward_matches_skfolio_risk_budgeting(returns: pd.DataFrame) -> None:
    """Equal budgets, sample vols, κ = 1 and a 252-day fit window: skfolio's problem exactly."""
    from skfolio.model_selection import WalkForward, cross_val_predict
    from skfolio.optimization import RiskBudgeting

    cv = WalkForward(train_size=252, test_size=63)
    est = riskalloc.AdaptiveRiskBudgeting(vol_source="sample", corr_window=252, rebalance_speed=1.0)
    ours = cross_val_predict(est, returns, cv=cv)
    ref = cross_val_predict(RiskBudgeting(), 100 * returns, cv=cv)
    assert len(ours) == len(ref) > 10
    gap = max(np.abs(a.weights - b.weights).max() for a, b in zip(ours, ref, strict=True))
    assert gap < 1e-5
    assert ours.returns.shape == ref.returns.shape


def test_risk_budgeting_weights_numpy_and_differentiable_torch(returns: pd.DataFrame) -> None:
    cov = returns.loc["2016"].cov().to_numpy()
    b = np.array([0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
    w = riskalloc.risk_budgeting_weights(cov, b)
    rc = w * (cov @ w)
    assert isinstance(w, np.ndarray) and np.allclose(rc / rc.sum(), b, atol=1e-12)
    c = torch.tensor(cov, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    wt = riskalloc.risk_budgeting_weights(c, bt)
    assert torch.allclose(wt.detach(), torch.from_numpy(w), atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda s, bb: riskalloc.risk_budgeting_weights(0.5 * (s + s.T), bb / bb.sum()),
        (c * 1e4, bt),
    )


def test_vol_forecaster_fits_on_the_past_and_never_looks_ahead(returns: pd.DataFrame) -> None:
    for model in ("ewma", "garch", "har"):
        f = riskalloc.VolForecaster(model).fit(returns.loc[:"2016"])
        full = f.predict(returns)
        cut = f.predict(returns.loc[:"2017-06-30"])
        assert np.allclose(full.loc[:"2017-06-30"], cut, equal_nan=True)
        last = full.iloc[-1]
        assert ((last > 0.01) & (last < 1.0)).all(), (model, last)
    with pytest.raises(ConfigError):
        riskalloc.VolForecaster("lstm")


def test_every_subpackage_declares_all_and_its_names_exist() -> None:
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(riskalloc.__path__):
        if not info.ispkg:
            continue
        mod = importlib.import_module(f"riskalloc.{info.name}")
        assert hasattr(mod, "__all__"), f"riskalloc.{info.name} has no __all__"
        for name in mod.__all__:
            assert getattr(mod, name) is not None, f"riskalloc.{info.name}.{name}"


def test_backtest_is_the_headline_runner_of_the_cli_and_the_asset() -> None:
    from riskalloc.backtest.headline import run_headline

    kw = {"start": "2019-01-01", "end": "2019-06-28", "baselines": ["erc"], "ablations": False}
    got = riskalloc.backtest(**kw)
    want = run_headline(MarketData.sample(), None, **kw)
    pd.testing.assert_frame_equal(got.grid.metrics, want.grid.metrics)
    assert set(got.grid.metrics["strategy"]) == {"riskalloc", "erc"}


def test_learned_tilt_reads_macro_and_reports_its_regimes() -> None:
    """With macro indicators the learned-tilt design trains its network (tilt mode, with the
    regime module) and reports the regime mix of the last date."""
    px = datasets.load_etf_prices(["SPY", "TLT", "GLD", "LQD", "BIL"], "2006-01-01", "2012-12-31")
    macro = datasets.load_fred_macro(end="2012-12-31")
    est = riskalloc.AdaptiveRiskBudgeting(
        budgets="learned_tilt", rebalance_speed=1.0, prices=True, random_state=3
    ).fit(px, macro=macro)
    probs = est.regime_probabilities_
    assert probs is not None and probs.sum() == pytest.approx(1.0) and (probs > 0).all()
    b = est.risk_budgets_
    assert b.sum() == pytest.approx(1.0) and b.std() > 1e-3  # a tilt away from 1/n
    assert est.weights_["BIL"] == 0.0 and (est.weights_ >= 0).all()
    assert est.weights_.sum() == pytest.approx(1.0)


def test_too_short_a_history_for_the_partial_rebalance_warns(returns: pd.DataFrame) -> None:
    """κ = 0.5 averages ~7 weekly targets; with one year of data the older ones are cash."""
    short = returns.iloc[-260:]
    with pytest.warns(UserWarning, match="count as cash"):
        est = riskalloc.AdaptiveRiskBudgeting(corr_window=252, rebalance_speed=0.5).fit(short)
    assert 0.0 < est.exposure_ < 0.9
    full = riskalloc.AdaptiveRiskBudgeting(rebalance_speed=0.5).fit(returns)
    assert full.exposure_ == pytest.approx(1.0)
