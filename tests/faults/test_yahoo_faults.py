"""Yahoo faults through an injected downloader returning yfinance-shaped frames: each
names the ticker, stores nothing, and the re-run after the fix equals a clean run."""

from __future__ import annotations

import pandas as pd
import pytest

from riskalloc.errors import DownloadError, SchemaError
from riskalloc.sources import YahooSource
from riskalloc.universe import Asset, Universe
from riskalloc.warehouse import read_table
from riskalloc.warehouse.ingest import ingest_prices

pytestmark = pytest.mark.faults


def downloader(kit, tz: str | None = None, shift_utc: bool = False, naive_utc: bool = False):
    """``yfinance.download`` stand-in serving the bundled closes; unknown tickers fail.

    ``tz`` gives tz-aware exchange stamps; ``shift_utc`` expresses them in UTC
    (04:00/05:00) and ``naive_utc`` then drops the zone (the broken case).
    """
    rows = kit.sample_prices(start="2020-02-01", end="2020-03-31")

    def download(tickers, start, end, **_kw):
        names = [tickers] if isinstance(tickers, str) else list(tickers)
        per: dict[str, pd.DataFrame | None] = {}
        for t in names:
            r = rows[(rows["ticker"] == t) & (rows["date"] >= start) & (rows["date"] < end)]
            if r.empty:
                per[t] = None  # yfinance's all-NaN block for a failed ticker
                continue
            days = list(r["date"].dt.strftime("%Y-%m-%d"))
            bars = kit.yf_bars(days, list(r["adj_close"]), 1.0, tz)
            if shift_utc:
                bars.index = bars.index.tz_convert("UTC")
                if naive_utc:
                    bars.index = bars.index.tz_localize(None)
            per[t] = bars
        return kit.yf_frame(per, ignore_tz=tz is None or naive_utc)

    return download


def run_yahoo(kit, download, universe=None, **kw):
    """The nightly price ingest from Yahoo (incremental, no real sleeping)."""
    src = YahooSource(downloader=download, sleep=lambda _s: None, max_retries=1, **kw)

    def run(wh):
        with wh.connect() as con:
            return ingest_prices(wh, con, src, universe or kit.UNIVERSE, "2020-01-01", "2020-03-31")

    return run


def test_empty_download(kit, wh, tmp_path):
    before = kit.snapshot(wh)
    with pytest.raises(
        DownloadError,
        match=r"no prices for tickers \['SPY', 'TLT', 'GLD'\] between 2020-02-21 and 2020-03-31"
        r" after 2 attempts; last error: empty frame returned",
    ):
        run_yahoo(kit, lambda *_a, **_k: pd.DataFrame())(wh)
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, run_yahoo(kit, downloader(kit)), tmp_path / "clean")


def test_rate_limited_download(kit, wh, tmp_path):
    calls: list[object] = []

    def limited(tickers, **_kw):
        calls.append(tickers)
        raise RuntimeError("YFRateLimitError: Too Many Requests. Rate limited. Try after a while.")

    before = kit.snapshot(wh)
    with pytest.raises(DownloadError, match=r"\['SPY', 'TLT', 'GLD'\].*Too Many Requests"):
        run_yahoo(kit, limited)(wh)
    assert len(calls) == 2
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, run_yahoo(kit, downloader(kit)), tmp_path / "clean")


def test_unknown_ticker(kit, wh, tmp_path):
    """'SPXX' (a typo) comes back as yfinance's all-NaN block: named, and SPY/TLT not stored."""
    typo = Universe("typo", (Asset("SPXX", "equity"), *kit.UNIVERSE.assets[1:]))
    before = kit.snapshot(wh)
    with pytest.raises(DownloadError, match=r"no prices for tickers \['SPXX'\]"):
        run_yahoo(kit, downloader(kit), universe=typo)(wh)
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, run_yahoo(kit, downloader(kit)), tmp_path / "clean")


def test_timezone_shifted_index_lands_on_the_exchange_dates(kit, wh, tmp_path):
    """New York midnights sent as UTC stamps (04:00/05:00) are stored on the NY date."""
    run_yahoo(kit, downloader(kit, tz="America/New_York", shift_utc=True))(wh)
    clean = kit.Warehouse(tmp_path / "naive")
    kit.seed(clean)
    run_yahoo(kit, downloader(kit))(clean)  # tz-naive dates: the reference
    kit.assert_same_contents(wh, clean)
    with wh.connect() as con:
        spy = read_table(
            con, "prices", start="2020-03-06", end="2020-03-09", where={"ticker": "SPY"}
        )
    # Friday and Monday across the DST switch of 2020-03-08 (05:00 UTC, then 04:00 UTC)
    assert list(spy["date"].dt.strftime("%Y-%m-%d")) == ["2020-03-06", "2020-03-09"]


def test_timezone_dropped_index_is_rejected(kit, wh, tmp_path):
    """The same UTC stamps with the zone stripped have an ambiguous date: refused by ticker."""
    before = kit.snapshot(wh)
    broken = downloader(kit, tz="America/New_York", shift_utc=True, naive_utc=True)
    with pytest.raises(
        SchemaError,
        match=r"yahoo prices (SPY|TLT|GLD): timestamps with a time of day, "
        r"e\.g\. \['2020-02-21 05:00",
    ):
        run_yahoo(kit, broken)(wh)
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, run_yahoo(kit, downloader(kit)), tmp_path / "clean")
