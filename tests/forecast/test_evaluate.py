"""Evaluation metrics: QLIKE, MZ R², Diebold-Mariano and the forecast_eval table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskalloc.errors import DataError
from riskalloc.forecast.evaluate import (
    diebold_mariano,
    evaluate_forecasts,
    model_confidence_set,
    mz_r2,
    qlike,
)


def test_qlike_zero_at_truth_and_asymmetric() -> None:
    y = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(qlike(y, y), 0.0, atol=1e-15)
    # under-forecasting is penalised more than over-forecasting by the same factor
    assert qlike(np.array([0.2]), np.array([0.1]))[0] > qlike(np.array([0.2]), np.array([0.4]))[0]


def test_mz_r2_perfect_and_noise() -> None:
    rng = np.random.default_rng(0)
    f = rng.uniform(0.05, 0.5, 500)
    assert mz_r2(f * 1.3, f) == pytest.approx(1.0)
    assert mz_r2(rng.uniform(0.05, 0.5, 500), f) < 0.05


def test_model_confidence_set_drops_a_clearly_worse_model_and_keeps_ties() -> None:
    rng = np.random.default_rng(2)
    base = rng.gamma(2.0, 0.1, 600)
    losses = pd.DataFrame(
        {
            "good": base,
            "twin": np.roll(base, 1),  # the same losses a day apart: the same mean
            "bad": base + 0.2 + rng.normal(0, 0.05, 600),
        }
    )
    p = model_confidence_set(losses, reps=300)
    assert list(p.index) == ["good", "twin", "bad"]
    assert p["bad"] < 0.05 and p["good"] >= 0.10 and p["twin"] >= 0.10
    assert p.max() == 1.0  # the best model is always in the set
    with pytest.raises(DataError, match="30 dates"):
        model_confidence_set(losses.head(10))


def test_diebold_mariano_detects_a_better_model() -> None:
    rng = np.random.default_rng(1)
    d = -0.1 + rng.normal(0, 0.5, 1000)
    stat, p = diebold_mariano(d, lag=20)
    assert stat < -2 and p < 0.05
    stat0, p0 = diebold_mariano(rng.normal(0, 0.5, 1000), lag=20)
    assert abs(stat0) < 3 and p0 > 0.001


def _toy_forecasts() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    dates = pd.bdate_range("2015-01-01", "2018-12-31")
    rows = []
    for ticker in ("A", "B", "C"):
        truth = np.exp(rng.normal(np.log(0.15), 0.3, len(dates)))
        good = truth * np.exp(rng.normal(0, 0.1, len(dates)))
        bad = truth * np.exp(rng.normal(0, 0.5, len(dates)))
        for model, f in (("good", good), ("bad", bad)):
            rows.append(
                pd.DataFrame(
                    {
                        "date": dates,
                        "ticker": ticker,
                        "model": model,
                        "forecast_vol": f,
                        "target_vol": truth,
                    }
                )
            )
    df = pd.concat(rows, ignore_index=True)
    df.loc[(df["model"] == "bad") & (df["date"] == dates[0]), "forecast_vol"] = np.nan
    return df


def test_evaluate_table() -> None:
    classes = {"A": "equity", "B": "equity", "C": "bond"}
    ev = evaluate_forecasts(
        _toy_forecasts(),
        classes,
        {"2015-2016": ("2015-01-01", "2016-12-31"), "2017-2018": ("2017-01-01", "2018-12-31")},
    )
    assert set(ev["asset_class"]) == {"all", "equity", "bond"}
    assert set(ev["period"]) == {"2015-2016", "2017-2018"}
    for col in ("qlike", "rmse_log", "mz_r2", "n_obs", "dm_vs_bad", "dm_p_vs_good"):
        assert col in ev.columns
    allr = ev.loc[ev["asset_class"] == "all"].set_index(["period", "model"])
    for period in ("2015-2016", "2017-2018"):
        g, b = allr.loc[(period, "good")], allr.loc[(period, "bad")]
        assert g["qlike"] < b["qlike"] and g["rmse_log"] < b["rmse_log"]
        assert g["mz_r2"] > b["mz_r2"]
        assert g["dm_vs_bad"] < -2 and g["dm_p_vs_bad"] < 0.01
        assert g["dm_vs_bad"] == pytest.approx(-b["dm_vs_good"])
        assert np.isnan(g["dm_vs_good"])
    # models are compared on common rows: the date where "bad" is missing is dropped for both
    n = allr.loc[("2015-2016", "good"), "n_obs"]
    assert n == allr.loc[("2015-2016", "bad"), "n_obs"] == 3 * (522 - 1)
    assert ev.loc[ev["asset_class"] == "bond", "n_obs"].iloc[0] == n // 3
