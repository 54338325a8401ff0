"""FRED faults through the loopback server: each names the series and window, stores
nothing, and the re-run after the fix equals a clean run."""

from __future__ import annotations

import pytest

from riskalloc.errors import DownloadError
from riskalloc.sources import FredSource
from riskalloc.universe import Series, Universe
from riskalloc.warehouse import read_table
from riskalloc.warehouse.ingest import ingest_macro

pytestmark = pytest.mark.faults

KEY = "abcdef0123456789abcdef0123456789"  # the key the loopback server accepts
WINDOW = r"\(2020-02-14 to 2020-03-17\)"  # 10 business days before the last stored date


def run_fred(kit, server, universe=None, **kw):
    """The nightly macro ingest against the loopback FRED server (incremental)."""
    kw.setdefault("timeout", 2.0)
    src = FredSource(api_key=KEY, root_url=server.url, sleep=lambda _s: None, **kw)

    def run(wh):
        with wh.connect() as con:
            return ingest_macro(wh, con, src, universe or kit.UNIVERSE, "2020-01-01", "2020-03-17")

    return run


def test_network_timeout(kit, wh, fred_server, tmp_path):
    before = kit.snapshot(wh)
    fred_server.fail("hang", times=2)
    with pytest.raises(DownloadError, match=rf"series 'VIXCLS' {WINDOW} failed:.*timed out"):
        run_fred(kit, fred_server, timeout=0.3, max_retries=1)(wh)
    assert len(fred_server.requests) == 2  # first try + one retry
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, run_fred(kit, fred_server), tmp_path / "clean")


def test_http_429_rate_limit(kit, wh, fred_server, tmp_path):
    before = kit.snapshot(wh)
    fred_server.fail("429", times=3)
    with pytest.raises(DownloadError, match=rf"'VIXCLS' {WINDOW} failed:.*HTTP 429.*Rate Limit"):
        run_fred(kit, fred_server, max_retries=2)(wh)
    assert len(fred_server.requests) == 3
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, run_fred(kit, fred_server), tmp_path / "clean")


def test_http_5xx_server_error(kit, wh, fred_server, tmp_path):
    before = kit.snapshot(wh)
    fred_server.fail("500", times=3)
    with pytest.raises(DownloadError, match=rf"'VIXCLS' {WINDOW} failed:.*HTTP 500"):
        run_fred(kit, fred_server, max_retries=2)(wh)
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, run_fred(kit, fred_server), tmp_path / "clean")


def test_empty_series_download(kit, wh, fred_server, tmp_path):
    """DGS10 answers with no observations: nothing is stored, VIXCLS (fetched fine) neither."""
    before = kit.snapshot(wh)
    good = fred_server.data["DGS10"]
    fred_server.data["DGS10"] = []
    with pytest.raises(DownloadError, match=rf"series 'DGS10' has no observations {WINDOW}"):
        run_fred(kit, fred_server)(wh)
    kit.assert_unchanged(wh, before)
    fred_server.data["DGS10"] = good
    kit.assert_same_as_clean(wh, run_fred(kit, fred_server), tmp_path / "clean")


def test_unknown_series_is_not_retried(kit, wh, fred_server, tmp_path):
    """A typo in the universe ('VIXCL') is a 400: reported by name at once, no retries."""
    typo = Universe("typo", kit.UNIVERSE.assets, (Series("VIXCL", "volatility_expectation"),))
    before = kit.snapshot(wh)
    with pytest.raises(DownloadError, match=r"series 'VIXCL' .*HTTP 400.*does not exist"):
        run_fred(kit, fred_server, universe=typo, max_retries=3)(wh)
    assert len(fred_server.requests) == 1
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, run_fred(kit, fred_server), tmp_path / "clean")


def test_missing_markers_are_dropped_not_stored_as_nan(kit, wh, fred_server, tmp_path):
    """FRED now answers '.' for 2020-03-13, a value we already hold: it is kept, not NaN."""
    with wh.connect() as con:
        held = read_table(con, "macro", where={"series_id": "VIXCLS"}).set_index("date")
    assert "2020-03-13" not in held.index.strftime("%Y-%m-%d")  # seed ends 2020-02-28
    run_fred(kit, fred_server)(wh)  # stores 2020-03-13 = 57.83
    before = kit.snapshot(wh)
    fred_server.data["VIXCLS"] = [
        (d, "." if d == "2020-03-13" else v) for d, v in fred_server.data["VIXCLS"]
    ]
    summary = run_fred(kit, fred_server)(wh)
    assert summary.result.inserted == 0 and summary.result.updated == 0
    kit.assert_unchanged(wh, before)
    with wh.connect() as con:
        macro = read_table(con, "macro")
    assert macro["value"].notna().all()
    vix = macro[macro["series_id"] == "VIXCLS"].set_index("date")["value"]
    assert vix.loc["2020-03-13"] == 57.83
    # the '.' of MLK day (2020-01-20, inside the window of a full re-run) is never a row
    full = FredSource(api_key=KEY, root_url=fred_server.url, sleep=lambda _s: None)
    rows = full.fetch_macro(["VIXCLS", "DGS10"], "2020-01-01", "2020-03-17")
    assert "2020-01-20" not in set(rows["date"].dt.strftime("%Y-%m-%d"))
    assert rows["value"].notna().all()
    fred_server.data["VIXCLS"] = list(kit.FRED_DATA["VIXCLS"])  # FRED publishes it again
    kit.assert_same_as_clean(wh, run_fred(kit, fred_server), tmp_path / "clean")
