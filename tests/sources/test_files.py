"""FileSource: the user's CSV / Parquet files, wide or long, and every way they can be wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskalloc.errors import ConfigError, DataError, SchemaError
from riskalloc.sources import FileSource, make_source
from riskalloc.sources.schema import MACRO_COLUMNS, PRICE_COLUMNS

WIDE_CSV = """date,SPY,TLT
2020-03-12,248.11,
2020-03-13,269.32,150.5
2020-03-16,239.85,159.0
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_wide_csv_prices(tmp_path):
    path = write(tmp_path, "prices.csv", WIDE_CSV)
    out = FileSource(prices_path=path).fetch_prices()
    assert list(out.columns) == list(PRICE_COLUMNS)
    assert len(out) == 5  # TLT's empty first cell (before inception) is dropped
    spy = out[out["ticker"] == "SPY"].set_index("date")
    assert spy.loc["2020-03-16", "adj_close"] == 239.85
    assert set(out["source"]) == {"files"}
    sub = FileSource(prices_path=path).fetch_prices(["TLT"], "2020-03-14", "2020-03-16")
    assert list(sub["adj_close"]) == [159.0]
    with pytest.raises(DataError, match=r"prices.csv.*\['GLD'\] not in the file"):
        FileSource(prices_path=path).fetch_prices(["SPY", "GLD"])


def test_long_parquet_prices_match_wide_csv(tmp_path):
    wide = FileSource(prices_path=write(tmp_path, "w.csv", WIDE_CSV)).fetch_prices()
    long = wide[["date", "ticker", "adj_close", "volume"]].rename(
        columns={"adj_close": "Adj Close"}
    )
    long = long.sort_values(["date", "ticker"])  # date-major order is fine too
    path = tmp_path / "prices.parquet"
    long.to_parquet(path, index=False)
    out = FileSource(prices_path=path).fetch_prices(["SPY", "TLT"])
    pd.testing.assert_frame_equal(out, wide)


def test_macro_long_and_wide(tmp_path):
    long = write(
        tmp_path,
        "macro.csv",
        "date,series_id,value\n2020-03-13,VIXCLS,57.83\n2020-03-16,VIXCLS,82.69\n"
        "2020-03-13,DGS10,0.94\n2020-03-16,DGS10,.\n",
    )
    out = FileSource(macro_path=long).fetch_macro(["VIXCLS", "DGS10"])
    assert list(out.columns) == list(MACRO_COLUMNS)
    assert len(out) == 3  # FRED's '.' marker dropped
    assert (out["available_at"] == out["date"] + pd.offsets.BDay(1)).all()
    wide = pd.DataFrame(
        {"date": ["2020-03-13", "2020-03-16"], "VIXCLS": [57.83, 82.69], "DGS10": [0.94, None]}
    )
    wide_path = tmp_path / "macro_wide.csv.gz"
    wide.to_csv(wide_path, index=False)
    pd.testing.assert_frame_equal(FileSource(macro_path=wide_path).fetch_macro(), out)


def test_macro_available_at_kept_and_look_ahead_rejected(tmp_path):
    ok = write(
        tmp_path,
        "m.csv",
        "date,series_id,value,available_at\n2020-03-13,CPI,1.5,2020-04-10\n",
    )
    out = FileSource(macro_path=ok).fetch_macro()
    assert out["available_at"].iloc[0] == pd.Timestamp("2020-04-10")
    bad = write(
        tmp_path, "bad.csv", "date,series_id,value,available_at\n2020-03-13,CPI,1.5,2020-03-12\n"
    )
    with pytest.raises(DataError, match=r"bad.csv.*look-ahead.*CPI 2020-03-13"):
        FileSource(macro_path=bad).fetch_macro()


@pytest.mark.parametrize(
    ("name", "text", "error", "pattern"),
    [
        (
            "nodate.csv",
            "day,SPY\n2020-03-13,1.0\n",
            SchemaError,
            r"nodate.csv: no single 'date' column",
        ),
        (
            "text.csv",
            "date,SPY\n2020-03-13,1.0\n2020-03-16,n/a?\n",
            SchemaError,
            r"text.csv: column 'SPY' is not numeric, e.g. 'n/a\?' on 2020-03-16",
        ),
        (
            "dups.csv",
            "date,SPY\n2020-03-13,1.0\n2020-03-13,1.1\n",
            DataError,
            r"dups.csv: duplicate dates \['2020-03-13'\]",
        ),
        (
            "order.csv",
            "date,SPY\n2020-03-16,1.0\n2020-03-13,1.1\n",
            DataError,
            r"order.csv: dates are not in increasing order",
        ),
        (
            "zero.csv",
            "date,SPY,TLT\n2020-03-13,1.0,2.0\n2020-03-16,1.1,0\n",
            DataError,
            r"zero.csv: zero or negative prices.*TLT 2020-03-16",
        ),
        ("baddate.csv", "date,SPY\nnot-a-date,1.0\n", SchemaError, r"baddate.csv.*unparseable"),
        ("empty.csv", "", SchemaError, r"empty.csv: cannot be read"),
        ("prices.xlsx", "x", SchemaError, r"prices.xlsx: unsupported file type"),
        (
            "longdup.csv",
            "date,ticker,adj_close\n2020-03-13,SPY,1.0\n2020-03-13,SPY,1.1\n",
            DataError,
            r"longdup.csv: duplicate \(date, ticker\) rows.*SPY 2020-03-13",
        ),
        (
            "longorder.csv",
            "date,ticker,adj_close\n2020-03-16,SPY,1.0\n2020-03-13,SPY,1.1\n",
            DataError,
            r"longorder.csv: dates are not in increasing order for ticker 'SPY'",
        ),
    ],
)
def test_malformed_price_files_name_file_and_problem(tmp_path, name, text, error, pattern):
    path = write(tmp_path, name, text)
    with pytest.raises(error, match=pattern):
        FileSource(prices_path=path).fetch_prices()


def test_unreadable_parquet_and_missing_file(tmp_path):
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"this is not parquet")
    with pytest.raises(SchemaError, match=r"junk.parquet: cannot be read"):
        FileSource(prices_path=junk).fetch_prices()
    with pytest.raises(DataError, match=r"missing.csv: file not found"):
        FileSource(prices_path=tmp_path / "missing.csv").fetch_prices()


def test_incremental_since_and_config_errors(tmp_path):
    dates = pd.bdate_range("2020-01-01", periods=30)
    wide = pd.DataFrame({"date": dates, "SPY": np.linspace(100, 130, 30), "TLT": 150.0})
    path = tmp_path / "p.parquet"
    wide.to_parquet(path, index=False)
    out = FileSource(prices_path=path).fetch_prices(since={"SPY": dates[-1]})
    assert out.loc[out["ticker"] == "SPY", "date"].min() == dates[-6]  # 5 business days back
    assert (out["ticker"] == "TLT").sum() == 30
    with pytest.raises(ConfigError, match="macro_path"):
        FileSource(prices_path=path).fetch_macro()
    with pytest.raises(ConfigError, match="prices_path"):
        FileSource()
    assert isinstance(make_source("files", prices_path=path), FileSource)
