"""The risk-budgeting layer: exactness, gradients, factor form, failures, and skfolio agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from riskalloc.allocate.covariance import (
    DENSE_EIGEN_MAX,
    FactorCov,
    factor_correlation,
    factor_cov,
    shrunk_correlation,
    top_eigen,
)
from riskalloc.allocate.risk_budgeting import SolveInfo, risk_contributions, solve_risk_budgeting
from riskalloc.datasets import make_synthetic_universe
from riskalloc.errors import NotConvergedError, SolverError


def _budgets(n: int, seed: int, kind: str = "random") -> torch.Tensor:
    rng = np.random.default_rng(seed)
    b = np.ones(n) if kind == "equal" else rng.dirichlet(np.full(n, 0.7)) + 1e-3
    return torch.tensor(b / b.sum(), dtype=torch.float64)


@pytest.mark.parametrize("kind", ["equal", "random"])
def test_float64_risk_contributions_equal_budgets(real_covs, kind, backend):
    for i, cov in enumerate(real_covs):
        sigma = torch.tensor(cov)
        b = _budgets(cov.shape[0], i, kind)
        info: list[SolveInfo] = []
        w = solve_risk_budgeting(sigma, b, backend=backend, info=info)
        assert torch.all(w > 0)
        assert abs(float(w.sum()) - 1) < 1e-14
        assert float((risk_contributions(sigma, w) - b).abs().max()) <= 1e-10
        assert len(info) == 1 and info[0].iterations < 30 and info[0].residual <= 1e-13


def test_float32_within_1e_5(real_covs, backend):
    for i, cov in enumerate(real_covs):
        sigma = torch.tensor(cov, dtype=torch.float32)
        b = _budgets(cov.shape[0], i).float()
        w = solve_risk_budgeting(sigma, b, backend=backend)
        assert w.dtype == torch.float32
        assert float((risk_contributions(sigma, w) - b).abs().max()) <= 1e-5


def test_near_singular_covariance(real_covs, backend):
    """A duplicated asset makes Σ singular up to 1e-12 noise: still exact."""
    cov = real_covs[3]
    n = cov.shape[0]
    big = np.zeros((n + 1, n + 1))
    big[:n, :n] = cov
    big[n, :n] = big[:n, n] = cov[0]
    big[n, n] = cov[0, 0] * (1 + 1e-12)
    assert np.linalg.eigvalsh(big)[0] < 1e-12 * cov[0, 0]
    sigma = torch.tensor(big)
    b = _budgets(n + 1, 7)
    w = solve_risk_budgeting(sigma, b, backend=backend)
    assert float((risk_contributions(sigma, w) - b).abs().max()) <= 1e-10


def test_batched_matches_one_by_one(real_covs, backend):
    cov = torch.tensor(real_covs[1])
    n = cov.shape[0]
    bs = torch.stack([_budgets(n, s) for s in range(4)])
    wb = solve_risk_budgeting(cov.expand(4, n, n), bs, backend=backend)
    for i in range(4):
        torch.testing.assert_close(
            wb[i], solve_risk_budgeting(cov, bs[i], backend=backend), rtol=1e-12, atol=1e-14
        )


def test_diagonal_case_has_closed_form():
    vol = torch.tensor([0.1, 0.2, 0.4], dtype=torch.float64)
    b = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    w = solve_risk_budgeting(torch.diag(vol**2), b)
    expected = torch.sqrt(b) / vol
    torch.testing.assert_close(w, expected / expected.sum(), rtol=1e-12, atol=1e-14)


def test_gradcheck_dense(backend):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    sigma = torch.tensor(a @ a.T / 6 + 0.1 * np.eye(6), requires_grad=True)
    logits = torch.tensor(rng.normal(size=6), requires_grad=True)

    def f(s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return solve_risk_budgeting(0.5 * (s + s.T), torch.softmax(z, -1), backend=backend)

    assert torch.autograd.gradcheck(f, (sigma, logits), eps=1e-6, atol=1e-7)


def test_gradcheck_factor_form(backend):
    rng = np.random.default_rng(1)
    f = torch.tensor(rng.normal(size=(7, 2)) * 0.3, requires_grad=True)
    d = torch.tensor(rng.uniform(0.05, 0.2, size=7), requires_grad=True)
    logits = torch.tensor(rng.normal(size=7), requires_grad=True)

    def g(f_, d_, z):
        return solve_risk_budgeting(FactorCov(f_, d_), torch.softmax(z, -1), backend=backend)

    assert torch.autograd.gradcheck(g, (f, d, logits), eps=1e-6, atol=1e-7)


def test_factor_form_equals_dense(real_covs, backend):
    cov = real_covs[2]
    vol = np.sqrt(np.diag(cov))
    loadings, uniq = factor_correlation(cov / np.outer(vol, vol), k=4)
    fc = factor_cov(torch.tensor(vol), torch.tensor(loadings), torch.tensor(uniq))
    b = _budgets(cov.shape[0], 3)
    w_factor = solve_risk_budgeting(fc, b, backend=backend)
    w_dense = solve_risk_budgeting(fc.dense(), b, backend=backend)
    torch.testing.assert_close(w_factor, w_dense, rtol=1e-10, atol=1e-12)
    assert float((risk_contributions(fc, w_factor) - b).abs().max()) <= 1e-10


def test_lanczos_factor_fit_of_a_large_universe_equals_the_full_eigen_decomposition():
    # above DENSE_EIGEN_MAX assets the top-k pairs come from ARPACK; on a year of a
    # synthetic universe calibrated on the bundled ETFs they match numpy's full eigh
    n = 3 * DENSE_EIGEN_MAX
    prices = make_synthetic_universe(n, seed=4, late_share=0.0, delist_share=0.0, gap_share=0.0)
    rets = prices.prices.pct_change().iloc[-252:].to_numpy()
    corr = shrunk_correlation(rets)
    vals, vecs = np.linalg.eigh(corr)
    top_vals, top_vecs = top_eigen(corr, 3)
    np.testing.assert_allclose(top_vals, vals[::-1][:3], rtol=1e-12)
    dense = vecs[:, -3:] * np.sqrt(vals[-3:])
    lanczos = top_vecs * np.sqrt(top_vals)
    np.testing.assert_allclose(lanczos @ lanczos.T, dense @ dense.T, atol=1e-12)
    loadings, uniq = factor_correlation(corr, 3)
    np.testing.assert_allclose((loadings**2).sum(1) + uniq, 1.0, atol=1e-12)
    assert top_eigen(corr, 3)[0].tolist() == top_vals.tolist()  # deterministic start vector


def test_implicit_gradient_matches_finite_difference_on_real_cov(real_covs):
    sigma = torch.tensor(real_covs[0])
    n = sigma.shape[0]
    z = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    target = torch.linspace(-1, 1, n, dtype=torch.float64)
    loss = (solve_risk_budgeting(sigma, torch.softmax(z, -1)) * target).sum()
    (grad,) = torch.autograd.grad(loss, z)
    e = torch.zeros(n, dtype=torch.float64)
    e[3] = 1e-6
    with torch.no_grad():
        up = (solve_risk_budgeting(sigma, torch.softmax(z + e, -1)) * target).sum()
        dn = (solve_risk_budgeting(sigma, torch.softmax(z - e, -1)) * target).sum()
    assert abs(float((up - dn) / 2e-6) - float(grad[3])) < 1e-6


@pytest.mark.parametrize("i", [0, 3])
def test_agrees_with_skfolio_risk_budgeting(real_covs, sample_md, i):
    """Same covariance and budgets through skfolio's convex solver: weights agree to 1e-6."""
    from skfolio.moments import EmpiricalCovariance  # noqa: F401  (import check)
    from skfolio.optimization import RiskBudgeting
    from skfolio.prior import EmpiricalPrior  # noqa: F401

    cov = real_covs[i]
    n = cov.shape[0]
    b = _budgets(n, 11 + i).numpy()
    rng = np.random.default_rng(i)
    # returns whose sample covariance is exactly ``cov`` (whitened noise, re-coloured)
    z = rng.normal(size=(600, n))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T)).T)
    x = z @ np.linalg.cholesky(cov).T
    model = RiskBudgeting(risk_budget=b, solver_params={"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12})
    model.fit(x)
    w = solve_risk_budgeting(torch.tensor(np.cov(x.T)), torch.tensor(b)).numpy()
    assert np.max(np.abs(model.weights_ - w)) < 1e-6


def test_non_psd_covariance_is_a_clear_error():
    sigma = torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64)
    with pytest.raises(SolverError, match="not positive semi-definite"):
        solve_risk_budgeting(sigma, torch.tensor([0.5, 0.5], dtype=torch.float64))


@pytest.mark.parametrize(
    ("budgets", "pattern"),
    [([0.5, 0.6], "sum to 1"), ([1.0, 0.0], "strictly positive"), ([0.5, float("nan")], "finite")],
)
def test_bad_budgets_are_clear_errors(budgets, pattern):
    with pytest.raises(SolverError, match=pattern):
        solve_risk_budgeting(torch.eye(2, dtype=torch.float64), torch.tensor(budgets))


def test_nan_covariance_and_zero_variance_are_errors():
    b = torch.tensor([0.5, 0.5], dtype=torch.float64)
    with pytest.raises(SolverError, match="NaN"):
        solve_risk_budgeting(torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]]), b)
    with pytest.raises(SolverError, match="zero"):
        solve_risk_budgeting(torch.diag(torch.tensor([1.0, 0.0], dtype=torch.float64)), b)


