"""The allocator selection as partitions: one unit of work per (design, seed) on the
warehouse's market, each writing its own Parquet file, and the merge that scores them all and
writes the ``model_selection`` table (what the Dagster research assets call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from riskalloc.allocate.design import AllocatorDesign
from riskalloc.backtest.selection import (
    SelectionConfig,
    SelectionResult,
    choose,
    evaluate_candidate,
    search_space,
    selection_table,
    selection_units,
    unit_by_key,
    unit_key,
)
from riskalloc.market import MarketData

if TYPE_CHECKING:
    from riskalloc.universe import Universe
    from riskalloc.warehouse.connection import Warehouse

EXPERIMENT = "model_selection"  # the folder of its unit files under <warehouse>/research


def _market(wh: Warehouse, universe: Universe) -> MarketData:
    """The warehouse's market, read with a read-only connection (units run in parallel)."""
    from riskalloc.market import load_market_data

    with wh.connect(read_only=True) as con:
        return load_market_data(con, universe)


def run_unit(
    wh: Warehouse,
    universe: Universe,
    key: str,
    designs: Sequence[AllocatorDesign] | None = None,
    cfg: SelectionConfig | None = None,
) -> pd.DataFrame:
    """One partition of the selection: evaluate unit ``key`` on the warehouse's market and
    write its fold rows and daily returns to its own Parquet files (never to DuckDB); the
    fold rows are returned."""
    from riskalloc.warehouse.units import write_unit

    cfg = cfg or SelectionConfig()
    design, seed = unit_by_key(list(designs or search_space()), cfg, key)
    rows, daily = evaluate_candidate(_market(wh, universe), design, seed, cfg)
    write_unit(wh, EXPERIMENT, key, {"fold_rows": rows, "daily_returns": daily})
    return rows


def merge_units(
    wh: Warehouse,
    universe: Universe,
    designs: Sequence[AllocatorDesign] | None = None,
    cfg: SelectionConfig | None = None,
) -> SelectionResult:
    """Read every unit's fold rows and daily returns, :func:`choose`, and upsert the
    ``model_selection`` table (the selection's one DuckDB writer)."""
    from riskalloc.warehouse.store import upsert
    from riskalloc.warehouse.units import read_units

    cfg = cfg or SelectionConfig()
    designs = list(designs or search_space())
    keys = [unit_key(d, s) for d, s in selection_units(designs, cfg)]
    rows = read_units(wh, EXPERIMENT, "fold_rows", keys)
    daily = read_units(wh, EXPERIMENT, "daily_returns", keys)
    result = choose(_market(wh, universe), rows, daily, designs, cfg)
    with wh.connect() as con:
        upsert(wh, con, "model_selection", selection_table(result))
    return result
