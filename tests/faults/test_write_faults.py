"""Write-path faults of the warehouse itself: a failed upsert changes nothing (DuckDB
rolled back, no temp file, no partition replaced) and the fixed re-run equals a clean run."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pytest

from pipelines.schedules import build_schedules, nightly_run_config
from riskalloc.errors import SchemaError, WarehouseError
from riskalloc.quality import is_trading_day, previous_trading_day
from riskalloc.sources.sample import SampleSource
from riskalloc.warehouse import mirror as pq_mod
from riskalloc.warehouse import sync_parquet, upsert, verify_parquet
from riskalloc.warehouse.ingest import ingest_prices

pytestmark = pytest.mark.faults


def upsert_rows(rows: pd.DataFrame):
    def run(wh):
        with wh.connect() as con:
            return upsert(wh, con, "prices", rows)

    return run


def two_years(kit) -> pd.DataFrame:
    """Revised December 2019 rows plus new March 2020 rows: two year partitions."""
    dec = kit.sample_prices(start="2019-12-02", end="2019-12-31")
    dec = dec.assign(adj_close=dec["adj_close"] * 1.01)
    return pd.concat([dec, kit.sample_prices()], ignore_index=True)


def test_full_disk_on_the_second_partition(kit, wh, tmp_path, monkeypatch):
    """2019 is staged, 2020 hits ENOSPC: the 2019 temp file goes too, DuckDB rolls back."""
    rows = two_years(kit)
    before = kit.snapshot(wh)
    real, calls = pq_mod.pq.write_table, []

    def fill_up(table, where, *a, **k):
        calls.append(str(where))
        if len(calls) == 2:
            raise OSError(28, f"No space left on device: {where!r}")
        return real(table, where, *a, **k)

    monkeypatch.setattr(pq_mod.pq, "write_table", fill_up)
    with pytest.raises(OSError, match=r"No space left on device: .*year=2020"):
        upsert_rows(rows)(wh)
    monkeypatch.undo()
    assert "year=2019" in calls[0]
    kit.assert_unchanged(wh, before)  # no .tmp left, 2019 file not replaced
    kit.assert_same_as_clean(wh, upsert_rows(rows), tmp_path / "clean")


def test_failure_after_staging_rolls_back(kit, wh, tmp_path):
    rows = two_years(kit)
    before = kit.snapshot(wh)
    with wh.connect() as con:
        with pytest.raises(WarehouseError, match=r"injected failure while writing 'prices'"):
            upsert(wh, con, "prices", rows, fail_after_stage=True)
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, upsert_rows(rows), tmp_path / "clean")


def test_frame_with_a_foreign_column(kit, wh, tmp_path):
    rows = kit.sample_prices()
    before = kit.snapshot(wh)
    with pytest.raises(
        SchemaError, match=r"table 'prices'.*missing \['adj_close'\], unexpected \['adjclose'\]"
    ):
        upsert_rows(rows.rename(columns={"adj_close": "adjclose"}))(wh)
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, upsert_rows(rows), tmp_path / "clean")


def test_duplicate_keys_reach_the_warehouse(kit, wh, tmp_path):
    """The warehouse's own guard, for callers that skip source validation."""
    rows = kit.sample_prices()
    dup = pd.concat([rows, rows[(rows["ticker"] == "GLD") & (rows["date"] == "2020-03-18")]])
    before = kit.snapshot(wh)
    with pytest.raises(
        SchemaError, match=r"table 'prices': duplicate keys in frame, e\.g\. .*2020-03-18.*GLD"
    ):
        upsert_rows(dup)(wh)
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, upsert_rows(rows), tmp_path / "clean")


def test_deleted_parquet_partition_is_detected_and_repaired(kit, wh):
    before = kit.snapshot(wh)
    victim = wh.parquet_dir / "prices" / "year=2019" / "part-0.parquet"
    victim.unlink()
    n_2019 = len(kit.sample_prices(start=kit.SEED_START, end="2019-12-31"))
    with wh.connect() as con:
        problems = verify_parquet(wh, con, "prices")
        assert problems == [f"prices year=2019: Parquet file missing ({n_2019} rows in DuckDB)"]
        assert verify_parquet(wh, con, "macro") == []  # other tables unaffected
        assert sync_parquet(wh, con, "prices") == 2
    kit.assert_unchanged(wh, before)  # byte-identical files again


