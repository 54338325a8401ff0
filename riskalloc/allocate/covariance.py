"""Covariance inputs for the risk-budgeting layer: dense matrices or the factor form F F' + diag(d).

The factor form is what makes the whole solve linear in the number of assets: every
Newton step and the backward pass then use the Woodbury identity at O(n k²).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import eigsh
from sklearn.covariance import ledoit_wolf

from riskalloc.errors import DataError, SolverError

DENSE_EIGEN_MAX = 64  # up to this many assets the full eigen decomposition is the cheaper one


@dataclass(frozen=True)
class FactorCov:
    """Σ = F F' + diag(d), batched: ``factors`` (..., n, k), ``idio`` (..., n) with d ≥ 0."""

    factors: torch.Tensor
    idio: torch.Tensor

    def __post_init__(self) -> None:
        if self.factors.shape[:-1] != self.idio.shape:
            raise SolverError(
                f"factor form shapes disagree: factors {tuple(self.factors.shape)}, "
                f"idio {tuple(self.idio.shape)}"
            )

    @property
    def n(self) -> int:
        """Number of assets."""
        return int(self.idio.shape[-1])

    def matvec(self, y: torch.Tensor) -> torch.Tensor:
        """Σ y in O(n k)."""
        fy = torch.einsum("...nk,...n->...k", self.factors, y)
        return torch.einsum("...nk,...k->...n", self.factors, fy) + self.idio * y

    def dense(self) -> torch.Tensor:
        """The full n x n matrix (for checks and small problems)."""
        return self.factors @ self.factors.transpose(-1, -2) + torch.diag_embed(self.idio)

    def to(self, dtype: torch.dtype) -> FactorCov:
        """The same covariance in another dtype."""
        return FactorCov(self.factors.to(dtype), self.idio.to(dtype))


def corr_to_cov(vol: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
    """Σ = diag(vol) C diag(vol), batched."""
    return vol.unsqueeze(-1) * corr * vol.unsqueeze(-2)


def shrunk_correlation(returns: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf shrunk correlation of a (T, n) return window (NaN-free)."""
    if not np.isfinite(returns).all():
        raise DataError("shrunk_correlation: the return window contains NaN or inf")
    if returns.shape[0] < 2:
        raise DataError("shrunk_correlation: need at least two return rows")
    # the function, not the estimator: LedoitWolf().fit also inverts the n x n matrix for a
    # precision we never read (an eigh per call: half the allocator's inputs time at 500 assets)
    cov, _ = ledoit_wolf(returns)
    sd = np.sqrt(np.clip(np.diag(cov), 1e-18, None))
    corr = cov / np.outer(sd, sd)
    np.fill_diagonal(corr, 1.0)
    return corr


def factor_correlation(corr: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A k-factor fit of a correlation matrix: C ≈ L L' + diag(u), unit diagonal kept exactly.

    Loadings from the top-k eigenvectors (principal components); u = 1 − rowsum(L²) floored
    at a small positive value so the factor covariance stays positive definite.
    """
    n = corr.shape[0]
    k = max(1, min(k, n - 1))
    vals, vecs = top_eigen(corr, k)
    loadings = vecs * np.sqrt(np.clip(vals, 0.0, None))
    common = (loadings**2).sum(axis=1)
    scale = np.where(common > 0.98, np.sqrt(0.98 / np.maximum(common, 1e-12)), 1.0)
    loadings = loadings * scale[:, None]
    uniq = 1.0 - (loadings**2).sum(axis=1)
    return loadings, uniq


def top_eigen(sym: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenpairs of a symmetric matrix, largest first.

    Above DENSE_EIGEN_MAX assets a Lanczos solver (ARPACK, deterministic start vector) finds
    only these k, at O(n² k) instead of the full decomposition's O(n³); the pairs agree with
    the dense ones to rounding (L L' to ~1e-14).
    """
    n = sym.shape[0]
    if n <= DENSE_EIGEN_MAX:
        vals, vecs = np.linalg.eigh(sym)
        top = np.argsort(vals)[::-1][:k]
        return vals[top], vecs[:, top]
    vals, vecs = eigsh(sym, k=k, which="LA", v0=np.full(n, 1.0 / np.sqrt(n)), tol=0.0)
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order]


def factor_cov(vol: torch.Tensor, loadings: torch.Tensor, uniq: torch.Tensor) -> FactorCov:
    """Σ = diag(vol)(L L' + diag(u))diag(vol) in factor form (differentiable in vol)."""
    return FactorCov(vol.unsqueeze(-1) * loadings, vol**2 * uniq)


def check_psd(cov: torch.Tensor, tol: float = 1e-12) -> None:
    """Raise SolverError naming the batch item when Σ is not finite, symmetric and PSD."""
    if not torch.isfinite(cov).all():
        raise SolverError("covariance has NaN or inf entries")
    c64 = cov.detach().to(torch.float64)
    asym = (c64 - c64.transpose(-1, -2)).abs().amax().item()
    scale = c64.diagonal(dim1=-2, dim2=-1).abs().amax().clamp_min(1e-300).item()
    if asym > 1e-8 * scale:
        raise SolverError(f"covariance is not symmetric (max |Σ - Σ'| = {asym:.3g})")
    ev = torch.linalg.eigvalsh(c64)
    low = ev[..., 0]
    bad = low < -tol * scale * max(1, cov.shape[-1])
    if bad.any():
        idx = torch.nonzero(bad.reshape(-1)).flatten().tolist()[:5]
        raise SolverError(
            f"covariance is not positive semi-definite (min eigenvalue "
            f"{low.min().item():.3g}, batch items {idx})"
        )
