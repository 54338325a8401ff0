"""Forecast evaluation: QLIKE, log RMSE, Mincer-Zarnowitz R² and Diebold-Mariano tests.

Conventions (documented for the ``forecast_eval`` table):
- vols are floored at ``VOL_FLOOR`` before any loss (near-cash assets have zero-return months);
- ``qlike`` = mean(y/f - log(y/f) - 1) on variances y = target², f = forecast²;
- ``mz_r2`` is the R² of the OLS of log realised vol on a constant and log forecast vol;
- ``dm_vs_<m>`` / ``dm_p_vs_<m>``: Diebold-Mariano statistic and two-sided p-value of this row's
  model against model m on QLIKE loss. The loss differential is averaged over the row's assets
  per date and its mean tested with a Newey-West HAC variance (lag h-1). Negative = this row's
  model has the lower loss. NaN against itself.
- :func:`model_confidence_set`: the MCS p-values the forecaster selection reports.
- ``production``: True on the rows of the production forecaster (``production=`` its name).
All models are compared on the same (date, ticker) rows: those every model forecast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from riskalloc.errors import DataError
from riskalloc.features.asset import VOL_FLOOR
from riskalloc.forecast.targets import HORIZON

PERIODS: dict[str, tuple[str, str]] = {
    "2012-2016": ("2012-01-01", "2016-12-31"),
    "2017-2022": ("2017-01-01", "2022-12-31"),
}


def qlike(target_vol: np.ndarray, forecast_vol: np.ndarray) -> np.ndarray:
    """Per-observation QLIKE loss on variances (0 for a perfect forecast)."""
    ratio = (np.maximum(target_vol, VOL_FLOOR) / np.maximum(forecast_vol, VOL_FLOOR)) ** 2
    return ratio - np.log(ratio) - 1.0


def mz_r2(target_vol: np.ndarray, forecast_vol: np.ndarray) -> float:
    """Mincer-Zarnowitz R² of log realised vol regressed on log forecast vol."""
    y = np.log(np.maximum(target_vol, VOL_FLOOR))
    x = np.log(np.maximum(forecast_vol, VOL_FLOOR))
    if len(y) < 3 or np.std(x) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def diebold_mariano(loss_diff: np.ndarray, lag: int = HORIZON - 1) -> tuple[float, float]:
    """DM statistic and two-sided p-value for mean(loss_diff) = 0 with Newey-West HAC (``lag``)."""
    d = np.asarray(loss_diff, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) <= lag + 2 or np.allclose(d, d[0]):
        return float("nan"), float("nan")
    res = sm.OLS(d, np.ones((len(d), 1))).fit(cov_type="HAC", cov_kwds={"maxlags": lag})
    stat = float(res.tvalues[0])
    return stat, float(2.0 * stats.norm.sf(abs(stat)))


MCS_SIZE = 0.10  # Hansen, Lunde & Nason (2011) report the 10 % and 25 % sets


def model_confidence_set(
    losses: pd.DataFrame, size: float = MCS_SIZE, reps: int = 1000, seed: int = 0
) -> pd.Series:
    """MCS p-value of each column of a (date × model) loss frame (Hansen, Lunde & Nason 2011,
    ``arch``'s range statistic, stationary bootstrap with mean block √T): the models with
    p ≥ ``size`` are those the data cannot tell from the best, after all the comparisons."""
    from arch.bootstrap import MCS

    clean = losses.dropna()
    if clean.shape[1] == 1:
        return pd.Series(1.0, index=losses.columns, name="mcs_pvalue")
    if len(clean) < 30:
        raise DataError(f"a model confidence set needs ≥ 30 dates of losses, got {len(clean)}")
    mcs = MCS(clean, size=size, reps=reps, seed=seed)
    mcs.compute()
    return mcs.pvalues["Pvalue"].reindex(losses.columns).rename("mcs_pvalue")


def _common_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Wide (date, ticker) x model forecasts where every model and the target are known."""
    known = df.loc[np.isfinite(df["target_vol"]) & np.isfinite(df["forecast_vol"])]
    wide = known.pivot_table(
        index=["date", "ticker"], columns="model", values="forecast_vol", aggfunc="first"
    )
    target = known.groupby(["date", "ticker"])["target_vol"].first()
    wide = wide.dropna()
    wide["__target"] = target.reindex(wide.index)
    return wide


def evaluate_forecasts(
    df: pd.DataFrame,
    asset_classes: dict[str, str],
    periods: dict[str, tuple[str, str]] | None = None,
    horizon: int = HORIZON,
    production: str | None = None,
) -> pd.DataFrame:
    """One row per (model, period, asset_class incl. "all") with the metrics described above."""
    wide = _common_rows(df)
    models = [c for c in wide.columns if c != "__target"]
    dates = wide.index.get_level_values("date")
    classes = wide.index.get_level_values("ticker").map(lambda t: asset_classes.get(t, "other"))
    rows = []
    for period, (lo, hi) in (periods or PERIODS).items():
        in_p = (dates >= pd.Timestamp(lo)) & (dates <= pd.Timestamp(hi))
        for cls in ["all", *sorted(set(classes))]:
            sub = wide.loc[in_p & ((classes == cls) if cls != "all" else True)]
            if sub.empty:
                continue
            y = sub["__target"].to_numpy()
            losses = {m: pd.Series(qlike(y, sub[m].to_numpy()), index=sub.index) for m in models}
            daily = {m: s.groupby(level="date").mean() for m, s in losses.items()}
            for m in models:
                f = sub[m].to_numpy()
                row = {
                    "model": m,
                    "period": period,
                    "asset_class": cls,
                    "qlike": float(losses[m].mean()),
                    "rmse_log": float(
                        np.sqrt(
                            np.mean(
                                (
                                    np.log(np.maximum(f, VOL_FLOOR))
                                    - np.log(np.maximum(y, VOL_FLOOR))
                                )
                                ** 2
                            )
                        )
                    ),
                    "mz_r2": mz_r2(y, f),
                    "n_obs": len(sub),
                    "production": m == production,
                }
                for other in models:
                    stat, p = (
                        diebold_mariano((daily[m] - daily[other]).to_numpy(), horizon - 1)
                        if other != m
                        else (float("nan"), float("nan"))
                    )
                    row[f"dm_vs_{other}"], row[f"dm_p_vs_{other}"] = stat, p
                rows.append(row)
    return pd.DataFrame(rows)
