"""Shared by the fault and security suites: a small seeded warehouse, snapshots of all it
stores, and the "a re-run after the fix equals a clean run" comparison.

Loaded by path from the conftests (tests are imported in importlib mode, so they cannot
import each other); tests reach it through the ``kit`` fixture.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from riskalloc.sources import FileSource
from riskalloc.sources.sample import SampleSource
from riskalloc.universe import Asset, Series, Universe
from riskalloc.warehouse import TABLES, Warehouse, table_exists, table_fingerprint, verify_parquet
from riskalloc.warehouse.ingest import ingest_macro, ingest_prices
from riskalloc.warehouse.store import DB_FILE

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

UNIVERSE = Universe(
    name="faults",
    assets=(Asset("SPY", "equity"), Asset("TLT", "bond"), Asset("GLD", "commodity")),
    series=(Series("VIXCLS", "volatility_expectation"), Series("DGS10", "other")),
)
TICKERS = tuple(UNIVERSE.tickers)
SEED_START, SEED_END = "2019-11-01", "2020-02-28"


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The loopback FRED server and yfinance frame builders of the sources suite (reused, not copied).
fakes = _load("_riskalloc_source_fakes", TESTS / "sources" / "conftest.py")
FakeFred = fakes.FakeFred
FRED_DATA = fakes.FRED_DATA
yf_bars = fakes.bars
yf_frame = fakes.yf_download_frame


def _build_seed(wh: Warehouse) -> None:
    with wh.connect() as con:
        ingest_prices(wh, con, SampleSource(), UNIVERSE, SEED_START, SEED_END, incremental=False)
        ingest_macro(wh, con, SampleSource(), UNIVERSE, SEED_START, SEED_END, incremental=False)


@functools.cache
def _seed_template() -> Path:
    root = Path(tempfile.mkdtemp(prefix="riskalloc-faults-seed-"))
    atexit.register(shutil.rmtree, root, True)
    _build_seed(Warehouse(root / "wh"))
    return root / "wh"


def seed(wh: Warehouse) -> None:
    """Fill ``wh`` with the bundled prices and macro of UNIVERSE over Nov 2019 - Feb 2020.

    Built once per session and copied (a closed DuckDB file copies safely).
    """
    if wh.root.exists() and any(wh.root.iterdir()):
        raise AssertionError(f"seed() needs an empty folder, {wh.root} is not")
    if wh.db_file != DB_FILE:
        raise AssertionError(f"seed() copies {DB_FILE}; got db_file={wh.db_file!r}")
    shutil.copytree(_seed_template(), wh.root, dirs_exist_ok=True)


@functools.lru_cache(maxsize=32)
def _sample_prices(tickers: tuple[str, ...], start: str, end: str) -> pd.DataFrame:
    return SampleSource().fetch_prices(list(tickers), start, end)


def sample_prices(tickers=TICKERS, start: str = "2020-03-02", end: str = "2020-03-31"):
    """Long bundled price rows (the data a healthy source would deliver); a fresh copy."""
    return _sample_prices(tuple(tickers), start, end).copy()


def run_sample(start: str | None = "2020-03-02", end: str = "2020-03-31", incremental=True):
    """A healthy price + macro ingest from the bundled data (the 'fixed' re-run)."""

    def run(wh: Warehouse) -> None:
        with wh.connect() as con:
            ingest_prices(wh, con, SampleSource(), UNIVERSE, start, end, incremental)
            ingest_macro(wh, con, SampleSource(), UNIVERSE, start, end, incremental)

    return run


def sample_wide(tickers=TICKERS, start: str = "2020-03-02", end: str = "2020-03-31"):
    """Wide adjusted closes, date x ticker, as a user's CSV would hold them."""
    long = sample_prices(tickers, start, end)
    wide = long.pivot(index="date", columns="ticker", values="adj_close")
    return wide.loc[:, list(tickers)].rename_axis(index="date", columns=None)


