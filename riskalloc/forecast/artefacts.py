"""Forecaster artefacts: save/load under ``<root>/forecaster/<version>/`` and registry rows."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from riskalloc.atomic import atomic_write_bytes
from riskalloc.errors import ModelError
from riskalloc.forecast.lstm import LSTMConfig, TrainedLSTM, VolLSTM
from riskalloc.market import MarketData
from riskalloc.warehouse.registry import ModelRecord

KIND = "forecaster"


def market_hash(md: MarketData, end: str | pd.Timestamp | None = None) -> str:
    """SHA-256 (16 hex) of the prices and macro a model could see up to ``end``."""
    view = md if end is None else md.until(end)
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(view.prices, index=True).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(view.macro, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _state_bytes(model: torch.nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def save_model(model: TrainedLSTM, config: dict | None, metrics: dict, root: str | Path) -> str:
    """Save ``model`` (state_dict.pt, config.json, metrics.json); return its version string.

    ``config`` adds run details (e.g. data_hash, train window) to the model's own settings.
    The version is ``forecaster-<train_end>-<hash of weights and config>``.
    """
    state = _state_bytes(model.model)
    cfg = {
        "lstm": model.config.to_dict(),
        "feature_names": model.feature_names,
        "tickers": model.tickers,
        "meta": model.meta,
        "history": model.history,
        **(config or {}),
    }
    cfg_bytes = json.dumps(cfg, sort_keys=True, indent=2, default=str).encode()
    digest = hashlib.sha256(state + cfg_bytes).hexdigest()[:10]
    train_end = str(model.meta.get("train_end", "na")).replace("-", "")
    version = f"{KIND}-{train_end}-{digest}"
    out = Path(root) / KIND / version
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "state_dict.pt", state)
    atomic_write_bytes(out / "metrics.json", json.dumps(metrics, indent=2, default=str).encode())
    atomic_write_bytes(out / "config.json", cfg_bytes)  # last: its presence marks a complete save
    return version


def load_model(path: str | Path) -> TrainedLSTM:
    """Load a saved forecaster directory; raises ``ModelError`` naming the file at fault."""
    path = Path(path)
    cfg_file, state_file = path / "config.json", path / "state_dict.pt"
    try:
        cfg = json.loads(cfg_file.read_text())
        raw = dict(cfg["lstm"])
        raw["shrink_grid"] = tuple(raw.get("shrink_grid", LSTMConfig.shrink_grid))
        lstm_cfg = LSTMConfig(**raw)
        features, tickers = list(cfg["feature_names"]), list(cfg["tickers"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot read forecaster config {cfg_file}: {exc}") from exc
    try:
        state = torch.load(state_file, map_location="cpu", weights_only=True)
        net = VolLSTM(len(features), len(tickers), lstm_cfg)
        net.load_state_dict(state)
    except Exception as exc:  # torch raises many types (pickle, zip, runtime)
        raise ModelError(f"cannot load forecaster weights {state_file}: {exc}") from exc
    net.eval()
    meta = dict(cfg.get("meta", {}))
    meta.setdefault("version", path.name)
    return TrainedLSTM(net, lstm_cfg, features, tickers, list(cfg.get("history", [])), meta)


def forecaster_record(version: str, root: str | Path) -> ModelRecord:
    """The registry record of the forecaster saved as ``<root>/forecaster/<version>``."""
    path = Path(root) / KIND / version
    try:
        cfg = json.loads((path / "config.json").read_text())
        metrics = (path / "metrics.json").read_text()
    except (OSError, ValueError) as exc:
        raise ModelError(f"forecaster {version} under {path} is missing or unreadable") from exc
    meta = cfg.get("meta", {})
    trained_at = datetime.fromtimestamp((path / "config.json").stat().st_mtime, tz=timezone.utc)
    return ModelRecord(
        version=version,
        kind=KIND,
        trained_at=pd.Timestamp(trained_at).tz_localize(None),
        train_start=pd.Timestamp(meta.get("train_start")),
        train_end=pd.Timestamp(meta.get("train_end")),
        data_hash=cfg.get("data_hash", ""),
        metrics_json=json.dumps(json.loads(metrics), sort_keys=True),
    )
