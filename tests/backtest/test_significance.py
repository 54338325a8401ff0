"""Ledoit-Wolf Sharpe-difference test and the deflated Sharpe ratio."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskalloc.backtest.significance import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    sharpe_difference_test,
)
from riskalloc.errors import DataError


def _iid(seed: int, n: int = 1500, mu: float = 3e-4) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(mu, 0.01, n))


def test_standard_error_matches_theory_for_independent_normal_series():
    """For independent iid normal series SE(ΔSR) ≈ sqrt(2 (1 + SR²/2) / T) (annualised)."""
    out = sharpe_difference_test(_iid(0), _iid(1), lags=0)
    theory = np.sqrt(2 * (1 + (3e-4 / 0.01) ** 2 / 2) / 1500) * np.sqrt(252)
    assert out["se"] == pytest.approx(theory, rel=0.1)


def test_identical_series_have_no_difference():
    a = _iid(2)
    out = sharpe_difference_test(a, a)
    assert out["diff"] == pytest.approx(0.0, abs=1e-12)


def test_a_truly_better_strategy_is_detected_on_real_returns(sample_md):
    """SPY against SPY minus 15 % a year of drag: the same risk, clearly lower Sharpe."""
    r = sample_md.returns()["SPY"].loc["2010":"2016"].dropna()
    out = sharpe_difference_test(r, r - 0.15 / 252)
    assert out["diff"] > 0.5 and out["p_value"] < 0.01


def test_test_size_is_close_to_nominal_under_the_null():
    p = [sharpe_difference_test(_iid(10 + i), _iid(500 + i))["p_value"] for i in range(200)]
    assert 0.01 <= np.mean(np.asarray(p) < 0.05) <= 0.11


def test_deflated_sharpe_falls_with_the_number_of_trials():
    r = _iid(3, n=1500, mu=6e-4)
    one, many = deflated_sharpe_ratio(r, 1), deflated_sharpe_ratio(r, 100)
    assert 0.0 <= many["dsr"] < one["dsr"] <= 1.0
    assert many["sr0"] > 0.0 == one["sr0"]
    assert expected_max_sharpe(100, 1 / 1500) > expected_max_sharpe(10, 1 / 1500)


def test_too_short_inputs_are_refused():
    with pytest.raises(DataError, match="30"):
        sharpe_difference_test(_iid(0, n=10), _iid(1, n=10))
