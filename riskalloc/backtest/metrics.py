"""Performance metrics of daily returns, per year, per stress window and for the full period.

Conventions: 252 trading days a year; annual return is geometric; Sharpe and Sortino use
returns in excess of the daily risk-free rate; max drawdown and CVaR are positive losses
(0.25 = −25 %); CVaR 95 % is skfolio's daily historical CVaR; turnover is the sum of daily
L1 turnover per year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskalloc.backtest.engine import BacktestResult
from riskalloc.market import TRADING_DAYS

STRESS_WINDOWS: dict[str, tuple[str, str]] = {
    "2018Q4": ("2018-10-01", "2018-12-31"),
    "covid": ("2020-02-19", "2020-03-23"),
    "2022": ("2022-01-01", "2022-12-31"),
}
METRICS: tuple[str, ...] = (
    "ann_return",
    "ann_vol",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "cvar_95",
    "turnover",
    "avg_exposure",
    "n_days",
)
HEADLINE: tuple[str, ...] = METRICS[:-1]  # what tables and reports show (all but n_days)
MIN_YEAR_DAYS = 20


def max_drawdown(returns: pd.Series) -> float:
    """Largest peak-to-trough loss of the wealth path (starting at 1 before the first day)."""
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + np.asarray(returns, dtype=float))])
    return float(np.max(1.0 - wealth / np.maximum.accumulate(wealth)))


def drawdown_series(returns: pd.Series) -> pd.Series:
    """Drawdown (≤ 0) of the wealth path on each day."""
    wealth = (1.0 + returns).cumprod()
    peak = np.maximum(wealth.cummax(), 1.0)
    return (wealth / peak - 1.0).rename("drawdown")


def compute_metrics(
    returns: pd.Series,
    rf: pd.Series | None = None,
    turnover: pd.Series | None = None,
    exposure: pd.Series | None = None,
) -> dict[str, float]:
    """All metrics of one return series (daily, simple returns)."""
    from skfolio.measures import cvar

    r = pd.Series(returns, dtype="float64").dropna()
    n = len(r)
    nan = float("nan")
    if n < 2:
        return dict.fromkeys(METRICS, nan) | {"n_days": float(n)}
    f = rf.reindex(r.index).fillna(0.0) if rf is not None else pd.Series(0.0, index=r.index)
    ex = r - f
    years = n / TRADING_DAYS
    ann_ret = float(np.prod(1.0 + r.to_numpy()) ** (1.0 / years) - 1.0)
    vol = float(r.std(ddof=1) * np.sqrt(TRADING_DAYS))
    ex_sd = float(ex.std(ddof=1))
    downside = float(np.sqrt(np.mean(np.minimum(ex.to_numpy(), 0.0) ** 2)))
    mdd = max_drawdown(r)
    return {
        "ann_return": ann_ret,
        "ann_vol": vol,
        "sharpe": float(ex.mean() / ex_sd * np.sqrt(TRADING_DAYS)) if ex_sd > 0 else nan,
        "sortino": float(ex.mean() / downside * np.sqrt(TRADING_DAYS)) if downside > 0 else nan,
        "max_drawdown": mdd,
        "calmar": ann_ret / mdd if mdd > 0 else nan,
        "cvar_95": float(cvar(r.to_numpy(), beta=0.95)),
        "turnover": float(turnover.reindex(r.index).fillna(0.0).sum() / years)
        if turnover is not None
        else nan,
        "avg_exposure": float(exposure.reindex(r.index).mean()) if exposure is not None else nan,
        "n_days": float(n),
    }


def periods(index: pd.DatetimeIndex) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """Named periods covered by ``index``: full ("2017-2022"), each year, stress windows.

    A year needs ≥ 20 days; a stress window must lie inside the index's span.
    """
    idx = pd.DatetimeIndex(index)
    first, last = idx[0], idx[-1]
    full = str(first.year) if first.year == last.year else f"{first.year}-{last.year}"
    out = {full: (first, last)}
    for y in sorted(set(idx.year)):
        if ((idx.year == y).sum()) >= MIN_YEAR_DAYS:
            out[str(y)] = (max(first, pd.Timestamp(y, 1, 1)), min(last, pd.Timestamp(y, 12, 31)))
    for name, (a, b) in STRESS_WINDOWS.items():
        ta, tb = pd.Timestamp(a), pd.Timestamp(b)
        slack = pd.Timedelta(days=4)  # a window starting/ending on a holiday still counts
        if first <= ta + slack and last >= tb - slack:
            out.setdefault(name, (ta, tb))
    return out


def metrics_table(result: BacktestResult) -> pd.DataFrame:
    """One row per named period (column ``period``) with every metric."""
    rows = []
    for name, (a, b) in periods(result.returns.index).items():
        sl = slice(a, b)
        m = compute_metrics(
            result.returns.loc[sl],
            result.rf.loc[sl],
            result.turnover.loc[sl],
            result.exposure.loc[sl],
        )
        rows.append({"period": name, **m})
    return pd.DataFrame(rows)


def drawdown_reduction(
    returns: dict[str, pd.Series],
    reference: str,
    windows: dict[str, tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Max drawdown of each strategy vs ``reference`` in each stress window.

    ``reduction`` = 1 − mdd / mdd_reference (0.3 = a drawdown 30 % smaller than the reference).
    """
    rows = []
    ref = returns[reference]
    for period, (a, b) in (windows or STRESS_WINDOWS).items():
        ref_mdd = max_drawdown(ref.loc[a:b])
        for name, r in returns.items():
            mdd = max_drawdown(r.loc[a:b])
            red = 1.0 - mdd / ref_mdd if ref_mdd > 0 else float("nan")
            rows.append(
                {
                    "strategy": name,
                    "period": period,
                    "reference": reference,
                    "max_drawdown": mdd,
                    "reference_max_drawdown": ref_mdd,
                    "reduction": red,
                }
            )
    return pd.DataFrame(rows)


