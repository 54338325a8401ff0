"""Pure functions around the risk-budgeting layer: covariance inputs, budgets and overlays.

Each takes a trailing window (rows dated ≤ the decision date) and returns arrays over the
window's assets, so a caller that passes ``md.until(t)`` cannot look ahead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from riskalloc.allocate.risk_budgeting import solve_risk_budgeting
from riskalloc.errors import DataError
from riskalloc.features.asset import EWMA_LAMBDA
from riskalloc.market import TRADING_DAYS

MIN_VARIANCE = 1e-12  # daily variance floor: a flat-priced asset would make Σ singular


def ewma_variance(returns: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """RiskMetrics EWMA variance of each column at the window's last row (zero mean)."""
    n = returns.shape[0]
    w = (1.0 - lam) * lam ** np.arange(n - 1, -1, -1, dtype=float)
    return (w[:, None] * returns**2).sum(0) / w.sum()


def constant_correlation_shrunk(returns: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf (2004) shrinkage of the sample covariance of a (T, n) window towards the
    constant-correlation target, and its intensity δ ∈ [0, 1] (PyPortfolioOpt's estimator)."""
    from pypfopt.risk_models import CovarianceShrinkage

    est = CovarianceShrinkage(pd.DataFrame(returns), returns_data=True, frequency=1)
    cov = est.ledoit_wolf("constant_correlation").to_numpy()
    return cov, float(est.delta)


def window_covariance(
    returns: np.ndarray,
    vol_source: str,
    corr_shrink: str = "none",
    forecast_var: np.ndarray | None = None,
) -> np.ndarray:
    """Daily covariance of a (T, n) window: the sample correlation (``corr_shrink="constant"``:
    its Ledoit-Wolf shrinkage to constant correlation) with sample, EWMA, blended or forecast
    variances (``forecast_var``, daily; NaN entries keep the sample variance; see
    :class:`~riskalloc.allocate.design.AllocatorDesign`)."""
    if corr_shrink == "constant" and returns.shape[1] > 1:
        # the target keeps each variance, so the variances below are the sample ones either way
        cov = constant_correlation_shrunk(returns)[0]
    else:
        cov = np.atleast_2d(np.cov(returns, rowvar=False))
    if vol_source == "sample":
        var = np.diag(cov).copy()
    elif vol_source == "forecast":
        if forecast_var is None or len(forecast_var) != cov.shape[0]:
            raise DataError("vol_source='forecast' needs one forecast variance per asset")
        f = np.asarray(forecast_var, float)
        var = np.where(np.isfinite(f) & (f > 0), f, np.diag(cov))
    else:
        ew = ewma_variance(returns)
        var = ew if vol_source == "ewma" else 0.5 * (ew + np.diag(cov))
    sd = np.sqrt(np.clip(np.diag(cov), MIN_VARIANCE, None))
    corr = cov / np.outer(sd, sd)
    np.fill_diagonal(corr, 1.0)
    vol = np.sqrt(np.clip(var, MIN_VARIANCE, None))
    return corr * np.outer(vol, vol)


def equal_budgets(n: int) -> np.ndarray:
    """1/n: plain equal risk contributions."""
    return np.full(n, 1.0 / n)


def class_budgets(classes: list[str]) -> np.ndarray:
    """1/K per asset class, split equally among its assets (equal budgets when K = 1)."""
    labels = np.asarray(classes)
    uniq, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return 1.0 / (len(uniq) * counts[inverse])


def risk_budget_weights(cov: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Fully invested long-only weights with risk contributions = ``budgets`` (the exact layer)."""
    if cov.shape[0] == 1:
        return np.ones(1)
    b = np.asarray(budgets, float)
    w = solve_risk_budgeting(
        torch.from_numpy(np.ascontiguousarray(cov)), torch.from_numpy(b / b.sum())
    )
    return w.numpy()


def trend_multipliers(
    returns: np.ndarray, rf: np.ndarray, lookback: int, floor: float
) -> np.ndarray:
    """1 for assets whose trailing ``lookback``-day return beats cash, ``floor`` otherwise
    (time-series momentum, Moskowitz, Ooi & Pedersen 2012)."""
    if floor >= 1.0:
        return np.ones(returns.shape[1])
    r = returns[-lookback:]
    growth = np.expm1(np.log1p(r).sum(0))
    cash = float(np.expm1(np.log1p(rf[-lookback:]).sum()))
    return np.where(growth > cash, 1.0, floor)


def class_trend_multipliers(
    returns: np.ndarray, rf: np.ndarray, classes: list[str], lookback: int, floor: float
) -> np.ndarray:
    """Time-series momentum of asset-class aggregates: every asset of a class whose
    equal-weight trailing ``lookback``-day return is below cash gets ``floor``, the others 1
    (one slower signal per class instead of one per asset)."""
    if floor >= 1.0:
        return np.ones(returns.shape[1])
    labels = np.asarray(classes)
    uniq, inverse = np.unique(labels, return_inverse=True)
    members = np.eye(len(uniq))[inverse]  # (n, K) membership
    class_returns = returns @ (members / members.sum(0))
    return trend_multipliers(class_returns, rf, lookback, floor)[inverse]


def portfolio_vol(cov: np.ndarray, w: np.ndarray) -> float:
    """Annualised volatility of weights ``w`` under daily covariance ``cov``."""
    return float(np.sqrt(max(w @ cov @ w, 0.0) * TRADING_DAYS))


def relative_exposure(
    now_vol: float, long_returns: np.ndarray, multiple: float, cap: float
) -> tuple[float, float]:
    """(min(cap, multiple · σ_long / σ_now), the target multiple · σ_long), σ_long the vol of
    the equal-risk portfolio on the long window: a target relative to the universe."""
    cov_long = np.atleast_2d(np.cov(long_returns, rowvar=False))
    w_long = risk_budget_weights(cov_long, equal_budgets(cov_long.shape[0]))
    target = multiple * portfolio_vol(cov_long, w_long)
    if now_vol <= 0:
        return cap, target
    return float(min(cap, target / now_vol)), target
