"""Rule-based baselines on a trailing 1-year window: EW, inverse vol, ERC, min variance, HRP.

skfolio does the optimisation (fed percent returns, which conditions its solvers and leaves
the scale-free weights unchanged); ERC under variance uses the allocator's exact layer instead
(:func:`erc_weights`, checked against skfolio's ``RiskBudgeting`` in the tests) because it is
~50× faster on daily rebalancing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from riskalloc.allocate.risk_budgeting import solve_risk_budgeting
from riskalloc.backtest.strategy import LOOKBACK, LookbackStrategy
from riskalloc.errors import ConfigError

log = logging.getLogger(__name__)

RISK_MEASURES: tuple[str, ...] = ("variance", "cvar")


def _skfolio_measure(risk_measure: str) -> Any:
    from skfolio import RiskMeasure

    table = {"variance": RiskMeasure.VARIANCE, "cvar": RiskMeasure.CVAR}
    if risk_measure not in table:
        raise ConfigError(f"unknown risk_measure {risk_measure!r}; use one of {list(table)}")
    return table[risk_measure]


def erc_weights(
    cov: np.ndarray, budgets: np.ndarray | None = None, tol: float = 1e-13, max_iter: int = 100
) -> np.ndarray:
    """Long-only risk-budgeting weights w_i (Σw)_i ∝ b_i (default b = 1/n: ERC).

    The allocator's exact layer (:func:`riskalloc.allocate.risk_budgeting.solve_risk_budgeting`:
    Newton on Spinu's convex form, stopped on the residual), so the baseline and the allocator
    share one solver. Raises ``SolverError`` for an invalid Σ, ``NotConvergedError`` beyond
    ``max_iter`` steps.
    """
    s = np.atleast_2d(np.asarray(cov, dtype=float))
    n = s.shape[0]
    b = np.full(n, 1.0 / n) if budgets is None else np.asarray(budgets, float) / np.sum(budgets)
    if n == 1:
        return np.ones(1)
    w = solve_risk_budgeting(
        torch.from_numpy(np.array(s)), torch.from_numpy(b), tol=tol, max_iter=max_iter
    )
    return w.numpy()


class EqualWeight(LookbackStrategy):
    """1/N over the eligible risky assets."""

    name = "equal_weight"

    def allocate(self, window: pd.DataFrame) -> np.ndarray:
        """Equal weights."""
        return np.full(window.shape[1], 1.0 / window.shape[1])


class _SkfolioStrategy(LookbackStrategy):
    """A skfolio estimator refit on each window; inverse volatility if its solver fails."""

    def __init__(
        self, risk_measure: str = "variance", lookback: int = LOOKBACK, exclude_cash: bool = True
    ) -> None:
        super().__init__(lookback, exclude_cash)
        _skfolio_measure(risk_measure)
        self.risk_measure = risk_measure
        self.fallback_dates: list[pd.Timestamp] = []

    def estimator(self) -> Any:
        """A fresh skfolio optimiser."""
        raise NotImplementedError

    def allocate(self, window: pd.DataFrame) -> np.ndarray:
        """Fit on percent returns (other scales if the solver fails; the weights are
        scale-free), then fall back to inverse volatility and record the date."""
        if window.shape[1] == 1:
            return np.ones(1)
        x = window.to_numpy()
        for scale in (100.0, 1.0 / x.std(), 1000.0, 10.0):
            try:
                return np.asarray(self.estimator().fit(x * scale).weights_, dtype=float)
            except Exception as exc:  # skfolio/cvxpy raise several types for a failed solve
                error = exc
        when = window.index[-1]
        log.warning("%s failed on %s (%s); inverse volatility", self.name, when, error)
        self.fallback_dates.append(when)
        return 1.0 / x.std(axis=0)


class InverseVolatility(_SkfolioStrategy):
    """Weights ∝ 1/σ (skfolio ``InverseVolatility``)."""

    name = "inverse_vol"

    def __init__(self, lookback: int = LOOKBACK, exclude_cash: bool = True) -> None:
        super().__init__("variance", lookback, exclude_cash)

    def estimator(self) -> Any:
        """skfolio's inverse volatility."""
        from skfolio.optimization import InverseVolatility as SkInverseVolatility

        return SkInverseVolatility()


class EqualRiskContribution(_SkfolioStrategy):
    """Equal risk contributions of the sample covariance (or of CVaR via skfolio)."""

    name = "erc"
    risk_measures = RISK_MEASURES

    def estimator(self) -> Any:
        """skfolio risk budgeting (used for CVaR)."""
        from skfolio.optimization import RiskBudgeting

        return RiskBudgeting(risk_measure=_skfolio_measure(self.risk_measure))

    def allocate(self, window: pd.DataFrame) -> np.ndarray:
        """Newton ERC on the sample covariance for variance; skfolio for CVaR."""
        if self.risk_measure == "variance" and window.shape[1] > 1:
            return erc_weights(np.cov(window.to_numpy(), rowvar=False))
        return super().allocate(window)


class MinimumVariance(_SkfolioStrategy):
    """Long-only minimum variance (minimum CVaR with ``risk_measure="cvar"``), skfolio MeanRisk."""

    name = "min_variance"
    risk_measures = RISK_MEASURES

    def estimator(self) -> Any:
        """skfolio's mean-risk optimiser minimising risk."""
        from skfolio.optimization import MeanRisk, ObjectiveFunction

        return MeanRisk(
            objective_function=ObjectiveFunction.MINIMIZE_RISK,
            risk_measure=_skfolio_measure(self.risk_measure),
        )


class HierarchicalRiskParity(_SkfolioStrategy):
    """Hierarchical risk parity (skfolio ``HierarchicalRiskParity``, default clustering)."""

    name = "hrp"
    risk_measures = RISK_MEASURES

    def estimator(self) -> Any:
        """skfolio's HRP."""
        from skfolio.optimization import HierarchicalRiskParity as SkHRP

        return SkHRP(risk_measure=_skfolio_measure(self.risk_measure))


def _dl(risk_measure: str, seed: int, lookback: int) -> LookbackStrategy:
    from riskalloc.backtest.dl_baseline import DeepSharpeLSTM

    return DeepSharpeLSTM(seed=seed)  # type: ignore[return-value]


BASELINES: dict[str, Callable[[str, int, int], object]] = {
    "equal_weight": lambda rm, seed, lb: EqualWeight(lb),
    "inverse_vol": lambda rm, seed, lb: InverseVolatility(lb),
    "erc": lambda rm, seed, lb: EqualRiskContribution(rm, lb),
    "min_variance": lambda rm, seed, lb: MinimumVariance(rm, lb),
    "hrp": lambda rm, seed, lb: HierarchicalRiskParity(rm, lb),
    "dl_lstm": _dl,
}


def make_baseline(
    name: str, risk_measure: str = "variance", seed: int = 0, lookback: int = LOOKBACK
) -> object:
    """A baseline Strategy by name (see ``BASELINES``)."""
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}; use one of {sorted(BASELINES)}")
    return BASELINES[name](risk_measure, seed, lookback)
