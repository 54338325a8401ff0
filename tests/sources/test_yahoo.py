"""YahooSource against yfinance-shaped frames (no network): shapes, errors, retries, windows."""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd
import pytest
from yfinance.exceptions import YFRateLimitError

from riskalloc.errors import DataError, DownloadError, SchemaError
from riskalloc.sources import YahooSource, make_source
from riskalloc.sources.schema import PRICE_COLUMNS
from riskalloc.sources.yahoo import parse_download

DATES = ["2020-03-12", "2020-03-13", "2020-03-16"]
SPY = [248.11, 269.32, 239.85]
TLT = [155.0, 150.5, 159.0]


def source(downloader, sleeps, **kw) -> YahooSource:
    return YahooSource(downloader=downloader, sleep=sleeps.append, **kw)


def test_column_grouped_multiindex_gives_long_rows(yf, sleeps):
    frame = yf.frame({"SPY": yf.bars(DATES, SPY), "TLT": yf.bars(DATES, TLT, adj_ratio=0.8)})
    dl = yf.Downloader(frame)
    out = source(dl, sleeps).fetch_prices(["SPY", "TLT"], "2020-03-12", "2020-03-16")
    assert list(out.columns) == list(PRICE_COLUMNS)
    assert len(out) == 6 and set(out["source"]) == {"yahoo"}
    spy = out[out["ticker"] == "SPY"]
    assert list(spy["date"].dt.strftime("%Y-%m-%d")) == DATES
    np.testing.assert_allclose(spy["close"], SPY)
    np.testing.assert_allclose(spy["adj_close"], np.array(SPY) * 0.9)
    np.testing.assert_allclose(spy["volume"], [1000, 2000, 3000])
    tlt = out[out["ticker"] == "TLT"]
    np.testing.assert_allclose(tlt["adj_close"], np.array(TLT) * 0.8)
    assert sleeps == [] and len(dl.calls) == 1
    tickers, kwargs = dl.calls[0]
    assert sorted(tickers) == ["SPY", "TLT"]
    assert kwargs["auto_adjust"] is False and kwargs["group_by"] == "column"
    assert kwargs["progress"] is False and kwargs["threads"] is False


def test_ticker_grouped_and_column_grouped_agree(yf, sleeps):
    per = {"SPY": yf.bars(DATES, SPY), "TLT": yf.bars(DATES, TLT)}
    by_col = source(yf.Downloader(yf.frame(per, "column")), sleeps).fetch_prices(["SPY", "TLT"])
    by_tkr = source(yf.Downloader(yf.frame(per, "ticker")), sleeps).fetch_prices(["SPY", "TLT"])
    pd.testing.assert_frame_equal(by_col, by_tkr)


def test_flat_single_ticker_and_lower_case_request(yf, sleeps):
    flat = yf.bars(DATES, SPY)  # multi_level_index=False shape
    out = source(yf.Downloader(flat), sleeps).fetch_prices(["spy"], "2020-03-12", "2020-03-16")
    assert set(out["ticker"]) == {"spy"}
    np.testing.assert_allclose(out["adj_close"], np.array(SPY) * 0.9)
    # yfinance upper-cases tickers in MultiIndex columns; we map back to the requested name
    multi = yf.frame({"spy": yf.bars(DATES, SPY)})
    out2 = source(yf.Downloader(multi), sleeps).fetch_prices(["spy"])
    pd.testing.assert_frame_equal(out, out2)


def test_without_adj_close_the_adjusted_close_is_used(yf, sleeps):
    frame = yf.frame({"SPY": yf.bars(DATES, SPY).drop(columns="Adj Close")})
    out = source(yf.Downloader(frame), sleeps).fetch_prices(["SPY"])
    np.testing.assert_allclose(out["adj_close"], SPY)


@pytest.mark.parametrize("ignore_tz", [False, True])
def test_tz_aware_index_gives_exchange_dates(yf, sleeps, ignore_tz):
    per = {"SPY": yf.bars(DATES, SPY, tz="America/New_York")}
    frame = yf.frame(per, ignore_tz=ignore_tz)
    assert (frame.index.tz is None) == ignore_tz
    out = source(yf.Downloader(frame), sleeps).fetch_prices(["SPY"])
    assert list(out["date"].dt.strftime("%Y-%m-%d")) == DATES
    # the same bars stamped in UTC (05:00 / 04:00) still map to the New York date
    utc = frame.copy()
    if not ignore_tz:
        utc.index = utc.index.tz_convert("UTC")
        out_utc = source(yf.Downloader(utc), sleeps).fetch_prices(["SPY"])
        pd.testing.assert_frame_equal(out, out_utc)


def test_shorter_history_nan_rows_dropped(yf, sleeps):
    frame = yf.frame({"SPY": yf.bars(DATES, SPY), "NEW": yf.bars(DATES[1:], TLT[1:])})
    out = source(yf.Downloader(frame), sleeps).fetch_prices(["SPY", "NEW"])
    assert (out["ticker"] == "NEW").sum() == 2
    assert out["adj_close"].notna().all()


