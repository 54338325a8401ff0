"""A synthetic universe of any size, calibrated on the bundled ETFs, for scale tests.

Returns follow a statistical factor model fitted to the bundled ETF returns: principal
components of their covariance give the loadings and, by cross-sectional regression, the
historical factor paths (optionally block-bootstrapped). Each synthetic asset copies the
loadings of a bundled ETF of its asset class with noise and adds an idiosyncratic GARCH(1,1)
with Student-t innovations (fat tails, volatility clustering; parameters drawn around GARCH
fits of the bundled residuals). Some assets start late, a few have short gaps and a few are
delisted. The cash asset earns the bundled 3-month T-bill rate. Deterministic by seed.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from riskalloc.calendar import trading_days
from riskalloc.errors import ConfigError
from riskalloc.sources.sample import sample_macro_wide, sample_prices_wide
from riskalloc.universe import Asset, Universe, load_universe

# mostly equity, as a stock universe with a sleeve of bonds, credit, commodities and REITs
DEFAULT_CLASS_MIX: Mapping[str, float] = {
    "equity": 0.75,
    "bond": 0.10,
    "credit": 0.05,
    "commodity": 0.06,
    "real_estate": 0.04,
}
# annualised idiosyncratic vol by class (median; each asset scatters log-normally around it):
# single names carry far more own risk than the diversified ETFs they are modelled on
IDIO_VOL: Mapping[str, float] = {
    "equity": 0.22,
    "bond": 0.02,
    "credit": 0.04,
    "commodity": 0.15,
    "real_estate": 0.15,
}
PREFIX: Mapping[str, str] = {
    "equity": "EQ",
    "bond": "BD",
    "credit": "CR",
    "commodity": "CM",
    "real_estate": "RE",
}
CASH_TICKER = "CASH"
INDEX_TICKER = "INDEX"
RISK_FREE = "DTB3"
_DAYS = 252.0


@dataclass(frozen=True)
class FactorModel:
    """Loadings and daily factor returns estimated from the bundled ETFs (one asset class each)."""

    loadings: pd.DataFrame  # ticker x factor
    factors: pd.DataFrame  # date x factor, daily log returns
    asset_class: pd.Series  # ticker -> asset class
    garch: pd.DataFrame  # ticker -> omega-free GARCH(1,1)-t fit: alpha, beta, nu


@dataclass(frozen=True)
class SyntheticUniverse:
    """Wide adjusted closes (NaN before inception, after delisting, in gaps) and their universe."""

    prices: pd.DataFrame
    universe: Universe
    inception: pd.Series
    delisted: pd.Series  # ticker -> last date, for delisted tickers only
    gaps: pd.Series  # ticker -> number of missing sessions inside its history

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write prices.parquet (long), macro.csv.gz (bundled FRED, wide), universe.yaml.

        Prices are long (``date,ticker,adj_close``) because a wide file cannot hold a gap
        inside a ticker's life: the file source refuses empty cells there, a missing row is
        what a real vendor gap looks like.
        """
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "prices": out / "prices.parquet",
            "macro": out / "macro.csv.gz",
            "universe": out / "universe.yaml",
        }
        self.long_prices().to_parquet(paths["prices"], index=False)
        macro = sample_macro_wide().loc[: self.prices.index[-1], self.universe.series_ids]
        _write_csv(macro, paths["macro"])
        paths["universe"].write_text(universe_yaml(self.universe))
        load_universe(paths["universe"])  # what was written must validate
        return paths

    def long_prices(self) -> pd.DataFrame:
        """``date, ticker, adj_close`` rows, only where a price exists (date, then ticker)."""
        long = self.prices.stack().dropna().rename("adj_close").reset_index()
        long.columns = ["date", "ticker", "adj_close"]
        return long.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)


