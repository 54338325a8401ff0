"""Next-21-day volatility forecasts: LSTM shared across assets vs EWMA, GARCH(1,1), HAR-RV."""

from riskalloc.forecast.evaluate import diebold_mariano, evaluate_forecasts, mz_r2, qlike
from riskalloc.forecast.lstm import LSTMConfig, TrainedLSTM, predict_lstm, train_lstm
from riskalloc.forecast.panel import Panel, build_panel
from riskalloc.forecast.registry import data_hash, load_model, registry_row, save_model
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
    "HORIZON",
    "MODELS",
    "Fold",
    "LSTMConfig",
    "Panel",
    "TrainedLSTM",
    "build_panel",
    "data_hash",
    "diebold_mariano",
    "evaluate_forecasts",
    "fold_plan",
    "forecast_latest",
    "forecast_range",
    "future_realised_vol",
    "load_model",
    "mz_r2",
    "predict_lstm",
    "qlike",
    "registry_row",
    "save_model",
    "train_lstm",
    "walk_forward_forecasts",
]
