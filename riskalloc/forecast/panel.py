"""A dense (asset x date x feature) panel of model inputs, EWMA base and log-vol targets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal, get_args

import numpy as np
import pandas as pd

from riskalloc.errors import ConfigError
from riskalloc.features.asset import ASSET_FEATURES, VOL_FLOOR, asset_feature_frames, log_returns
from riskalloc.features.macro import build_macro_features
from riskalloc.forecast.targets import HORIZON, future_realised_vol, log_vol
from riskalloc.market import TRADING_DAYS, MarketData

LOG_FEATURES = ("rv_5", "rv_21", "rv_63", "ewma_vol", "downside_vol_21")
FeatureSet = Literal["v1", "v2"]
# v2 adds the strong baselines' inputs: the HAR daily term, squared and absolute returns, a
# 5-day downside semivariance and the asset's own GARCH(1,1) 21-day forecast (set per fold)
V2_FEATURES = ("rv_1", "abs_ret", "sq_ret", "downside_vol_5", "garch_vol")


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

    @cached_property
    def x_filled(self) -> np.ndarray:
        """``x`` with NaN as 0 (what the networks read; masked by ``window_ok``), made once
        per panel, not per fold and per prediction."""
        return np.nan_to_num(self.x, nan=0.0)

    def row_ok(self) -> np.ndarray:
        """(assets, dates) True where every input feature is finite."""
        return np.isfinite(self.x).all(axis=2)

    def without(self, names: tuple[str, ...]) -> Panel:
        """The same panel without the feature columns ``names`` (a v2 panel less
        ``V2_FEATURES`` is exactly the v1 panel: build once, read both)."""
        keep = [j for j, f in enumerate(self.feature_names) if f not in names]
        return replace(
            self, feature_names=[self.feature_names[j] for j in keep], x=self.x[:, :, keep]
        )

    def window_ok(self, seq_len: int) -> np.ndarray:
        """(assets, dates) True where the last ``seq_len`` rows are all finite."""
        ok = self.row_ok().astype(np.int32)
        c = np.cumsum(ok, axis=1)
        prev = np.zeros_like(c)
        prev[:, seq_len:] = c[:, :-seq_len]
        full = (c - prev) == seq_len
        full[:, : seq_len - 1] = False
        return full


def _v2_extra(md: MarketData) -> dict[str, pd.DataFrame]:
    """The v2 asset inputs other than GARCH (wide date x ticker; vols as log, returns raw)."""
    r = log_returns(md)
    down = r.clip(upper=0.0) ** 2
    return {
        "rv_1": np.log(np.maximum(np.sqrt(TRADING_DAYS) * r.abs(), VOL_FLOOR)),
        "abs_ret": np.sqrt(TRADING_DAYS) * r.abs(),
        "sq_ret": TRADING_DAYS * r**2,
        "downside_vol_5": np.log(
            np.maximum(np.sqrt(TRADING_DAYS * down.rolling(5, min_periods=5).mean()), VOL_FLOOR)
        ),
    }


def build_panel(md: MarketData, horizon: int = HORIZON, features: FeatureSet = "v1") -> Panel:
    """Features (log for vols) and macro state per asset and day, plus the h-day log-vol target.

    ``features="v2"`` appends ``V2_FEATURES``; its ``garch_vol`` column is NaN until
    ``attach_garch`` fills it with a fold's GARCH forecasts (so rows are not usable before).
    """
    if features not in get_args(FeatureSet):
        raise ConfigError(f"unknown feature set {features!r}; use one of {get_args(FeatureSet)}")
    # the wide frames directly (not the long feature rows pivoted back): a row with any
    # non-finite asset feature is masked whole below, exactly as the long rows drop it
    asset = asset_feature_frames(md)
    macro = build_macro_features(md).set_index("date")
    dates, tickers = md.dates, md.tickers
    extra = V2_FEATURES if features == "v2" else ()
    asset_names = [*ASSET_FEATURES, *extra]
    names = [*asset_names, *macro.columns]
    x = np.full((len(tickers), len(dates), len(names)), np.nan, dtype=np.float32)
    for j, col in enumerate(ASSET_FEATURES):
        v = asset[col].reindex(index=dates, columns=tickers).to_numpy(dtype=np.float64)
        if col in LOG_FEATURES:
            v = log_vol(v)
        x[:, :, j] = v.astype(np.float32).T
    if extra:
        ready = np.isfinite(x[:, :, : len(ASSET_FEATURES)]).all(axis=2)
        for j, wide in enumerate(_v2_extra(md).values(), start=len(ASSET_FEATURES)):
            v = wide.reindex(index=dates, columns=tickers).to_numpy(dtype=np.float32).T
            x[:, :, j] = np.where(ready, v, np.nan)
    m = macro.reindex(dates).to_numpy(dtype=np.float32)
    x[:, :, len(asset_names) :] = m[None, :, :]
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


class Panels:
    """The panels of one market data, built once and shared by every model that reads it
    (the nightly run needs the v1 LSTM's, the baselines' and a v2 network's). With
    ``share_v2`` the v2 panel is built per horizon and the v1 one is that panel less
    ``V2_FEATURES``, the same array; without it (no v2 reader) the v1 panel is built alone."""

    def __init__(self, md: MarketData, share_v2: bool = True) -> None:
        self.md = md
        self.share_v2 = share_v2
        self._v2: dict[int, Panel] = {}
        self._v1: dict[int, Panel] = {}

    def get(self, horizon: int = HORIZON, features: FeatureSet = "v1") -> Panel:
        """The ``features`` panel of ``self.md`` for ``horizon`` (built on first use)."""
        if features not in get_args(FeatureSet):
            known = get_args(FeatureSet)
            raise ConfigError(f"unknown feature set {features!r}; use one of {known}")
        if features == "v1" and not self.share_v2:
            if horizon not in self._v1:
                self._v1[horizon] = build_panel(self.md, horizon)
            return self._v1[horizon]
        if horizon not in self._v2:
            self._v2[horizon] = build_panel(self.md, horizon, "v2")
        if features == "v2":
            return self._v2[horizon]
        if horizon not in self._v1:
            self._v1[horizon] = self._v2[horizon].without(V2_FEATURES)
        return self._v1[horizon]

    def check(self, md: MarketData) -> Panels:
        """Self, after checking these panels were built from ``md`` (not another cut of it)."""
        if md is not self.md:
            raise ConfigError("Panels were built for another MarketData; build them from this one")
        return self


def attach_garch(panel: Panel, garch_vol: np.ndarray, as_base: bool) -> Panel:
    """A v2 panel with its ``garch_vol`` input set to log ``garch_vol`` (assets, dates).

    Where an asset has no GARCH forecast (too short a history to fit) its EWMA vol stands in.
    With ``as_base`` the network's base (the forecast it corrects) becomes that GARCH forecast.
    """
    if "garch_vol" not in panel.feature_names:
        raise ConfigError("attach_garch needs a panel built with features='v2'")
    j = panel.feature_names.index("garch_vol")
    g = np.where(np.isfinite(garch_vol), np.log(np.maximum(garch_vol, VOL_FLOOR)), panel.base)
    ok = np.isfinite(np.delete(panel.x, j, axis=2)).all(axis=2)
    x = panel.x.copy()
    x[:, :, j] = np.where(ok, g, np.nan).astype(np.float32)
    base = np.where(ok, g, np.nan) if as_base else panel.base
    return replace(panel, x=x, base=base)
