"""Another process holds the DuckDB file: callers wait, then fail with an error naming the
file; two runs writing the same partition at once end with the table of one clean run."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipelines.resources import WarehouseResource
from riskalloc.cli import main as cli_main
from riskalloc.errors import WarehouseLockedError
from riskalloc.quality import trading_days
from riskalloc.warehouse import upsert

pytestmark = pytest.mark.faults

HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("SELECT count(*) FROM prices").fetchall()
    print("locked", flush=True)
    sys.stdin.readline()
    con.close()
    """
)

# Upserts a Parquet file of rows into a warehouse once "go" exists; with a "hold" path it
# pauses inside the write (after staging, lock held) until that file appears.
WRITER = textwrap.dedent(
    """
    import sys, time, pathlib
    import pandas as pd
    from riskalloc.warehouse import Warehouse, upsert, mirror as parquet

    root, rows, go, wait, hold = sys.argv[1:6]
    df = pd.read_parquet(rows)
    if hold != "-":
        real = parquet.stage_table
        def paused(data, final):
            staged = real(data, final)
            print("staged", flush=True)
            while not pathlib.Path(hold).exists():
                time.sleep(0.01)
            return staged
        parquet.stage_table = paused
    print("ready", flush=True)
    while not pathlib.Path(go).exists():
        time.sleep(0.005)
    wh = Warehouse(root)
    try:
        with wh.connect(wait_seconds=float(wait)) as con:
            r = upsert(wh, con, "prices", df)
    except Exception as exc:
        print("error", type(exc).__name__, exc, flush=True)
        sys.exit(3)
    print("done", r.inserted, r.updated, r.unchanged, flush=True)
    """
)


@contextmanager
def lock_held(db: Path) -> Iterator[subprocess.Popen]:
    """Another process with the DuckDB file open read-write until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def writer(root: Path, rows: Path, go: Path, wait: float, hold: Path | None = None):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), str(rows), str(go), str(wait), str(hold or "-")],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_duckdb_file_locked_by_another_process(kit, wh, tmp_path):
    before = kit.snapshot(wh)
    named = re.escape(str(wh.db_path)) + " is locked by another process"
    with lock_held(wh.db_path):
        with pytest.raises(WarehouseLockedError, match=named):
            with wh.connect(wait_seconds=0.3) as con:
                upsert(wh, con, "prices", kit.sample_prices())
        resource = WarehouseResource(database=str(wh.db_path), lock_wait_seconds=0.3)
        with pytest.raises(WarehouseLockedError, match=named):
            with resource.get_connection():
                pass
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, kit.run_sample(), tmp_path / "clean")


def test_cli_query_on_a_locked_warehouse(kit, wh, tmp_path, capsys):
    before = kit.snapshot(wh)
    with lock_held(wh.db_path):
        code = cli_main(["--db", str(wh.db_path), "query", "SELECT count(*) AS n FROM prices"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"riskalloc: error: warehouse {wh.db_path} is busy" in err
    kit.assert_unchanged(wh, before)
    assert cli_main(["--db", str(wh.db_path), "query", "SELECT count(*) AS n FROM prices"]) == 0
    n = len(kit.TICKERS) * len(trading_days(kit.SEED_START, kit.SEED_END))
    assert capsys.readouterr().out.split() == ["n", str(n)]


def test_two_runs_for_the_same_partition_at_once(kit, wh, tmp_path):
    """Both writers wait for each other and finish; the table is that of one clean run."""
    rows = tmp_path / "rows.parquet"
    new = kit.sample_prices()
    new.to_parquet(rows)
    go = tmp_path / "go"
    procs = [writer(wh.root, rows, go, 60) for _ in range(2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    go.touch()
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    counts = sorted(tuple(map(int, o.split()[1:])) for o in outs)
    assert counts == [(0, 0, len(new)), (len(new), 0, 0)]  # one inserted, one found them equal

    def once(w):
        with w.connect() as con:
            upsert(w, con, "prices", new)

    clean = kit.Warehouse(tmp_path / "clean")
    kit.seed(clean)
    once(clean)
    kit.assert_same_contents(wh, clean)


def test_second_run_gets_a_clear_lock_error(kit, wh, tmp_path):
    """The first run holds the lock mid-write; the second gives up naming the file, stores
    nothing; the first completes; re-running the second changes nothing more."""
    rows = tmp_path / "rows.parquet"
    new = kit.sample_prices()
    new.to_parquet(rows)
    go, hold = tmp_path / "go", tmp_path / "release"
    first = writer(wh.root, rows, go, 60, hold=hold)
    assert first.stdout.readline().strip() == "ready"
    go.touch()
    assert first.stdout.readline().strip() == "staged"  # inside the transaction, lock held
    second = writer(wh.root, rows, go, 0.3)
    out2 = second.communicate(timeout=60)[0]
    assert second.returncode == 3
    assert f"error WarehouseLockedError warehouse {wh.db_path} is locked" in out2
    hold.touch()
    out1 = first.communicate(timeout=60)[0]
    assert first.returncode == 0 and out1.split()[-4:] == ["done", str(len(new)), "0", "0"]
    again = writer(wh.root, rows, go, 60)  # the failed run, re-run once the lock is free
    assert again.communicate(timeout=60)[0].split()[-4:] == ["done", "0", "0", str(len(new))]

    clean = kit.Warehouse(tmp_path / "clean")
    kit.seed(clean)
    with clean.connect() as con:
        upsert(clean, con, "prices", new)
    kit.assert_same_contents(wh, clean)