def test_schedule_tick_on_a_non_trading_day(kit, wh, tmp_path):
    """Good Friday 2020: the nightly schedule skips it naming the date; a run forced with
    that day's config stores nothing new, and equals the previous session's clean run."""
    holiday = "2020-04-10"
    assert not is_trading_day(holiday) and is_trading_day("2020-04-09")
    assert previous_trading_day(holiday) == pd.Timestamp("2020-04-09")

    job = dg.define_asset_job("faults_nightly", selection=["prices", "macro"])
    nightly = {s.name: s for s in build_schedules(job, job)}["nightly_schedule"]
    when = dt.datetime(2020, 4, 10, 18, 30, tzinfo=ZoneInfo("America/New_York"))
    tick = nightly.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when))
    assert not tick.run_requests
    assert tick.skip_message == f"{holiday} is not an NYSE (XNYS) trading day: nothing to ingest"

    def nightly_run(day: str):
        cfg = nightly_run_config(day)["ops"]["prices"]["config"]

        def run(w):
            with w.connect() as con:
                return ingest_prices(
                    w,
                    con,
                    SampleSource(),
                    kit.UNIVERSE,
                    cfg.get("start"),
                    cfg["end"],
                    cfg["incremental"],
                )

        return run

    nightly_run("2020-04-09")(wh)
    before = kit.snapshot(wh)
    forced = nightly_run(holiday)(wh)
    assert (forced.result.inserted, forced.result.updated) == (0, 0)
    assert forced.last_date == pd.Timestamp("2020-04-09")
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, nightly_run("2020-04-09"), tmp_path / "clean")


def test_stray_and_extra_partition_files_are_found_and_removed(kit, wh):
    """A copied-in `part-1.parquet` and a partition for a year DuckDB does not hold would be
    read by every `read_parquet('.../*/*.parquet')`: verify names them, sync removes them."""
    before = kit.snapshot(wh)
    src = wh.parquet_dir / "prices" / "year=2020" / "part-0.parquet"
    stray = src.with_name("part-1.parquet")
    stray.write_bytes(src.read_bytes())
    extra = wh.parquet_dir / "prices" / "year=2031" / "part-0.parquet"
    extra.parent.mkdir()
    extra.write_bytes(src.read_bytes())
    with wh.connect() as con:
        problems = verify_parquet(wh, con, "prices")
        assert any(f"stray Parquet file {stray}" in p for p in problems), problems
        assert any("prices year=2031: Parquet file" in p for p in problems), problems
        sync_parquet(wh, con, "prices")
        assert verify_parquet(wh, con, "prices") == []
    assert not stray.exists() and not extra.exists()
    kit.assert_unchanged(wh, before)


def test_stale_mirror_without_a_journal_is_repaired_by_an_unchanged_rerun(kit, wh):
    """The probe's re-run: `unchanged` for every row, and yet the stale mirror (left by an
    older version, or a copy) is rewritten, because each touched partition is compared."""
    old = {p: p.read_bytes() for p in (wh.parquet_dir / "prices").rglob("part-0.parquet")}
    rows = kit.sample_prices(start=kit.SEED_START, end=kit.SEED_END)
    new = rows.assign(adj_close=rows["adj_close"] * 1.02)
    with wh.connect() as con:
        upsert(wh, con, "prices", new)
    for path, data in old.items():
        path.write_bytes(data)  # no journal: nothing says the mirror is stale
    with wh.connect() as con:
        assert len(verify_parquet(wh, con, "prices")) == 2
        res = upsert(wh, con, "prices", new)
        assert (res.inserted, res.updated, res.unchanged) == (0, 0, len(new))
        assert verify_parquet(wh, con, "prices") == []
