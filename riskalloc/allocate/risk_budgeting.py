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
from typing import Literal, get_args

import numpy as np
import torch

from riskalloc.allocate.covariance import FactorCov, check_psd
from riskalloc.errors import NotConvergedError, SolverError

Cov = torch.Tensor | FactorCov
Backend = Literal["auto", "numpy", "torch"]  # forward solve: NumPy on the CPU, torch on a GPU


@dataclass(frozen=True)
class SolveInfo:
    """Diagnostics of one forward solve: Newton iterations and the final max residual."""

    iterations: int
    residual: float


# --- the Newton system, for two array backends --------------------------------------------
#
# The algorithm (``_newton``) is written once against array operators shared by NumPy and torch
# plus the tiny namespaces below; the covariance operators are per backend. On the CPU the
# forward solve runs in NumPy (about 5x less per-call overhead than torch for small problems);
# on a GPU, in torch. Both are tested against each other.


class _TorchNS:
    sqrt, exp, log = torch.sqrt, torch.exp, torch.log
    where, ones_like = torch.where, torch.ones_like

    @staticmethod
    def amax(x: torch.Tensor) -> torch.Tensor:
        return x.amax(-1)


class _NumpyNS:
    sqrt, exp, log, where, ones_like = np.sqrt, np.exp, np.log, np.where, np.ones_like

    @staticmethod
    def amax(x: np.ndarray) -> np.ndarray:
        return x.max(-1)


