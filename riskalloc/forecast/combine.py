"""Forecast combination: convex weights on member variance forecasts, fitted per fold.

For fold Y the weights minimise QLIKE on the fold's validation window, using the members' own
walk-forward forecasts there (made by models of earlier folds): the ``val_days`` label dates
ending at ``label_end`` (``window="year"``), or every label date up to it (``"expanding"``), so
every target is known before the fold starts. ``shrink`` pulls the fitted weights towards
equal ones, w = (1 - shrink) w_fit + shrink / m (1: equal weights, nothing fitted), the usual
answer to the "forecast combination puzzle" (Stock & Watson 2004; Smith & Wallis 2009). The
combined variance is sum_m w_m f_m² with w >= 0, sum w = 1; a row missing a member
renormalises the weights over the members it has.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from riskalloc.errors import ConfigError
from riskalloc.features.asset import VOL_FLOOR
from riskalloc.forecast.walkforward import Fold

CombineBy = Literal["global", "asset_class"]
CombineWindow = Literal["year", "expanding"]
MIN_FIT_ROWS = 100  # fewer validation rows than this: equal weights (class: the global ones)


def fit_weights(forecast_vol: np.ndarray, target_vol: np.ndarray) -> np.ndarray:
    """Convex weights (m,) on member variances minimising mean QLIKE over rows (n, m)."""
    f2 = np.maximum(forecast_vol, VOL_FLOOR) ** 2
    y2 = np.maximum(target_vol, VOL_FLOOR) ** 2
    m = f2.shape[1]
    if m == 1:
        return np.ones(1)

    def loss(w: np.ndarray) -> float:
        """Mean QLIKE of the combined variance (weights clipped to the simplex's face)."""
        c = f2 @ np.maximum(w, 0.0)
        r = y2 / np.maximum(c, VOL_FLOOR**2)
        return float(np.mean(r - np.log(r) - 1.0))

    res = minimize(
        loss,
        np.full(m, 1.0 / m),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * m,
        constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0}],
        options={"ftol": 1e-10, "maxiter": 200},
    )
    w = np.maximum(res.x if res.success else np.full(m, 1.0 / m), 0.0)
    return w / w.sum()


def _wide(fc: pd.DataFrame, members: tuple[str, ...]) -> pd.DataFrame:
    """(date, ticker) x member forecasts plus ``target_vol``, members missing as NaN."""
    sub = fc.loc[fc["model"].isin(members)]
    wide = sub.pivot_table(
        index=["date", "ticker"], columns="model", values="forecast_vol", aggfunc="first"
    ).reindex(columns=list(members))
    wide["target_vol"] = sub.groupby(["date", "ticker"])["target_vol"].first()
    return wide


def _weights_for(
    val: pd.DataFrame,
    members: tuple[str, ...],
    by: CombineBy,
    classes: pd.Index,
    shrink: float = 0.0,
) -> dict[str, np.ndarray]:
    """Weights per asset class (key "all" for the global ones) fitted on validation rows,
    then shrunk towards equal weights by ``shrink``."""
    eq = np.full(len(members), 1.0 / len(members))
    if shrink >= 1.0:  # equal weights: nothing to fit
        return {"all": eq}
    ok = val[list(members)].notna().all(axis=1) & np.isfinite(val["target_vol"])
    fit = val.loc[ok]
    fit_cls = classes[ok.to_numpy()]
    glob = (
        fit_weights(fit[list(members)].to_numpy(), fit["target_vol"].to_numpy())
        if len(fit) >= MIN_FIT_ROWS
        else eq
    )
    out = {"all": glob}
    if by == "asset_class":
        for cls in sorted(set(fit_cls)):
            rows = fit.loc[fit_cls == cls]
            if len(rows) >= MIN_FIT_ROWS:
                f, y = rows[list(members)].to_numpy(), rows["target_vol"].to_numpy()
                out[cls] = fit_weights(f, y)
    return {c: (1.0 - shrink) * w + shrink * eq for c, w in out.items()}


