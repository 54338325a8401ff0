"""Is a Sharpe ratio (difference) real? Ledoit-Wolf (2008) HAC test and the deflated Sharpe.

- :func:`sharpe_difference_test`: Ledoit & Wolf (2008), "Robust performance hypothesis
  testing with the Sharpe ratio": the delta method on the paired moments
  (μ_a, μ_b, E r_a², E r_b²) with a Newey-West (Bartlett kernel) HAC covariance from
  ``statsmodels``, so serial correlation and fat tails of daily returns are allowed for.
- :func:`deflated_sharpe_ratio`: Bailey & López de Prado (2014): the probability that the
  true Sharpe exceeds the best one expected from ``n_trials`` unskilled candidates.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from riskalloc.errors import DataError
from riskalloc.market import TRADING_DAYS

EULER_GAMMA = 0.5772156649015329


def _paired(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    both = pd.concat([a, b], axis=1, join="inner").dropna()
    if len(both) < 30:
        raise DataError(f"a Sharpe test needs ≥ 30 paired days, got {len(both)}")
    return both.iloc[:, 0].to_numpy(float), both.iloc[:, 1].to_numpy(float)


def newey_west_lags(n: int) -> int:
    """The usual automatic bandwidth floor(4 (n/100)^(2/9))."""
    return math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0))


def sharpe_difference_test(
    excess_a: pd.Series, excess_b: pd.Series, lags: int | None = None
) -> dict[str, float]:
    """Two-sided HAC test of H0: Sharpe(a) = Sharpe(b) on paired daily excess returns.

    Returns the annualised Sharpe ratios, their difference, its standard error and the
    p-value (Ledoit & Wolf 2008, section 3.1, with a Bartlett kernel).
    """
    from statsmodels.stats.sandwich_covariance import S_hac_simple

    ra, rb = _paired(excess_a, excess_b)
    n = len(ra)
    mu_a, mu_b = ra.mean(), rb.mean()
    g_a, g_b = (ra**2).mean(), (rb**2).mean()
    sd_a, sd_b = math.sqrt(g_a - mu_a**2), math.sqrt(g_b - mu_b**2)
    if sd_a <= 0 or sd_b <= 0:
        raise DataError("a Sharpe test needs returns that vary")
    diff = mu_a / sd_a - mu_b / sd_b
    grad = np.array(
        [
            g_a / sd_a**3,
            -g_b / sd_b**3,
            -0.5 * mu_a / sd_a**3,
            0.5 * mu_b / sd_b**3,
        ]
    )
    y = np.column_stack([ra - mu_a, rb - mu_b, ra**2 - g_a, rb**2 - g_b])
    psi = S_hac_simple(y, nlags=newey_west_lags(n) if lags is None else lags) / n
    se = math.sqrt(max(float(grad @ psi @ grad) / n, 0.0))
    ann = math.sqrt(TRADING_DAYS)
    p = 2.0 * (1.0 - stats.norm.cdf(abs(diff) / se)) if se > 0 else float("nan")
    return {
        "sharpe_a": mu_a / sd_a * ann,
        "sharpe_b": mu_b / sd_b * ann,
        "diff": diff * ann,
        "se": se * ann,
        "p_value": float(p),
    }


def expected_max_sharpe(n_trials: int, sharpe_var: float) -> float:
    """Expected maximum of ``n_trials`` per-period Sharpe ratios with true value 0."""
    if n_trials <= 1:
        return 0.0
    z1 = stats.norm.ppf(1.0 - 1.0 / n_trials)
    z2 = stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(max(sharpe_var, 0.0)) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def deflated_sharpe_ratio(
    returns: pd.Series, n_trials: int, trial_sharpes_var: float | None = None
) -> dict[str, float]:
    """Deflated Sharpe ratio (Bailey & López de Prado 2014) of daily excess ``returns``.

    ``trial_sharpes_var`` is the variance of the *per-period* Sharpe ratios of the
    candidates that were tried; by default the sampling variance of one estimate, 1/T.
    Returns the observed (annualised) Sharpe, the annualised benchmark SR₀ and the DSR, a
    probability in [0, 1].
    """
    r = pd.Series(returns, dtype=float).dropna().to_numpy()
    t = len(r)
    if t < 30:
        raise DataError(f"a deflated Sharpe needs ≥ 30 days, got {t}")
    sr = r.mean() / r.std(ddof=1)
    var = 1.0 / t if trial_sharpes_var is None else float(trial_sharpes_var)
    sr0 = expected_max_sharpe(int(n_trials), var)
    skew = float(stats.skew(r))
    kurt = float(stats.kurtosis(r, fisher=False))
    denom = math.sqrt(max(1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2, 1e-12))
    z = (sr - sr0) * math.sqrt(t - 1) / denom
    ann = math.sqrt(TRADING_DAYS)
    return {"sharpe": sr * ann, "sr0": sr0 * ann, "dsr": float(stats.norm.cdf(z))}
