"""Baselines against known values: EWMA recursion, HAR on synthetic data, GARCH vs arch."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from arch import arch_model

from riskalloc.forecast.baselines import (
    ewma_forecast,
    garch_fit,
    garch_forecast,
    har_design,
    har_fit,
    har_predict,
)


def test_ewma_forecast_hand_computed() -> None:
    r = pd.DataFrame({"a": [np.nan, 0.02, 0.0, -0.01]})
    s2_1 = 0.02**2
    s2_2 = 0.94 * s2_1
    s2_3 = 0.94 * s2_2 + 0.06 * 0.01**2
    got = ewma_forecast(r)["a"].to_numpy()
    np.testing.assert_allclose(got[1:], np.sqrt(252 * np.array([s2_1, s2_2, s2_3])))


def test_har_recovers_known_coefficients() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(-2.0, 0.5, size=(5000, 3))
    true = np.array([0.1, 0.3, 0.4, 0.2])
    y = true[0] + x @ true[1:] + rng.normal(0, 0.05, size=5000)
    coef = har_fit(x, y)
    np.testing.assert_allclose(coef, true, atol=0.01)
    np.testing.assert_allclose(har_predict(coef, x[:3]), coef[0] + x[:3] @ coef[1:])


def test_har_design_is_log_trailing_vol() -> None:
    r = pd.DataFrame({"a": np.linspace(-0.02, 0.02, 30)})
    d = har_design(r)
    assert np.isnan(d["rv_21"]["a"].iloc[19]) and np.isfinite(d["rv_21"]["a"].iloc[20])
    expected = np.log(np.sqrt(252 * (r["a"].iloc[25:30] ** 2).mean()))
    assert d["rv_5"]["a"].iloc[29] == pytest.approx(expected)


def test_garch_matches_arch_own_forecast() -> None:
    rng = np.random.default_rng(3)
    n = 1500
    # simulate a GARCH(1,1) path (percent scale) so the fit is well posed
    omega, alpha, beta = 0.02, 0.08, 0.9
    s2, eps = np.empty(n), np.empty(n)
    s2[0] = omega / (1 - alpha - beta)
    for t in range(n):
        if t:
            s2[t] = omega + alpha * eps[t - 1] ** 2 + beta * s2[t - 1]
        eps[t] = np.sqrt(s2[t]) * rng.standard_normal()
    idx = pd.bdate_range("2010-01-01", periods=n)
    ret = pd.Series(eps / 100.0, index=idx)
    train_end = idx[999]
    params = garch_fit(ret.loc[:train_end])
    assert params["beta[1]"] == pytest.approx(beta, abs=0.1)
    # arch's own forecast from a model fitted on the whole series with the same params
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = arch_model(100 * ret, mean="Zero", vol="GARCH", p=1, q=1, rescale=False)
        fc = ref.fix(params).forecast(horizon=21, start=idx[1000], reindex=False)
    expected = np.sqrt(252 * fc.variance.mean(axis=1)) / 100
    got = garch_forecast(ret, params, idx[1000], 21)
    pd.testing.assert_series_equal(got, expected, check_names=False)
    # forecasts at t do not depend on returns after t
    short = garch_forecast(ret.loc[: idx[1100]], params, idx[1000], 21)
    np.testing.assert_allclose(short.to_numpy(), got.loc[: idx[1100]].to_numpy())
    # and the one-step recursion by hand: s2_{t+1} = omega + alpha r_t^2 + beta s2_t
    one = garch_forecast(ret, params, idx[1000], 1)
    cv = ref.fix(params).conditional_volatility
    w, a, b = params["omega"], params["alpha[1]"], params["beta[1]"]
    s2_next = w + a * (100 * ret.iloc[1000]) ** 2 + b * cv.iloc[1000] ** 2
    assert one.iloc[0] == pytest.approx(np.sqrt(252 * s2_next) / 100, rel=1e-10)
