"""Baselines: ERC and HRP equal skfolio on the same window; eligibility; the LSTM baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from riskalloc.backtest.baselines import (
    EqualRiskContribution,
    HierarchicalRiskParity,
    erc_weights,
    make_baseline,
)
from riskalloc.backtest.dl_baseline import DeepSharpeLSTM
from riskalloc.backtest.strategy import eligible_window

torch.set_num_threads(1)
DATE = pd.Timestamp("2016-12-30")


def _window(md, date=DATE) -> pd.DataFrame:
    return eligible_window(md.returns().drop(columns=[md.cash]), date, 252)


def test_erc_matches_skfolio_risk_budgeting(sample_md) -> None:
    from skfolio.optimization import RiskBudgeting

    win = _window(sample_md)
    ours = EqualRiskContribution().weights(sample_md.until(DATE), [DATE]).loc[DATE, win.columns]
    tight = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "max_iter": 500}
    ref = RiskBudgeting(solver_params=tight).fit(win.to_numpy() * 100).weights_
    np.testing.assert_allclose(ours.to_numpy(), ref, atol=1e-6, rtol=0)


def test_erc_solver_meets_budgets() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(8, 8))
    cov = a @ a.T + 0.1 * np.eye(8)
    b = np.arange(1, 9, dtype=float)
    w = erc_weights(cov, b)
    rc = w * (cov @ w)
    np.testing.assert_allclose(rc / rc.sum(), b / b.sum(), atol=1e-12)
    assert w.min() > 0 and w.sum() == pytest.approx(1.0)


def test_hrp_matches_skfolio(sample_md) -> None:
    from skfolio.optimization import HierarchicalRiskParity as SkHRP

    win = _window(sample_md)
    ours = HierarchicalRiskParity().weights(sample_md.until(DATE), [DATE]).loc[DATE, win.columns]
    ref = SkHRP().fit(win.to_numpy()).weights_
    np.testing.assert_allclose(ours.to_numpy(), ref, atol=1e-9, rtol=0)


@pytest.mark.parametrize("name", ["equal_weight", "inverse_vol", "erc", "min_variance", "hrp"])
def test_baselines_only_hold_assets_with_a_full_year(sample_md, name) -> None:
    d = pd.Timestamp("2008-12-31")  # ACWI listed 2008-03-28: < 252 returns by then
    w = make_baseline(name).weights(sample_md.until(d), [d]).loc[d]
    assert w["ACWI"] == 0.0 and w["BIL"] == 0.0  # too short; cash ETF excluded by default
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    assert (w > 0).sum() >= (2 if name == "min_variance" else 30)


def test_inverse_vol_is_one_over_sigma(sample_md) -> None:
    md = sample_md.select(["SPY", "TLT", "GLD"])
    w = make_baseline("inverse_vol").weights(md, [DATE]).loc[DATE]
    inv = 1 / md.returns().loc[:DATE].tail(252).std()
    np.testing.assert_allclose(w.to_numpy(), (inv / inv.sum()).to_numpy(), rtol=1e-9)


def test_cvar_variants_differ_from_variance(sample_md) -> None:
    md = sample_md.select(["SPY", "TLT", "GLD", "HYG", "VNQ"])
    v = make_baseline("min_variance", "variance").weights(md, [DATE]).loc[DATE]
    c = make_baseline("min_variance", "cvar").weights(md, [DATE]).loc[DATE]
    assert c.sum() == pytest.approx(1.0) and np.abs(v - c).sum() > 1e-3


def test_dl_lstm_is_deterministic_long_only_and_skips_unpriced(sample_md) -> None:
    md = sample_md.select(["SPY", "TLT", "GLD", "ACWI"])
    train, dates = md.until("2008-06-30"), pd.DatetimeIndex(["2008-07-31", "2008-08-29"])

    def run() -> pd.DataFrame:
        s = DeepSharpeLSTM(seed=7, hidden=8, epochs=3, train_days=300)
        s.fit(train)
        assert s.assets == ["SPY", "TLT", "GLD"]  # ACWI has no price over the training span
        return s.weights(md.until(dates[-1]), dates)

    a, b = run(), run()
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    assert (a >= 0).all().all() and (a["ACWI"] == 0).all()


def test_solver_failure_falls_back_to_inverse_vol_and_is_recorded(sample_md) -> None:
    class Broken(HierarchicalRiskParity):
        def estimator(self):
            raise RuntimeError("solver failed")

    md = sample_md.select(["SPY", "TLT", "GLD"])
    s = Broken()
    w = s.weights(md, [DATE]).loc[DATE]
    inv = 1 / md.returns().loc[:DATE].tail(252).std()
    np.testing.assert_allclose(w.to_numpy(), (inv / inv.sum()).to_numpy(), rtol=1e-9)
    assert s.fallback_dates == [DATE]
