"""Daily target-weight rows of the production design, each date from data up to that date.

The same :class:`~riskalloc.allocate.designed.DesignedStrategy` that the backtest runs
publishes here, so the nightly ``target_weights`` and the ``riskalloc`` rows of
``backtest_metrics`` come from one configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from riskalloc.allocate.design import AllocatorDesign
from riskalloc.allocate.designed import DesignedStrategy
from riskalloc.allocate.train import TrainedNetwork
from riskalloc.errors import DataError
from riskalloc.market import MarketData

if TYPE_CHECKING:
    import duckdb

DESIGN_WEIGHT_COLUMNS: tuple[str, ...] = (
    "date",
    "ticker",
    "asset_class",
    "weight",
    "risk_budget",
    "risk_contribution",
    "layer_weight",
    "trend",
    "exposure",
    "target_exposure",
    "target_vol",
    "model_version",
)


def design_version(design: AllocatorDesign) -> str:
    """The ``model_version`` of a design's rows: its key (a design is its own artefact)."""
    return f"design:{design.key}"


def stored_design_forecasts(
    con: duckdb.DuckDBPyConnection, design: AllocatorDesign, end: pd.Timestamp | None = None
) -> pd.DataFrame | None:
    """The production forecaster's stored vols (``vol_forecasts``, wide) up to ``end`` when
    ``design`` reads forecast vols, else None; a clear error when none are stored."""
    if design.vol_source != "forecast":
        return None
    from riskalloc.allocate.dataset import forecast_wide
    from riskalloc.forecast.production import PRODUCTION
    from riskalloc.warehouse.catalog import table_exists
    from riskalloc.warehouse.reads import read_table

    if not table_exists(con, "vol_forecasts"):
        raise DataError(
            f"design {design.key} reads forecast vols: materialise vol_forecaster first"
        )
    rows = read_table(con, "vol_forecasts", end=end, where={"model": PRODUCTION.name})
    return forecast_wide(rows, PRODUCTION.name)


def design_target_weights(
    md: MarketData,
    design: AllocatorDesign,
    dates: Iterable[pd.Timestamp],
    trained: list[TrainedNetwork] | None = None,
    vol_forecast: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """Long rows (one per date and risky ticker) and the dates skipped (not trading days or
    before any asset has a full look-back).

    ``weight`` is the published (smoothed) weight; ``risk_budget``, ``layer_weight`` and
    ``risk_contribution`` describe the exact risk-budgeting layer at that date (its risk
    contributions equal the budgets), ``trend`` the momentum multiplier and ``exposure`` the
    sum of the published weights (the rest is cash). A forecast-vol design reads
    ``vol_forecast`` (:func:`stored_design_forecasts`) as of each date.
    """
    strat = DesignedStrategy(
        design=design, trained=list(trained or []), fitted=True, vol_forecast=vol_forecast
    )
    risky = [t for t in md.tickers if t != md.cash]
    frames, skipped = [], []
    for d in pd.DatetimeIndex(list(dates)):
        if d not in md.dates:
            skipped.append(d)
            continue
        cut = md.until(d)
        det = strat.detail_at(cut, d)
        if det.budgets.empty:
            skipped.append(d)
            continue
        w = pd.Series(strat.smoothed(cut), index=md.tickers).loc[risky]
        b = det.budgets.reindex(risky)
        frames.append(
            pd.DataFrame(
                {
                    "date": d,
                    "ticker": risky,
                    "asset_class": [md.asset_classes.get(t, "other") for t in risky],
                    "weight": w.to_numpy(),
                    "risk_budget": b.fillna(0.0).to_numpy(),
                    "risk_contribution": det.risk_contributions.reindex(risky)
                    .fillna(0.0)
                    .to_numpy(),
                    "layer_weight": det.layer_weights.reindex(risky).fillna(0.0).to_numpy(),
                    "trend": det.trend.reindex(risky).fillna(0.0).to_numpy(),
                    "exposure": float(w.sum()),
                    "target_exposure": det.exposure,
                    "target_vol": det.target_vol,
                    "model_version": design_version(design),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=list(DESIGN_WEIGHT_COLUMNS)), skipped
    out = pd.concat(frames, ignore_index=True)
    out["target_vol"] = out["target_vol"].astype(float).where(np.isfinite(out["target_vol"]))
    return out.loc[:, list(DESIGN_WEIGHT_COLUMNS)], skipped
