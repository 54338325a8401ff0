"""Fault injection on input files (issue 15): gaps inside a ticker's life, duplicate headers,
implausible values and dates; each refused by name with nothing stored, or reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskalloc.errors import DataError, SchemaError
from riskalloc.sources import FileSource
from riskalloc.sources.schema import validate_macro
from riskalloc.warehouse.ingest import ingest_macro

pytestmark = pytest.mark.faults


# --- issue 15: gaps, duplicate headers and implausible values --------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_empty_cell_inside_a_tickers_life_in_a_wide_file(kit, wh, tmp_path, suffix):
    """A wide file's empty cell is refused like a long file's missing adj_close, naming
    ticker and date; empty cells before the first price (inception) stay allowed."""

    def holed(w: pd.DataFrame) -> pd.DataFrame:
        w = w.copy()
        w.loc["2020-03-12", "TLT"] = np.nan
        w.loc[:"2020-03-04", "GLD"] = np.nan  # not listed yet: fine
        return w

    path = kit.write_wide(tmp_path / f"prices{suffix}", holed)
    match = r"empty price cells inside the listed life of \['TLT 2020-03-12'\]"
    kit.assert_fault(wh, tmp_path, path, DataError, match)


def test_the_same_gap_in_the_long_layout_is_refused_too(kit, wh, tmp_path):
    long = kit.sample_prices()[["date", "ticker", "adj_close"]].copy()
    long.loc[(long["ticker"] == "TLT") & (long["date"] == "2020-03-12"), "adj_close"] = np.nan
    path = tmp_path / "prices_long.csv"
    long.to_csv(path, index=False)

    def fix(p: Path) -> None:
        kit.sample_prices()[["date", "ticker", "adj_close"]].to_csv(p, index=False)

    kit.assert_fault(
        wh, tmp_path, path, DataError, r"missing adj_close for \['TLT 2020-03-12'\]", fix
    )


@pytest.mark.parametrize(
    ("header", "named"),
    [("date,SPY,TLT,SPY", r"\['SPY'\]"), ("date,SPY,TLT,spy ", r"\['SPY', 'spy'\]")],
)
def test_duplicate_column_header_is_refused(kit, wh, tmp_path, header, named):
    """pandas would rename the second SPY to SPY.1 and the ingest drop it silently."""
    path = kit.write_wide(tmp_path / "prices.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([header, *lines[1:]]) + "\n")
    kit.assert_fault(wh, tmp_path, path, SchemaError, rf"duplicate column headers {named}")


def test_duplicate_column_header_in_a_gzipped_csv(kit, tmp_path):
    import gzip

    path = tmp_path / "prices.csv.gz"
    path.write_bytes(gzip.compress(b"date,SPY,SPY\n2020-03-02,1,2\n"))
    with pytest.raises(SchemaError, match=r"duplicate column headers \['SPY'\]"):
        FileSource(prices_path=path).load_prices()


@pytest.mark.parametrize(
    ("value", "match"),
    [(1e-300, r"implausible prices .* \['GLD 2020-03-10'\], e\.g\. adj_close 1e-300"),
     (5e12, r"implausible prices .* \['GLD 2020-03-10'\]")],
)  # fmt: skip
def test_implausible_price_is_refused(kit, wh, tmp_path, value, match):
    def bad(w: pd.DataFrame) -> pd.DataFrame:
        w = w.copy()
        w.loc["2020-03-10", "GLD"] = value
        return w

    path = kit.write_wide(tmp_path / "prices.csv", bad)
    kit.assert_fault(wh, tmp_path, path, DataError, match)


def test_hundredfold_jump_is_reported_by_the_library(kit, wh, tmp_path, caplog):
    """Stored (a crash or a seam can be real) but every entry point hears of it."""

    def jump(w: pd.DataFrame) -> pd.DataFrame:
        w = w.copy()
        w.loc["2020-03-10", "SPY"] = w.loc["2020-03-10", "SPY"] * 100
        return w

    path = kit.write_wide(tmp_path / "prices.csv", jump)
    with caplog.at_level("WARNING"):
        s = kit.run_files(path)(wh)
    assert any("SPY 2020-03-10 x" in w for w in s.warnings), s.warnings
    assert "daily moves beyond 25%" in caplog.text and "SPY 2020-03-10" in caplog.text


def test_twenty_thousand_character_ticker_is_refused(kit, tmp_path):
    long_name = "X" * 20_000
    path = kit.write_wide(tmp_path / "prices.csv", lambda w: w.rename(columns={"GLD": long_name}))
    with pytest.raises(
        DataError, match=r"implausible tickers \['X{40}\.\.\. \(20000 characters\)'"
    ):
        FileSource(prices_path=path).load_prices()


def test_negative_vix_is_refused(kit, wh, tmp_path):
    macro = tmp_path / "macro.csv"
    macro.write_text("date,VIXCLS,DGS10\n2020-03-02,33.4,1.1\n2020-03-03,-5.0,1.0\n")
    before = kit.snapshot(wh)
    with pytest.raises(DataError, match=r"negative values .* \['VIXCLS 2020-03-03'\]"):
        with wh.connect() as con:
            ingest_macro(wh, con, FileSource(macro_path=macro), kit.UNIVERSE, "2020-03-02")
    kit.assert_unchanged(wh, before)
    # a series whose role makes it non-negative is checked too; a rate may go negative
    rows = pd.DataFrame(
        {"date": ["2020-03-02", "2020-03-03"], "series_id": "BAMLX", "value": [1.0, -0.1],
         "available_at": ["2020-03-03", "2020-03-04"], "source": "x"}
    )  # fmt: skip
    with pytest.raises(DataError, match="negative values"):
        validate_macro(rows, nonnegative=["BAMLX"])
    assert len(validate_macro(rows.assign(series_id="DTB3"))) == 2


# --- siblings found while fixing issue 15 ----------------------------------------------------


def test_negative_volume_is_refused(kit, wh, tmp_path):
    long = kit.sample_prices()[["date", "ticker", "adj_close"]].assign(volume=1000.0)
    long.loc[(long["ticker"] == "SPY") & (long["date"] == "2020-03-05"), "volume"] = -5.0
    path = tmp_path / "prices_long.csv"
    long.to_csv(path, index=False)

    def fix(p: Path) -> None:
        long.assign(volume=1000.0).to_csv(p, index=False)

    kit.assert_fault(
        wh, tmp_path, path, DataError, r"negative volume for \['SPY 2020-03-05'\]", fix
    )


def test_implausible_macro_value_is_refused(kit):
    rows = pd.DataFrame(
        {"date": ["2020-03-02"], "series_id": ["DGS10"], "value": [1e300],
         "available_at": ["2020-03-03"], "source": ["x"]}
    )  # fmt: skip
    with pytest.raises(DataError, match=r"implausible values .* \['DGS10 2020-03-02'\]"):
        validate_macro(rows)


@pytest.mark.parametrize("day", ["0001-01-01", "1850-03-02", "2999-03-02"])
def test_dates_outside_any_plausible_range_are_refused(kit, wh, tmp_path, day):
    """Year 1 once escaped as a raw pandas OutOfBoundsDatetime (a traceback in the CLI)."""

    def bad(w: pd.DataFrame) -> pd.DataFrame:
        dates = [str(d.date()) for d in w.index]
        dates[0] = day
        return w.set_axis(pd.Index(dates, name="date"))

    path = kit.write_wide(tmp_path / "prices.csv", bad)
    kit.assert_fault(wh, tmp_path, path, SchemaError, r"implausible dates|not in increasing")


def test_long_file_keys_with_stray_spaces_are_trimmed(kit, wh, tmp_path):
    long = kit.sample_prices()[["date", "ticker", "adj_close"]]
    path = tmp_path / "prices_long.csv"
    long.assign(ticker=" " + long["ticker"] + " ").to_csv(path, index=False)
    s = kit.run_files(path)(wh)
    assert s.rows_fetched == len(long)


def test_bom_and_blank_headers(kit, wh, tmp_path):
    path = kit.write_wide(tmp_path / "prices.csv")
    text = path.read_text()
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # Excel's UTF-8 BOM: still fine
    assert kit.run_files(path)(wh).rows_fetched == len(kit.sample_prices())
    lines = text.splitlines()
    path.write_text("\n".join(["date,SPY,,GLD", *lines[1:]]) + "\n")
    with pytest.raises(SchemaError, match=r"columns \[3\] have no header"):
        FileSource(prices_path=path).load_prices()


def test_jump_at_the_seam_with_stored_prices_is_reported(kit, wh, tmp_path):
    """An incremental file whose first new close is 10x the last stored one: the jump lies
    between the warehouse and the file, and is reported all the same."""
    wide = kit.sample_wide(start="2020-03-02", end="2020-03-06")
    wide["SPY"] = wide["SPY"] * 10  # e.g. a file in another unit
    path = tmp_path / "prices.csv"
    wide.to_csv(path, date_format="%Y-%m-%d")
    s = kit.run_files(path, incremental=False)(wh)  # window 2020-03-02..: no stored overlap
    assert any("SPY 2020-03-02 x" in w for w in s.warnings), s.warnings
    assert not any("TLT" in w for w in s.warnings)


@pytest.mark.parametrize("layout", ["wide", "long"])
def test_a_missing_row_inside_a_tickers_life_is_reported(kit, wh, tmp_path, layout):
    """The documented policy for rows that are absent (not empty): stored, reported by name
    in both layouts (gaps over 5 sessions then fail the blocking prices_no_gaps check)."""
    path = tmp_path / "prices.csv"
    if layout == "wide":
        kit.write_wide(path, lambda w: w.drop(index=pd.Timestamp("2020-03-12")))
    else:
        long = kit.sample_prices()[["date", "ticker", "adj_close"]]
        long[~((long["ticker"] == "TLT") & (long["date"] == "2020-03-12"))].to_csv(
            path, index=False
        )
    s = kit.run_files(path)(wh)
    assert any("NYSE sessions without a row" in w and "TLT 2020-03-12" in w for w in s.warnings)
