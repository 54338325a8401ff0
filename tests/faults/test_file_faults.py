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
from riskalloc.warehouse import read_table
from riskalloc.warehouse.ingest import ingest_macro

pytestmark = pytest.mark.faults


def test_malformed_csv(kit, wh, tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text('date,SPY,TLT,GLD\n2020-03-02,"300.1,150,\n2020-03-03,1,2,3\n')
    kit.assert_fault(wh, tmp_path, path, SchemaError, r"cannot be read \(ParserError")


def test_malformed_parquet(kit, wh, tmp_path):
    path = kit.write_wide(tmp_path / "prices.parquet")
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 3] + b"\0" * 64 + good[-8:])  # torn middle, valid magic
    kit.assert_fault(wh, tmp_path, path, SchemaError, r"prices\.parquet: cannot be read")


def test_missing_file(kit, wh, tmp_path):
    path = tmp_path / "prices.csv"
    kit.assert_fault(wh, tmp_path, path, DataError, r"prices\.csv: file not found")


def test_unknown_ticker(kit, wh, tmp_path):
    """The file holds 'SPYY' instead of 'SPY': the missing ticker is named."""
    path = kit.write_wide(tmp_path / "prices.csv", lambda w: w.rename(columns={"SPY": "SPYY"}))
    kit.assert_fault(wh, tmp_path, path, DataError, r"ticker \['SPY'\] not in the file")


def test_duplicate_dates(kit, wh, tmp_path):
    def dup(w: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([w.iloc[:5], w.iloc[4:]])  # 2020-03-06 twice

    path = kit.write_wide(tmp_path / "prices.csv", dup)
    kit.assert_fault(wh, tmp_path, path, DataError, r"duplicate dates \['2020-03-06'\]")


def test_duplicate_rows_in_a_long_file(kit, wh, tmp_path):
    long = kit.sample_prices()[["date", "ticker", "adj_close"]]
    extra = long[(long["ticker"] == "TLT") & (long["date"] == "2020-03-10")]
    path = tmp_path / "prices_long.csv"
    pd.concat([long, extra]).sort_values(["ticker", "date"]).to_csv(path, index=False)

    def fix(p: Path) -> None:
        long.to_csv(p, index=False)

    kit.assert_fault(
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

    path = kit.write_wide(tmp_path / "prices.csv", bad)
    match = rf"zero or negative prices for \['{ticker} 2020-03-10'\]"
    kit.assert_fault(wh, tmp_path, path, DataError, match)


def test_non_numeric_cell(kit, wh, tmp_path):
    def bad(w: pd.DataFrame) -> pd.DataFrame:
        w = w.astype(object)
        w.loc["2020-03-11", "GLD"] = "n/a?"
        return w

    path = kit.write_wide(tmp_path / "prices.csv", bad)
    match = r"column 'GLD' is not numeric, e\.g\. 'n/a\?' on 2020-03-11"
    kit.assert_fault(wh, tmp_path, path, SchemaError, match)


def test_non_monotonic_dates(kit, wh, tmp_path):
    def swap(w: pd.DataFrame) -> pd.DataFrame:
        order = list(range(len(w)))
        order[3], order[4] = order[4], order[3]
        return w.iloc[order]

    path = kit.write_wide(tmp_path / "prices.csv", swap)
    kit.assert_fault(wh, tmp_path, path, DataError, r"dates are not in increasing order")


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
    kit.assert_fault(wh, tmp_path, path, DataError, match, fix)


def test_naive_timestamps_with_a_time_of_day(kit, wh, tmp_path):
    """Dates exported as UTC stamps without the zone ('2020-03-02 05:00:00') are refused."""
    path = tmp_path / "prices.csv"
    wide = kit.sample_wide()
    wide.index = wide.index + pd.Timedelta(hours=5)
    wide.to_csv(path)
    match = r"timestamps with a time of day, e\.g\. \['2020-03-02 05:00:00'"
    kit.assert_fault(wh, tmp_path, path, SchemaError, match)


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

    path = kit.write_wide(tmp_path / "prices.csv", split)
    kit.run_files(path)(wh)
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
    kit.write_wide(path)  # the adjusted history
    kit.run_files(path)(wh)
    with wh.connect() as con:
        still = check_daily_moves(read_table(con, "prices"), 0.25)
    seams = still.rows[["ticker", "date"]].astype(str).values.tolist()
    assert seams == [["GLD", "2020-03-16"], ["GLD", "2020-03-24"]]  # old seam + a new one
    kit.assert_same_as_clean(wh, kit.run_files(path, incremental=False), tmp_path / "clean")
    with wh.connect() as con:
        assert check_daily_moves(read_table(con, "prices"), 0.25).passed
