"""The research assets: a grid backfilled through the multiprocess executor, two runs at a
time, gives the in-process run's rows, row for row, with one DuckDB writer."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pipelines.backfill import backfill
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.backtest.robustness_grid import EXPERIMENT, TABLES
from riskalloc.warehouse import Warehouse, read_table
from riskalloc.warehouse.units import unit_path

HERE = Path(__file__).resolve().parent
DEFS_FILE = str(HERE / "_research_defs.py")  # loaded again by each step process
KEYS = {
    "backtest_metrics": ["strategy", "period", "cost_bps", "rebalance", "seed"],
    "backtest_returns": ["strategy", "date", "cost_bps", "rebalance", "seed"],
    "backtest_weights": ["strategy", "date", "ticker", "cost_bps", "rebalance", "seed"],
}


def _small_grid():
    """``_research_defs.py`` as a module (tests cannot import each other here)."""
    spec = importlib.util.spec_from_file_location("_riskalloc_research_defs", DEFS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _resources(db: Path) -> dict:
    return {
        "warehouse": WarehouseResource(database=str(db)),
        "source": SourceResource(source="sample"),
    }


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """A warehouse with the bundled prices and macro from 2014 (the look-backs of both runs)."""
    from pipelines.assets import ingest

    db = tmp_path_factory.mktemp("ingested") / "riskalloc.duckdb"
    start = {"config": {"start": "2014-01-01"}}
    res = dg.materialize(
        [ingest.prices, ingest.macro],
        resources=_resources(db),
        run_config={"ops": {"prices": start, "macro": start}},
    )
    assert res.success
    return db


def _copy(src: Path, dst_dir: Path) -> Path:
    shutil.copytree(src.parent, dst_dir)
    return dst_dir / src.name


def _tables(db: Path) -> dict[str, pd.DataFrame]:
    with Warehouse.from_db_path(db).connect(read_only=True) as con:
        out = {}
        for t in TABLES:
            df = read_table(con, t).drop(columns="ingested_at", errors="ignore")
            out[t] = df.sort_values(KEYS[t]).reset_index(drop=True)
    return out


@pytest.mark.slow
def test_multiprocess_backfill_equals_in_process_run(ingested, tmp_path, monkeypatch):
    small = _small_grid()
    assets, spec = small.ASSETS, small.SPEC
    keys = assets[0].partitions_def.get_partition_keys()
    assert keys == ["erc@0", "erc_cvar@0", "dl_lstm@0", "dl_lstm@1"]

    # in process: one materialisation per partition, then the summary
    serial = _copy(ingested, tmp_path / "serial")
    for key in keys:
        assert dg.materialize(assets[:1], partition_key=key, resources=_resources(serial)).success
    assert dg.materialize(
        assets, selection=["backtest_grid_summary"], resources=_resources(serial)
    ).success

    # multiprocess: each partition its own run, two runs at once, each step its own process
    parallel = _copy(ingested, tmp_path / "parallel")
    monkeypatch.setenv("RISKALLOC_DB", str(parallel))
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        runs = backfill("grid_job", max_concurrent=2, instance=instance, module=DEFS_FILE)
        assert [r.partition for r in runs] == keys and all(r.success for r in runs)
        assert len({r.run_id for r in runs}) == len(keys)
        pids = set()
        for r in runs:
            assert instance.get_run_by_id(r.run_id).tags["dagster/partition"] == r.partition
            starts = instance.get_records_for_run(
                r.run_id, of_type=dg.DagsterEventType.STEP_START
            ).records
            pids |= {rec.event_log_entry.dagster_event.pid for rec in starts}
        assert os.getpid() not in pids and len(pids) == len(keys)  # steps ran in subprocesses
    wh = Warehouse.from_db_path(parallel)
    for key in keys:  # the partitions wrote their own files, not DuckDB
        assert unit_path(wh, EXPERIMENT, "backtest_returns", key).exists()
    with wh.connect(read_only=True) as con:
        assert not con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'backtest_metrics'"
        ).fetchall()[0][0]
    assert dg.materialize(
        assets, selection=["backtest_grid_summary"], resources=_resources(parallel)
    ).success

    a, b = _tables(serial), _tables(parallel)
    for t in TABLES:
        assert len(a[t]) > 0
        pd.testing.assert_frame_equal(a[t], b[t], check_exact=True)
    m = a["backtest_metrics"]
    assert set(m["strategy"]) == {"erc", "erc_cvar", "dl_lstm"}
    assert set(m.loc[m["strategy"] == "dl_lstm", "seed"]) == {0, 1}
    # the Sharpe tests compare cells: dl_lstm seed 1 is tested against ERC's seed-0 run
    dl1 = m[(m["strategy"] == "dl_lstm") & (m["seed"] == 1) & (m["period"] == spec.period)]
    assert dl1["p_sharpe_vs_erc"].notna().all()


@pytest.mark.slow
def test_selection_partitions_choose_as_run_selection(ingested, tmp_path):
    """The partitioned selection scores with the same code as ``run_selection``: same table."""
    from pipelines.assets import research
    from riskalloc.allocate.design import AllocatorDesign
    from riskalloc.backtest.selection import SelectionConfig, run_selection, selection_table
    from riskalloc.market import load_market_data
    from riskalloc.universe import load_universe

    designs = [
        AllocatorDesign(),
        AllocatorDesign(trend_floor=0.0),
        AllocatorDesign(budgets="class_equal", rebalance_speed=0.5),
    ]
    cfg = SelectionConfig(dev_start="2015-07-01", dev_end="2016-12-31", rebalance="monthly")
    assets = research.selection_assets(cfg, designs)
    keys = assets[0].partitions_def.get_partition_keys()
    assert keys == [f"{d.key}@0" for d in designs]  # rule-based: one seed each
    db = _copy(ingested, tmp_path / "selection")
    for key in keys:
        assert dg.materialize(assets[:1], partition_key=key, resources=_resources(db)).success
    res = dg.materialize(assets, selection=["model_selection_summary"], resources=_resources(db))
    assert res.success
    wh = Warehouse.from_db_path(db)
    with wh.connect(read_only=True) as con:
        stored = read_table(con, "model_selection").drop(columns="ingested_at", errors="ignore")
        md = load_market_data(con, load_universe())
    expected = selection_table(run_selection(md, designs, cfg))
    order = ["candidate"]
    pd.testing.assert_frame_equal(
        stored.sort_values(order).reset_index(drop=True)[list(expected.columns)],
        expected.sort_values(order).reset_index(drop=True),
        check_dtype=False,
    )
    assert stored["chosen"].sum() == 1
    mats = res.asset_materializations_for_node("model_selection_summary")
    assert mats[0].metadata["chosen"].value == expected.loc[expected["chosen"], "candidate"].item()
