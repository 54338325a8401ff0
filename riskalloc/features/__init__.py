"""Point-in-time features: per-asset (returns, vols, momentum, drawdown) and macro state."""

from riskalloc.features.asset import (
    ASSET_FEATURES,
    VOL_FLOOR,
    build_asset_features,
    ewma_vol,
    log_returns,
    realised_vol,
)
from riskalloc.features.macro import build_macro_features

__all__ = [
    "ASSET_FEATURES",
    "VOL_FLOOR",
    "build_asset_features",
    "build_macro_features",
    "ewma_vol",
    "log_returns",
    "realised_vol",
]
