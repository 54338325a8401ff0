"""Baseline vol forecasters on the same targets: EWMA, GARCH(1,1) via ``arch``, HAR-RV."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from arch import arch_model
from scipy.signal import lfilter

from riskalloc.features.asset import EWMA_LAMBDA, ewma_vol
from riskalloc.forecast.targets import log_vol
from riskalloc.market import TRADING_DAYS

HAR_COLUMNS = ("rv_1", "rv_5", "rv_21")
log = logging.getLogger(__name__)


def ewma_forecast(log_ret: pd.DataFrame, lam: float = EWMA_LAMBDA) -> pd.DataFrame:
    """EWMA vol at t (uses r_t), held flat as the forecast of the next h days' vol."""
    return ewma_vol(log_ret, lam)


def garch_fit(train_ret: pd.Series) -> pd.Series:
    """Fit zero-mean GARCH(1,1) on percent log returns (``rescale=False``); return the params."""
    y = 100.0 * train_ret.dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # show_warning=False: arch re-enables its ConvergenceWarning inside fit() otherwise
        res = arch_model(y, mean="Zero", vol="GARCH", p=1, q=1, rescale=False).fit(
            disp="off", show_warning=False
        )
    if res.convergence_flag != 0:
        log.debug("GARCH(1,1) fit of %s: optimizer code %s", train_ret.name, res.convergence_flag)
    return res.params


def garch_forecast(
    ret: pd.Series, params: pd.Series, start: pd.Timestamp, horizon: int
) -> pd.Series:
    """Annualised vol forecast of the next ``horizon`` days for every date >= ``start``.

    The fitted ``params`` are fixed and the model filters the whole history, so the forecast
    at t uses returns <= t only; the h-step forecast is the mean variance over t+1..t+h.
    """
    y = 100.0 * ret.dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = arch_model(y, mean="Zero", vol="GARCH", p=1, q=1, rescale=False).fix(params)
        fc = fixed.forecast(horizon=horizon, start=start, reindex=False)
    avg_var = fc.variance.mean(axis=1)
    return np.sqrt(TRADING_DAYS * avg_var) / 100.0


def har_design(log_ret: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Log realised vols over 1, 5 and 21 days (annualised, floored) as HAR regressors."""
    sq = log_ret**2
    return {
        f"rv_{k}": log_vol(np.sqrt(TRADING_DAYS * sq.rolling(k, min_periods=k).mean()))
        for k in (1, 5, 21)
    }


def har_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS of log RV_{t+h} on [1, log RV_d, log RV_w, log RV_m]; returns 4 coefficients."""
    design = np.column_stack([np.ones(len(x)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coef


def har_predict(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Predicted log vol from HAR coefficients."""
    return coef[0] + x @ coef[1:]


def garch_path(ret: pd.Series, params: pd.Series, horizon: int) -> pd.Series:
    """``garch_forecast`` for every date of ``ret`` at once, in NumPy (same numbers as ``arch``).

    Filters sigma²_{t+1} = omega + alpha r_t² + beta sigma²_t from ``arch``'s backcast and
    averages the k-step expectations E sigma²_{t+k} = omega (1 + ... + phi^{k-2}) +
    phi^{k-1} sigma²_{t+1} (phi = alpha + beta) over k = 1..h; the value at t uses r_<=t only.
    """
    y = 100.0 * ret.dropna()
    e2 = y.to_numpy(dtype=float) ** 2
    if len(e2) == 0:
        return pd.Series(dtype=float, index=y.index)
    omega, alpha, beta = (float(params[k]) for k in ("omega", "alpha[1]", "beta[1]"))
    tau = min(75, len(e2))
    w = 0.94 ** np.arange(tau)
    backcast = float(np.sum(e2[:tau] * w / w.sum()))
    # conditional variance of day t given r_<t: s2_t = (omega + alpha e2_{t-1}) + beta s2_{t-1},
    # a first-order linear filter (lfilter does the same operations as the loop, in C)
    u = omega + alpha * np.concatenate([[backcast], e2[:-1]])
    s2 = lfilter([1.0], [1.0, -beta], u, zi=[beta * backcast])[0]
    nxt = omega + alpha * e2 + beta * s2  # sigma²_{t+1}, known at the close of t
    phi = alpha + beta
    powers = phi ** np.arange(horizon)  # phi^(k-1), k = 1..h
    const = omega * np.concatenate([[0.0], np.cumsum(powers[:-1])])  # omega * sum_{j<k-1} phi^j
    avg = const.mean() + powers.mean() * nxt
    return pd.Series(np.sqrt(TRADING_DAYS * avg) / 100.0, index=y.index)
