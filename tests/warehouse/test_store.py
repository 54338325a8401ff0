"""Warehouse: idempotent upserts, atomicity, Parquet mirror, locking, path safety."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from riskalloc.errors import SchemaError, WarehouseError, WarehouseLockedError
from riskalloc.sources.sample import SampleSource
from riskalloc.warehouse import (
    Warehouse,
    drop_table,
    last_dates,
    not_positive,
    read_table,
    resolve_inside,
    sync_parquet,
    table_exists,
    table_fingerprint,
    upsert,
    verify_parquet,
)
from riskalloc.warehouse import mirror as pq_mod


@pytest.fixture(scope="module")
def small_prices() -> pd.DataFrame:
    return SampleSource().fetch_prices(["SPY", "TLT", "GLD"], "2019-11-01", "2020-02-28")


@pytest.fixture(scope="module")
def small_macro() -> pd.DataFrame:
    return SampleSource().fetch_macro(["VIXCLS", "DTB3"], "2019-11-01", "2020-02-28")


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_upsert_twice_is_idempotent(tmp_path, small_prices):
    wh = Warehouse(tmp_path)
    with wh.connect() as con:
        first = upsert(wh, con, "prices", small_prices)
        rows1 = table_fingerprint(con, "prices")
    files1 = _tree_digest(wh.parquet_dir)
    with wh.connect() as con:
        second = upsert(wh, con, "prices", small_prices)
        rows2 = table_fingerprint(con, "prices")
    assert first.inserted == len(small_prices) and first.updated == 0
    assert second.inserted == 0 and second.updated == 0
    assert second.unchanged == len(small_prices)
    assert rows1 == rows2  # ingested_at of unchanged rows is kept too
    assert files1 == _tree_digest(wh.parquet_dir)


def test_upsert_updates_changed_rows_only(tmp_path, small_prices):
    wh = Warehouse(tmp_path)
    revised = small_prices.copy()
    revised.loc[revised.index[0], "adj_close"] *= 1.001
    with wh.connect() as con:
        upsert(wh, con, "prices", small_prices)
        res = upsert(wh, con, "prices", revised)
        stored = read_table(con, "prices")
    assert (res.inserted, res.updated, res.total_rows) == (0, 1, len(small_prices))
    row = revised.iloc[0]
    got = stored[(stored.ticker == row.ticker) & (stored.date == row.date)]
    assert got["adj_close"].iloc[0] == pytest.approx(row.adj_close, rel=1e-15)


def test_failed_write_leaves_previous_data_byte_for_byte(tmp_path, small_prices):
    wh = Warehouse(tmp_path)
    with wh.connect() as con:
        upsert(wh, con, "prices", small_prices)
        before = table_fingerprint(con, "prices")
    files_before = _tree_digest(wh.parquet_dir)
    changed = small_prices.assign(adj_close=small_prices["adj_close"] * 2)
    with wh.connect() as con:
        with pytest.raises(WarehouseError, match="injected failure"):
            upsert(wh, con, "prices", changed, fail_after_stage=True)
        assert table_fingerprint(con, "prices") == before
    assert _tree_digest(wh.parquet_dir) == files_before  # no temp files left either


def test_failure_inside_parquet_staging_rolls_back(tmp_path, small_prices, monkeypatch):
    wh = Warehouse(tmp_path)
    with wh.connect() as con:
        upsert(wh, con, "prices", small_prices)
        before = table_fingerprint(con, "prices")
    files_before = _tree_digest(wh.parquet_dir)
    calls = {"n": 0}
    real = pq_mod.pq.write_table

    def flaky(table, where, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the second partition file fails: disk full
            raise OSError(28, "No space left on device")
        return real(table, where, *a, **k)

    monkeypatch.setattr(pq_mod.pq, "write_table", flaky)
    newer = SampleSource().fetch_prices(["SPY", "TLT", "GLD"], "2019-11-01", "2020-03-31")
    with wh.connect() as con:
        with pytest.raises(OSError, match="No space"):
            upsert(wh, con, "prices", newer.assign(adj_close=newer.adj_close * 3))
        assert table_fingerprint(con, "prices") == before
    assert _tree_digest(wh.parquet_dir) == files_before


def test_parquet_mirror_readable_by_duckdb_and_pandas(tmp_path, small_prices, small_macro):
    wh = Warehouse(tmp_path)
    with wh.connect() as con:
        upsert(wh, con, "prices", small_prices)
        upsert(wh, con, "macro", small_macro)
    parts = sorted(p.name for p in (wh.parquet_dir / "prices").iterdir())
    assert parts == ["year=2019", "year=2020"]
    pdf = pd.read_parquet(wh.parquet_dir / "prices")
    assert len(pdf) == len(small_prices)
    glob = str(wh.parquet_dir / "macro" / "*" / "*.parquet")
    n = duckdb.sql("SELECT count(*) FROM read_parquet(?, hive_partitioning=true)", params=[glob])
    assert n.fetchall()[0][0] == len(small_macro)


def test_sync_parquet_repairs_a_missing_partition(tmp_path, small_prices):
    wh = Warehouse(tmp_path)
    with wh.connect() as con:
        upsert(wh, con, "prices", small_prices)
    victim = wh.parquet_dir / "prices" / "year=2020" / "part-0.parquet"
    good = victim.read_bytes()
    victim.write_bytes(b"not parquet")  # corrupted by hand
    with wh.connect() as con:
        assert sync_parquet(wh, con, "prices") == 2
    assert victim.read_bytes() == good


def test_schema_mismatch_and_duplicate_keys_are_rejected(tmp_path, small_prices):
    wh = Warehouse(tmp_path)
    with wh.connect() as con:
        with pytest.raises(SchemaError, match="unexpected"):
            upsert(wh, con, "prices", small_prices.assign(extra=1.0))
        dup = pd.concat([small_prices.head(2), small_prices.head(1)])
        with pytest.raises(SchemaError, match="duplicate keys"):
            upsert(wh, con, "prices", dup)
        with pytest.raises(SchemaError, match="unknown warehouse table"):
            upsert(wh, con, "prices; DROP TABLE prices", small_prices)


def test_last_dates_for_incremental(tmp_path, small_prices):
    wh = Warehouse(tmp_path)
    with wh.connect() as con:
        assert last_dates(con, "prices", "ticker") == {}
        upsert(wh, con, "prices", small_prices)
        got = last_dates(con, "prices", "ticker")
    assert got == {t: pd.Timestamp("2020-02-28") for t in ("SPY", "TLT", "GLD")}


def test_second_writer_gets_a_clear_error(tmp_path, small_prices):
    wh = Warehouse(tmp_path)
    with wh.connect() as con:
        upsert(wh, con, "prices", small_prices)
    holder = textwrap.dedent(
        f"""
        import duckdb, sys, time
        con = duckdb.connect({str(wh.db_path)!r})
        print("locked", flush=True)
        sys.stdin.readline()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseLockedError, match="locked by another process"):
            with wh.connect(wait_seconds=0.5):
                pass
    finally:
        proc.communicate("\n", timeout=30)
    with wh.connect() as con:  # lock released: data intact
        assert len(table_fingerprint(con, "prices")) == len(small_prices)


