"""FredSource against a loopback FRED server speaking FRED's real XML format."""

from __future__ import annotations

import logging
import traceback

import numpy as np
import pandas as pd
import pytest

from riskalloc.errors import ConfigError, DownloadError
from riskalloc.sources import FredSource, make_source
from riskalloc.sources.schema import MACRO_COLUMNS

KEY = "abcdef0123456789abcdef0123456789"  # = conftest.FRED_KEY


def source(server, sleeps, **kw) -> FredSource:
    kw.setdefault("timeout", 2.0)
    kw.setdefault("root_url", server.url)
    return FredSource(api_key=KEY, sleep=sleeps.append, base_delay=1.0, **kw)


def test_values_parsed_missing_dropped_available_next_business_day(fred_server, sleeps):
    out = source(fred_server, sleeps).fetch_macro(["VIXCLS", "DGS10"], "2020-01-01", "2020-03-16")
    assert list(out.columns) == list(MACRO_COLUMNS)
    vix = out[out["series_id"] == "VIXCLS"].set_index("date")
    assert vix.loc["2020-03-16", "value"] == 82.69
    assert vix.loc["2020-03-13", "value"] == 57.83
    assert pd.Timestamp("2020-03-17") not in vix.index  # after end
    assert pd.Timestamp("2020-01-20") not in vix.index  # FRED's '.' dropped
    assert len(vix) == 5 and (out["series_id"] == "DGS10").sum() == 4
    # Friday 2020-03-13 is known on Monday 2020-03-16; every value one business day later
    assert vix.loc["2020-03-13", "available_at"] == pd.Timestamp("2020-03-16")
    assert (out["available_at"] == out["date"] + pd.offsets.BDay(1)).all()
    assert set(out["source"]) == {"fred"}
    # the request carried the window and the key; the returned frame does not
    assert fred_server.requests[0]["observation_start"] == "2020-01-01"
    assert fred_server.requests[0]["observation_end"] == "2020-03-16"
    assert fred_server.requests[0]["api_key"] == KEY
    assert not out.astype(str).apply(lambda c: c.str.contains(KEY)).any().any()


def test_incremental_since_starts_ten_business_days_back(fred_server, sleeps):
    out = source(fred_server, sleeps).fetch_macro(
        ["VIXCLS", "DGS10"], "2020-01-01", "2020-03-17", since={"VIXCLS": "2020-03-17"}
    )
    starts = {r["series_id"]: r["observation_start"] for r in fred_server.requests}
    assert starts == {"VIXCLS": "2020-03-03", "DGS10": "2020-01-01"}
    assert out.loc[out["series_id"] == "VIXCLS", "date"].min() == pd.Timestamp("2020-03-12")


def test_429_then_success(fred_server, sleeps):
    fred_server.fail("429", times=2)
    out = source(fred_server, sleeps).fetch_macro(["VIXCLS"], "2020-03-12", "2020-03-17")
    np.testing.assert_allclose(out["value"], [75.47, 57.83, 82.69, 75.91])
    assert len(fred_server.requests) == 3
    assert sleeps == [1.0, 2.0]


def test_timeout_then_success(fred_server, sleeps):
    fred_server.fail("hang", times=1)
    out = source(fred_server, sleeps, timeout=0.3).fetch_macro(["DGS10"], "2020-03-13")
    assert list(out["value"]) == [0.94, 0.73]
    assert len(fred_server.requests) == 2 and sleeps == [1.0]


def test_persistent_500_is_download_error_naming_series(fred_server, sleeps):
    fred_server.fail("500", times=100)
    with pytest.raises(DownloadError, match=r"'DGS10'.*HTTP 500") as err:
        source(fred_server, sleeps, max_retries=3).fetch_macro(["DGS10"], "2020-01-01")
    assert len(fred_server.requests) == 4
    assert sleeps == [1.0, 2.0, 4.0]
    assert err.value.__cause__ is None and err.value.__context__ is None


def test_client_error_is_not_retried(fred_server, sleeps):
    with pytest.raises(DownloadError, match=r"'NOPE'.*HTTP 400.*series does not exist"):
        source(fred_server, sleeps).fetch_macro(["NOPE"], "2020-01-01")
    assert len(fred_server.requests) == 1 and sleeps == []


def test_key_never_in_exceptions_reprs_or_logs(fred_server, sleeps, caplog):
    src = source(fred_server, sleeps, max_retries=2)
    assert KEY not in repr(src) and KEY not in str(src)
    fred_server.fail("429")  # logged as a retry warning
    fred_server.fail("echo_key", times=10)  # FRED answers with a message holding the key
    with caplog.at_level(logging.DEBUG), pytest.raises(DownloadError) as err:
        src.fetch_macro(["VIXCLS"], "2020-01-01")
    assert fred_server.requests[0]["api_key"] == KEY  # the key really was sent and echoed
    text = "".join(traceback.format_exception(err.value)) + repr(err.value)
    assert "***" in str(err.value)  # scrubbed, not just absent
    assert KEY not in text
    assert "429" in caplog.text and KEY not in caplog.text


def test_missing_key_says_set_env(monkeypatch, fred_server, sleeps):
    monkeypatch.delenv("FRED_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="FRED_API_KEY"):
        FredSource(root_url=fred_server.url).fetch_macro(["VIXCLS"])
    assert fred_server.requests == []
    monkeypatch.setenv("FRED_API_KEY", KEY)  # the env var is the default key
    src = make_source("fred", root_url=fred_server.url, sleep=sleeps.append)
    out = src.fetch_macro(["VIXCLS"], "2020-03-16", "2020-03-16")
    assert list(out["value"]) == [82.69]
    assert KEY not in repr(src)


def test_wrong_key_is_not_retried(fred_server, sleeps):
    src = FredSource(api_key="0" * 32, root_url=fred_server.url, sleep=sleeps.append)
    with pytest.raises(DownloadError, match="api_key is not registered"):
        src.fetch_macro(["VIXCLS"])
    assert sleeps == []


def test_socket_guard_blocks_network_allows_loopback(fred_server, sleeps):
    # tests/conftest.py fails any test reaching a non-loopback address, even through
    # libraries that catch Exception (pytest's failure is a BaseException)
    remote = FredSource(api_key=KEY, root_url="http://192.0.2.1/fred", sleep=sleeps.append)
    with pytest.raises(pytest.fail.Exception, match="network"):
        remote.fetch_macro(["VIXCLS"])
    named = FredSource(api_key=KEY, root_url="http://fred.invalid/fred", sleep=sleeps.append)
    with pytest.raises(pytest.fail.Exception, match="network"):
        named.fetch_macro(["VIXCLS"])
    local = fred_server.url.replace("127.0.0.1", "localhost")
    out = source(fred_server, sleeps, root_url=local).fetch_macro(["DGS10"], "2020-03-16")
    assert list(out["value"]) == [0.73]
