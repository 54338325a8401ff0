"""Inputs of the regime reference and the measures its selection uses, all point in time.

Log VIX and its change, the equity proxy's log realised vol, credit spreads and their changes,
at most one curve-slope level; each standardised on an expanding window. Also the next-month
realised vol the states are judged on, and η², the separation of that vol between states.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskalloc.errors import DataError
from riskalloc.market import TRADING_DAYS, MarketData

VOL_ROLE, CREDIT_ROLE, SLOPE_ROLE = "volatility_expectation", "credit_spread", "curve_slope"
CHANGE_WINDOW = 21
RV_WINDOW = 21
MIN_HISTORY = 252  # trading days before an expanding mean/std is trusted


def _role_series(md: MarketData, role: str) -> list[str]:
    """Series of ``role`` present in the macro data, in universe order."""
    present = set(md.macro["series_id"])
    return [s for s, r in md.series_roles.items() if r == role and s in present]


def _vol_series(md: MarketData) -> list[str]:
    """The volatility-expectation series (VIX); an error naming the roles when there is none."""
    vol = _role_series(md, VOL_ROLE)
    if not vol:
        raise DataError(
            "the regime reference needs a 'volatility_expectation' series (e.g. VIXCLS); "
            f"roles present: {sorted(set(md.series_roles.values()))}"
        )
    return vol


def realised_vol_name(md: MarketData, window: int = RV_WINDOW) -> str | None:
    """Column name of the equity proxy's log realised vol (None without an equity proxy)."""
    return None if md.equity_proxy is None else f"log_rv{window}_{md.equity_proxy}"


def regime_features(md: MarketData, change_window: int = CHANGE_WINDOW) -> pd.DataFrame:
    """Raw point-in-time indicators on ``md``'s dates, before standardisation.

    log VIX and its change, equity-proxy log realised vol, credit spreads and their changes,
    curve slopes and their changes; every value uses only data available on its date.
    """
    cols: dict[str, pd.Series] = {}
    for s in _vol_series(md):
        x = md.macro_asof(s).astype(float)
        if (x.dropna() <= 0).any():
            raise DataError(f"volatility series {s!r} has values <= 0; cannot take logs")
        cols[f"log_{s}"] = np.log(x)
        cols[f"d{change_window}_log_{s}"] = np.log(x).diff(change_window)
    rv = realised_vol_name(md)
    if rv is not None:
        r = md.prices[md.equity_proxy].pct_change(fill_method=None)
        vol = r.rolling(RV_WINDOW).std() * np.sqrt(TRADING_DAYS)
        cols[rv] = np.log(vol.where(vol > 0))
    for role in (CREDIT_ROLE, SLOPE_ROLE):
        for s in _role_series(md, role):
            x = md.macro_asof(s).astype(float)
            cols[s] = x
            cols[f"d{change_window}_{s}"] = x.diff(change_window)
    out = pd.DataFrame(cols, index=md.dates)
    out.index.name = "date"
    return out


def expanding_zscore(raw: pd.DataFrame, min_periods: int = MIN_HISTORY) -> pd.DataFrame:
    """(x_t − mean(x_≤t)) / std(x_≤t): causal, so a level's drift over decades is scaled away."""
    mean = raw.expanding(min_periods=min_periods).mean()
    std = raw.expanding(min_periods=min_periods).std(ddof=0)
    return (raw - mean) / std.where(std > 0)


def candidate_inputs(md: MarketData, change_window: int = CHANGE_WINDOW) -> dict[str, list[str]]:
    """The input sets the selection compares: volatility plus credit, slope secondary at most.

    ``vol`` = log VIX, its change and equity realised vol; then ``vol+<spread>`` for each
    credit spread (level and change), ``vol+credit`` for all of them, and ``vol+credit+slope``
    adding the first curve slope's level.
    """
    vol = []
    for s in _vol_series(md):
        vol += [f"log_{s}", f"d{change_window}_log_{s}"]
    rv = realised_vol_name(md)
    vol += [rv] if rv is not None else []
    credit = _role_series(md, CREDIT_ROLE)
    if not credit:
        raise DataError("the regime reference needs a 'credit_spread' series (e.g. BAA10Y)")
    out = {f"vol+{c}": [*vol, c, f"d{change_window}_{c}"] for c in credit}
    every = [x for c in credit for x in (c, f"d{change_window}_{c}")]
    if len(credit) > 1:
        out["vol+credit"] = [*vol, *every]
    slope = _role_series(md, SLOPE_ROLE)
    if slope:
        out["vol+credit+slope"] = [*vol, *every, slope[0]]
    return out


def next_month_log_vol(md: MarketData, window: int = RV_WINDOW) -> pd.Series:
    """log realised vol of the equity proxy over days t+1..t+window (the separation target)."""
    if md.equity_proxy is None:
        raise DataError("separation of next-month vol needs an equity_proxy in the universe")
    r = md.prices[md.equity_proxy].pct_change(fill_method=None)
    fwd = r[::-1].rolling(window).std()[::-1].shift(-1) * np.sqrt(TRADING_DAYS)
    return np.log(fwd.where(fwd > 0)).rename("next_month_log_vol")


def separation_eta2(labels: pd.Series, y: pd.Series) -> float:
    """η²: share of the variance of ``y`` explained by the group means of ``labels``."""
    both = pd.concat([labels.rename("g"), y.rename("y")], axis=1, sort=True).dropna()
    if len(both) < 2:
        return float("nan")
    dev = both["y"] - both["y"].mean()
    g = both.groupby("g")["y"]
    between = float((g.size() * (g.mean() - both["y"].mean()) ** 2).sum())
    return between / float((dev**2).sum())