def _write_csv(wide: pd.DataFrame, path: Path) -> None:
    """A wide ``date,<col>...`` CSV, gzip level 1 (written fast; deterministic bytes, no mtime)."""
    frame = wide.copy()
    frame.index = pd.DatetimeIndex(frame.index).strftime("%Y-%m-%d")
    frame.index.name = "date"
    text = frame.to_csv(float_format="%.6g")
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as fh,
    ):
        fh.write(text.encode())


def universe_yaml(u: Universe) -> str:
    """The universe as YAML in the schema ``load_universe`` reads."""
    doc = {
        "name": u.name,
        "equity_proxy": u.equity_proxy,
        "cash": u.cash,
        "risk_free_rate": u.risk_free_rate,
        "assets": [{"ticker": a.ticker, "asset_class": a.asset_class} for a in u.assets],
        "series": [{"series_id": s.series_id, "role": s.role} for s in u.series],
    }
    return "# synthetic universe (riskalloc.synthetic); do not edit\n" + yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=None
    )


@lru_cache(maxsize=4)
def fit_factor_model(n_factors: int = 5) -> FactorModel:
    """PCA factors of the bundled ETF returns and a GARCH(1,1)-t fit of each ETF's residual."""
    from arch import arch_model

    sample = load_universe()
    prices = sample_prices_wide().loc[:, sample.tickers]
    risky = [a.ticker for a in sample.assets if a.asset_class != "cash"]
    rets = np.log(prices[risky]).diff().iloc[1:]
    full = rets.dropna()  # the window where every ETF trades: the loadings
    mu = full.mean()
    cov = np.cov((full - mu).to_numpy().T)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1][:n_factors]
    b = vecs[:, order] * np.sqrt(vals[order])  # unit-variance factors
    loadings = pd.DataFrame(b, index=risky, columns=[f"f{i}" for i in range(n_factors)])
    # factor paths over all history: regress each day's available returns on the loadings
    x = (rets - mu).to_numpy()
    f = np.full((len(rets), n_factors), np.nan)
    for t in range(len(rets)):
        ok = np.isfinite(x[t])
        if ok.sum() >= 2 * n_factors:
            f[t] = np.linalg.lstsq(b[ok], x[t, ok], rcond=None)[0]
    factors = pd.DataFrame(f, index=rets.index, columns=loadings.columns).dropna()
    resid = full - mu - factors.reindex(full.index).to_numpy() @ b.T
    fits = {}
    for tk in risky:
        try:
            res = arch_model(resid[tk], mean="Zero", dist="t", rescale=True).fit(disp="off")
            p = res.params
            fits[tk] = (float(p["alpha[1]"]), float(p["beta[1]"]), float(p["nu"]))
        except Exception:  # a failed fit falls back to typical daily equity values
            fits[tk] = (0.08, 0.90, 6.0)
    garch = pd.DataFrame.from_dict(fits, orient="index", columns=["alpha", "beta", "nu"])
    classes = pd.Series(sample.asset_classes()).loc[risky]
    return FactorModel(loadings, factors, classes, garch)


def _bootstrap(factors: pd.DataFrame, dates: pd.DatetimeIndex, block: int, rng) -> np.ndarray:
    """Stationary-block bootstrap of the factor paths onto ``dates`` (keeps crises clustered)."""
    src = factors.to_numpy()
    out = np.empty((len(dates), src.shape[1]))
    t = 0
    while t < len(dates):
        start = int(rng.integers(0, len(src) - block))
        take = min(block, len(dates) - t)
        out[t : t + take] = src[start : start + take]
        t += take
    return out


def _historical(factors: pd.DataFrame, dates: pd.DatetimeIndex, rng) -> np.ndarray:
    """The estimated factor paths on ``dates``; days before the estimate are bootstrapped."""
    got = factors.reindex(dates).to_numpy(copy=True)
    missing = np.isnan(got).any(axis=1)
    if missing.any():
        got[missing] = _bootstrap(factors, dates[missing], 21, rng)
    return got


