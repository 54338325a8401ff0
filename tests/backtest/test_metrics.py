"""Metrics against hand-computed values on tiny series; periods; stress-window helpers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from riskalloc.backtest.metrics import (
    compute_metrics,
    drawdown_reduction,
    exposure_cut,
    max_drawdown,
    periods,
)

R = [0.10, -0.05, 0.02, -0.10, 0.05]


def _series(values: list[float], start: str = "2021-03-01") -> pd.Series:
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)))


def test_metrics_by_hand() -> None:
    r = _series(R)
    rf = pd.Series(0.001, index=r.index)
    m = compute_metrics(r, rf, turnover=_series([2.0, 0, 0, 0.5, 0]), exposure=_series([1.0] * 5))
    wealth = 1.10 * 0.95 * 1.02 * 0.90 * 1.05  # 1.0072755
    assert m["ann_return"] == pytest.approx(wealth ** (252 / 5) - 1, rel=1e-12)
    # deviations from the mean 0.004: .096 -.054 .016 -.104 .046 -> sum of squares .02532
    sd = math.sqrt(0.02532 / 4)
    assert m["ann_vol"] == pytest.approx(sd * math.sqrt(252), rel=1e-12)
    assert m["sharpe"] == pytest.approx((0.004 - 0.001) / sd * math.sqrt(252), rel=1e-12)
    downside = math.sqrt((0.051**2 + 0.101**2) / 5)  # negative excess returns only
    assert m["sortino"] == pytest.approx(0.003 / downside * math.sqrt(252), rel=1e-12)
    mdd = 1 - (1.10 * 0.95 * 1.02 * 0.90) / 1.10  # peak after day 1, trough after day 4
    assert m["max_drawdown"] == pytest.approx(mdd, rel=1e-12)
    assert m["calmar"] == pytest.approx(m["ann_return"] / mdd, rel=1e-12)
    assert m["turnover"] == pytest.approx(2.5 / (5 / 252), rel=1e-12)
    assert m["avg_exposure"] == 1.0 and m["n_days"] == 5


def test_cvar_is_mean_of_worst_five_percent() -> None:
    r = np.linspace(-0.05, 0.05, 40)  # 5 % of 40 = the two worst days
    m = compute_metrics(_series(list(np.random.default_rng(0).permutation(r))))
    assert m["cvar_95"] == pytest.approx(-(r[0] + r[1]) / 2, rel=1e-12)


def test_max_drawdown_counts_a_first_day_loss() -> None:
    assert max_drawdown(_series([-0.2, 0.1])) == pytest.approx(0.2)
    assert max_drawdown(_series([0.01, 0.02])) == 0.0


def test_periods_cover_years_and_stress_windows() -> None:
    idx = pd.bdate_range("2017-01-03", "2022-12-30")
    p = periods(idx)
    assert list(p)[:7] == ["2017-2022", "2017", "2018", "2019", "2020", "2021", "2022"]
    assert {"2018Q4", "covid"} <= set(p)
    assert p["covid"] == (pd.Timestamp("2020-02-19"), pd.Timestamp("2020-03-23"))
    short = periods(pd.bdate_range("2019-01-02", "2020-02-28"))
    assert "covid" not in short and "2018Q4" not in short and "2020" in short


def test_drawdown_reduction_vs_reference() -> None:
    idx = pd.bdate_range("2020-02-17", "2020-03-27")
    ref = pd.Series(0.0, index=idx)
    ref.loc["2020-03-02"] = -0.20
    half = ref / 2
    out = drawdown_reduction(
        {"ref": ref, "half": half}, "ref", {"covid": ("2020-02-19", "2020-03-23")}
    )
    row = out.set_index("strategy").loc["half"]
    assert row["max_drawdown"] == pytest.approx(0.10)
    assert row["reduction"] == pytest.approx(0.5)
    assert out.set_index("strategy").loc["ref", "reduction"] == 0.0


def test_exposure_cut_date() -> None:
    idx = pd.bdate_range("2020-01-02", "2020-04-30")
    expo = pd.Series(0.6, index=idx)
    expo.loc["2020-02-24":] = 0.50  # -17 %: not yet a cut
    expo.loc["2020-03-09":] = 0.45  # -25 %: the cut
    out = exposure_cut(expo)
    assert out["base_avg"] == pytest.approx(0.6)
    assert out["cut_date"] == pd.Timestamp("2020-03-09")
    assert out["days_before_trough"] == 10  # 03-09 .. 03-20, then the trough on 03-23
    assert out["exposure_at_trough"] == pytest.approx(0.45)
    assert exposure_cut(pd.Series(0.6, index=idx))["cut_date"] is None
