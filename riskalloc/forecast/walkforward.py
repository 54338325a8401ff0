"""Yearly walk-forward forecasts of next-h-day vol for the LSTM and the baselines.

Every model used inside a fold is fitted on data whose targets were fully known before the
fold's first day: training labels end h trading days before it (no overlap look-ahead).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd

from riskalloc.errors import ConfigError, DataError
from riskalloc.features.asset import log_returns
from riskalloc.forecast.baselines import ewma_forecast, har_design, har_fit, har_predict
from riskalloc.forecast.garch_fits import (
    GarchFitCache,
    garch_params,
    garch_params_by_cut,
    garch_paths,
)
from riskalloc.forecast.lstm import LSTMConfig, TrainedLSTM, predict_lstm, train_lstm
from riskalloc.forecast.panel import Panel, Panels, attach_garch
from riskalloc.forecast.targets import HORIZON
from riskalloc.market import MarketData
from riskalloc.parallel import effective_n_jobs, parallel_map

log = logging.getLogger(__name__)

MODELS = ("lstm", "ewma", "garch", "har")
HAR_MIN_ROWS = 100


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: forecast dates [start, end]; training labels end at ``label_end``."""

    name: str
    start: int  # index into the trading-day grid
    end: int
    label_end: int  # last date whose h-day target is complete before ``start``


def fold_plan(
    dates: pd.DatetimeIndex,
    start: str,
    end: str,
    retrain: str = "yearly",
    horizon: int = HORIZON,
) -> list[Fold]:
    """Yearly folds inside [start, end]; label_end = start - 1 - h (targets need t+1..t+h)."""
    if retrain != "yearly":
        raise ConfigError(f"retrain={retrain!r} is not supported; use 'yearly'")
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    folds = []
    for year in range(lo.year, hi.year + 1):
        mask = (dates >= max(lo, pd.Timestamp(year, 1, 1))) & (
            dates <= min(hi, pd.Timestamp(year, 12, 31))
        )
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            continue
        s = int(idx[0])
        if s - 1 - horizon < 0:
            raise DataError(f"fold {year} starts at {dates[s].date()} with no history before it")
        folds.append(Fold(str(year), s, int(idx[-1]), s - 1 - horizon))
    return folds


