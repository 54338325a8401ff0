"""The production allocator (allocator v2) as a scikit-learn / skfolio estimator.

:class:`AdaptiveRiskBudgeting` wraps :class:`~riskalloc.allocate.designed.DesignedStrategy`:
its hyper-parameters are the fields of :class:`~riskalloc.allocate.design.AllocatorDesign`
(defaults: the committed ``selected_design.json``), so the weights it gives for a history are
the ones the backtest and the nightly publication give for the same history. When skfolio is
installed it is a skfolio ``BaseOptimization`` (so ``skfolio.model_selection.cross_val_predict``
accepts it) and ``predict`` returns a skfolio ``Portfolio``; otherwise a plain scikit-learn
estimator whose ``predict`` returns the portfolio's daily returns.
"""

from __future__ import annotations

import warnings
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from riskalloc.allocate.design import AllocatorDesign, load_design
from riskalloc.errors import DataError
from riskalloc.market import MarketData

try:  # skfolio's cross_val_predict accepts only its own optimisation estimators
    from skfolio.optimization import BaseOptimization as _Base

    HAS_SKFOLIO = True
except ImportError:  # pragma: no cover - skfolio is a dependency of the backtest extras
    from sklearn.base import BaseEstimator as _Base

    HAS_SKFOLIO = False

__all__ = ["HAS_SKFOLIO", "AdaptiveRiskBudgeting", "prices_from_returns"]

_DEFAULT = load_design()
DESIGN_FIELDS = tuple(f.name for f in fields(AllocatorDesign))


def prices_from_returns(returns: pd.DataFrame) -> pd.DataFrame:
    """Price paths (start 1) whose simple returns are ``returns``, one row longer at the start.

    Parameters
    ----------
    returns : pandas.DataFrame of shape (n_days, n_assets)
        Simple daily returns; NaN before an asset's first return. A NaN after it counts as 0.

    Returns
    -------
    pandas.DataFrame of shape (n_days + 1, n_assets)
        Prices; the extra first row is dated one day before the first return.
    """
    r = returns.astype(float)
    started = r.notna().cummax()
    keep = started | started.shift(-1, fill_value=False)  # the base price before each start
    px = (1.0 + r.fillna(0.0)).cumprod().where(keep)
    first = pd.DataFrame(
        np.where(started.iloc[[0]].to_numpy(), 1.0, np.nan),
        index=pd.DatetimeIndex([r.index[0] - pd.Timedelta(days=1)]),
        columns=r.columns,
    )
    out = pd.concat([first, px])
    out.index = pd.DatetimeIndex(out.index, name="date")
    return out


