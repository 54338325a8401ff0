"""One register() for every model kind: records in, model_registry rows out."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from riskalloc.errors import ConfigError
from riskalloc.warehouse import Warehouse, read_table
from riskalloc.warehouse.registry import ModelRecord, register, registry_frame


def _record(version: str, kind: str = "allocator") -> ModelRecord:
    return ModelRecord(
        version=version,
        kind=kind,  # type: ignore[arg-type]
        trained_at=pd.Timestamp("2024-01-02 03:04:05"),
        train_start=pd.Timestamp("2010-01-04"),
        train_end=pd.Timestamp("2016-12-30"),
        data_hash="abc",
        metrics_json=json.dumps({"val_sharpe": 1.0}),
    )


def test_register_writes_rows_and_refuses_mixed_kinds(tmp_path):
    wh = Warehouse(tmp_path)
    with wh.connect() as con:
        assert register(wh, con, "allocator", []) == 0
        assert register(wh, con, "allocator", [_record("a1"), _record("a2")]) == 2
        with pytest.raises(ConfigError, match="forecaster"):
            register(wh, con, "allocator", [_record("f1", "forecaster")])
        rows = read_table(con, "model_registry")
    assert sorted(rows["version"]) == ["a1", "a2"] and set(rows["kind"]) == {"allocator"}
    assert list(registry_frame([_record("x")]).columns) == [
        "version",
        "kind",
        "trained_at",
        "train_start",
        "train_end",
        "data_hash",
        "metrics_json",
    ]
    with pytest.raises(ConfigError, match="model kind"):
        _record("z", "regime")
