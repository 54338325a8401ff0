"""Point-in-time macro state on trading days, built only from ``MarketData.macro_asof``."""

from __future__ import annotations

import pandas as pd

from riskalloc.market import MarketData

ZSCORE_WINDOW = 252
ZSCORE_MIN_PERIODS = 63


def _zscore(s: pd.Series) -> pd.Series:
    """Trailing 252-day z-score (defined after 63 days of history)."""
    roll = s.rolling(ZSCORE_WINDOW, min_periods=ZSCORE_MIN_PERIODS)
    sd = roll.std()
    return (s - roll.mean()) / sd.where(sd > 0)


def _series_features(md: MarketData, series_id: str, role: str) -> dict[str, pd.Series]:
    """Features of one series by role; forward-filled as of each trading day, never back-filled."""
    s = md.macro_asof(series_id).ffill()
    name = series_id.lower()
    if role == "volatility_expectation":
        return {f"{name}_level": s, f"{name}_chg_5": s - s.shift(5)}
    if role == "credit_spread":
        return {
            f"{name}_level": s,
            f"{name}_z_252": _zscore(s),
            f"{name}_chg_21": s - s.shift(21),
        }
    if role == "curve_slope":
        return {f"{name}_level": s, f"{name}_chg_21": s - s.shift(21)}
    if role == "risk_free_rate":
        return {f"{name}_level": s}
    return {}


def build_macro_features(md: MarketData) -> pd.DataFrame:
    """One row per trading day (column ``date``) once every macro feature is defined.

    Volatility expectation (VIX): level, 5-day change; credit spreads: level, 252-day z-score,
    21-day change; curve slopes: level, 21-day change; risk-free rate: level.
    """
    present = set(md.macro["series_id"].unique())
    cols: dict[str, pd.Series] = {}
    for series_id, role in md.series_roles.items():
        if series_id in present:
            cols.update(_series_features(md, series_id, role))
    frame = pd.DataFrame(cols, index=md.dates)
    frame.index.name = "date"
    frame = frame.loc[frame.notna().all(axis=1)]
    return frame.reset_index()