def test_paths_cannot_escape_the_root(tmp_path):
    assert resolve_inside(tmp_path, "models/x") == (tmp_path / "models" / "x").resolve()
    with pytest.raises(WarehouseError, match="escapes"):
        resolve_inside(tmp_path, "../outside")
    with pytest.raises(WarehouseError, match="escapes"):
        resolve_inside(tmp_path, "/etc/passwd")


def test_replace_drops_stale_keys_atomically(tmp_path):
    from riskalloc.warehouse.reads import read_table
    from riskalloc.warehouse.store import Warehouse, upsert

    wh = Warehouse(tmp_path)
    first = pd.DataFrame(
        {
            "model": ["a", "b"],
            "period": ["p", "p"],
            "asset_class": ["all", "all"],
            "qlike": [1.0, 2.0],
        }
    )
    second = first.iloc[[1]].assign(qlike=3.0)
    with wh.connect() as con:
        upsert(wh, con, "forecast_eval", first)
        res = upsert(wh, con, "forecast_eval", second, replace=True)
        got = read_table(con, "forecast_eval")
        assert list(got["model"]) == ["b"] and list(got["qlike"]) == [3.0]
        assert res.total_rows == 1
        with pytest.raises(WarehouseError, match="only for tables without year partitions"):
            upsert(wh, con, "prices", pd.DataFrame(), replace=True)
    mirror = pd.read_parquet(tmp_path / "parquet" / "forecast_eval")
    assert list(mirror["model"]) == ["b"]


def test_drop_table_removes_the_table_and_its_mirror(tmp_path, small_prices):
    wh = Warehouse(tmp_path)
    with wh.connect() as con:
        upsert(wh, con, "prices", small_prices)
        assert list((wh.parquet_dir / "prices").rglob("*.parquet"))
        assert drop_table(wh, con, "prices") is True
        assert not table_exists(con, "prices")
        assert not list((wh.parquet_dir / "prices").rglob("*.parquet"))
        assert drop_table(wh, con, "prices") is False
        upsert(wh, con, "prices", small_prices)  # rebuilt from scratch
        assert verify_parquet(wh, con, "prices") == []


def test_not_positive_counts_bad_forecasts_inside_duckdb(tmp_path, small_prices):
    # real 21-day vols of the bundled slice as forecasts, four of them spoiled
    px = small_prices.pivot(index="date", columns="ticker", values="adj_close")
    vol = (px.pct_change().rolling(21).std() * 252**0.5).dropna().stack().rename("forecast_vol")
    rows = vol.reset_index().assign(model="ewma")
    spoiled = [(3, 0.0), (5, -0.2), (8, float("inf")), (13, float("nan"))]
    for i, value in spoiled:
        rows.loc[i, "forecast_vol"] = value
    wh = Warehouse(tmp_path)
    with wh.connect() as con:
        upsert(wh, con, "vol_forecasts", rows)
        count, head = not_positive(con, "vol_forecasts", "forecast_vol", limit=3)
        assert count == len(spoiled) and len(head) == 3
        expected = rows.iloc[[i for i, _ in spoiled]].sort_values(["date", "ticker", "model"])
        assert list(head["ticker"]) == list(expected["ticker"].iloc[:3])
        with pytest.raises(SchemaError, match="no column 'vol'"):
            not_positive(con, "vol_forecasts", "vol")
        with pytest.raises(WarehouseError, match="does not exist"):
            not_positive(con, "features", "ewma_vol")
