"""The model registry: one ``model_registry`` row per saved model, written through one
:func:`register` whatever the kind (the forecaster and allocator stages build the records)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Literal, get_args

import duckdb
import pandas as pd

from riskalloc.errors import ConfigError
from riskalloc.warehouse.store import Warehouse, upsert

ModelKind = Literal["forecaster", "allocator"]

__all__ = ["ModelKind", "ModelRecord", "register", "registry_frame"]


@dataclass(frozen=True)
class ModelRecord:
    """A saved model: version (its folder name), kind, when and on what it was trained."""

    version: str
    kind: ModelKind
    trained_at: pd.Timestamp  # UTC, naive
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    data_hash: str
    metrics_json: str  # JSON object, keys sorted

    def __post_init__(self) -> None:
        if self.kind not in get_args(ModelKind):
            raise ConfigError(f"model kind {self.kind!r}: use one of {get_args(ModelKind)}")


def registry_frame(records: Sequence[ModelRecord]) -> pd.DataFrame:
    """The records as ``model_registry`` rows (columns in the table's order)."""
    return pd.DataFrame([asdict(r) for r in records], columns=[f.name for f in fields(ModelRecord)])


def register(
    wh: Warehouse, con: duckdb.DuckDBPyConnection, kind: ModelKind, records: Sequence[ModelRecord]
) -> int:
    """Upsert ``records`` (all of ``kind``) into ``model_registry``; returns rows written."""
    wrong = sorted({r.kind for r in records} - {kind})
    if kind not in get_args(ModelKind) or wrong:
        raise ConfigError(f"register({kind!r}): records of kind {wrong or [kind]}")
    if not records:
        return 0
    res = upsert(wh, con, "model_registry", registry_frame(records))
    return res.inserted + res.updated