def test_not_converged_raises_instead_of_garbage(real_covs, backend):
    sigma = torch.tensor(real_covs[3])
    b = _budgets(sigma.shape[0], 5)
    with pytest.raises(NotConvergedError, match="did not converge in 1 Newton steps"):
        solve_risk_budgeting(sigma, b, max_iter=1, backend=backend)


def test_numpy_and_torch_backends_agree(real_covs):
    sigma = torch.tensor(real_covs[4])
    b = _budgets(sigma.shape[0], 9)
    w_np = solve_risk_budgeting(sigma, b, backend="numpy")
    w_t = solve_risk_budgeting(sigma, b, backend="torch")
    torch.testing.assert_close(w_np, w_t, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(solve_risk_budgeting(sigma, b), w_np, rtol=0, atol=0)  # auto
    with pytest.raises(SolverError, match="unknown solver backend"):
        solve_risk_budgeting(sigma, b, backend="cuda")  # type: ignore[arg-type]


def test_objective_near_zero_still_converges(backend):
    """Regression: a training batch where f(y*) ≈ 0 once stalled at 6e-10 because the Armijo
    rounding allowance was relative to |f|."""
    from pathlib import Path

    z = np.load(Path(__file__).parent / "data" / "objective_near_zero.npz")
    fc = FactorCov(torch.tensor(z["f"]), torch.tensor(z["d"]))
    b = torch.tensor(z["b"])
    b = b / b.sum()
    info: list[SolveInfo] = []
    w = solve_risk_budgeting(fc, b, backend=backend, info=info)
    assert float((risk_contributions(fc, w) - b).abs().max()) <= 1e-12
    assert info[0].iterations <= 10


def test_erc_volatility_between_min_variance_and_equal_weight(real_covs):
    """Maillard, Roncalli and Teiletche (2010): σ(min variance) ≤ σ(ERC) ≤ σ(1/n)."""
    from scipy.optimize import minimize

    for cov in real_covs:
        n = cov.shape[0]
        res = minimize(
            lambda w: w @ cov @ w,
            np.full(n, 1.0 / n),
            jac=lambda w: 2 * cov @ w,
            bounds=[(0.0, 1.0)] * n,
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
            method="SLSQP",
            options={"ftol": 1e-16, "maxiter": 500},
        )
        w_erc = solve_risk_budgeting(
            torch.tensor(cov), torch.full((n,), 1.0 / n, dtype=torch.float64)
        )
        vol_erc = float(torch.sqrt(w_erc @ torch.tensor(cov) @ w_erc))
        vol_mv = float(np.sqrt(res.x @ cov @ res.x))
        vol_ew = float(np.sqrt(np.full(n, 1 / n) @ cov @ np.full(n, 1 / n)))
        assert vol_mv <= vol_erc * (1 + 1e-6)
        assert vol_erc <= vol_ew
