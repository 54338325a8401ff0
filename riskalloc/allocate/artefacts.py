"""Save, load and register allocator artefacts (config JSON + a weights-only state dict)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch

from riskalloc.allocate.dataset import AllocatorData
from riskalloc.allocate.model import AllocatorNetwork, NetworkConfig
from riskalloc.allocate.train import Normaliser, TrainConfig, TrainedNetwork
from riskalloc.atomic import atomic_dir
from riskalloc.errors import ModelError
from riskalloc.warehouse.registry import ModelRecord

KIND = "allocator"


def inputs_hash(data: AllocatorData) -> str:
    """A short content hash of the allocator inputs a network was trained on (asset
    features, vol forecasts, macro state), for the registry."""
    h = hashlib.sha256()
    for a in (data.asset_x, data.vol, data.macro_x):
        h.update(memoryview(torch.as_tensor(a).contiguous().numpy()).tobytes())
    return h.hexdigest()[:16]


def _version(trained: TrainedNetwork) -> str:
    payload = json.dumps(
        {
            "cfg": trained.cfg.to_dict(),
            "train": trained.train_cfg.to_dict(),
            "tickers": trained.tickers,
            "meta": {k: v for k, v in trained.meta.items() if k != "history"},
        },
        sort_keys=True,
    )
    end = trained.meta.get("train_end", "na").replace("-", "")
    return f"{KIND}-{end}-{hashlib.sha256(payload.encode()).hexdigest()[:10]}"


def save_allocator(trained: TrainedNetwork, root: str | Path) -> Path:
    """Write ``<root>/allocator/<version>/`` atomically (:func:`riskalloc.atomic.atomic_dir`)."""
    version = _version(trained)
    final = Path(root) / KIND / version
    if final.is_dir():
        return final
    with atomic_dir(final) as tmp:
        state = {k: v.detach().cpu() for k, v in trained.model.state_dict().items()}
        torch.save(state, tmp / "state_dict.pt")
        config = {
            "version": version,
            "kind": KIND,
            "model": trained.cfg.to_dict(),
            "train": trained.train_cfg.to_dict(),
            "tickers": trained.tickers,
            "normaliser": trained.norm.to_dict(),
            "meta": trained.meta,
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True))
    return final


def load_allocator(path: str | Path) -> TrainedNetwork:
    """Load an artefact directory; any problem is a :class:`ModelError` naming the file."""
    p = Path(path)
    cfg_file, state_file = p / "config.json", p / "state_dict.pt"
    try:
        config = json.loads(cfg_file.read_text())
        mc = NetworkConfig(**config["model"])
        tc = TrainConfig(**config["train"])
        norm = Normaliser.from_dict(config["normaliser"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot read allocator config {cfg_file}: {exc}") from exc
    try:
        state = torch.load(state_file, map_location="cpu", weights_only=True)
        model = AllocatorNetwork(mc)
        model.load_state_dict(state)
    except Exception as exc:
        raise ModelError(f"cannot load allocator weights {state_file}: {exc}") from exc
    model.eval()
    return TrainedNetwork(model, norm, mc, tc, list(config["tickers"]), dict(config["meta"]))


def allocator_record(trained: TrainedNetwork, path: Path, data_digest: str) -> ModelRecord:
    """The registry record of the allocator saved at ``path``."""
    meta = {k: v for k, v in trained.meta.items() if k != "history"}
    return ModelRecord(
        version=path.name,
        kind=KIND,
        trained_at=pd.Timestamp(datetime.now(UTC)).tz_localize(None),
        train_start=pd.Timestamp(meta.get("train_start")),
        train_end=pd.Timestamp(meta.get("train_end")),
        data_hash=data_digest,
        metrics_json=json.dumps(meta, sort_keys=True),
    )