@dataclass(frozen=True)
class Snapshot:
    """Everything the warehouse stores: every table's rows and every mirror file's hash."""

    tables: dict[str, list[tuple]]
    files: dict[str, str]


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (hidden temp files included)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def snapshot(wh: Warehouse, verify: bool = False) -> Snapshot:
    """Fingerprint of all warehouse tables plus the Parquet mirror's file hashes."""
    with wh.connect() as con:
        tables = {t: table_fingerprint(con, t) for t in TABLES if table_exists(con, t)}
        if verify:
            for t in tables:
                assert verify_parquet(wh, con, t) == [], t
    return Snapshot(tables, file_hashes(wh.parquet_dir))


def assert_unchanged(wh: Warehouse, before: Snapshot) -> None:
    """The fault left the warehouse exactly as it was and its mirror whole."""
    after = snapshot(wh, verify=True)
    assert after.tables.keys() == before.tables.keys()
    for t in before.tables:
        assert after.tables[t] == before.tables[t], f"table {t!r} changed"
    assert after.files == before.files, "Parquet mirror changed"


def _without_ingested_at(df: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    df = df.drop(columns=[c for c in ("ingested_at", "year") if c in df.columns])
    for c in df.columns:
        if c == "date" or c.endswith("_at") or c.endswith("_date"):
            df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
    return df.sort_values(list(key)).reset_index(drop=True)


def contents(wh: Warehouse) -> dict[str, pd.DataFrame]:
    """Every table from DuckDB and from its Parquet mirror, ``ingested_at`` aside."""
    out: dict[str, pd.DataFrame] = {}
    with wh.connect() as con:
        for name, spec in TABLES.items():
            if not table_exists(con, name):
                continue
            assert verify_parquet(wh, con, name) == [], name
            db = con.execute(f'SELECT * FROM "{name}"').df()
            out[f"duckdb:{name}"] = _without_ingested_at(db, spec.key)
            mirror = wh.parquet_dir / name
            if mirror.exists():
                out[f"parquet:{name}"] = _without_ingested_at(pd.read_parquet(mirror), spec.key)
    return out


def assert_same_as_clean(
    wh: Warehouse, rerun: Callable[[Warehouse], object], clean_root: Path
) -> None:
    """Re-run the fixed step on ``wh``; it must equal seeding a fresh warehouse plus that step."""
    rerun(wh)
    clean = Warehouse(clean_root)
    seed(clean)
    rerun(clean)
    assert_same_contents(wh, clean)


def assert_same_contents(wh: Warehouse, reference: Warehouse) -> None:
    """Both warehouses hold the same rows in DuckDB and in Parquet, and no temp files."""
    got, want = contents(wh), contents(reference)
    assert got.keys() == want.keys()
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)
    assert not list(wh.parquet_dir.rglob(".*.tmp")), "temp files left behind"


# --- input files (tests/faults/test_file*_faults.py) ---------------------------------------


def run_files(prices: Path, incremental: bool = True):
    """Ingest March 2020 from a prices file (incremental on top of the seed by default)."""

    def run(wh):
        with wh.connect() as con:
            src = FileSource(prices_path=prices)
            return ingest_prices(wh, con, src, UNIVERSE, "2020-03-02", "2020-03-31", incremental)

    return run


def write_wide(path: Path, edit=None) -> Path:
    """The bundled March 2020 closes as a wide CSV/Parquet, optionally broken by ``edit``."""
    wide = sample_wide()
    if edit is not None:
        wide = edit(wide)
    if path.suffix == ".parquet":
        wide.reset_index().to_parquet(path, index=False)
    else:
        wide.to_csv(path, date_format="%Y-%m-%d")
    return path


def assert_fault(wh, tmp_path, path, error, match, fix=None):
    """The broken file raises ``error`` naming ``match``; nothing stored; fixed file = clean."""
    before = snapshot(wh)
    with pytest.raises(error, match=match) as info:
        run_files(path)(wh)
    assert str(path) in str(info.value)
    assert_unchanged(wh, before)
    (fix or (lambda p: write_wide(p)))(path)
    assert_same_as_clean(wh, run_files(path), tmp_path / "clean")
