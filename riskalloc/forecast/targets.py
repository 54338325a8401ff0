"""Forecast targets: realised volatility over the next ``h`` trading days, annualised."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskalloc.features.asset import VOL_FLOOR
from riskalloc.market import TRADING_DAYS

HORIZON = 21


def future_realised_vol(log_ret: pd.DataFrame, horizon: int = HORIZON) -> pd.DataFrame:
    """Target at t: sqrt(252/h * sum r_{t+1..t+h}^2); NaN unless all h future returns exist."""
    sq = log_ret**2
    fwd = sq.rolling(horizon, min_periods=horizon).sum().shift(-horizon)
    return np.sqrt(TRADING_DAYS / horizon * fwd)


def log_vol(vol: pd.DataFrame | pd.Series | np.ndarray) -> pd.DataFrame | pd.Series | np.ndarray:
    """Natural log of a vol floored at ``VOL_FLOOR`` (near-cash assets have flat months)."""
    return np.log(np.maximum(vol, VOL_FLOOR))
