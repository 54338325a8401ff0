"""SHAP attribution of each allocation: which inputs moved the risk budgets and the exposure.

The players of the game at date t are the macro features, each asset-level feature type
(moved jointly across all assets) and the volatility forecasts. A coalition keeps its
players at their value on t and puts the others at a training-period reference (the
normaliser's mean; the median forecast vol per asset), so Shapley values add up exactly to
``output(t) − output(reference)`` (local accuracy, checked on every call).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from riskalloc.allocate.dataset import AllocatorData
from riskalloc.allocate.train import TrainedNetwork
from riskalloc.reports.shap_attributions import check_local_accuracy, explain, output_name

__all__ = ["VOL_PLAYER", "allocation_game", "explain_allocations", "output_names", "player_names"]

VOL_PLAYER = "asset:vol_forecast"


def player_names(data: AllocatorData) -> list[str]:
    """Macro features, then asset feature types (prefixed ``asset:``), then the vol forecasts."""
    return [
        *(f"macro:{m}" for m in data.macro_features),
        *(f"asset:{a}" for a in data.asset_features),
        VOL_PLAYER,
    ]


def output_names(data: AllocatorData) -> list[str]:
    """Risk budget of every asset, then portfolio exposure (``target:ticker`` naming)."""
    return [*(output_name("risk_budget", t) for t in data.tickers), output_name("exposure")]


def allocation_game(
    trained: TrainedNetwork, data: AllocatorData, t: int, ref_vol: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """f(z) for z in [0, 1]^players: each player interpolates between reference (0) and t (1)."""
    q, p = len(data.macro_features), len(data.asset_features)
    norm = trained.norm
    a_t = (data.asset_x[t].astype(float) - norm.asset_mean) / norm.asset_std  # (n, p)
    m_t = (data.macro_x[t].astype(float) - norm.macro_mean) / norm.macro_std  # (q,)
    lv_t, lv_ref = np.log(data.vol[t]), np.log(ref_vol)
    load, uniq = torch.from_numpy(data.loadings[t]), torch.from_numpy(data.uniq[t])
    model = trained.model

    def fn(z: np.ndarray) -> np.ndarray:
        z = np.atleast_2d(z)
        zm, za, zv = z[:, :q], z[:, q : q + p], z[:, q + p]
        macro = np.clip(zm * m_t[None, :], -5, 5)
        asset = np.clip(za[:, None, :] * a_t[None, :, :], -5, 5)
        vol = np.exp(lv_ref[None, :] + zv[:, None] * (lv_t - lv_ref)[None, :])
        m = len(z)
        with torch.no_grad():
            out = model(
                torch.from_numpy(asset.astype(np.float32)),
                torch.from_numpy(macro.astype(np.float32)),
                torch.from_numpy(vol),
                load.expand(m, -1, -1),
                uniq.expand(m, -1),
            )
        return np.column_stack([out.budgets.double().numpy(), out.exposure.double().numpy()])

    return fn


def explain_allocations(
    trained: TrainedNetwork,
    data: AllocatorData,
    idx: np.ndarray | list[int],
    nsamples: int = 400,
    seed: int = 0,
    atol: float = 1e-6,
) -> pd.DataFrame:
    """Long SHAP rows (date, ticker, target, feature, value) for the allocations at ``idx``.

    Raises :class:`~riskalloc.errors.ModelError` if attributions do not add up to the output.
    """
    trained.model.eval()
    players = player_names(data)
    outputs = output_names(data)
    ref_vol = np.median(data.vol, axis=0)
    frames = []
    for t in np.asarray(idx, int):
        fn = allocation_game(trained, data, int(t), ref_vol)
        ones = np.ones((1, len(players)))
        res = explain(
            fn,
            np.zeros((1, len(players))),
            ones,
            players,
            outputs,
            nsamples=nsamples,
            dates=[data.dates[t]],
            method="permutation",
            seed=seed,
        )
        check_local_accuracy(res, fn, ones, atol=atol)
        frames.append(res.to_frame())
    return pd.concat(frames, ignore_index=True)
