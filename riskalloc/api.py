"""Library entry points over the pipeline's own code: the exact layer and the vol forecasters.

Nothing here re-implements a stage: :func:`risk_budgeting_weights` calls the layer's solver
(:func:`riskalloc.allocate.risk_budgeting.solve_risk_budgeting`) and :class:`VolForecaster` the
baseline forecasters of :mod:`riskalloc.forecast`. The backtest is ``riskalloc.backtest(...)``
(:func:`riskalloc.backtest.headline.backtest`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd

from riskalloc.errors import ConfigError, DataError

if TYPE_CHECKING:
    import torch


__all__ = ["VolForecaster", "risk_budgeting_weights"]

ForecastModel = Literal["ewma", "garch", "har"]


def risk_budgeting_weights(
    cov: np.ndarray | torch.Tensor,
    budgets: np.ndarray | torch.Tensor | None = None,
    *,
    tol: float = 1e-13,
    max_iter: int = 100,
) -> np.ndarray | torch.Tensor:
    """Long-only weights (sum 1) whose risk contributions w_i (Σw)_i / w'Σw equal ``budgets``.

    The exact layer of the allocator (damped multiplicative Newton, stopped on the residual);
    for torch tensors it is differentiable in ``cov`` and ``budgets`` (implicit backward).

    Parameters
    ----------
    cov : ndarray or torch.Tensor of shape (..., n, n)
        Positive semi-definite covariance(s), batched over leading dimensions; a
        :class:`~riskalloc.allocate.covariance.FactorCov` is accepted too.
    budgets : ndarray or torch.Tensor of shape (..., n), optional
        Positive risk budgets summing to 1 (default 1/n: equal risk contributions).
    tol, max_iter : float, int
        Residual tolerance and Newton step limit (``NotConvergedError`` beyond it).

    Returns
    -------
    ndarray or torch.Tensor of shape (..., n)
        Same type as ``cov`` (float64 for NumPy, the budgets' dtype for torch).
    """
    import torch

    from riskalloc.allocate.covariance import FactorCov
    from riskalloc.allocate.risk_budgeting import solve_risk_budgeting

    if isinstance(cov, FactorCov):
        n = cov.n
        ref = cov.factors
    elif isinstance(cov, torch.Tensor):
        n, ref = int(cov.shape[-1]), cov
    else:
        arr = np.asarray(cov, dtype=float)
        if arr.ndim < 2 or arr.shape[-1] != arr.shape[-2]:
            raise DataError(f"cov must be (..., n, n), got shape {arr.shape}")
        b = None if budgets is None else torch.from_numpy(np.asarray(budgets, dtype=float))
        w = risk_budgeting_weights(
            torch.from_numpy(np.array(arr, dtype=float)), b, tol=tol, max_iter=max_iter
        )
        return w.detach().numpy()
    if budgets is None:
        dtype = ref.dtype if ref.is_floating_point() else torch.float64
        budgets = torch.full((n,), 1.0 / n, dtype=dtype, device=ref.device)
    elif not isinstance(budgets, torch.Tensor):
        budgets = torch.as_tensor(np.asarray(budgets, dtype=float), device=ref.device)
    return solve_risk_budgeting(cov, budgets, tol=tol, max_iter=max_iter)


class VolForecaster:
    """Next-``horizon``-day volatility forecasts from daily returns: EWMA, GARCH(1,1) or HAR-RV.

    The same estimators the forecaster stage runs (:mod:`riskalloc.forecast.baselines`):
    ``fit`` estimates the parameters on a history (per-asset GARCH(1,1) by ``arch``; per-asset
    HAR-RV by OLS, pooled for assets with under 100 labels; EWMA has none), ``predict``
    filters a history with them. The forecast at t uses returns up to t only.

    Parameters
    ----------
    model : {"ewma", "garch", "har"}, default "garch"
    horizon : int, default 21
        Trading days the forecast vol covers (annualised).

    Attributes
    ----------
    params_ : dict
        Per asset: GARCH parameters (omega, alpha[1], beta[1]) or HAR coefficients.
    tickers_ : list of str
    """

    def __init__(self, model: ForecastModel = "garch", horizon: int = 21) -> None:
        if model not in get_args(ForecastModel):
            raise ConfigError(f"model {model!r}: use one of {list(get_args(ForecastModel))}")
        if horizon < 1:
            raise ConfigError(f"horizon must be ≥ 1 trading day, got {horizon}")
        self.model = model
        self.horizon = horizon

    @staticmethod
    def _log_returns(returns: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(returns, pd.DataFrame) or not isinstance(returns.index, pd.DatetimeIndex):
            raise DataError("returns must be a DataFrame on a DatetimeIndex (date x asset)")
        return np.log1p(returns.astype(float))

    def fit(self, returns: pd.DataFrame) -> VolForecaster:
        """Estimate the model on simple daily returns (n_days, n_assets); returns self."""
        from riskalloc.forecast.baselines import har_design, har_fit
        from riskalloc.forecast.garch_fits import garch_params
        from riskalloc.forecast.targets import future_realised_vol, log_vol
        from riskalloc.forecast.walkforward import HAR_MIN_ROWS

        r = self._log_returns(returns)
        self.tickers_ = [str(c) for c in r.columns]
        r.columns = self.tickers_
        self.params_: dict[str, Any] = {}
        if self.model == "garch":
            end = r.index[-1] + pd.Timedelta(days=1)
            self.params_ = garch_params(self.tickers_, r, end)
        elif self.model == "har":
            x = np.stack([v.to_numpy() for v in har_design(r).values()], axis=-1)  # (T, n, 3)
            y = log_vol(future_realised_vol(r, self.horizon)).to_numpy()  # labels known by the end
            ok = np.isfinite(x).all(-1) & np.isfinite(y)
            if not ok.any():
                raise DataError("too little history to fit HAR-RV")
            pooled = har_fit(x[ok], y[ok])
            for i, t in enumerate(self.tickers_):
                m = ok[:, i]
                self.params_[t] = har_fit(x[m, i], y[m, i]) if m.sum() >= HAR_MIN_ROWS else pooled
        return self

    def predict(self, returns: pd.DataFrame) -> pd.DataFrame:
        """Annualised vol forecasts for every row of ``returns`` (pass the whole history:
        GARCH filters it from the start, HAR needs 21 days of it).

        Parameters
        ----------
        returns : pandas.DataFrame of shape (n_days, n_assets)
            Simple daily returns of the fitted assets.

        Returns
        -------
        pandas.DataFrame of shape (n_days, n_assets)
            Forecast vol over the next ``horizon`` days; NaN where an asset has no estimate.
        """
        from riskalloc.forecast.baselines import ewma_forecast, garch_path, har_design, har_predict

        if not hasattr(self, "tickers_"):
            raise ConfigError("VolForecaster.predict() before fit()")
        r = self._log_returns(returns)
        r.columns = [str(c) for c in r.columns]
        missing = sorted(set(self.tickers_) - set(r.columns))
        if missing:
            raise DataError(f"returns lack the fitted assets {missing}")
        r = r.loc[:, self.tickers_]
        if self.model == "ewma":
            return ewma_forecast(r)
        out = pd.DataFrame(np.nan, index=r.index, columns=self.tickers_)
        if self.model == "garch":
            for t, p in self.params_.items():
                if r[t].notna().any():
                    out[t] = garch_path(r[t], pd.Series(p), self.horizon).reindex(r.index)
            return out
        design = har_design(r)
        for t, coef in self.params_.items():
            x = np.column_stack([design[k][t].to_numpy() for k in design])
            out[t] = np.exp(har_predict(coef, x))
        return out