class _Dense:
    """Σ given as a symmetric (B, n, n) torch matrix."""

    xp = _TorchNS

    def __init__(self, sigma: torch.Tensor) -> None:
        self.sigma = sigma

    def matvec(self, y: torch.Tensor) -> torch.Tensor:
        return (self.sigma @ y[..., None])[..., 0]

    def diag(self) -> torch.Tensor:
        return self.sigma.diagonal(dim1=-2, dim2=-1)

    def solve_h(self, hdiag: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        """Solve (Σ + diag(hdiag)) x = rhs by Cholesky."""
        h = self.sigma + torch.diag_embed(hdiag)
        chol, info = torch.linalg.cholesky_ex(h)
        if bool((info != 0).any()):
            raise SolverError("Newton system is not positive definite (is Σ PSD?)")
        return torch.cholesky_solve(rhs[..., None], chol)[..., 0]


class _Factor:
    """Σ = F F' + diag(d) with torch F (B, n, k), d (B, n): Woodbury solves at O(n k²)."""

    xp = _TorchNS

    def __init__(self, f: torch.Tensor, d: torch.Tensor) -> None:
        self.f, self.d = f, d
        self.ft = f.transpose(-1, -2)
        self.eye = torch.eye(f.shape[-1], dtype=f.dtype, device=f.device)

    def matvec(self, y: torch.Tensor) -> torch.Tensor:
        return (self.f @ (self.ft @ y[..., None]))[..., 0] + self.d * y

    def diag(self) -> torch.Tensor:
        return (self.f**2).sum(-1) + self.d

    def solve_h(self, hdiag: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        """Solve (D + F F') x = rhs with D = d + hdiag via Woodbury."""
        dinv = 1.0 / (self.d + hdiag)
        fd = self.f * dinv[..., None]  # D⁻¹F
        z = torch.linalg.solve(self.eye + self.ft @ fd, self.ft @ (dinv * rhs)[..., None])
        return dinv * rhs - (fd @ z)[..., 0]


class _DenseNP(_Dense):
    """NumPy twin of :class:`_Dense` (CPU forward solves)."""

    xp = _NumpyNS

    def diag(self) -> np.ndarray:
        return np.diagonal(self.sigma, axis1=-2, axis2=-1)

    def solve_h(self, hdiag: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        h = self.sigma + hdiag[..., None] * np.eye(hdiag.shape[-1])
        try:
            return np.linalg.solve(h, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError as exc:
            raise SolverError("Newton system is singular (is Σ PSD?)") from exc


class _FactorNP(_Factor):
    """NumPy twin of :class:`_Factor`."""

    xp = _NumpyNS

    def __init__(self, f: np.ndarray, d: np.ndarray) -> None:
        self.f, self.d = f, d
        self.ft = np.swapaxes(f, -1, -2)
        self.eye = np.eye(f.shape[-1])

    def solve_h(self, hdiag: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        dinv = 1.0 / (self.d + hdiag)
        fd = self.f * dinv[..., None]
        z = np.linalg.solve(self.eye + self.ft @ fd, self.ft @ (dinv * rhs)[..., None])
        return dinv * rhs - (fd @ z)[..., 0]


Op = _Dense | _Factor


def _objective(op: Op, y, b):  # y, b: torch or NumPy arrays
    return 0.5 * (y * op.matvec(y)).sum(-1) - (b * op.xp.log(y)).sum(-1)


def _newton(op: Op, b, tol: float, max_iter: int):  # b: torch or NumPy
    """Damped multiplicative Newton on f(y); returns y, iterations and the per-item residual.

    The Newton direction d_y = −H⁻¹∇f is applied as y ← y ⊙ exp(α d_y / y): identical to
    Newton near the optimum (quadratic convergence) but y stays positive without a
    fraction-to-boundary rule, which on real covariances cuts iterations from ~10-25 to ~6.
    """
    xp = op.xp
    y = xp.sqrt(b / op.diag())
    y = y / xp.sqrt((y * op.matvec(y)).sum(-1))[..., None]  # best scale on the ray
    f0 = _objective(op, y, b)
    for it in range(max_iter + 1):
        sy = op.matvec(y)
        r = y * sy - b  # the residual and the gradient in x = log y
        resid = xp.amax(abs(r))
        active = resid > tol
        if not bool(active.any()):
            return y, it, resid
        if it == max_iter:
            break
        step = op.solve_h(b / (y * y), -r / y) / y  # Newton direction in log y
        # rounding-aware Armijo: near the optimum ½y'Σy ≈ ½ while f itself may be ≈ 0, so the
        # rounding allowance is absolute (1e-13), not relative to |f|
        slack = 1e-4 * (r * step).sum(-1) + 1e-13 * (1.0 + abs(f0))
        alpha = xp.ones_like(resid)
        for _ in range(60):
            cand = y * xp.exp(alpha[..., None] * step)
            f_cand = _objective(op, cand, b)
            ok = (f_cand <= f0 + alpha * slack) | ~active
            if bool(ok.all()):
                break
            alpha = xp.where(ok, alpha, 0.5 * alpha)
        y = xp.where(active[..., None], cand, y)
        f0 = xp.where(active, f_cand, f0)
    return y, max_iter, resid


# --- autograd -------------------------------------------------------------------------------


class _DenseRB(torch.autograd.Function):
    """y*(Σ, b) for dense Σ with an implicit backward."""

    @staticmethod
    def forward(ctx, sigma, b, tol, max_iter, backend, info):  # type: ignore[override]
        sym = 0.5 * (sigma + sigma.transpose(-1, -2))
        op = _DenseNP(sym.detach().numpy()) if _numpy_ok(sym, backend) else _Dense(sym)
        y = _solve(op, b, tol, max_iter, info)
        ctx.save_for_backward(sym, b, y)
        return y

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        sym, b, y = ctx.saved_tensors
        v = _Dense(sym).solve_h(b / (y * y), gy)
        gsig = -0.5 * (v.unsqueeze(-1) * y.unsqueeze(-2) + y.unsqueeze(-1) * v.unsqueeze(-2))
        return gsig, v / y, None, None, None, None


class _FactorRB(torch.autograd.Function):
    """y*(F F' + diag(d), b) with an implicit backward at O(n k²)."""

    @staticmethod
    def forward(ctx, f, d, b, tol, max_iter, backend, info):  # type: ignore[override]
        if _numpy_ok(f, backend):
            op: Op = _FactorNP(f.detach().numpy(), d.detach().numpy())
        else:
            op = _Factor(f, d)
        y = _solve(op, b, tol, max_iter, info)
        ctx.save_for_backward(f, d, b, y)
        return y

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        f, d, b, y = ctx.saved_tensors
        v = _Factor(f, d).solve_h(b / (y * y), gy)
        fy = torch.einsum("bnk,bn->bk", f, y)
        fv = torch.einsum("bnk,bn->bk", f, v)
        gf = -(v.unsqueeze(-1) * fy.unsqueeze(-2) + y.unsqueeze(-1) * fv.unsqueeze(-2))
        return gf, -v * y, v / y, None, None, None, None


def _numpy_ok(t: torch.Tensor, backend: Backend) -> bool:
    """Whether the forward solve runs in NumPy: on the CPU unless ``backend`` is "torch"."""
    return t.device.type == "cpu" and backend != "torch"


def _solve(
    op: Op, b: torch.Tensor, tol: float, max_iter: int, info: list[SolveInfo] | None
) -> torch.Tensor:
    if op.xp is _NumpyNS:
        y_np, it, resid_np = _newton(op, b.detach().numpy(), tol, max_iter)
        y, resid = torch.from_numpy(np.ascontiguousarray(y_np)), torch.from_numpy(resid_np)
    else:
        y, it, resid = _newton(op, b, tol, max_iter)
    worst = float(resid.max())
    if info is not None:
        info.append(SolveInfo(iterations=it, residual=worst))
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
    backend: Backend = "auto",
    info: list[SolveInfo] | None = None,
) -> torch.Tensor:
    """Long-only weights (sum 1) whose risk contributions equal ``budgets``, differentiably.

    ``cov`` is (..., n, n) or a :class:`FactorCov`; ``budgets`` is (..., n), positive, summing
    to 1. Raises :class:`SolverError` for invalid inputs (non-PSD Σ, bad budgets) and
    :class:`NotConvergedError` rather than returning an inexact answer. ``backend`` picks the
    forward solve ("auto": NumPy on the CPU, torch on a GPU; "numpy"; "torch"); the
    diagnostics of each forward solve (:class:`SolveInfo`) are appended to ``info`` if given.
    """
    if backend not in get_args(Backend):
        raise SolverError(f"unknown solver backend {backend!r}; use one of {get_args(Backend)}")
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
        diag = (f.detach() ** 2).sum(-1) + d.detach()
        if bool((diag <= 0).any()):
            raise SolverError("factor covariance has an asset with zero variance")
        s = diag.mean(-1)
        y = _FactorRB.apply(
            f / s.sqrt()[:, None, None], d / s[:, None], b, tol, max_iter, backend, info
        )
    else:
        sigma = cov.reshape(-1, n, n).to(torch.float64)
        if check:
            check_psd(sigma)
        sigma = sigma.expand(b.shape[0], -1, -1)
        diag = sigma.detach().diagonal(dim1=-2, dim2=-1)
        if bool((diag <= 0).any()):
            raise SolverError("covariance has an asset with zero or negative variance")
        s = diag.mean(-1)
        y = _DenseRB.apply(sigma / s[:, None, None], b, tol, max_iter, backend, info)
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