def _version(model: str, fold: str, payload: dict) -> str:
    """Deterministic model version: model, fold and a short hash of its settings."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"{model}-{fold}-{digest[:8]}"


def _long(panel: Panel, fold: Fold, model: str, vol: np.ndarray, version: str) -> pd.DataFrame:
    """Fold forecasts (assets, dates) -> long rows, NaN forecasts dropped."""
    dates = panel.dates[fold.start : fold.end + 1]
    n_a, n_d = vol.shape
    df = pd.DataFrame(
        {
            "date": np.tile(dates.to_numpy(), n_a),
            "ticker": np.repeat(np.asarray(panel.tickers, dtype=object), n_d),
            "model": model,
            "forecast_vol": vol.reshape(-1),
            "target_vol": panel.target_vol[:, fold.start : fold.end + 1].reshape(-1),
            "fold": fold.name,
            "model_version": version,
        }
    )
    return df.loc[np.isfinite(df["forecast_vol"].to_numpy())]


def _ewma_fold(panel: Panel, ewma: pd.DataFrame, fold: Fold) -> np.ndarray:
    """EWMA (lambda 0.94) vol at each fold date (uses returns up to and including t)."""
    return ewma.to_numpy().T[:, fold.start : fold.end + 1]


def _garch_fold(
    panel: Panel,
    log_ret: pd.DataFrame,
    fold: Fold,
    params: dict[str, dict[str, float]] | None = None,
) -> np.ndarray:
    """Per-asset GARCH(1,1) fitted on returns before the fold, filtered through the fold."""
    if params is None:
        params = garch_params(panel.tickers, log_ret, panel.dates[fold.start])
    dates = panel.dates[: fold.end + 1]
    return garch_paths(dates, panel.tickers, log_ret, params, panel.horizon)[:, fold.start :]


def _har_fold(panel: Panel, har_x: np.ndarray, fold: Fold) -> np.ndarray:
    """Per-asset HAR-RV fitted on labels known before the fold (pooled fit for short histories)."""
    lo, hi = 0, fold.label_end
    x_tr, y_tr = har_x[:, lo : hi + 1], panel.target[:, lo : hi + 1]
    ok = np.isfinite(x_tr).all(axis=2) & np.isfinite(y_tr)
    pooled = har_fit(x_tr[ok], y_tr[ok])
    out = np.full((len(panel.tickers), fold.end - fold.start + 1), np.nan)
    for i in range(len(panel.tickers)):
        coef = har_fit(x_tr[i][ok[i]], y_tr[i][ok[i]]) if ok[i].sum() >= HAR_MIN_ROWS else pooled
        out[i] = np.exp(har_predict(coef, har_x[i, fold.start : fold.end + 1]))
    return out


@dataclass(frozen=True)
class _FoldWork:
    """What every fold of one walk-forward reads (shared with the worker processes)."""

    panel: Panel
    panel_v2: Panel | None
    log_ret: pd.DataFrame
    har_x: np.ndarray
    ewma: pd.DataFrame
    alive: np.ndarray
    models: tuple[str, ...]
    nets: dict[str, LSTMConfig]
    cfg: LSTMConfig
    horizon: int


def _run_fold(
    work: _FoldWork, job: tuple[Fold, dict[str, dict[str, float]]]
) -> tuple[list[pd.DataFrame], list[tuple[str, TrainedLSTM]], TrainedLSTM | None, float]:
    """One fold's rows of every model, its trained networks, its v1 LSTM and its seconds."""
    fold, params = job
    t0 = time.perf_counter()
    panel, models = work.panel, work.models
    live = work.alive[:, fold.start : fold.end + 1]
    parts, trained_nets, trained = [], [], None
    if "ewma" in models:
        v = np.where(live, _ewma_fold(panel, work.ewma, fold), np.nan)
        parts.append(_long(panel, fold, "ewma", v, _version("ewma", fold.name, {"lam": 0.94})))
    if "har" in models:
        v = np.where(live, _har_fold(panel, work.har_x, fold), np.nan)
        ver = _version("har", fold.name, {"label_end": str(panel.dates[fold.label_end])})
        parts.append(_long(panel, fold, "har", v, ver))
    if "garch" in models:
        v = np.where(live, _garch_fold(panel, work.log_ret, fold, params), np.nan)
        ver = _version("garch", fold.name, {"train_end": str(panel.dates[fold.start - 1])})
        parts.append(_long(panel, fold, "garch", v, ver))
    for name, net_cfg in work.nets.items():
        net_panel = panel
        if net_cfg.features == "v2":
            assert work.panel_v2 is not None
            g = garch_paths(panel.dates, panel.tickers, work.log_ret, params, work.horizon)
            net_panel = attach_garch(work.panel_v2, g, as_base=net_cfg.base == "garch")
        t_net = time.perf_counter()
        net = train_lstm(net_panel, fold.label_end, net_cfg)
        net.meta["train_seconds"] = round(time.perf_counter() - t_net, 2)
        net.meta["garch_params"] = params if net_cfg.features == "v2" else {}
        stable = {k: v for k, v in net.meta.items() if k != "train_seconds"}
        ver = _version(name, fold.name, {**net_cfg.to_dict(), **stable})
        net.meta["version"] = ver
        trained_nets.append((name, net))
        v = np.where(live, predict_lstm(net, net_panel, fold.start, fold.end), np.nan)
        parts.append(_long(net_panel, fold, name, v, ver))
    if "lstm" in models:
        trained = train_lstm(panel, fold.label_end, work.cfg)
        ver = _version("lstm", fold.name, {**work.cfg.to_dict(), **trained.meta})
        trained.meta["version"] = ver
        v = predict_lstm(trained, panel, fold.start, fold.end)
        parts.append(_long(panel, fold, "lstm", v, ver))
    return parts, trained_nets, trained, time.perf_counter() - t0


