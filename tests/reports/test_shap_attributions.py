"""SHAP attributions: exact additivity, zero credit to ignored inputs, long frame, regime means."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from riskalloc.errors import DataError, ModelError
from riskalloc.reports.shap_attributions import (
    BASE_FEATURE,
    PORTFOLIO,
    aggregate_by_regime,
    background_rows,
    check_local_accuracy,
    explain,
    output_name,
    split_output_name,
)

FEATURES = ["vix", "spread", "slope", "unused"]
OUTPUTS = [output_name("risk_budget", "SPY"), output_name("risk_budget", "TLT"), "exposure"]
DATES = pd.bdate_range("2020-03-02", periods=6)


def toy(x: np.ndarray) -> np.ndarray:
    """Nonlinear with interactions; ignores the last column."""
    a, b, c = x[:, 0], x[:, 1], x[:, 2]
    budget_spy = 1.0 / (1.0 + np.exp(a * b - c))
    return np.column_stack([budget_spy, 1.0 - budget_spy, np.tanh(a + b**2) * c])


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.normal(size=(25, 4)), rng.normal(size=(6, 4))


@pytest.mark.parametrize("method", ["exact", "permutation"])
def test_local_accuracy_and_ignored_feature_on_toy_function(
    data: tuple[np.ndarray, np.ndarray], method: str
) -> None:
    bg, x = data
    res = explain(toy, bg, x, FEATURES, OUTPUTS, dates=DATES, method=method, nsamples=400)
    assert res.values.shape == (6, 4, 3) and res.method == method
    assert check_local_accuracy(res, toy, x, atol=1e-10) <= 1e-10
    assert np.abs(res.values[:, 3, :]).max() <= 1e-12  # "unused" never changes the output
    assert np.abs(res.values[:, :3, :]).max() > 1e-3
    assert np.allclose(res.expected_values.to_numpy(), toy(bg).mean(axis=0))


def test_exact_method_recovers_linear_shapley_values(data: tuple[np.ndarray, np.ndarray]) -> None:
    bg, x = data
    w = np.array([[0.5, -1.0], [2.0, 0.0], [0.0, 0.3], [0.0, 0.0]])

    def linear(z: np.ndarray) -> np.ndarray:
        return z @ w

    res = explain(linear, bg, x, FEATURES, ["risk_budget:SPY", "exposure"], method="exact")
    expected = (x - bg.mean(axis=0))[:, :, None] * w[None, :, :]  # phi_j = w_j (x_j - E x_j)
    assert np.allclose(res.values, expected, atol=1e-12)


def test_sampled_kernel_is_still_additive(data: tuple[np.ndarray, np.ndarray]) -> None:
    bg, x = data
    res = explain(toy, bg, x, FEATURES, OUTPUTS, method="kernel", nsamples=10)  # < 2^4 - 2
    assert check_local_accuracy(res, toy, x, atol=1e-10) <= 1e-10


def test_permutation_is_deterministic_given_seed(data: tuple[np.ndarray, np.ndarray]) -> None:
    bg, x = data
    kw = {"method": "permutation", "nsamples": 200}
    a = explain(toy, bg, x, FEATURES, OUTPUTS, seed=1, **kw)
    b = explain(toy, bg, x, FEATURES, OUTPUTS, seed=1, **kw)
    np.testing.assert_array_equal(a.values, b.values)


def test_local_accuracy_on_small_torch_model() -> None:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    ).double()

    def budgets_and_exposure(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = net(torch.from_numpy(np.ascontiguousarray(z)))
        budgets = torch.softmax(out[:, :2], dim=1)
        return torch.cat([budgets, torch.sigmoid(out[:, 2:])], dim=1).numpy()

    rng = np.random.default_rng(0)
    bg, x = rng.normal(size=(20, 5)), rng.normal(size=(4, 5))
    names = [f"f{i}" for i in range(5)]
    res = explain(budgets_and_exposure, bg, x, names, OUTPUTS)  # auto: exact for 5 features
    assert res.method == "exact"
    assert check_local_accuracy(res, budgets_and_exposure, x, atol=1e-9) <= 1e-9
    # budgets sum to 1 for every input, so their attributions cancel feature by feature
    assert np.allclose(res.values[:, :, 0] + res.values[:, :, 1], 0.0, atol=1e-12)


def test_long_frame_matches_warehouse_key_and_rebuilds_outputs(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    bg, x = data
    res = explain(toy, bg, x, FEATURES, OUTPUTS, dates=DATES, method="permutation", nsamples=200)
    long = res.to_frame(include_base=True)
    assert list(long.columns) == ["date", "ticker", "target", "feature", "value"]
    assert not long.duplicated(["date", "ticker", "target", "feature"]).any()
    assert len(long) == 6 * 3 * (4 + 1)
    assert set(long["ticker"]) == {"SPY", "TLT", PORTFOLIO}
    assert set(long["target"]) == {"risk_budget", "exposure"}
    rebuilt = long.groupby(["date", "ticker", "target"])["value"].sum()
    out = toy(x)
    assert rebuilt.loc[(DATES[2], "TLT", "risk_budget")] == pytest.approx(out[2, 1], abs=1e-10)
    assert rebuilt.loc[(DATES[5], PORTFOLIO, "exposure")] == pytest.approx(out[5, 2], abs=1e-10)
    assert split_output_name("risk_budget:SPY") == ("SPY", "risk_budget")
    assert split_output_name("exposure") == (PORTFOLIO, "exposure")


def test_check_local_accuracy_flags_broken_attributions(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    bg, x = data
    res = explain(toy, bg, x, FEATURES, OUTPUTS, dates=DATES, method="permutation", nsamples=200)
    broken = replace(res, values=res.values + 0.01)
    with pytest.raises(ModelError, match="local accuracy"):
        check_local_accuracy(broken, toy, x, atol=1e-6)
    with pytest.raises(DataError, match="feature count"):
        explain(toy, bg, x, FEATURES[:3], OUTPUTS)
    with pytest.raises(ModelError, match="outputs"):
        explain(toy, bg, x, FEATURES, OUTPUTS[:2], method="permutation", nsamples=50)


def test_aggregate_by_regime_means_absolute_values() -> None:
    d = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"])
    long = pd.DataFrame(
        {
            "date": np.repeat(d, 2),
            "ticker": PORTFOLIO,
            "target": "exposure",
            "feature": ["vix", "slope"] * 3,
            "value": [-1.0, 0.5, 3.0, -0.5, 2.0, 1.0],
        }
    )
    long = pd.concat(
        [long, long.iloc[:1].assign(feature=BASE_FEATURE, value=99.0)], ignore_index=True
    )
    regimes = pd.Series(["calm", "stress", "stress"], index=d)
    agg = aggregate_by_regime(long, regimes).set_index(["regime", "target", "feature"])
    assert agg.loc[("calm", "exposure", "vix"), "mean_abs_shap"] == pytest.approx(1.0)
    assert agg.loc[("stress", "exposure", "vix"), "mean_abs_shap"] == pytest.approx(2.5)
    assert agg.loc[("stress", "exposure", "slope"), "mean_abs_shap"] == pytest.approx(0.75)
    assert agg.loc[("stress", "exposure", "slope"), "mean_shap"] == pytest.approx(0.25)
    assert agg.loc[("stress", "exposure", "vix"), "n_dates"] == 2
    assert BASE_FEATURE not in agg.index.get_level_values("feature")
    partial = aggregate_by_regime(long, regimes.iloc[:1])  # unlabelled dates are dropped
    assert set(partial["regime"]) == {"calm"}


def test_background_rows_are_a_deterministic_complete_subset() -> None:
    x = np.arange(40.0).reshape(20, 2)
    x[3, 1] = np.nan
    a, b = background_rows(x, n=5, seed=1), background_rows(x, n=5, seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5, 2) and np.isfinite(a).all()
    assert {tuple(r) for r in a} <= {tuple(r) for r in x}
    assert background_rows(x, n=100).shape == (19, 2)  # all complete rows
    with pytest.raises(DataError):
        background_rows(np.full((3, 2), np.nan))
