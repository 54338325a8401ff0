"""Per-date tensors for the allocator: features, vol forecasts, factor correlation, returns.

Everything at decision date t is known at the close of t: features are point in time, the
correlation comes from the 252 returns up to t, and forward (holding-period) returns are kept
apart in ``fwd_*`` arrays that only the training loss and the backtest read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from riskalloc.allocate.covariance import factor_correlation, shrunk_correlation
from riskalloc.errors import DataError
from riskalloc.features.asset import ASSET_FEATURES, asset_feature_frames
from riskalloc.features.macro import build_macro_features
from riskalloc.market import MarketData, load_market_data, risky_tickers

if TYPE_CHECKING:
    import duckdb

    from riskalloc.universe import Universe

CORR_WINDOW = 252
N_FACTORS = 3
CORR_REFRESH = 5  # trading days between correlation re-estimates (correlations move slowly)
ALLOCATOR_MIN_VOL = 0.005  # annualised: the v1 allocator reads a forecast below 0.5 % as 0.5 %
# (not the log-vol floor ``riskalloc.features.asset.VOL_FLOOR``, 0.1 %, of features and losses)


@dataclass
class AllocatorData:
    """Aligned arrays over decision dates (T) and risky assets (n)."""

    dates: pd.DatetimeIndex
    tickers: list[str]
    asset_x: np.ndarray  # (T, n, p)
    macro_x: np.ndarray  # (T, q)
    vol: np.ndarray  # (T, n) annualised vol forecast
    loadings: np.ndarray  # (T, n, k) factor loadings of the correlation
    uniq: np.ndarray  # (T, n)
    daily_ret: np.ndarray  # (T, n) simple return of day t (known at t); NaN-free
    rf: np.ndarray  # (T,) daily risk-free return for day t
    asset_features: tuple[str, ...]
    macro_features: tuple[str, ...]

    @property
    def has_factors(self) -> bool:
        """False for data built with ``factors=False`` (features only, no correlation)."""
        return self.loadings.shape[-1] > 0

    def slice(self, lo: int, hi: int) -> AllocatorData:
        """Rows [lo, hi)."""
        return AllocatorData(
            self.dates[lo:hi],
            self.tickers,
            self.asset_x[lo:hi],
            self.macro_x[lo:hi],
            self.vol[lo:hi],
            self.loadings[lo:hi],
            self.uniq[lo:hi],
            self.daily_ret[lo:hi],
            self.rf[lo:hi],
            self.asset_features,
            self.macro_features,
        )

    def until(self, t: str | pd.Timestamp) -> AllocatorData:
        """Rows dated ≤ ``t`` (what is known at its close)."""
        return self.slice(0, self.index_of(t) + 1)

    def index_of(self, date: str | pd.Timestamp) -> int:
        """Position of the last decision date ≤ ``date``."""
        pos = int(self.dates.searchsorted(pd.Timestamp(date), side="right")) - 1
        if pos < 0:
            raise DataError(f"no allocator data on or before {pd.Timestamp(date).date()}")
        return pos


def _factor_arrays(rets: np.ndarray, t_idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Factor form of the shrunk correlation at each t, re-estimated every CORR_REFRESH days
    on a calendar anchored at day 0 (so a date's value does not depend on where a slice starts)
    and held in between; only returns up to the estimation day are used."""
    n = rets.shape[1]
    load = np.empty((len(t_idx), n, k))
    uniq = np.empty((len(t_idx), n))
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for j, t in enumerate(t_idx):
        est = int(t) - int(t) % CORR_REFRESH
        if est < CORR_WINDOW - 1:
            est = int(t)
        if est not in cache:
            corr = shrunk_correlation(rets[est - CORR_WINDOW + 1 : est + 1])
            cache[est] = factor_correlation(corr, k)
        load[j], uniq[j] = cache[est]
    return load, uniq


