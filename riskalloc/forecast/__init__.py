"""Next-21-day volatility forecasts: the v1 LSTM, the v2 candidates and the production forecaster
(chosen on 2009-2016 folds) vs EWMA, GARCH(1,1), HAR-RV."""

from riskalloc.forecast.artefacts import forecaster_record, load_model, market_hash, save_model
from riskalloc.forecast.evaluate import (
    diebold_mariano,
    evaluate_forecasts,
    model_confidence_set,
    mz_r2,
    qlike,
)
from riskalloc.forecast.garch_fits import GarchFitCache
from riskalloc.forecast.lstm import LSTMConfig, TrainedLSTM, predict_lstm, train_lstm
from riskalloc.forecast.panel import Panel, Panels, build_panel
from riskalloc.forecast.production import (
    PRODUCTION,
    extend_production,
    forecast_eval_frame,
    production_forecasts,
    save_production,
    write_forecast_eval,
)
from riskalloc.forecast.selection import (
    CANDIDATES,
    Candidate,
    candidate_forecasts,
    gated_choice,
    select_forecaster,
)
from riskalloc.forecast.targets import HORIZON, future_realised_vol
from riskalloc.forecast.walkforward import (
    MODELS,
    Fold,
    fold_plan,
    forecast_latest,
    forecast_range,
    walk_forward_forecasts,
)

__all__ = [
    "CANDIDATES",
    "HORIZON",
    "MODELS",
    "PRODUCTION",
    "Candidate",
    "Fold",
    "GarchFitCache",
    "LSTMConfig",
    "Panel",
    "Panels",
    "TrainedLSTM",
    "build_panel",
    "candidate_forecasts",
    "diebold_mariano",
    "evaluate_forecasts",
    "extend_production",
    "fold_plan",
    "forecast_eval_frame",
    "forecast_latest",
    "forecast_range",
    "forecaster_record",
    "future_realised_vol",
    "gated_choice",
    "load_model",
    "market_hash",
    "model_confidence_set",
    "mz_r2",
    "predict_lstm",
    "production_forecasts",
    "qlike",
    "save_model",
    "save_production",
    "select_forecaster",
    "train_lstm",
    "walk_forward_forecasts",
    "write_forecast_eval",
]
