"""The allocator v2 as a walk-forward strategy: one :class:`AllocatorDesign`, fit and applied.

At each decision date t, on data up to t only:

1. the eligible risky assets are those with a full ``corr_window`` of returns;
2. Σ_t from that window (sample correlation, or its shrinkage to constant correlation;
   sample, EWMA or blended vols);
3. budgets: 1/n, 1/K per asset class, or a learned tilt around 1/n (the end-to-end
   network of :mod:`riskalloc.allocate.model` in tilt mode, averaged over ``ensemble``
   seeds, trained on data before each fold);
4. the exact risk-budgeting layer gives fully invested weights;
5. overlays: time-series momentum moves the risk of assets in a downtrend into cash, and a
   volatility target relative to the equal-risk portfolio's long-run vol sets the exposure;
6. partial rebalancing: an exponential average, at speed κ, of the targets of the last
   weeks, w_t = Σ κ(1−κ)^j w*_{t_j}: the recursion w ← w_prev + κ (w* − w_prev) on a fixed
   weekly calendar, written without state so a daily publication and a backtest agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from riskalloc.allocate.dataset import AllocatorData, build_allocator_data
from riskalloc.allocate.design import AllocatorDesign
from riskalloc.allocate.model import NetworkConfig
from riskalloc.allocate.overlays import (
    class_budgets,
    class_trend_multipliers,
    equal_budgets,
    portfolio_vol,
    relative_exposure,
    risk_budget_weights,
    trend_multipliers,
    window_covariance,
)
from riskalloc.allocate.train import TrainConfig, TrainedNetwork, train_allocator
from riskalloc.errors import ConfigError, DataError, ModelError
from riskalloc.market import TRADING_DAYS, MarketData, PointInTime, point_in_time, risky_tickers

FORECAST_STALE_DAYS = 5  # a forecast older than this many trading days is not used
log = logging.getLogger(__name__)
SMOOTH_TOL = 0.01  # weight left beyond the oldest raw target of the partial rebalance


@dataclass
class TargetDetail:
    """One date's decision, unsmoothed: what the published weights are explained by."""

    weights: pd.Series  # every ticker: layer weights × trend multipliers × exposure
    budgets: pd.Series  # eligible assets: risk budgets (sum 1)
    layer_weights: pd.Series  # fully invested risk-budgeting weights
    risk_contributions: pd.Series  # relative risk contributions of layer_weights (= budgets)
    trend: pd.Series  # time-series-momentum multipliers (1 = uptrend)
    exposure: float  # vol-target scale (1 without the overlay)
    target_vol: float = float("nan")  # annualised, NaN without the overlay
    predicted_vol: float = float("nan")  # annualised vol of layer_weights