def apply_weights(
    fc: pd.DataFrame,
    name: str,
    members: tuple[str, ...],
    weights: dict[str, list[float]],
    asset_classes: dict[str, str],
    fold: str,
) -> pd.DataFrame:
    """Combination rows over every (date, ticker) of ``fc`` that has a member forecast.

    ``weights`` maps an asset class (or "all", the fallback) to one weight per member.
    """
    wide = _wide(fc, members)
    cls = pd.Index(wide.index.get_level_values("ticker").map(asset_classes.get)).fillna("other")
    f2 = wide[list(members)].to_numpy() ** 2
    table = {c: np.asarray(w, dtype=float) for c, w in weights.items()}
    w = np.stack([table.get(c, table["all"]) for c in cls]) if len(wide) else np.empty((0, 0))
    have = np.isfinite(f2)
    wsum = (w * have).sum(axis=1) if len(wide) else np.empty(0)
    comb = np.sqrt(np.nansum(w * np.where(have, f2, 0.0), axis=1) / np.where(wsum > 0, wsum, 1))
    comb = np.where(wsum > 0, comb, np.nan)
    version = hashlib.sha256(
        json.dumps({"members": members, "weights": weights}, sort_keys=True).encode()
    ).hexdigest()[:8]
    out = pd.DataFrame(
        {
            "date": wide.index.get_level_values("date"),
            "ticker": wide.index.get_level_values("ticker"),
            "model": name,
            "forecast_vol": comb,
            "target_vol": wide["target_vol"].to_numpy(),
            "fold": fold,
            "model_version": f"{name}-{fold}-{version}",
        }
    )
    return out.loc[np.isfinite(out["forecast_vol"].to_numpy(dtype=float))]


def combine_walk_forward(
    fc: pd.DataFrame,
    name: str,
    members: tuple[str, ...],
    folds: list[Fold],
    dates: pd.DatetimeIndex,
    asset_classes: dict[str, str],
    by: CombineBy = "global",
    val_days: int = 252,
    window: CombineWindow = "year",
    shrink: float = 0.0,
) -> tuple[pd.DataFrame, list[dict]]:
    """Rows of the combination ``name`` for every fold, and each fold's weights (fitted on the
    ``window`` before the fold, shrunk towards equal by ``shrink``; see the module).

    ``fc`` holds the members' walk-forward rows (including the year before the first fold, so
    its validation year has forecasts); ``dates`` is the trading-day grid the folds index.
    """
    if by not in get_args(CombineBy):
        raise ConfigError(f"combination by={by!r}; use one of {get_args(CombineBy)}")
    if len(members) < 1 or len(set(members)) != len(members):
        raise ConfigError(f"combination {name!r} needs distinct members, got {members}")
    if window not in get_args(CombineWindow):
        raise ConfigError(f"combination window={window!r}; use one of {get_args(CombineWindow)}")
    if not 0.0 <= shrink <= 1.0:
        raise ConfigError(f"combination shrink={shrink!r}; use a number in [0, 1]")
    fc = fc.loc[fc["model"].isin(members)]
    wide = _wide(fc, members)
    d = wide.index.get_level_values("date")
    cls_all = pd.Index(wide.index.get_level_values("ticker").map(asset_classes.get)).fillna("other")
    d_fc = pd.DatetimeIndex(fc["date"])
    parts, info = [], []
    for fold in folds:
        lo = dates[0 if window == "expanding" else max(fold.label_end - val_days + 1, 0)]
        hi = dates[fold.label_end]
        in_val = (d >= lo) & (d <= hi)
        w_by = _weights_for(wide.loc[in_val], members, by, cls_all[in_val], shrink)
        weights = {c: [round(float(v), 6) for v in ws] for c, ws in w_by.items()}
        info.append({"fold": fold.name, "members": list(members), "weights": weights})
        in_fold = (d_fc >= dates[fold.start]) & (d_fc <= dates[fold.end])
        rows = apply_weights(fc.loc[in_fold], name, members, weights, asset_classes, fold.name)
        parts.append(rows)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=fc.columns)
    return out, info
