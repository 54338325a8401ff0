"""A dense (asset x date x feature) panel of model inputs, EWMA base and log-vol targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskalloc.features.asset import ASSET_FEATURES, build_asset_features, log_returns
from riskalloc.features.macro import build_macro_features
from riskalloc.forecast.targets import HORIZON, future_realised_vol, log_vol
from riskalloc.market import MarketData

LOG_FEATURES = ("rv_5", "rv_21", "rv_63", "ewma_vol", "downside_vol_21")


@dataclass(frozen=True)
class Panel:
    """Model inputs on the trading-day grid; NaN rows where an asset or macro is not yet defined."""

    dates: pd.DatetimeIndex
    tickers: list[str]
    feature_names: list[str]
    x: np.ndarray  # (assets, dates, features) float32, raw (unstandardised) transformed inputs
    base: np.ndarray  # (assets, dates) log EWMA vol at t: the LSTM predicts a correction to it
    target: np.ndarray  # (assets, dates) log realised vol over t+1..t+h; NaN where unknown
    target_vol: np.ndarray  # (assets, dates) the same, annualised vol (unfloored)
    horizon: int

    def row_ok(self) -> np.ndarray:
        """(assets, dates) True where every input feature is finite."""
        return np.isfinite(self.x).all(axis=2)

    def window_ok(self, seq_len: int) -> np.ndarray:
        """(assets, dates) True where the last ``seq_len`` rows are all finite."""
        ok = self.row_ok().astype(np.int32)
        c = np.cumsum(ok, axis=1)
        prev = np.zeros_like(c)
        prev[:, seq_len:] = c[:, :-seq_len]
        full = (c - prev) == seq_len
        full[:, : seq_len - 1] = False
        return full


def build_panel(md: MarketData, horizon: int = HORIZON) -> Panel:
    """Features (log for vols) and macro state per asset and day, plus the h-day log-vol target."""
    asset = build_asset_features(md)
    for col in LOG_FEATURES:
        asset[col] = log_vol(asset[col].to_numpy())
    macro = build_macro_features(md).set_index("date")
    dates, tickers = md.dates, md.tickers
    names = [*ASSET_FEATURES, *macro.columns]
    x = np.full((len(tickers), len(dates), len(names)), np.nan, dtype=np.float32)
    for j, col in enumerate(ASSET_FEATURES):
        wide = asset.pivot(index="date", columns="ticker", values=col)
        x[:, :, j] = wide.reindex(index=dates, columns=tickers).to_numpy(dtype=np.float32).T
    m = macro.reindex(dates).to_numpy(dtype=np.float32)
    x[:, :, len(ASSET_FEATURES) :] = m[None, :, :]
    x[~np.isfinite(x[:, :, : len(ASSET_FEATURES)]).all(axis=2)] = np.nan
    ewma_col = ASSET_FEATURES.index("ewma_vol")
    base = x[:, :, ewma_col].astype(np.float64)
    tv = future_realised_vol(log_returns(md), horizon).reindex(columns=tickers)
    target_vol = tv.to_numpy(dtype=np.float64).T
    return Panel(
        dates=dates,
        tickers=list(tickers),
        feature_names=names,
        x=x,
        base=base,
        target=np.asarray(log_vol(target_vol)),
        target_vol=target_vol,
        horizon=horizon,
    )
