"""The last gate before target weights reach the warehouse: validate, or refuse to publish.

Invalid weights are never written: :func:`validate_target_weights` raises
:class:`~riskalloc.errors.PublishError` naming the date and ticker at fault, and callers
upsert only after it passes (the upsert itself is atomic).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from riskalloc.errors import PublishError

TARGET_WEIGHT_COLUMNS = (
    "date",
    "ticker",
    "weight",
    "risk_budget",
    "risk_contribution",
    "exposure",
    "regime",
    "model_version",
)
RC_TOL = 1e-6
SUM_TOL = 1e-9


def validate_target_weights(
    df: pd.DataFrame,
    universe: Iterable[str],
    rc_tol: float = RC_TOL,
    max_exposure: float = 1.0,
) -> None:
    """Weights ≥ 0, per-date sum = exposure ≤ ``max_exposure`` (> 1 only for a levered
    design), risk contributions = budgets, known tickers."""
    missing = sorted(set(TARGET_WEIGHT_COLUMNS) - set(df.columns))
    if missing:
        raise PublishError(f"target weights lack columns {missing}")
    if df.empty:
        raise PublishError("no target weights to publish")
    allowed = set(universe)
    outside = sorted(set(df["ticker"]) - allowed)
    if outside:
        raise PublishError(f"tickers outside the universe: {outside}")
    dup = df.duplicated(["date", "ticker"])
    if dup.any():
        r = df.loc[dup].iloc[0]
        day = pd.Timestamp(r["date"]).date()
        raise PublishError(f"duplicate weight for {r['ticker']} on {day}")
    num = df.loc[:, ["weight", "risk_budget", "risk_contribution", "exposure"]].to_numpy(float)
    if not np.isfinite(num).all():
        r = df.loc[~np.isfinite(num).all(axis=1)].iloc[0]
        raise PublishError(
            f"non-finite value for {r['ticker']} on {pd.Timestamp(r['date']).date()}"
        )
    neg = df["weight"] < 0
    if neg.any():
        r = df.loc[neg].iloc[0]
        day = pd.Timestamp(r["date"]).date()
        raise PublishError(f"negative weight {r['weight']:.4g} for {r['ticker']} on {day}")
    for date, g in df.groupby("date", sort=True):
        day = pd.Timestamp(date).date()
        exposure = float(g["exposure"].iloc[0])
        if not np.allclose(g["exposure"], exposure, rtol=0, atol=SUM_TOL):
            raise PublishError(f"exposure differs between tickers on {day}")
        if exposure > max_exposure + SUM_TOL or exposure < 0:
            raise PublishError(f"exposure {exposure:.6f} outside [0, {max_exposure:g}] on {day}")
        total = float(g["weight"].sum())
        if abs(total - exposure) > 1e-6:
            raise PublishError(
                f"weights sum to {total:.6f} but exposure is {exposure:.6f} on {day}"
            )
        gap = (g["risk_contribution"] - g["risk_budget"]).abs()
        if float(gap.max()) > rc_tol:
            r = g.loc[gap.idxmax()]
            raise PublishError(
                f"risk contribution of {r['ticker']} on {day} is {r['risk_contribution']:.6g}, "
                f"budget {r['risk_budget']:.6g} (tolerance {rc_tol:g})"
            )
        for col in ("risk_budget", "risk_contribution"):
            s = float(g[col].sum())
            if abs(s - 1) > 1e-6:
                raise PublishError(f"{col} sums to {s:.6f} on {day}, not 1")
