"""Exact Shapley attribution of every published weight of the production design.

A design's raw weight is a product, r_i = (1/n) · f_layer · f_trend · f_target, with
f_layer = layer weight / (1/n) (what the exact risk-budgeting layer does to equal weight:
volatilities and correlations), f_trend the momentum multiplier and f_target the
volatility-target exposure. The published weight adds the partial rebalance, w_i = r_i + s_i.
The Shapley values of the three multiplicative players against the equal-weight baseline are
computed exactly (all 2³ coalitions), and s_i is the fourth, additive player, so

    w_i = 1/n + φ_layer + φ_trend + φ_target + φ_rebalance        (exactly),

and the same players explain ``exposure`` = Σ w_i, by additivity, from a base of 1.
"""

from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd

from riskalloc.errors import ModelError
from riskalloc.reports.shap_attributions import BASE_FEATURE, LONG_COLUMNS, PORTFOLIO

PLAYERS: tuple[str, ...] = ("risk_parity_layer", "trend_overlay", "vol_target")
REBALANCE_PLAYER = "partial_rebalance"
ACCURACY_TOL = 1e-9


def product_shapley(factors: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Exact Shapley values (m, k) of v(S) = base · Π_{j∈S} f_j for m rows of k factors."""
    m, k = factors.shape
    out = np.zeros((m, k))
    for j in range(k):
        others = [i for i in range(k) if i != j]
        for size in range(k):
            weight = factorial(size) * factorial(k - size - 1) / factorial(k)
            for coal in combinations(others, size):
                prod = np.prod(factors[:, list(coal)], axis=1) if coal else np.ones(m)
                out[:, j] += weight * base * prod * (factors[:, j] - 1.0)
    return out


def explain_design_weights(weights: pd.DataFrame) -> pd.DataFrame:
    """``shap_attributions`` rows (with ``_base_value`` rows) for published design weights
    (columns of :data:`riskalloc.allocate.design_weights.DESIGN_WEIGHT_COLUMNS`).

    Raises ModelError when the attributions do not add up to the published weights.
    """
    frames = []
    for date, g in weights.groupby("date", sort=True):
        live = g["layer_weight"].to_numpy(float) > 0
        n = int(live.sum())
        if n == 0:
            continue
        g = g.loc[live]
        base = np.full(n, 1.0 / n)
        raw_exposure = g["exposure"].to_numpy(float)  # published exposure (sum of weights)
        layer = g["layer_weight"].to_numpy(float)
        trend = g["trend"].to_numpy(float)
        target = _target_exposure(g)
        factors = np.column_stack([layer * n, trend, np.full(n, target)])
        phi = product_shapley(factors, base)
        raw = base * factors.prod(axis=1)
        rebalance = g["weight"].to_numpy(float) - raw
        values = np.column_stack([phi, rebalance])
        rebuilt = base + values.sum(axis=1)
        gap = float(np.max(np.abs(rebuilt - g["weight"].to_numpy(float))))
        if gap > ACCURACY_TOL:
            raise ModelError(f"design attributions miss the weights on {date} by {gap:.3g}")
        names = [*PLAYERS, REBALANCE_PLAYER]
        tickers = g["ticker"].to_numpy()
        rows = pd.DataFrame(
            {
                "date": date,
                "ticker": np.repeat(tickers, len(names) + 1),
                "target": "weight",
                "feature": np.tile([*names, BASE_FEATURE], n),
                "value": np.column_stack([values, base]).ravel(),
            }
        )
        expo = pd.DataFrame(
            {
                "date": date,
                "ticker": PORTFOLIO,
                "target": "exposure",
                "feature": [*names, BASE_FEATURE],
                "value": [*values.sum(axis=0), 1.0],
            }
        )
        if abs(1.0 + values.sum() - raw_exposure[0]) > 1e-6:
            raise ModelError(f"design attributions miss the exposure on {date}")
        frames += [rows, expo]
    if not frames:
        return pd.DataFrame(columns=LONG_COLUMNS)
    return pd.concat(frames, ignore_index=True).loc[:, LONG_COLUMNS]


def _target_exposure(g: pd.DataFrame) -> float:
    """The vol-target exposure of a day (1 without a target)."""
    if "target_exposure" in g.columns:
        return float(g["target_exposure"].iloc[0])
    raise ModelError("published design weights lack the target_exposure column")