def build_allocator_data(
    md: MarketData,
    vol_forecast: pd.DataFrame | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    n_factors: int = N_FACTORS,
    factors: bool = True,
) -> AllocatorData:
    """Arrays on every trading day in [start, end] where all risky assets have features,
    a vol forecast and a full correlation window.

    ``vol_forecast`` is wide (date x ticker, annualised); without it the EWMA vol feature is
    used (what the model sees before any forecaster exists). ``factors=False`` skips the
    correlation factor model (an n x n estimate every few days: most of the cost at large n)
    for readers of the features alone, such as the regime head; its loadings are then empty
    and its uniquenesses NaN, so an allocation from such data fails instead of using them.
    """
    tickers = risky_tickers(md)
    # the wide feature frames, with a (date, ticker) blanked unless all its features are
    # finite: the rows build_asset_features keeps, without a long -> wide round trip
    frames = asset_feature_frames(md.select([*tickers]))
    frames = {f: frames[f].reindex(columns=tickers) for f in ASSET_FEATURES}
    ok = np.logical_and.reduce([np.isfinite(v.to_numpy(float)) for v in frames.values()])
    wide = {f: v.where(ok) for f, v in frames.items()}
    complete = pd.Series(ok.all(axis=1), index=frames[ASSET_FEATURES[0]].index)
    macro = build_macro_features(md).set_index("date")
    rets = md.returns().loc[:, tickers]
    have_ret = rets.notna().rolling(CORR_WINDOW).sum().eq(CORR_WINDOW).all(axis=1)
    if vol_forecast is None:
        vol = wide["ewma_vol"]
    else:
        vol = vol_forecast.reindex(columns=tickers).ffill(limit=5)
    dates = complete.index[complete.to_numpy()]
    dates = dates.intersection(macro.index).intersection(vol.dropna(how="any").index)
    dates = dates[have_ret.reindex(dates).fillna(False).to_numpy(bool)]
    if start is not None:
        dates = dates[dates >= pd.Timestamp(start)]
    if end is not None:
        dates = dates[dates <= pd.Timestamp(end)]
    if len(dates) == 0:
        raise DataError(
            f"no date has features, vol forecasts and a full year of returns for all of {tickers}"
        )
    asset_x = np.stack([wide[f].reindex(index=dates).to_numpy() for f in ASSET_FEATURES], -1)
    pos = md.dates.get_indexer(dates)
    gaps = np.flatnonzero(np.diff(pos) != 1)
    if len(gaps):
        raise DataError(
            f"allocator inputs have a gap after {dates[gaps[0]].date()} (a day without "
            "features or vol forecasts); holding-period returns need consecutive trading days"
        )
    r = rets.fillna(0.0).to_numpy()
    if factors:
        load, uniq = _factor_arrays(r, pos, n_factors)
    else:
        load, uniq = (
            np.empty((len(pos), len(tickers), 0)),
            np.full((len(pos), len(tickers)), np.nan),
        )
    return AllocatorData(
        dates=pd.DatetimeIndex(dates),
        tickers=tickers,
        asset_x=asset_x.astype(np.float32),
        macro_x=macro.reindex(dates).to_numpy(np.float32),
        vol=np.maximum(vol.reindex(index=dates).to_numpy(float), ALLOCATOR_MIN_VOL),
        loadings=load,
        uniq=uniq,
        daily_ret=r[pos],
        rf=md.rf_daily().reindex(dates).fillna(0.0).to_numpy(float),
        asset_features=tuple(ASSET_FEATURES),
        macro_features=tuple(macro.columns),
    )


def forecast_wide(vol_forecasts: pd.DataFrame, model: str = "lstm") -> pd.DataFrame:
    """Wide (date x ticker) annualised forecasts of one model from ``vol_forecasts`` rows."""
    rows = vol_forecasts.loc[vol_forecasts["model"] == model]
    if rows.empty:
        raise DataError(f"no {model!r} volatility forecasts; materialise vol_forecaster first")
    wide = rows.pivot_table(index="date", columns="ticker", values="forecast_vol", aggfunc="last")
    wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index), name="date")
    return wide.sort_index()


ALLOCATOR_FORECAST = "lstm"  # the v1 allocator reads the v1 LSTM's forecasts


@dataclass(frozen=True)
class AllocatorInputs:
    """What every allocator run reads from the warehouse: the market and the vol forecasts."""

    md: MarketData
    vol_forecast: pd.DataFrame | None  # wide date x ticker; None when none are stored

    def forecast(self) -> pd.DataFrame:
        """The wide forecasts; ``DataError`` when the warehouse has none."""
        if self.vol_forecast is None:
            raise DataError(
                f"no {ALLOCATOR_FORECAST!r} volatility forecasts; materialise vol_forecaster first"
            )
        return self.vol_forecast

    def data(self, factors: bool = True) -> AllocatorData:
        """The v1 allocator's arrays (``DataError`` when the warehouse has no forecasts);
        ``factors=False``: without the correlation factor model (features-only readers)."""
        return build_allocator_data(self.md, self.forecast(), factors=factors)


def load_allocator_inputs(
    con: duckdb.DuckDBPyConnection,
    universe: Universe,
    end: str | pd.Timestamp | None = None,
    model: str = ALLOCATOR_FORECAST,
) -> AllocatorInputs:
    """The warehouse's market data (cut at ``end``) and ``model``'s vol forecasts: the "market
    data → vol forecasts → allocator data" sequence of the assets and scripts, in one place."""
    from riskalloc.warehouse.catalog import table_exists
    from riskalloc.warehouse.reads import read_table

    md = load_market_data(con, universe, end)
    rows = (
        read_table(con, "vol_forecasts", where={"model": model})
        if table_exists(con, "vol_forecasts")
        else pd.DataFrame()
    )
    return AllocatorInputs(md, None if rows.empty else forecast_wide(rows, model))