def equity_exposure(
    result: BacktestResult, asset_classes: dict[str, str], kind: str = "target"
) -> pd.Series:
    """Daily sum of weights in ``asset_class == "equity"`` tickers.

    ``kind="target"``: the latest decided target carried forward (what the strategy chose,
    dated on its decision day); ``kind="held"``: the drifted holdings during each day.
    """
    eq = [t for t, c in asset_classes.items() if c == "equity"]
    if kind == "held":
        return result.holdings.reindex(columns=eq).fillna(0.0).sum(axis=1).rename("equity")
    if kind != "target":
        raise ValueError(f"kind must be 'target' or 'held', not {kind!r}")
    tgt = result.weights.reindex(columns=eq).fillna(0.0).sum(axis=1)
    days = result.returns.index
    path = tgt.reindex(tgt.index.union(days)).ffill().reindex(days)
    return path.fillna(0.0).rename("equity")


def exposure_cut(
    exposure: pd.Series,
    base: tuple[str, str] = ("2020-01-01", "2020-01-31"),
    trough: str = "2020-03-23",
    drop: float = 0.20,
) -> dict[str, object]:
    """When a strategy began cutting equity ahead of the COVID trough.

    The cut date is the first day after ``base`` on which ``exposure`` is ≥ ``drop`` (20 %)
    below its average over ``base`` (January 2020); ``days_before_trough`` counts trading
    days from the cut date to ``trough`` (negative if the cut came after it; None if never
    cut by the end of the series).
    """
    base_avg = float(exposure.loc[base[0] : base[1]].mean())
    after = exposure.loc[exposure.index > pd.Timestamp(base[1])]
    hit = after[after <= (1.0 - drop) * base_avg] if base_avg > 0 else after.iloc[:0]
    cut = hit.index[0] if len(hit) else None
    tr = pd.Timestamp(trough)
    days = None
    if cut is not None:
        idx = exposure.index
        days = int(idx.searchsorted(tr) - idx.searchsorted(cut))
    at_trough = exposure.loc[:tr]
    return {
        "base_avg": base_avg,
        "cut_date": cut,
        "days_before_trough": days,
        "exposure_at_trough": float(at_trough.iloc[-1]) if len(at_trough) else float("nan"),
    }
