"""Seeded, realistic risk-budgeting problems for the allocator benchmark."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from riskalloc.allocate.covariance import FactorCov, factor_cov

K_FACTORS = 3
MAX_CORR = 0.8  # cap on each asset's common variance share, so |corr| ≤ 0.8
BUDGET_FLOOR = 0.2  # same floor as NetworkConfig: b_i ≥ floor / n


@dataclass(frozen=True)
class Problem:
    """One seeded risk-budgeting problem: annual vols, k-factor correlation and budgets."""

    vol: torch.Tensor  # (1, n) float64, 5-40 %
    loadings: torch.Tensor  # (1, n, k) float64, rows with squared norm ≤ MAX_CORR
    uniq: torch.Tensor  # (1, n) float64, 1 - rowsum(L²)
    budgets: torch.Tensor  # (1, n) float64 on the simplex, floored

    @property
    def factor(self) -> FactorCov:
        """Σ in factor form."""
        return factor_cov(self.vol, self.loadings, self.uniq)


def make_problem(n: int, seed: int) -> Problem:
    """Realistic Σ: vols U(5 %, 40 %), a market factor plus two style factors (correlations
    0.04-0.8), and Dirichlet budgets with the allocator's floor."""
    rng = np.random.default_rng(seed)
    vol = rng.uniform(0.05, 0.40, n)
    market = rng.uniform(0.2, 0.75, (n, 1))
    styles = rng.uniform(0.0, 0.45, (n, K_FACTORS - 1))
    load = np.hstack([market, styles])
    common = (load**2).sum(1)
    load *= np.sqrt(np.minimum(1.0, MAX_CORR / common))[:, None]
    uniq = 1.0 - (load**2).sum(1)
    raw = rng.dirichlet(np.ones(n))
    b = BUDGET_FLOOR / n + (1 - BUDGET_FLOOR) * raw

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float64).unsqueeze(0)

    return Problem(t(vol), t(load), t(uniq), t(b / b.sum()))


def correlation_range(p: Problem) -> tuple[float, float]:
    """Min and max off-diagonal correlation of the problem (sanity check of realism)."""
    load = p.loadings[0]
    corr = (load @ load.T).numpy()
    off = corr[~np.eye(corr.shape[0], dtype=bool)]
    return float(off.min()), float(off.max())


def returns_with_covariance(sigma: np.ndarray, seed: int) -> np.ndarray:
    """(T, n) returns whose sample covariance (ddof=1) is exactly ``sigma``."""
    n = sigma.shape[0]
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(max(600, n + 100), n))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T)).T)
    return z @ np.linalg.cholesky(sigma).T