def _garch_paths(
    n_days: int, vol: np.ndarray, alpha: np.ndarray, beta: np.ndarray, nu: np.ndarray, rng
) -> np.ndarray:
    """Idiosyncratic daily returns: GARCH(1,1) with unit-variance Student-t shocks, all assets."""
    n = len(vol)
    var_u = vol**2 / _DAYS
    omega = var_u * (1.0 - alpha - beta)
    z = rng.standard_t(nu[None, :], size=(n_days, n)) * np.sqrt((nu - 2.0) / nu)[None, :]
    out = np.empty((n_days, n))
    h = var_u.copy()
    for t in range(n_days):
        e = np.sqrt(h) * z[t]
        out[t] = e
        h = omega + alpha * e**2 + beta * h
    return out


def _tickers(classes: list[str]) -> list[str]:
    """``EQ0001``, ``BD0001``, ... numbered within each class in order of appearance."""
    count: dict[str, int] = {}
    out = []
    for c in classes:
        count[c] = count.get(c, 0) + 1
        out.append(f"{PREFIX[c]}{count[c]:04d}")
    return out


def make_synthetic_universe(
    n_assets: int,
    seed: int = 0,
    start: str = "2000-01-03",
    end: str = "2022-12-30",
    *,
    n_factors: int = 5,
    class_mix: Mapping[str, float] = DEFAULT_CLASS_MIX,
    factor_paths: str = "historical",
    late_share: float = 0.35,
    min_history_years: float = 6.0,
    latest_inception: str | None = None,
    delist_share: float = 0.02,
    gap_share: float = 0.02,
) -> SyntheticUniverse:
    """``n_assets`` synthetic prices (one cash asset and one index-like equity proxy included).

    ``factor_paths``: ``historical`` keeps the bundled factor path on its dates, so crises line
    up with the bundled FRED series; ``bootstrap`` resamples it in 21-day blocks. A share
    ``late_share`` of assets starts late (each keeps at least ``min_history_years`` before
    ``end``, and starts by ``latest_inception`` if given), ``delist_share`` stops at least
    one year before ``end`` (after at least ``min_history_years``), and ``gap_share`` misses
    1-3 sessions once (gaps the ingest checks accept). The learned allocator needs every
    risky asset alive on its training days: for a full pipeline run pass
    ``delist_share=0, gap_share=0`` and a ``latest_inception`` a year before the forecaster's
    first fold.
    """
    if n_assets < 3:
        raise ConfigError(f"synthetic universe: n_assets={n_assets}; need at least 3")
    if factor_paths not in ("historical", "bootstrap"):
        raise ConfigError(f"factor_paths={factor_paths!r}; use 'historical' or 'bootstrap'")
    unknown = sorted(set(class_mix) - set(PREFIX))
    if unknown or not class_mix:
        raise ConfigError(f"class_mix: unknown classes {unknown}; use some of {list(PREFIX)}")
    rng = np.random.default_rng(seed)
    model = fit_factor_model(n_factors)
    dates = trading_days(start, end)
    n_days = len(dates)

    # asset classes: the equity proxy first, then a seeded draw from the mix
    names = list(class_mix)
    p = np.array([class_mix[c] for c in names], float)
    drawn = [str(c) for c in rng.choice(names, size=n_assets - 2, p=p / p.sum())]
    classes = ["equity", *drawn]
    parents = []
    for c in classes:
        pool = model.asset_class.index[model.asset_class == c]
        pool = pool if len(pool) else model.asset_class.index
        parents.append(str(rng.choice(pool)))
    b = model.loadings.loc[parents].to_numpy()
    scale = np.linalg.norm(b, axis=1, keepdims=True)
    noise = rng.normal(0.0, 0.25, size=b.shape) * scale / np.sqrt(b.shape[1])
    b = b * rng.lognormal(0.0, 0.15, size=(len(b), 1)) + noise
    b[0] = model.loadings.loc[parents[0]].to_numpy()  # the proxy: its parent's loadings exactly
    vol = np.array([IDIO_VOL[c] for c in classes]) * rng.lognormal(0.0, 0.3, size=len(classes))
    vol[0] = 0.02  # index-like: little own risk
    fit = model.garch.loc[parents]
    alpha = np.clip(fit["alpha"].to_numpy() * rng.lognormal(0, 0.2, len(classes)), 0.02, 0.2)
    beta = np.clip(fit["beta"].to_numpy(), 0.6, 0.97)
    beta = np.minimum(beta, 0.98 - alpha)  # persistence < 1: a finite unconditional variance
    nu = np.clip(fit["nu"].to_numpy() + rng.normal(0, 0.5, len(classes)), 4.5, 12.0)
    drift = rng.normal(0.04, 0.04, size=len(classes)) / _DAYS  # annual 4% +- 4% excess

    if factor_paths == "historical":
        f = _historical(model.factors, dates, rng)
    else:
        f = _bootstrap(model.factors, dates, 21, rng)
    rets = f @ b.T + _garch_paths(n_days, vol, alpha, beta, nu, rng) + drift[None, :]
    rf = sample_macro_wide()[RISK_FREE].reindex(dates).ffill().bfill().to_numpy() / 100.0 / _DAYS
    rets += rf[:, None]
    cash = rf + rng.normal(0.0, 2e-5, size=n_days)
    rets = np.column_stack([rets[:, :1], cash, rets[:, 1:]])
    classes = [classes[0], "cash", *classes[1:]]
    tickers = [INDEX_TICKER, CASH_TICKER, *_tickers(classes[2:])]
    level = 100.0 * np.exp(np.cumsum(rets, axis=0))
    prices = pd.DataFrame(level, index=pd.DatetimeIndex(dates, name="date"), columns=tickers)

    # staggered inception, delistings, short gaps (never the proxy or cash)
    n_hist = int(min_history_years * _DAYS)
    others = np.arange(2, len(tickers))
    first = np.zeros(len(tickers), int)
    late = others[rng.random(len(others)) < late_share]
    last_start = n_days - n_hist
    if latest_inception is not None:
        last_start = min(last_start, int(dates.searchsorted(pd.Timestamp(latest_inception))))
    if last_start > 1:
        first[late] = rng.integers(1, last_start, size=len(late))
    for j, i0 in enumerate(first):
        prices.iloc[:i0, j] = np.nan
    n_delist = round(delist_share * len(others))
    room = [j for j in others if n_days - first[j] > n_hist + int(_DAYS)]
    delisted = {}
    if n_delist and room:
        for j in rng.choice(room, size=min(n_delist, len(room)), replace=False):
            last = int(rng.integers(first[j] + n_hist, n_days - int(_DAYS)))
            prices.iloc[last + 1 :, j] = np.nan
            delisted[tickers[j]] = dates[last]
    gaps = {}
    n_gap = round(gap_share * len(others))
    pool = [j for j in others if tickers[j] not in delisted]
    if n_gap and pool:
        for j in rng.choice(pool, size=min(n_gap, len(pool)), replace=False):
            k = int(rng.integers(1, 4))
            at = int(rng.integers(first[j] + 30, n_days - 30))
            prices.iloc[at : at + k, j] = np.nan
            gaps[tickers[j]] = k

    sample = load_universe()
    universe = Universe(
        name=f"synthetic_{n_assets}_seed{seed}",
        assets=tuple(Asset(t, c) for t, c in zip(tickers, classes, strict=True)),
        series=sample.series,
        cash=CASH_TICKER,
        risk_free_rate=RISK_FREE if RISK_FREE in sample.series_ids else sample.risk_free_rate,
        equity_proxy=INDEX_TICKER,
    )
    inception = pd.Series([dates[i] for i in first], index=tickers, name="inception")
    return SyntheticUniverse(
        prices=prices,
        universe=universe,
        inception=inception,
        delisted=pd.Series(delisted, dtype="datetime64[ns]", name="delisted"),
        gaps=pd.Series(gaps, dtype=int, name="gap_sessions"),
    )
