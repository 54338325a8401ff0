"""The production volatility forecaster (chosen on the 2009-2016 folds) and its evaluation.

``PRODUCTION`` is the lowest-QLIKE candidate of ``benchmarks/results/forecaster_selection.csv``
(``scripts/evaluate_forecaster.py --select``). Its rows go to ``vol_forecasts`` under its own
model name; the allocator keeps reading the v1 ``lstm`` rows.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from riskalloc.errors import DataError, ModelError
from riskalloc.forecast.evaluate import evaluate_forecasts
from riskalloc.forecast.lstm import LSTMConfig
from riskalloc.forecast.selection import BY_NAME, Candidate, candidate_forecasts
from riskalloc.forecast.walkforward import MODELS
from riskalloc.market import MarketData

log = logging.getLogger(__name__)

# lowest development QLIKE of 17 candidates (0.2134; next combo_all_class 0.2151, DM p 0.56)
PRODUCTION: Candidate = BY_NAME["combo_lognormal_class"]


def production_forecasts(
    md: MarketData,
    start: str,
    end: str,
    seed: int = 0,
    include: tuple[str, ...] = MODELS,
    lstm_config: LSTMConfig | None = None,
    on_fold_model: object = None,
) -> tuple[pd.DataFrame, dict]:
    """Walk-forward rows of the production forecaster plus the built-ins in ``include``."""
    return candidate_forecasts(
        md,
        start,
        end,
        (PRODUCTION,),
        seed=seed,
        include=include,
        lstm_config=lstm_config,
        on_fold_model=on_fold_model,
    )


def period_label(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """Years of a period as the metrics label them, e.g. ``2017-2022`` (``2020`` for one)."""
    return f"{start.year}" if start.year == end.year else f"{start.year}-{end.year}"


def forecast_eval_frame(
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    seed: int = 0,
    candidate: Candidate | None = None,
    members: tuple[Candidate, ...] = (),
) -> pd.DataFrame:
    """The ``forecast_eval`` rows of [start, end] on ``md``: production, v1 LSTM and baselines.

    Walk-forward forecasts (yearly refits, each on data before its year) scored by QLIKE,
    RMSE of log vol, Mincer-Zarnowitz R² and Diebold-Mariano, overall and per asset class,
    with the boolean ``production`` marking the production forecaster's rows; the members of
    a combination are scored too. ``candidate`` (with the ``members`` it names) replaces
    ``PRODUCTION`` (tests use a small network).
    """
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    prod = candidate or PRODUCTION
    fc, _ = candidate_forecasts(md, str(lo.date()), str(hi.date()), (prod, *members), seed, MODELS)
    fc = fc.loc[fc["date"] <= hi]
    periods = {period_label(lo, hi): (str(lo.date()), str(hi.date()))}
    return evaluate_forecasts(fc, md.asset_classes, periods, production=prod.name)


def write_forecast_eval(
    md: MarketData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    out_dir: str | Path,
    seed: int = 0,
) -> Path | None:
    """Write ``forecast_eval.csv`` (``forecast_eval_frame``) to ``out_dir``; return its path.

    With too little history before ``start`` to fit the forecasters it logs why and writes
    nothing (the backtest itself does not need it).
    """
    try:
        ev = forecast_eval_frame(md, start, end, seed)
    except (DataError, ModelError) as exc:
        log.warning("forecast_eval.csv not written: %s", exc)
        return None
    path = Path(out_dir) / "forecast_eval.csv"
    ev.to_csv(path, index=False)
    log.info("wrote %s (%d rows, production model %s)", path, len(ev), PRODUCTION.name)
    return path
