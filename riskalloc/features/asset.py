"""Point-in-time per-asset features: every value at date t uses prices dated <= t only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskalloc.market import TRADING_DAYS, MarketData

EWMA_LAMBDA = 0.94
WARMUP_DAYS = 63  # an asset's first row is emitted once it has this many daily returns
VOL_FLOOR = 1e-3  # annualised; keeps log-vol finite for near-cash assets with flat days

ASSET_FEATURES: tuple[str, ...] = (
    "ret_1d",
    "rv_5",
    "rv_21",
    "rv_63",
    "ewma_vol",
    "downside_vol_21",
    "mom_21",
    "mom_63",
    "mom_252",
    "drawdown",
    "corr_eq_63",
)


def log_returns(md: MarketData) -> pd.DataFrame:
    """Daily log returns, wide; NaN before each asset's first price (no fill)."""
    p = md.prices.astype(float)
    return np.log(p / p.shift(1))


def realised_vol(r: pd.DataFrame, window: int) -> pd.DataFrame:
    """Annualised zero-mean realised vol sqrt(252 * mean(r^2)) over the trailing ``window`` days."""
    return np.sqrt(TRADING_DAYS * (r**2).rolling(window, min_periods=window).mean())


def ewma_vol(r: pd.DataFrame, lam: float = EWMA_LAMBDA) -> pd.DataFrame:
    """RiskMetrics vol: s2_t = lam * s2_{t-1} + (1 - lam) * r_t^2, started at r_1^2, annualised.

    The value at t includes r_t, so it is the one-step-ahead forecast for t+1.
    """
    s2 = (r**2).ewm(alpha=1.0 - lam, adjust=False, ignore_na=True).mean()
    return np.sqrt(TRADING_DAYS * s2.where(r.notna()))


def asset_feature_frames(md: MarketData) -> dict[str, pd.DataFrame]:
    """All features as wide (date x ticker) frames, NaN where undefined (what the panel
    reads directly; ``build_asset_features`` is the same values as long rows)."""
    r = log_returns(md)
    logp = np.log(md.prices.astype(float))
    n_obs = r.notna().cumsum()
    feats = {
        "ret_1d": r,
        "rv_5": realised_vol(r, 5),
        "rv_21": realised_vol(r, 21),
        "rv_63": realised_vol(r, 63),
        "ewma_vol": ewma_vol(r),
        "downside_vol_21": realised_vol(r.clip(upper=0.0), 21),
        "mom_21": logp - logp.shift(21),
        "mom_63": logp - logp.shift(63),
        # 252-day momentum on the history available (>= 63 days) for young assets
        "mom_252": r.rolling(252, min_periods=WARMUP_DAYS).sum(),
        "drawdown": md.prices / md.prices.cummax() - 1.0,
    }
    if md.equity_proxy is not None:
        eq = r[md.equity_proxy]
        # a flat asset (zero variance) has no defined correlation: use the neutral 0
        corr = r.rolling(WARMUP_DAYS, min_periods=WARMUP_DAYS).corr(eq)
        feats["corr_eq_63"] = corr.fillna(0.0)
    else:
        feats["corr_eq_63"] = pd.DataFrame(0.0, index=r.index, columns=r.columns)
    ready = n_obs >= WARMUP_DAYS
    return {k: v.where(ready) for k, v in feats.items()}


def build_asset_features(md: MarketData) -> pd.DataFrame:
    """Long frame (date, ticker, *ASSET_FEATURES) from each asset's 63rd return on; no NaN/inf.

    Vol features are annualised zero-mean realised vols; ``mom_252`` uses the available
    history (at least 63 days) for assets younger than a year; ``corr_eq_63`` is 0 for an
    asset flat over the whole window.
    """
    wide = asset_feature_frames(md)
    long = pd.concat({k: v.stack(future_stack=True) for k, v in wide.items()}, axis=1).reindex(
        columns=list(ASSET_FEATURES)
    )
    long.index = long.index.set_names(["date", "ticker"])
    arr = long.to_numpy(dtype=float)
    long = long.loc[np.isfinite(arr).all(axis=1)].reset_index()
    return long.sort_values(["date", "ticker"], kind="stable").reset_index(drop=True)