def walk_forward_forecasts(
    md: MarketData,
    start: str = "2012-01-01",
    end: str = "2022-12-31",
    retrain: str = "yearly",
    horizon: int = HORIZON,
    seed: int = 0,
    models: tuple[str, ...] = MODELS,
    lstm_config: LSTMConfig | None = None,
    on_fold_model: Callable[[Fold, TrainedLSTM], None] | None = None,
    nets: dict[str, LSTMConfig] | None = None,
    on_net_model: Callable[[str, Fold, TrainedLSTM], None] | None = None,
    panels: Panels | None = None,
    garch_cache: GarchFitCache | None = None,
    n_jobs: int | None = 1,
) -> pd.DataFrame:
    """Long frame (date, ticker, model, forecast_vol, target_vol, fold, model_version).

    ``target_vol`` is NaN where the h-day future is not in the data yet. Forecasts are only
    emitted where the asset has its features (and, for the LSTM, a full input window).
    ``on_fold_model(fold, trained)`` is called with each fold's fitted LSTM (e.g. to save it).
    ``nets`` adds further networks under their own model names (v2 ones get the fold's GARCH
    forecasts as input, from parameters fitted before the fold); ``on_net_model(name, fold,
    trained)`` sees each of them. ``panels`` shares input panels built from the same ``md``
    with other callers; ``garch_cache`` reuses GARCH fits whose training data is unchanged.
    ``n_jobs`` runs the folds (and the GARCH fits) on that many worker processes: same rows,
    callbacks still called here in fold order.
    """
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ConfigError(f"unknown forecast models {unknown}; choose from {MODELS}")
    effective_n_jobs(n_jobs)  # a bad n_jobs fails before any work
    nets = dict(nets or {})
    clash = sorted(set(nets) & set(MODELS))
    if clash:
        raise ConfigError(f"network names {clash} clash with the built-in models {MODELS}")
    nets = {k: v if v.seed == seed else replace(v, seed=seed) for k, v in nets.items()}
    cfg = lstm_config or LSTMConfig(seed=seed)
    if cfg.seed != seed:
        cfg = LSTMConfig(**{**cfg.to_dict(), "seed": seed})
    needs_v2 = any(c.features == "v2" for c in nets.values())
    panels = (panels or Panels(md, share_v2=needs_v2)).check(md)
    panel = panels.get(horizon)
    panel_v2 = panels.get(horizon, "v2") if needs_v2 else None
    folds = fold_plan(panel.dates, start, end, retrain, horizon)
    log_ret = log_returns(md)
    har = har_design(log_ret)
    har_x = np.stack(
        [har[k].reindex(columns=panel.tickers).to_numpy().T for k in ("rv_1", "rv_5", "rv_21")],
        axis=2,
    )
    ewma = ewma_forecast(log_ret).reindex(columns=panel.tickers)
    work = _FoldWork(
        panel, panel_v2, log_ret, har_x, ewma, panel.row_ok(), models, nets, cfg, horizon
    )
    # GARCH first, every fold's fits in one pass: the cache is read and written here only
    params = (
        garch_params_by_cut(
            panel.tickers, log_ret, [panel.dates[f.start] for f in folds], garch_cache, n_jobs
        )
        if "garch" in models or panel_v2 is not None
        else [{} for _ in folds]
    )
    done = parallel_map(partial(_run_fold, work), list(zip(folds, params, strict=True)), n_jobs)
    parts = []
    for fold, (fold_parts, trained_nets, trained, seconds) in zip(folds, done, strict=True):
        if on_net_model is not None:
            for name, net in trained_nets:
                on_net_model(name, fold, net)
        if trained is not None and on_fold_model is not None:
            on_fold_model(fold, trained)
        parts.extend(fold_parts)
        log.info("forecast fold %s done in %.1f s", fold.name, seconds)
    cols = ["date", "ticker", "model", "forecast_vol", "target_vol", "fold", "model_version"]
    if not parts:
        return pd.DataFrame(columns=cols)
    df = pd.concat(parts, ignore_index=True)
    return df.sort_values(["model", "date", "ticker"], kind="stable").reset_index(drop=True)[cols]


def forecast_latest(
    md: MarketData, trained: TrainedLSTM, as_of: str | pd.Timestamp | None = None
) -> pd.DataFrame:
    """LSTM vol forecasts (date, ticker, forecast_vol) for ``as_of`` (default: the newest date).

    Only data known at ``as_of`` is used (``md.until(as_of)``).
    """
    view = md if as_of is None else md.until(as_of)
    last = view.dates[-1]
    return forecast_range(view, trained, last, last)


def forecast_range(
    md: MarketData,
    trained: TrainedLSTM,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    panels: Panels | None = None,
) -> pd.DataFrame:
    """LSTM forecasts (date, ticker, forecast_vol) for every trading day in [start, end].

    One panel build for the whole range (use it to catch up many days; ``panels`` shares it
    with other models of the same ``md``); each forecast uses only features dated <= its date.
    """
    panel = net_panel(md, trained, panels)
    idx = np.flatnonzero((panel.dates >= pd.Timestamp(start)) & (panel.dates <= pd.Timestamp(end)))
    cols = ["date", "ticker", "forecast_vol"]
    if len(idx) == 0:
        return pd.DataFrame(columns=cols)
    vol = predict_lstm(trained, panel, int(idx[0]), int(idx[-1]))
    df = pd.DataFrame(
        {
            "date": np.tile(panel.dates[idx].to_numpy(), len(panel.tickers)),
            "ticker": np.repeat(np.asarray(panel.tickers, dtype=object), len(idx)),
            "forecast_vol": vol.reshape(-1),
        }
    )
    df = df.loc[np.isfinite(df["forecast_vol"].to_numpy())]
    return df.sort_values(["date", "ticker"], kind="stable").reset_index(drop=True)[cols]


def net_panel(md: MarketData, trained: TrainedLSTM, panels: Panels | None = None) -> Panel:
    """The panel a trained network reads: v1 inputs, or v2 ones with its fold's GARCH filter."""
    h = trained_horizon(trained)
    panels = (panels or Panels(md, share_v2=trained.config.features == "v2")).check(md)
    if trained.config.features != "v2":
        return panels.get(h)
    panel = panels.get(h, "v2")
    params = trained.meta.get("garch_params", {})
    g = garch_paths(panel.dates, panel.tickers, log_returns(md), params, h)
    return attach_garch(panel, g, as_base=trained.config.base == "garch")


def trained_horizon(trained: TrainedLSTM) -> int:
    """The forecast horizon a model was trained for (stored in its meta, default 21)."""
    return int(trained.meta.get("horizon", HORIZON))