@dataclass
class DesignedStrategy:
    """Walk-forward strategy of one design (see module docstring).

    ``cache`` may be shared by strategies of one experiment: fold models are keyed by
    (learned part of the design, seed, training end), so rebalancing frequencies and costs
    reuse them. ``precomputed`` is :class:`AllocatorData` built once on the full history
    (each of its rows depends only on data up to its date, tested in ``tests/allocate``);
    like ``vol_forecast`` it is held as :class:`~riskalloc.market.PointInTime` and read only
    as of the market view the walk-forward hands over.
    """

    design: AllocatorDesign = field(default_factory=AllocatorDesign)
    name: str = "riskalloc"
    seed: int = 0
    train_cfg: TrainConfig = field(default_factory=TrainConfig)
    vol_forecast: pd.DataFrame | PointInTime | None = None
    precomputed: AllocatorData | PointInTime | None = None
    cache: dict | None = None
    risk_measures: tuple[str, ...] = ("variance",)
    trained: list[TrainedNetwork] = field(default_factory=list)
    last_budgets: pd.Series | None = None
    fitted: bool = False
    _targets: dict = field(default_factory=dict, repr=False)
    _tickers: list[str] = field(default_factory=list, repr=False)

    @property
    def stochastic(self) -> bool:
        """Only a learned design depends on the seed (the grid runs the others once)."""
        return self.design.learned

    @property
    def max_gross(self) -> float:
        """Largest sum of weights the design can give (> 1 when its vol target may lever)."""
        return max(1.0, self.design.max_exposure)

    # --- learned budgets ----------------------------------------------------------------
    def __post_init__(self) -> None:
        """Hold the time-indexed inputs point in time: they are read only as of the view the
        walk-forward hands over (rows dated ≤ its last date), never beyond it."""
        self.vol_forecast = point_in_time(self.vol_forecast)
        self.precomputed = point_in_time(self.precomputed)

    def _data(self, md: MarketData) -> AllocatorData:
        if self.precomputed is not None and md.dates[-1] <= self.precomputed.last_date:
            return self.precomputed.as_of(md)
        vf = None if self.vol_forecast is None else self.vol_forecast.as_of(md)
        return build_allocator_data(md, vf)

    def _forecast_variance(self, md: MarketData, assets: list[str]) -> np.ndarray:
        """Daily variances from the newest forecast of each asset in md's last 5 trading
        days (annualised vol² / 252); NaN where there is none (the sample variance is kept)."""
        if self.vol_forecast is None:
            raise ConfigError(
                "vol_source='forecast' needs vol_forecast (wide date x ticker, annualised)"
            )
        vf = self.vol_forecast.as_of(md)
        recent = vf.loc[vf.index >= md.dates[-min(FORECAST_STALE_DAYS, len(md.dates))]]
        vol = recent.reindex(columns=assets).ffill().iloc[-1] if len(recent) else None
        if vol is None:
            return np.full(len(assets), np.nan)
        return vol.to_numpy(float) ** 2 / TRADING_DAYS

    def _seeds(self) -> list[int]:
        return [self.seed + 1000 * j for j in range(self.design.ensemble)]

    def fit(self, md: MarketData) -> None:
        """Train the budget tilt on everything in ``md`` (rule-based designs learn nothing)."""
        if self.design.vol_source == "forecast" and self.vol_forecast is None:
            raise ConfigError(
                "vol_source='forecast' needs vol_forecast (wide date x ticker, annualised)"
            )
        self.fitted = True
        self.trained = []
        self._targets = {}  # new fold models: raw targets are recomputed
        if not self.design.learned:
            return
        try:
            data = self._data(md)
        except DataError:
            log.info("%s: no allocator inputs before %s; base budgets", self.name, md.dates[-1])
            return
        cfg = NetworkConfig(
            len(data.asset_features),
            len(data.macro_features),
            budget_mode="tilt",
            fully_invested=True,
            adaptive_target=False,
        )
        for s in self._seeds():
            tc = replace(self.train_cfg, seed=s, lam_tilt=self.design.tilt_penalty)
            key = ("tilt", self.design.tilt_penalty, tc, str(data.dates[-1].date()))
            if self.cache is not None and key in self.cache:
                self.trained.append(self.cache[key])
                continue
            try:
                model = train_allocator(data, cfg, tc)
            except DataError as exc:  # too little history before this fold: stay at b₀
                log.info("%s: %s; base budgets until the next fold", self.name, exc)
                self.trained = []
                return
            if self.cache is not None:
                self.cache[key] = model
            self.trained.append(model)

    def _learned_budgets(self, md: MarketData, tickers: list[str]) -> np.ndarray | None:
        """Ensemble-mean learned budgets on ``tickers`` at md's last date, or None when the
        model's inputs do not cover that date or that asset set."""
        if not self.trained:
            return None
        try:
            data = self._data(md)
        except DataError:
            return None
        last = md.dates[-1]
        if last not in data.dates or list(data.tickers) != tickers:
            return None
        idx = np.array([data.dates.get_loc(last)])
        b = np.mean([t.allocate(data, idx).budgets.double().numpy()[0] for t in self.trained], 0)
        return b / b.sum()

    # --- weights -------------------------------------------------------------------------
    def detail(self, md: MarketData) -> TargetDetail:
        """Everything the design decides at the last date of ``md`` (before smoothing)."""
        d = self.design
        risky = risky_tickers(md)
        # only the look-backs the design reads: returns of the last `need` days, not of all history
        need = max(
            d.corr_window,
            d.target_window if d.vol_target is not None else 0,
            d.trend_lookback if d.trend_floor < 1.0 else 0,
        )
        prices = md.prices.loc[:, risky].tail(need + 1)
        rets = prices.pct_change(fill_method=None).iloc[1:]
        window = rets.tail(d.corr_window)
        empty = pd.Series(dtype=float)
        out = TargetDetail(pd.Series(0.0, index=md.tickers), empty, empty, empty, empty, 0.0)
        if len(window) < d.corr_window:
            return out
        ok = window.notna().all(axis=0).to_numpy()
        assets = [t for t, keep in zip(risky, ok, strict=True) if keep]
        if not assets:
            return out
        r = window.loc[:, assets].to_numpy(float)
        fvar = self._forecast_variance(md, assets) if d.vol_source == "forecast" else None
        cov = window_covariance(r, d.vol_source, d.corr_shrink, fvar)
        if d.budgets == "class_equal":
            b = class_budgets([md.asset_classes.get(t, "other") for t in assets])
        else:
            b = equal_budgets(len(assets))
        if d.learned:
            learned = self._learned_budgets(md, assets)
            b = b if learned is None else learned
        self.last_budgets = pd.Series(b, index=assets)
        w = risk_budget_weights(cov, b)
        rc = w * (cov @ w)
        exposure, target_vol = 1.0, float("nan")
        if d.vol_target is not None:
            hist = rets.loc[:, assets].tail(d.target_window).dropna()
            if len(hist) >= d.corr_window:
                exposure, target_vol = relative_exposure(
                    portfolio_vol(cov, w), hist.to_numpy(float), d.vol_target, d.max_exposure
                )
        trend = np.ones(len(assets))
        if d.trend_floor < 1.0:
            hist = rets.loc[:, assets].tail(d.trend_lookback).fillna(0.0).to_numpy(float)
            rf = md.rf_daily().tail(d.trend_lookback).to_numpy(float)
            if d.trend_scope == "class":
                classes = [md.asset_classes.get(t, "other") for t in assets]
                trend = class_trend_multipliers(hist, rf, classes, d.trend_lookback, d.trend_floor)
            else:
                trend = trend_multipliers(hist, rf, d.trend_lookback, d.trend_floor)
        out.weights.loc[assets] = w * trend * exposure
        return TargetDetail(
            weights=out.weights,
            budgets=pd.Series(b, index=assets),
            layer_weights=pd.Series(w, index=assets),
            risk_contributions=pd.Series(rc / rc.sum(), index=assets),
            trend=pd.Series(trend, index=assets),
            exposure=float(exposure),
            target_vol=target_vol,
            predicted_vol=portfolio_vol(cov, w),
        )

    def target(self, md: MarketData) -> pd.Series:
        """The design's target weights at the last date of ``md`` (before partial rebalance)."""
        return self.detail(md).weights

    def _raw(self, md: MarketData, date: pd.Timestamp) -> np.ndarray:
        """The unsmoothed target at ``date`` from ``md.until(date)``, cached by date (a
        date's target depends only on data up to it, so the cache cannot leak the future)."""
        return self.detail_at(md, date).weights.reindex(md.tickers).to_numpy()

    def detail_at(self, md: MarketData, date: pd.Timestamp) -> TargetDetail:
        """:meth:`detail` at ``date`` from ``md.until(date)``, cached by date."""
        if date not in self._targets:
            self._targets[date] = self.detail(md.until(date))
        return self._targets[date]

    def smoothed(self, md: MarketData) -> np.ndarray:
        """Partial rebalancing without state: an exponential average (weight κ(1−κ)^j) of the
        raw targets at the last date of ``md`` and the ends of the J weeks before it, so the
        speed is a property of the model, not of the trading schedule."""
        last = md.dates[-1]
        speed = self.design.rebalance_speed
        if speed >= 1.0:
            return self._raw(md, last)
        depth = int(np.ceil(np.log(SMOOTH_TOL) / np.log(1.0 - speed)))
        ends = week_ends(md.dates[md.dates < last])[-(depth - 1) :] if depth > 1 else []
        dates = [last, *reversed(list(ends))]
        coef = speed * (1.0 - speed) ** np.arange(len(dates))
        raw = np.stack([self._raw(md, d) for d in dates])
        out = (coef[:, None] * raw).sum(0) / coef.sum()
        # an asset with no price today (delisted, or in a gap) cannot be held: its smoothed
        # remainder goes to cash rather than into a position the backtest could not value
        out[md.prices.iloc[-1].reindex(md.tickers).isna().to_numpy()] = 0.0
        return out

    def weights(self, md: MarketData, dates: pd.DatetimeIndex) -> pd.DataFrame:
        """Targets at ``dates`` (rows) for every ticker of ``md``, each from md cut at its date."""
        if self.design.learned and not self.fitted:
            raise ModelError(f"strategy {self.name!r}: weights() before fit()")
        if list(md.tickers) != self._tickers:
            self._targets, self._tickers = {}, list(md.tickers)
        rows = [self.smoothed(md.until(d)) for d in pd.DatetimeIndex(dates)]
        return pd.DataFrame(rows, index=pd.DatetimeIndex(dates, name="date"), columns=md.tickers)


def week_ends(dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The last trading day of each calendar week among ``dates``."""
    idx = pd.DatetimeIndex(dates)
    if len(idx) == 0:
        return idx
    keys = pd.Index(idx.to_period("W"))
    return idx[~keys.duplicated(keep="last")]
