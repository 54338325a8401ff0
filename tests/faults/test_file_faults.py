"""Faults in the user's own files (source=files): each names the file and the ticker /
date / column at fault, stores nothing, and the re-run after the fix equals a clean run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskalloc.errors import DataError, SchemaError
from riskalloc.quality import check_daily_moves
from riskalloc.sources import FileSource
from riskalloc.sources.schema import validate_macro
from riskalloc.warehouse import read_table
from riskalloc.warehouse.ingest import ingest_macro, ingest_prices

pytestmark = pytest.mark.faults


def run_files(kit, prices: Path, incremental: bool = True):
    """Ingest March 2020 from a prices file (incremental on top of the seed by default)."""

    def run(wh):
        with wh.connect() as con:
            src = FileSource(prices_path=prices)
            return ingest_prices(
                wh, con, src, kit.UNIVERSE, "2020-03-02", "2020-03-31", incremental
            )

    return run


def write_wide(kit, path: Path, edit=None) -> Path:
    """The bundled March 2020 closes as a wide CSV/Parquet, optionally broken by ``edit``."""
    wide = kit.sample_wide()
    if edit is not None:
        wide = edit(wide)
    if path.suffix == ".parquet":
        wide.reset_index().to_parquet(path, index=False)
    else:
        wide.to_csv(path, date_format="%Y-%m-%d")
    return path


def assert_fault(kit, wh, tmp_path, path, error, match, fix=None):
    """The broken file raises ``error`` naming ``match``; nothing stored; fixed file = clean."""
    before = kit.snapshot(wh)
    with pytest.raises(error, match=match) as info:
        run_files(kit, path)(wh)
    assert str(path) in str(info.value)
    kit.assert_unchanged(wh, before)
    (fix or (lambda p: write_wide(kit, p)))(path)
    kit.assert_same_as_clean(wh, run_files(kit, path), tmp_path / "clean")


def test_malformed_csv(kit, wh, tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text('date,SPY,TLT,GLD\n2020-03-02,"300.1,150,\n2020-03-03,1,2,3\n')
    assert_fault(kit, wh, tmp_path, path, SchemaError, r"cannot be read \(ParserError")


def test_malformed_parquet(kit, wh, tmp_path):
    path = write_wide(kit, tmp_path / "prices.parquet")
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 3] + b"\0" * 64 + good[-8:])  # torn middle, valid magic
    assert_fault(kit, wh, tmp_path, path, SchemaError, r"prices\.parquet: cannot be read")


def test_missing_file(kit, wh, tmp_path):
    path = tmp_path / "prices.csv"
    assert_fault(kit, wh, tmp_path, path, DataError, r"prices\.csv: file not found")


def test_unknown_ticker(kit, wh, tmp_path):
    """The file holds 'SPYY' instead of 'SPY': the missing ticker is named."""
    path = write_wide(kit, tmp_path / "prices.csv", lambda w: w.rename(columns={"SPY": "SPYY"}))
    assert_fault(kit, wh, tmp_path, path, DataError, r"ticker \['SPY'\] not in the file")


def test_duplicate_dates(kit, wh, tmp_path):
    def dup(w: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([w.iloc[:5], w.iloc[4:]])  # 2020-03-06 twice

    path = write_wide(kit, tmp_path / "prices.csv", dup)
    assert_fault(kit, wh, tmp_path, path, DataError, r"duplicate dates \['2020-03-06'\]")


def test_duplicate_rows_in_a_long_file(kit, wh, tmp_path):
    long = kit.sample_prices()[["date", "ticker", "adj_close"]]
    extra = long[(long["ticker"] == "TLT") & (long["date"] == "2020-03-10")]
    path = tmp_path / "prices_long.csv"
    pd.concat([long, extra]).sort_values(["ticker", "date"]).to_csv(path, index=False)

    def fix(p: Path) -> None:
        long.to_csv(p, index=False)

    assert_fault(
        kit,
        wh,
        tmp_path,
        path,
        DataError,
        r"duplicate \(date, ticker\) rows for \['TLT 2020-03-10'",
        fix,
    )


@pytest.mark.parametrize(("value", "ticker"), [(0.0, "TLT"), (-12.5, "GLD")])
def test_zero_and_negative_prices(kit, wh, tmp_path, value, ticker):
    def bad(w: pd.DataFrame) -> pd.DataFrame:
        w = w.copy()
        w.loc["2020-03-10", ticker] = value
        return w

    path = write_wide(kit, tmp_path / "prices.csv", bad)
    match = rf"zero or negative prices for \['{ticker} 2020-03-10'\]"
    assert_fault(kit, wh, tmp_path, path, DataError, match)


def test_non_numeric_cell(kit, wh, tmp_path):
    def bad(w: pd.DataFrame) -> pd.DataFrame:
        w = w.astype(object)
        w.loc["2020-03-11", "GLD"] = "n/a?"
        return w

    path = write_wide(kit, tmp_path / "prices.csv", bad)
    match = r"column 'GLD' is not numeric, e\.g\. 'n/a\?' on 2020-03-11"
    assert_fault(kit, wh, tmp_path, path, SchemaError, match)


def test_non_monotonic_dates(kit, wh, tmp_path):
    def swap(w: pd.DataFrame) -> pd.DataFrame:
        order = list(range(len(w)))
        order[3], order[4] = order[4], order[3]
        return w.iloc[order]

    path = write_wide(kit, tmp_path / "prices.csv", swap)
    assert_fault(kit, wh, tmp_path, path, DataError, r"dates are not in increasing order")


def test_non_monotonic_dates_in_a_long_file_name_the_ticker(kit, wh, tmp_path):
    long = kit.sample_prices()[["date", "ticker", "adj_close"]].reset_index(drop=True)
    path = tmp_path / "prices_long.csv"
    gld = long.index[long["ticker"] == "GLD"]
    order = list(long.index)
    order[gld[2]], order[gld[7]] = order[gld[7]], order[gld[2]]
    long.loc[order].to_csv(path, index=False)

    def fix(p: Path) -> None:
        long.to_csv(p, index=False)

    match = r"dates are not in increasing order for ticker 'GLD'"
    assert_fault(kit, wh, tmp_path, path, DataError, match, fix)


def test_naive_timestamps_with_a_time_of_day(kit, wh, tmp_path):
    """Dates exported as UTC stamps without the zone ('2020-03-02 05:00:00') are refused."""
    path = tmp_path / "prices.csv"
    wide = kit.sample_wide()
    wide.index = wide.index + pd.Timedelta(hours=5)
    wide.to_csv(path)
    match = r"timestamps with a time of day, e\.g\. \['2020-03-02 05:00:00'"
    assert_fault(kit, wh, tmp_path, path, SchemaError, match)


def test_macro_file_with_look_ahead(kit, wh, tmp_path):
    """A macro file claiming a value was available before it was observed is refused."""
    rows = kit.SampleSource().fetch_macro(["VIXCLS", "DGS10"], "2020-03-02", "2020-03-31")
    bad = rows.copy()
    hit = (bad["series_id"] == "DGS10") & (bad["date"] == "2020-03-16")
    bad.loc[hit, "available_at"] = pd.Timestamp("2020-03-13")
    path = tmp_path / "macro.csv"
    bad.drop(columns="source").to_csv(path, index=False, date_format="%Y-%m-%d")

    def run(wh):
        with wh.connect() as con:
            src = FileSource(macro_path=path)
            return ingest_macro(wh, con, src, kit.UNIVERSE, "2020-03-02", "2020-03-31")

    before = kit.snapshot(wh)
    with pytest.raises(DataError, match=r"macro\.csv: available_at before date.*DGS10 2020-03-16"):
        run(wh)
    kit.assert_unchanged(wh, before)
    rows.drop(columns="source").to_csv(path, index=False, date_format="%Y-%m-%d")
    kit.assert_same_as_clean(wh, run, tmp_path / "clean")


def test_unadjusted_split_is_stored_but_reported(kit, wh, tmp_path):
    """A 4:1 split left unadjusted from 2020-03-16 on passes validation (prices are positive)
    but ``check_daily_moves`` warns and names exactly the seam row. The fix rewrites
    history, so an incremental re-run (5-day overlap) does not reach the seam: a full
    re-run (incremental=False) is needed, and then equals a clean run."""

    def split(w: pd.DataFrame) -> pd.DataFrame:
        w = w.copy()
        w.loc["2020-03-16":, "GLD"] = w.loc["2020-03-16":, "GLD"] / 4
        return w

    path = write_wide(kit, tmp_path / "prices.csv", split)
    run_files(kit, path)(wh)
    with wh.connect() as con:
        stored = read_table(con, "prices")
    outcome = check_daily_moves(stored, 0.25)
    assert not outcome.passed and outcome.severity == "warn"
    assert outcome.rows[["ticker", "date"]].astype(str).values.tolist() == [["GLD", "2020-03-16"]]
    assert outcome.rows["log_return"].iloc[0] == pytest.approx(
        np.log(1 / 4)
        + np.log(
            kit.sample_wide().loc["2020-03-16", "GLD"] / kit.sample_wide().loc["2020-03-13", "GLD"]
        )
    )
    write_wide(kit, path)  # the adjusted history
    run_files(kit, path)(wh)
    with wh.connect() as con:
        still = check_daily_moves(read_table(con, "prices"), 0.25)
    seams = still.rows[["ticker", "date"]].astype(str).values.tolist()
    assert seams == [["GLD", "2020-03-16"], ["GLD", "2020-03-24"]]  # old seam + a new one
    kit.assert_same_as_clean(wh, run_files(kit, path, incremental=False), tmp_path / "clean")
    with wh.connect() as con:
        assert check_daily_moves(read_table(con, "prices"), 0.25).passed


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

    path = write_wide(kit, tmp_path / f"prices{suffix}", holed)
    match = r"empty price cells inside the listed life of \['TLT 2020-03-12'\]"
    assert_fault(kit, wh, tmp_path, path, DataError, match)


def test_the_same_gap_in_the_long_layout_is_refused_too(kit, wh, tmp_path):
    long = kit.sample_prices()[["date", "ticker", "adj_close"]].copy()
    long.loc[(long["ticker"] == "TLT") & (long["date"] == "2020-03-12"), "adj_close"] = np.nan
    path = tmp_path / "prices_long.csv"
    long.to_csv(path, index=False)

    def fix(p: Path) -> None:
        kit.sample_prices()[["date", "ticker", "adj_close"]].to_csv(p, index=False)

    assert_fault(
        kit, wh, tmp_path, path, DataError, r"missing adj_close for \['TLT 2020-03-12'\]", fix
    )


@pytest.mark.parametrize(
    ("header", "named"),
    [("date,SPY,TLT,SPY", r"\['SPY'\]"), ("date,SPY,TLT,spy ", r"\['SPY', 'spy'\]")],
)
def test_duplicate_column_header_is_refused(kit, wh, tmp_path, header, named):
    """pandas would rename the second SPY to SPY.1 and the ingest drop it silently."""
    path = write_wide(kit, tmp_path / "prices.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([header, *lines[1:]]) + "\n")
    assert_fault(kit, wh, tmp_path, path, SchemaError, rf"duplicate column headers {named}")


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

    path = write_wide(kit, tmp_path / "prices.csv", bad)
    assert_fault(kit, wh, tmp_path, path, DataError, match)


def test_hundredfold_jump_is_reported_by_the_library(kit, wh, tmp_path, caplog):
    """Stored (a crash or a seam can be real) but every entry point hears of it."""

    def jump(w: pd.DataFrame) -> pd.DataFrame:
        w = w.copy()
        w.loc["2020-03-10", "SPY"] = w.loc["2020-03-10", "SPY"] * 100
        return w

    path = write_wide(kit, tmp_path / "prices.csv", jump)
    with caplog.at_level("WARNING"):
        s = run_files(kit, path)(wh)
    assert any("SPY 2020-03-10 x" in w for w in s.warnings), s.warnings
    assert "daily moves beyond 25%" in caplog.text and "SPY 2020-03-10" in caplog.text


def test_twenty_thousand_character_ticker_is_refused(kit, tmp_path):
    long_name = "X" * 20_000
    path = write_wide(kit, tmp_path / "prices.csv", lambda w: w.rename(columns={"GLD": long_name}))
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

    assert_fault(
        kit, wh, tmp_path, path, DataError, r"negative volume for \['SPY 2020-03-05'\]", fix
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

    path = write_wide(kit, tmp_path / "prices.csv", bad)
    assert_fault(kit, wh, tmp_path, path, SchemaError, r"implausible dates|not in increasing")


def test_long_file_keys_with_stray_spaces_are_trimmed(kit, wh, tmp_path):
    long = kit.sample_prices()[["date", "ticker", "adj_close"]]
    path = tmp_path / "prices_long.csv"
    long.assign(ticker=" " + long["ticker"] + " ").to_csv(path, index=False)
    s = run_files(kit, path)(wh)
    assert s.rows_fetched == len(long)


def test_bom_and_blank_headers(kit, wh, tmp_path):
    path = write_wide(kit, tmp_path / "prices.csv")
    text = path.read_text()
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # Excel's UTF-8 BOM: still fine
    assert run_files(kit, path)(wh).rows_fetched == len(kit.sample_prices())
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
    s = run_files(kit, path, incremental=False)(wh)  # window 2020-03-02..: no stored overlap
    assert any("SPY 2020-03-02 x" in w for w in s.warnings), s.warnings
    assert not any("TLT" in w for w in s.warnings)


@pytest.mark.parametrize("layout", ["wide", "long"])
def test_a_missing_row_inside_a_tickers_life_is_reported(kit, wh, tmp_path, layout):
    """The documented policy for rows that are absent (not empty): stored, reported by name
    in both layouts (gaps over 5 sessions then fail the blocking prices_no_gaps check)."""
    path = tmp_path / "prices.csv"
    if layout == "wide":
        write_wide(kit, path, lambda w: w.drop(index=pd.Timestamp("2020-03-12")))
    else:
        long = kit.sample_prices()[["date", "ticker", "adj_close"]]
        long[~((long["ticker"] == "TLT") & (long["date"] == "2020-03-12"))].to_csv(
            path, index=False
        )
    s = run_files(kit, path)(wh)
    assert any("NYSE sessions without a row" in w and "TLT 2020-03-12" in w for w in s.warnings)