def test_missing_ticker_is_retried_then_named(yf, sleeps):
    frame = yf.frame({"SPY": yf.bars(DATES, SPY), "XYZ": None})

    def failing(tickers, **kw):
        logging.getLogger("yfinance").error(
            "['XYZ']: YFPricesMissingError('possibly delisted; no price data found')"
        )
        return yf.frame({"XYZ": None})

    dl = yf.Downloader(frame, failing)
    with pytest.raises(DownloadError) as err:
        source(dl, sleeps, max_retries=2, base_delay=1.0).fetch_prices(["SPY", "XYZ"])
    msg = str(err.value)
    assert "['XYZ']" in msg and "SPY" not in msg
    assert "possibly delisted" in msg  # yfinance's logged reason is surfaced
    assert len(dl.calls) == 3 and sleeps == [1.0, 2.0]
    assert [c[0] for c in dl.calls[1:]] == ["XYZ", "XYZ"]  # only the missing one re-asked


def test_empty_frame_is_download_error(yf, sleeps):
    dl = yf.Downloader(pd.DataFrame())
    with pytest.raises(DownloadError, match=r"\['SPY', 'TLT'\].*empty frame"):
        source(dl, sleeps, max_retries=1).fetch_prices(["SPY", "TLT"])
    assert len(dl.calls) == 2


def test_rate_limit_then_success(yf, sleeps):
    frame = yf.frame({"SPY": yf.bars(DATES, SPY)})
    dl = yf.Downloader(YFRateLimitError(), TimeoutError("read timed out"), frame)
    out = source(dl, sleeps).fetch_prices(["SPY"])
    assert len(out) == 3
    assert len(dl.calls) == 3
    assert sleeps == [2.0, 4.0]  # exponential backoff, never really slept


def test_retries_exhausted_names_tickers_and_last_error(yf, sleeps):
    dl = yf.Downloader(YFRateLimitError())
    with pytest.raises(DownloadError) as err:
        source(dl, sleeps).fetch_prices(["SPY", "TLT"])
    msg = str(err.value)
    assert "['SPY', 'TLT']" in msg and "YFRateLimitError" in msg and "5 attempts" in msg
    assert len(dl.calls) == 5
    assert sleeps == [2.0, 4.0, 8.0, 16.0]


def test_end_is_inclusive(yf, sleeps):
    frame = yf.frame({"SPY": yf.bars([*DATES, "2020-03-17"], [*SPY, 250.0])})
    dl = yf.Downloader(frame)
    out = source(dl, sleeps).fetch_prices(["SPY"], "2020-03-12", "2020-03-16")
    assert dl.calls[0][1]["start"] == "2020-03-12"
    assert dl.calls[0][1]["end"] == "2020-03-17"  # yfinance's end is exclusive
    assert out["date"].max() == pd.Timestamp("2020-03-16")  # extra row beyond end dropped


def test_incremental_start_per_ticker(yf, sleeps):
    def answer(tickers, **kw):
        names = [tickers] if isinstance(tickers, str) else tickers
        return yf.frame({t: yf.bars(DATES, SPY) for t in names})

    dl = yf.Downloader(answer)
    out = source(dl, sleeps).fetch_prices(
        ["SPY", "TLT", "GLD"], "2020-01-01", "2020-03-16", since={"SPY": date(2020, 3, 16)}
    )
    starts = {(c[0] if isinstance(c[0], str) else tuple(c[0])): c[1]["start"] for c in dl.calls}
    # 5 business days before Monday 2020-03-16 is Monday 2020-03-09
    assert starts == {"SPY": "2020-03-09", ("TLT", "GLD"): "2020-01-01"}
    assert set(out["ticker"]) == {"SPY", "TLT", "GLD"}
    assert YahooSource(overlap_days=0).overlap_days == 0


def test_zero_price_from_yahoo_is_data_error(yf, sleeps):
    frame = yf.frame({"SPY": yf.bars(DATES, [248.11, 0.0, 239.85])})
    with pytest.raises(DataError, match=r"zero or negative prices.*SPY 2020-03-13"):
        source(yf.Downloader(frame), sleeps).fetch_prices(["SPY"])


def test_bad_shapes_are_schema_errors(yf):
    flat = yf.bars(DATES, SPY)
    with pytest.raises(SchemaError, match="flat columns"):
        parse_download(flat, ["SPY", "TLT"])
    nofields = pd.DataFrame(
        [[1.0]], columns=pd.MultiIndex.from_tuples([("Foo", "SPY")]), index=[pd.Timestamp(0)]
    )
    with pytest.raises(SchemaError, match="no price fields"):
        parse_download(nofields, ["SPY"])


def test_make_source_and_config_validation():
    assert isinstance(make_source("yahoo", max_retries=1), YahooSource)
    with pytest.raises(ValueError, match="max_retries"):
        YahooSource(max_retries=-1)
    with pytest.raises(ValueError, match="tickers"):
        YahooSource().fetch_prices([])
