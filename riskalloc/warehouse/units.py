"""Per-unit Parquet files of a research run: many parallel writers, then one DuckDB writer.

DuckDB allows one writing process per database file, so the partitions of a research run
(the robustness grid's cells, the selection's (design, seed) units), which may run at the
same time in separate processes or pods, never write to DuckDB. Each writes its rows to its
own Parquet files, ``<root>/research/<experiment>/<table>/<unit>.parquet``, atomically
(:func:`riskalloc.atomic.atomic_path`: a reader sees a whole file or none), and the run's
aggregating step reads them back (:func:`read_units`) and upserts the merged frames into
DuckDB in one transaction. Re-running a unit replaces its files; units are independent, so
no lock is needed anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from riskalloc.atomic import atomic_path
from riskalloc.errors import WarehouseError
from riskalloc.warehouse.connection import Warehouse, resolve_inside

__all__ = ["read_units", "unit_path", "write_unit"]


def unit_path(wh: Warehouse, experiment: str, table: str, key: str) -> Path:
    """The Parquet file of one unit's rows of ``table`` (the key percent-encoded, so any
    partition key is one safe file name)."""
    name = f"{quote(key, safe='')}.parquet"
    return resolve_inside(wh.root, Path("research") / experiment / table / name)


def write_unit(
    wh: Warehouse, experiment: str, key: str, frames: Mapping[str, pd.DataFrame]
) -> dict[str, Path]:
    """Write each frame of one unit to its own file atomically; the paths by table."""
    out = {}
    for table, df in frames.items():
        path = unit_path(wh, experiment, table, key)
        with atomic_path(path) as tmp:
            df.reset_index(drop=True).to_parquet(tmp, index=False)
        out[table] = path
    return out


def read_units(wh: Warehouse, experiment: str, table: str, keys: Iterable[str]) -> pd.DataFrame:
    """The rows of ``table`` of the units ``keys``, in that order; an error names the units
    that have not been written yet."""
    keys = list(keys)
    paths = [unit_path(wh, experiment, table, k) for k in keys]
    missing = [k for k, p in zip(keys, paths, strict=True) if not p.exists()]
    if missing:
        raise WarehouseError(
            f"{experiment}: no {table!r} rows yet for {len(missing)} unit(s), e.g. "
            f"{missing[:5]}; materialise those partitions first"
        )
    frames = [pd.read_parquet(p) for p in paths]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
