"""Fault injection on the warehouse: each fault leaves stored data unchanged and a re-run
after the fault gives the same result as a clean run."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from riskalloc.sources.sample import SampleSource
from riskalloc.warehouse import (
    Warehouse,
    sync_parquet,
    table_fingerprint,
    upsert,
    verify_parquet,
)

pytestmark = pytest.mark.faults


def _visible_files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.fixture()
def seeded(tmp_path):
    """A warehouse holding 3 tickers over Nov 2019 - Feb 2020."""
    wh = Warehouse(tmp_path / "wh")
    base = SampleSource().fetch_prices(["SPY", "TLT", "GLD"], "2019-11-01", "2020-02-28")
    with wh.connect() as con:
        upsert(wh, con, "prices", base)
    return wh, base


def test_sigkill_in_the_middle_of_a_write(seeded):
    wh, _ = seeded
    with wh.connect() as con:
        before = table_fingerprint(con, "prices")
    files_before = _visible_files(wh.parquet_dir)
    script = textwrap.dedent(
        f"""
        import sys, time
        from riskalloc.sources.sample import SampleSource
        from riskalloc.warehouse import Warehouse, upsert, mirror as parquet
        real = parquet.stage_table
        def slow(data, final):
            staged = real(data, final)
            print("staged", flush=True)
            time.sleep(120)
            return staged
        parquet.stage_table = slow
        wh = Warehouse({str(wh.root)!r})
        new = SampleSource().fetch_prices(["SPY", "TLT", "GLD"], "2019-11-01", "2020-03-31")
        with wh.connect() as con:
            upsert(wh, con, "prices", new.assign(adj_close=new.adj_close * 2))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "staged"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert any(wh.parquet_dir.rglob(".*.tmp"))  # the killed writer left a temp file
    with wh.connect() as con:
        assert table_fingerprint(con, "prices") == before  # uncommitted: rolled back
        assert verify_parquet(wh, con, "prices") == []
    assert _visible_files(wh.parquet_dir) == files_before
    # a re-run after the crash equals a clean run
    new = SampleSource().fetch_prices(["SPY", "TLT", "GLD"], "2019-11-01", "2020-03-31")
    with wh.connect() as con:
        upsert(wh, con, "prices", new)
        after = [r[:-1] for r in table_fingerprint(con, "prices")]
    assert not any(wh.parquet_dir.rglob(".*.tmp"))
    clean = Warehouse(wh.root.parent / "clean")
    with clean.connect() as con:
        upsert(clean, con, "prices", new)
        expected = [r[:-1] for r in table_fingerprint(con, "prices")]
    assert after == expected  # same rows (ingested_at aside)


def test_corrupt_parquet_file_is_detected_and_repaired(seeded):
    wh, _ = seeded
    victim = next((wh.parquet_dir / "prices").rglob("part-0.parquet"))
    good = victim.read_bytes()
    victim.write_bytes(good[: len(good) // 2])  # truncated
    with wh.connect() as con:
        problems = verify_parquet(wh, con, "prices")
        assert len(problems) == 1 and str(victim) in problems[0]
        sync_parquet(wh, con, "prices")
        assert verify_parquet(wh, con, "prices") == []
    assert victim.read_bytes() == good


def test_full_disk_during_parquet_write(seeded, monkeypatch):
    wh, base = seeded
    from riskalloc.warehouse import mirror as pq_mod

    with wh.connect() as con:
        before = table_fingerprint(con, "prices")
    files_before = _visible_files(wh.parquet_dir)

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq_mod.pq, "write_table", full)
    with wh.connect() as con:
        with pytest.raises(OSError, match="No space left"):
            upsert(wh, con, "prices", base.assign(adj_close=base.adj_close + 1))
        assert table_fingerprint(con, "prices") == before
    assert _visible_files(wh.parquet_dir) == files_before
    monkeypatch.undo()
    with wh.connect() as con:  # fixed: the same write now succeeds
        res = upsert(wh, con, "prices", base.assign(adj_close=base.adj_close + 1))
    assert res.updated == len(base)


def test_crash_between_commit_and_publish_is_repaired_by_the_next_write(seeded, monkeypatch):
    """Publishing fails twice after the commit: the journal marks the mirror stale, verify
    says so, and the next write (even one that changes nothing) rewrites it from DuckDB."""
    wh, base = seeded
    from riskalloc.warehouse import mirror as pq_mod

    files_before = _visible_files(wh.parquet_dir)

    def crash(_staged):
        raise KeyboardInterrupt  # interrupted right after the commit, and again on retry

    monkeypatch.setattr(pq_mod, "publish", crash)
    new = base.assign(adj_close=base.adj_close * 1.5)
    with wh.connect() as con:
        with pytest.raises(KeyboardInterrupt):
            upsert(wh, con, "prices", new)
    monkeypatch.undo()
    assert _visible_files(wh.parquet_dir) == files_before  # stale but whole
    with wh.connect() as con:
        problems = verify_parquet(wh, con, "prices")
        assert problems[0].startswith("prices: a write was interrupted between the DuckDB commit")
        assert any("differs from DuckDB in values (checksum)" in p for p in problems[1:])
        res = upsert(wh, con, "prices", new)  # same rows: nothing to write, mirror repaired
        assert (res.inserted, res.updated, res.unchanged) == (0, 0, len(new))
        assert verify_parquet(wh, con, "prices") == []
    mirror = pd.read_parquet(wh.parquet_dir / "prices")
    assert mirror["adj_close"].sum() == pytest.approx(base["adj_close"].sum() * 1.5)
    assert not list(wh.parquet_dir.rglob(".*.tmp"))