def _frame(X: Any, names: list[str] | None = None) -> pd.DataFrame:
    """X as a DataFrame on a DatetimeIndex (an array gets business days from 2000-01-03)."""
    if isinstance(X, pd.DataFrame):
        df = X.copy()
        if not isinstance(df.index, pd.DatetimeIndex):
            raise DataError("X needs a DatetimeIndex: the allocator's windows are in trading days")
        df.columns = [str(c) for c in df.columns]
        return df
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2:
        raise DataError(f"X must be 2-D (n_days, n_assets), got shape {arr.shape}")
    cols = names or [f"x{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, index=pd.bdate_range("2000-01-03", periods=len(arr)), columns=cols)


class AdaptiveRiskBudgeting(_Base):
    """Risk budgeting with the exact layer, covariance inputs and overlays of allocator v2.

    On the last date of the history given to :meth:`fit`, with data up to that date only:
    assets with a full ``corr_window`` of returns → Σ (sample correlation or its shrinkage to
    constant correlation; sample, EWMA or blended vols) → budgets (1/n, 1/K per asset class or
    a learned tilt) → the exact risk-budgeting layer → optional trend and relative-vol-target
    overlays → partial rebalancing at speed ``rebalance_speed`` over the last weeks' targets.
    The cash ETF of the bundled universe (BIL), when present, is never a risky asset; weights
    may sum to less than 1 (the rest is cash), or up to ``max_exposure`` > 1 when a vol target
    may lever (the rest is borrowed at the cash rate plus a spread).

    Parameters
    ----------
    budgets, tilt_penalty, vol_source, corr_window, corr_shrink, trend_lookback, trend_floor,
    trend_scope, vol_target, target_window, max_exposure, rebalance_speed, ensemble
        The :class:`~riskalloc.allocate.design.AllocatorDesign` fields (see its docstring);
        defaults are the committed production design (``selected_design.json``: since the
        third selection round, plain ERC on a 252-day window, κ = 1).
        With κ < 1 the weights average the targets of up to ~7 weekly dates before the last
        one, so give at least ``corr_window`` + 40 days of history.
    random_state : int, default 0
        Seed of the learned tilt (``budgets="learned_tilt"``); rule-based designs ignore it.
    prices : bool, default False
        X holds prices (date x asset) rather than simple returns.
    portfolio_params : dict, optional
        Passed to the skfolio ``Portfolio`` that :meth:`predict` returns.

    Attributes
    ----------
    weights_ : pandas.Series of shape (n_assets,)
        Target weights by ticker (sum ≤ max(1, ``max_exposure``); the rest is cash).
    risk_budgets_ : pandas.Series of shape (n_eligible,)
        Risk budgets of the eligible assets at the last date (sum 1).
    layer_weights_ : pandas.Series of shape (n_eligible,)
        Fully invested risk-budgeting weights of the last date, before overlays and smoothing.
    exposure_ : float
        Sum of ``weights_`` (the invested share).
    regime_probabilities_ : pandas.Series of shape (K,) or None
        Regime probabilities of the learned budget model at the last date; None when the
        design has no regime module (every rule-based design, the committed one included).
    design_ : AllocatorDesign
        The validated design.
    strategy_ : DesignedStrategy
        The fitted walk-forward strategy (what the backtest runs).
    """

    # skfolio's BaseOptimization reads these; they are not hyper-parameters here
    fallback = None
    previous_weights = None
    raise_on_failure = True

    def __init__(
        self,
        budgets: str = _DEFAULT.budgets,
        tilt_penalty: float = _DEFAULT.tilt_penalty,
        vol_source: str = _DEFAULT.vol_source,
        corr_window: int = _DEFAULT.corr_window,
        corr_shrink: str = _DEFAULT.corr_shrink,
        trend_lookback: int = _DEFAULT.trend_lookback,
        trend_floor: float = _DEFAULT.trend_floor,
        trend_scope: str = _DEFAULT.trend_scope,
        vol_target: float | None = _DEFAULT.vol_target,
        target_window: int = _DEFAULT.target_window,
        max_exposure: float = _DEFAULT.max_exposure,
        rebalance_speed: float = _DEFAULT.rebalance_speed,
        ensemble: int = _DEFAULT.ensemble,
        random_state: int | None = 0,
        prices: bool = False,
        portfolio_params: dict | None = None,
    ) -> None:
        self.budgets = budgets
        self.tilt_penalty = tilt_penalty
        self.vol_source = vol_source
        self.corr_window = corr_window
        self.corr_shrink = corr_shrink
        self.trend_lookback = trend_lookback
        self.trend_floor = trend_floor
        self.trend_scope = trend_scope
        self.vol_target = vol_target
        self.target_window = target_window
        self.max_exposure = max_exposure
        self.rebalance_speed = rebalance_speed
        self.ensemble = ensemble
        self.random_state = random_state
        self.prices = prices
        self.portfolio_params = portfolio_params

    def design(self) -> AllocatorDesign:
        """The :class:`AllocatorDesign` of the current hyper-parameters (validated)."""
        return AllocatorDesign(**{f: getattr(self, f) for f in DESIGN_FIELDS})

    @classmethod
    def from_design(cls, design: AllocatorDesign, **kwargs: Any) -> AdaptiveRiskBudgeting:
        """An estimator with the hyper-parameters of ``design`` (``kwargs``: the others)."""
        return cls(**design.to_dict(), **kwargs)

    def _market(self, X: Any, macro: pd.DataFrame | None) -> MarketData:
        frame = _frame(X)
        px = frame if self.prices else prices_from_returns(frame)
        return MarketData.from_wide(px, macro)

    def fit(
        self,
        X: Any,
        y: Any = None,
        macro: pd.DataFrame | None = None,
        vol_forecast: pd.DataFrame | None = None,
    ) -> AdaptiveRiskBudgeting:
        """Decide the weights at the last date of X from X (and ``macro``) up to that date.

        A learned design (``budgets="learned_tilt"``) first trains its budget network on all
        of X (the backtest trains it on the data before each fold); it needs ``macro``.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_days, n_assets)
            Simple daily returns (or prices with ``prices=True``) on a DatetimeIndex.
        y : ignored
            For scikit-learn compatibility.
        macro : pandas.DataFrame of shape (n_macro_days, n_series), optional
            FRED-style indicators by observation date (e.g.
            :func:`riskalloc.datasets.load_fred_macro`); DTB3 is the cash rate of the trend
            overlay, and the learned tilt reads the macro state.
        vol_forecast : pandas.DataFrame of shape (n_dates, n_assets), optional
            Annualised volatility forecasts by date (e.g. the ``forecast_vol`` of the
            production forecaster, pivoted); needed by ``vol_source="forecast"``, read only
            up to the last date of X.

        Returns
        -------
        AdaptiveRiskBudgeting
            self, fitted.
        """
        from riskalloc.allocate.designed import DesignedStrategy

        design = self.design()
        md = self._market(X, macro)
        strat = DesignedStrategy(
            design=design, seed=int(self.random_state or 0), vol_forecast=vol_forecast
        )
        strat.fit(md)
        last = md.dates[-1]
        w = strat.smoothed(md)
        detail = strat.detail_at(md, last)
        short = [d for d, t in strat._targets.items() if t.budgets.empty]
        if short:
            warnings.warn(
                f"{len(short)} of the {len(strat._targets)} targets averaged by the partial "
                f"rebalance (rebalance_speed={design.rebalance_speed:g}) had no full "
                f"{design.corr_window}-day window and count as cash (exposure "
                f"{float(np.sum(w)):.2f}); give {design.corr_window} + ~40 days of history or "
                "set rebalance_speed=1",
                UserWarning,
                stacklevel=2,
            )
        self.design_ = design
        self.strategy_ = strat
        self.weights_ = pd.Series(w, index=md.tickers, name="weight")
        self.risk_budgets_ = detail.budgets.rename("budget")
        self.layer_weights_ = detail.layer_weights.rename("weight")
        self.exposure_ = float(np.sum(w))
        self.regime_probabilities_ = self._regimes(strat, md)
        self.n_features_in_ = len(md.tickers)
        self.feature_names_in_ = np.asarray(md.tickers, dtype=object)
        self.fallback_, self.fallback_chain_, self.error_ = None, None, None
        return self

    @staticmethod
    def _regimes(strat: Any, md: MarketData) -> pd.Series | None:
        """Ensemble-mean regime probabilities of the learned model at md's last date."""
        if not strat.trained:
            return None
        data = strat._data(md)
        last = md.dates[-1]
        if last not in data.dates:
            return None
        idx = np.array([data.dates.get_loc(last)])
        p = np.mean(
            [t.allocate(data, idx).regime_probs.double().numpy()[0] for t in strat.trained], 0
        )
        return pd.Series(p, index=[f"regime_{k}" for k in range(len(p))], name="probability")

    def _returns(self, X: Any) -> pd.DataFrame:
        names = list(self.feature_names_in_)
        frame = _frame(X, names)
        rets = frame.pct_change(fill_method=None).iloc[1:] if self.prices else frame
        missing = sorted(set(names) - set(rets.columns))
        if missing:
            raise DataError(f"X lacks the fitted assets {missing}")
        return rets.loc[:, names]

    def predict(self, X: Any) -> Any:
        """The fitted weights held over X (no rebalancing inside X).

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_days, n_assets)
            Returns (or prices with ``prices=True``) of the fitted assets after the fit window.

        Returns
        -------
        skfolio.Portfolio or pandas.Series of shape (n_days,)
            A skfolio ``Portfolio`` when skfolio is installed, else the daily portfolio
            returns (the uninvested share earns 0).
        """
        rets = self._returns(X)
        w = self.weights_.reindex(rets.columns).fillna(0.0).to_numpy(float)
        if not HAS_SKFOLIO:
            return pd.Series(rets.fillna(0.0).to_numpy() @ w, index=rets.index, name="return")
        from skfolio.portfolio import Portfolio

        kwargs = dict(self.portfolio_params or {})
        kwargs.setdefault("name", type(self).__name__)
        return Portfolio(X=rets, weights=w, **kwargs)
