"""An exact, differentiable risk-budgeting layer.

Given a covariance Σ (dense, or factor form F F' + diag(d)) and budgets b in the simplex, find
long-only weights w (sum 1) whose risk contributions w_i (Σw)_i / w'Σw equal b_i.

Route (Spinu 2013; Roncalli 2013): the strictly convex problem

    min_y  f(y) = ½ y'Σy − Σ_i b_i log y_i,   y > 0

has the unique stationary point Σy = b / y, so y_i (Σy)_i = b_i and y'Σy = Σ b = 1; the weights are
w = y / Σ y. We solve it by damped Newton (Armijo backtracking) from the
diagonal solution y_i = √b_i / σ_i, stepping multiplicatively (y ← y ⊙ exp(α d / y)),
and stop on the residual max_i |y_i (Σy)_i − b_i| ≤ tol, never
on a fixed iteration count. The solve always runs in float64; outputs come back in the input
dtype, so float32 callers get float64 accuracy rounded once.

Backward is implicit differentiation at the solution: with H = Σ + diag(b / y²) and the upstream
gradient ḡ, one solve H v = ḡ gives ∂L/∂b = v / y and ∂L/∂Σ = −½ (v y' + y v'). In factor form
every solve with H uses the Woodbury identity, O(n k²), so forward and backward are linear in n.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from riskalloc.allocate.covariance import FactorCov, check_psd
from riskalloc.errors import NotConvergedError, SolverError

Cov = torch.Tensor | FactorCov


@dataclass(frozen=True)
class SolveInfo:
    """Diagnostics of the last solve: Newton iterations and the final max residual."""

    iterations: int
    residual: float


_LAST: dict[str, SolveInfo] = {}


def last_solve_info() -> SolveInfo | None:
    """Diagnostics of the most recent forward solve in this process (for benchmarks/tests)."""
    return _LAST.get("info")


# --- the Newton system --------------------------------------------------------------------


class _Dense:
    """Σ given as a symmetric (B, n, n) matrix."""

    def __init__(self, sigma: torch.Tensor) -> None:
        self.sigma = sigma

    def matvec(self, y: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bij,bj->bi", self.sigma, y)

    def diag(self) -> torch.Tensor:
        return self.sigma.diagonal(dim1=-2, dim2=-1)

    def solve_h(self, hdiag: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        """Solve (Σ + diag(hdiag)) x = rhs by Cholesky."""
        h = self.sigma + torch.diag_embed(hdiag)
        chol, info = torch.linalg.cholesky_ex(h)
        if bool((info != 0).any()):
            raise SolverError("Newton system is not positive definite (is Σ PSD?)")
        return torch.cholesky_solve(rhs.unsqueeze(-1), chol).squeeze(-1)


class _Factor:
    """Σ = F F' + diag(d) with F (B, n, k), d (B, n): Woodbury solves at O(n k²)."""

    def __init__(self, f: torch.Tensor, d: torch.Tensor) -> None:
        self.f, self.d = f, d

    def matvec(self, y: torch.Tensor) -> torch.Tensor:
        fy = torch.einsum("bnk,bn->bk", self.f, y)
        return torch.einsum("bnk,bk->bn", self.f, fy) + self.d * y

    def diag(self) -> torch.Tensor:
        return (self.f**2).sum(-1) + self.d

    def solve_h(self, hdiag: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        """Solve (D + F F') x = rhs with D = d + hdiag via Woodbury."""
        dinv = 1.0 / (self.d + hdiag)
        fd = self.f * dinv.unsqueeze(-1)  # D⁻¹F
        k = self.f.shape[-1]
        m = torch.eye(k, dtype=self.f.dtype, device=self.f.device) + self.f.transpose(-1, -2) @ fd
        z = torch.linalg.solve(m, torch.einsum("bnk,bn->bk", fd, rhs))
        return dinv * rhs - torch.einsum("bnk,bk->bn", fd, z)


def _objective(op: _Dense | _Factor, y: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 0.5 * (y * op.matvec(y)).sum(-1) - (b * torch.log(y)).sum(-1)


def _newton(
    op: _Dense | _Factor, b: torch.Tensor, tol: float, max_iter: int
) -> tuple[torch.Tensor, int, torch.Tensor]:
    """Damped multiplicative Newton on f(y); returns y, iterations and the per-item residual.

    The Newton direction d_y = −H⁻¹∇f is applied as y ← y ⊙ exp(α d_y / y): identical to
    Newton near the optimum (quadratic convergence) but y stays positive without a
    fraction-to-boundary rule, which on real covariances cuts iterations from ~10-25 to ~6.
    """
    y = torch.sqrt(b / op.diag())
    y = y / torch.sqrt((y * op.matvec(y)).sum(-1, keepdim=True))  # best scale on the ray
    f0 = _objective(op, y, b)
    for it in range(max_iter + 1):
        sy = op.matvec(y)
        r = y * sy - b  # the residual and the gradient in x = log y
        resid = r.abs().amax(-1)
        active = resid > tol
        if not bool(active.any()):
            return y, it, resid
        if it == max_iter:
            break
        step = op.solve_h(b / (y * y), -r / y) / y  # Newton direction in log y
        slack = 1e-4 * (r * step).sum(-1) + 1e-13 * f0.abs()  # rounding-aware Armijo
        alpha = torch.ones_like(resid)
        for _ in range(60):
            cand = y * torch.exp(alpha.unsqueeze(-1) * step)
            f_cand = _objective(op, cand, b)
            ok = (f_cand <= f0 + alpha * slack) | ~active
            if bool(ok.all()):
                break
            alpha = torch.where(ok, alpha, 0.5 * alpha)
        y = torch.where(active.unsqueeze(-1), cand, y)
        f0 = torch.where(active, f_cand, f0)
    return y, max_iter, resid


# --- autograd -------------------------------------------------------------------------------


class _DenseRB(torch.autograd.Function):
    """y*(Σ, b) for dense Σ with an implicit backward."""

    @staticmethod
    def forward(ctx, sigma, b, tol, max_iter):  # type: ignore[override]
        sym = 0.5 * (sigma + sigma.transpose(-1, -2))
        y = _solve(_Dense(sym), b, tol, max_iter)
        ctx.save_for_backward(sym, b, y)
        return y

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        sym, b, y = ctx.saved_tensors
        v = _Dense(sym).solve_h(b / (y * y), gy)
        gsig = -0.5 * (v.unsqueeze(-1) * y.unsqueeze(-2) + y.unsqueeze(-1) * v.unsqueeze(-2))
        return gsig, v / y, None, None


class _FactorRB(torch.autograd.Function):
    """y*(F F' + diag(d), b) with an implicit backward at O(n k²)."""

    @staticmethod
    def forward(ctx, f, d, b, tol, max_iter):  # type: ignore[override]
        y = _solve(_Factor(f, d), b, tol, max_iter)
        ctx.save_for_backward(f, d, b, y)
        return y

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        f, d, b, y = ctx.saved_tensors
        v = _Factor(f, d).solve_h(b / (y * y), gy)
        fy = torch.einsum("bnk,bn->bk", f, y)
        fv = torch.einsum("bnk,bn->bk", f, v)
        gf = -(v.unsqueeze(-1) * fy.unsqueeze(-2) + y.unsqueeze(-1) * fv.unsqueeze(-2))
        return gf, -v * y, v / y, None, None


def _solve(op: _Dense | _Factor, b: torch.Tensor, tol: float, max_iter: int) -> torch.Tensor:
    y, it, resid = _newton(op, b, tol, max_iter)
    worst = float(resid.max())
    _LAST["info"] = SolveInfo(iterations=it, residual=worst)
    if not torch.isfinite(y).all() or worst > tol:
        bad = torch.nonzero(~(resid <= tol)).flatten().tolist()[:5]
        raise NotConvergedError(
            f"risk budgeting did not converge in {max_iter} Newton steps "
            f"(max residual {worst:.3g} > tol {tol:.1g}; batch items {bad})"
        )
    return y


# --- public API -------------------------------------------------------------------------------


def _check_budgets(b: torch.Tensor, n: int) -> None:
    if b.shape[-1] != n:
        raise SolverError(f"budgets have {b.shape[-1]} entries for {n} assets")
    if not torch.isfinite(b).all() or bool((b <= 0).any()):
        raise SolverError("budgets must be finite and strictly positive")
    total = b.detach().sum(-1)
    if bool(((total - 1).abs() > 1e-6).any()):
        raise SolverError(f"budgets must sum to 1 (got {total.flatten()[:3].tolist()})")


def solve_risk_budgeting(
    cov: Cov,
    budgets: torch.Tensor,
    *,
    tol: float = 1e-13,
    max_iter: int = 100,
    check: bool = True,
) -> torch.Tensor:
    """Long-only weights (sum 1) whose risk contributions equal ``budgets``, differentiably.

    ``cov`` is (..., n, n) or a :class:`FactorCov`; ``budgets`` is (..., n), positive, summing
    to 1. Raises :class:`SolverError` for invalid inputs (non-PSD Σ, bad budgets) and
    :class:`NotConvergedError` rather than returning an inexact answer.
    """
    out_dtype = budgets.dtype
    factor = isinstance(cov, FactorCov)
    n = cov.n if factor else int(cov.shape[-1])
    _check_budgets(budgets, n)
    batch = budgets.shape[:-1]
    b = budgets.reshape(-1, n).to(torch.float64)
    if factor:
        f = cov.factors.reshape(-1, n, cov.factors.shape[-1]).to(torch.float64)
        d = cov.idio.reshape(-1, n).to(torch.float64)
        if check:
            if not (torch.isfinite(f).all() and torch.isfinite(d).all()):
                raise SolverError("factor covariance has NaN or inf entries")
            if bool((d < 0).any()):
                raise SolverError("factor covariance has negative idiosyncratic variances")
        f, d = f.expand(b.shape[0], -1, -1), d.expand(b.shape[0], -1)
        s = ((f.detach() ** 2).sum(-1) + d.detach()).mean(-1).clamp_min(1e-300)
        if bool((((f.detach() ** 2).sum(-1) + d.detach()) <= 0).any()):
            raise SolverError("factor covariance has an asset with zero variance")
        y = _FactorRB.apply(f / s.sqrt()[:, None, None], d / s[:, None], b, tol, max_iter)
    else:
        sigma = cov.reshape(-1, n, n).to(torch.float64)
        if check:
            check_psd(sigma)
        sigma = sigma.expand(b.shape[0], -1, -1)
        diag = sigma.detach().diagonal(dim1=-2, dim2=-1)
        if bool((diag <= 0).any()):
            raise SolverError("covariance has an asset with zero or negative variance")
        s = diag.mean(-1)
        y = _DenseRB.apply(sigma / s[:, None, None], b, tol, max_iter)
    w = y / y.sum(-1, keepdim=True)
    return w.reshape(*batch, n).to(out_dtype)


def risk_contributions(cov: Cov, weights: torch.Tensor) -> torch.Tensor:
    """Relative risk contributions w_i (Σw)_i / w'Σw (sum to 1)."""
    if isinstance(cov, FactorCov):
        sw = cov.matvec(weights)
    else:
        sw = torch.einsum("...ij,...j->...i", cov, weights)
    rc = weights * sw
    return rc / rc.sum(-1, keepdim=True)
