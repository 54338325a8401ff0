"""Dates at fault: future rows, day-first/ambiguous formats, non-trading days, YYYYMMDD;
and the CLI's way out of a future row already stored (``riskalloc delete``)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pandas as pd
import pytest

from riskalloc.cli import main as cli_main
from riskalloc.errors import DataError, SchemaError
from riskalloc.sources import FileSource
from riskalloc.sources.schema import validate_macro, validate_prices
from riskalloc.warehouse import upsert
from riskalloc.warehouse.ingest import ingest_macro, ingest_prices

pytestmark = pytest.mark.faults


def run_file(kit, path: Path, start="2020-03-02", end="2020-03-31"):
    def run(wh):
        with wh.connect() as con:
            return ingest_prices(wh, con, FileSource(prices_path=path), kit.UNIVERSE, start, end)

    return run


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def wide_csv(kit, path: Path, dates: list[str]) -> Path:
    """Wide closes of SPY/TLT/GLD on ``dates`` (written as given, e.g. day-first)."""
    wide = kit.sample_wide().head(len(dates))
    lines = ["date,SPY,TLT,GLD"] + [
        f"{d},{r.SPY},{r.TLT},{r.GLD}" for d, r in zip(dates, wide.itertuples(), strict=True)
    ]
    return write(path, "\n".join(lines) + "\n")


def test_future_dated_price_is_refused(kit, wh, tmp_path):
    path = wide_csv(kit, tmp_path / "p.csv", ["2020-03-02", "2020-03-03", "2030-01-02"])
    before = kit.snapshot(wh)
    with pytest.raises(DataError, match=r"rows dated after today .* for \['SPY 2030-01-02'"):
        run_file(kit, path, end=None)(wh)
    kit.assert_unchanged(wh, before)


def test_future_dated_macro_value_is_refused(kit):
    rows = pd.DataFrame(
        {
            "date": ["2030-01-02"],
            "series_id": ["VIXCLS"],
            "value": [20.0],
            "available_at": ["2030-01-03"],
            "source": ["x"],
        }
    )
    with pytest.raises(DataError, match=r"macro: rows dated after today .*VIXCLS 2030-01-02"):
        validate_macro(rows)


def test_stored_future_row_is_named_and_the_cli_deletes_it(kit, wh, tmp_path, capsys):
    """A row that got in before the fix blocks incremental ingests: the error names it and
    the command that removes it; after `riskalloc delete` the ingest runs again."""
    bad = kit.sample_prices(["SPY"], "2020-02-28", "2020-02-28").assign(
        date=pd.Timestamp("2030-01-02")
    )
    with wh.connect() as con:
        upsert(wh, con, "prices", bad)  # the warehouse layer itself does not judge dates
    with pytest.raises(
        DataError,
        match=r"prices: the warehouse holds rows dated after today .*'SPY': '2030-01-02'.*"
        r"riskalloc delete prices --start 2030-01-02",
    ):
        kit.run_sample()(wh)
    assert cli_main(["--db", str(wh.db_path), "delete", "prices", "--start", "2030-01-01"]) == 0
    assert capsys.readouterr().out.strip() == ("prices: deleted 1 rows dated 2030-01-01 to any")
    assert not (wh.parquet_dir / "prices" / "year=2030").joinpath("part-0.parquet").exists()
    kit.assert_same_as_clean(wh, kit.run_sample(), tmp_path / "clean")


def test_delete_a_date_range_for_one_key(kit, wh, tmp_path, capsys):
    before = kit.snapshot(wh)
    args = ["--db", str(wh.db_path), "delete", "macro", "--start", "2020-02-03"]
    assert cli_main([*args, "--end", "2020-02-07", "--key", "VIXCLS"]) == 0
    assert "macro: deleted 5 rows dated 2020-02-03 to 2020-02-07 for series_id" in (
        capsys.readouterr().out
    )
    snap = kit.snapshot(wh, verify=True)  # mirror rewritten with the rows gone
    assert len(snap.tables["macro"]) == len(before.tables["macro"]) - 5
    assert snap.tables["prices"] == before.tables["prices"]
    # refusals: no range, start after end, unknown table
    assert cli_main(["--db", str(wh.db_path), "delete", "prices"]) == 2
    assert "refusing to delete every row" in capsys.readouterr().err
    assert cli_main([*args, "--end", "2020-01-01"]) == 2
    assert "--start 2020-02-03 is after --end 2020-01-01" in capsys.readouterr().err


def test_no_rows_message_says_why(kit, wh, tmp_path):
    """An incremental window that starts after its end, and a ticker the window misses."""
    path = tmp_path / "p.csv"
    kit.sample_wide(start="2019-11-01", end="2020-03-31").to_csv(path, date_format="%Y-%m-%d")
    with pytest.raises(
        DataError,
        match=r"no rows for ticker \['SPY', 'TLT', 'GLD'\] in the requested window: "
        r"SPY: window 2020-02-21 to 2020-01-31 \(incremental: last stored 2020-02-28\), "
        r"which starts after it ends; the file has SPY from 2019-11-01 to 2020-03-31",
    ):
        run_file(kit, path, start=None, end="2020-01-31")(wh)


@pytest.mark.parametrize(
    ("dates", "match"),
    [
        (["03/01/2023", "04/01/2023", "05/01/2023"], r"ambiguous dates \['03/01/2023'"),
        (["03.01.2023", "04.01.2023", "05.01.2023"], r"ambiguous dates"),
        (["2023-01-03", "2023-01-04", "Jan 5 2023"], r"unparseable dates \['Jan 5 2023'\]"),
        (["2023-01-03", "2023-01-04", "2023-02-30"], r"'2023-02-30' is not a valid calendar"),
    ],
)
def test_day_first_and_other_non_iso_dates_are_refused(kit, wh, tmp_path, dates, match):
    """`03/01/2023` is 3 January to some and 1 March to others: refused, not guessed, and
    without pandas' format-guessing warning."""
    path = wide_csv(kit, tmp_path / "p.csv", dates)
    before = kit.snapshot(wh)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Could not infer format" UserWarning
        with pytest.raises(SchemaError, match=match):
            run_file(kit, path, start=None, end=None)(wh)
    kit.assert_unchanged(wh, before)


def test_yyyymmdd_dates_are_read_as_dates(kit, wh, tmp_path):
    """Numbers like 20200302 are the documented YYYYMMDD form, not nanoseconds since 1970."""
    path = wide_csv(kit, tmp_path / "p.csv", ["20200302", "20200303", "20200304"])
    s = run_file(kit, path, start=None, end=None)(wh)
    assert (s.first_date, s.last_date) == (pd.Timestamp("2020-03-02"), pd.Timestamp("2020-03-04"))


def test_weekend_prices_are_refused_by_name(kit):
    rows = kit.sample_prices(["SPY"], "2020-03-02", "2020-03-06")
    rows.loc[rows.index[-1], "date"] = pd.Timestamp("2020-03-07")  # a Saturday
    with pytest.raises(DataError, match=r"Saturday or Sunday .* \['SPY 2020-03-07'\]"):
        validate_prices(rows)


def test_weekday_holiday_prices_are_reported(kit, wh, tmp_path, caplog):
    """Good Friday 2020 is a weekday but no NYSE session: stored, with a warning by name."""
    path = wide_csv(kit, tmp_path / "p.csv", ["2020-04-08", "2020-04-09", "2020-04-10"])
    with caplog.at_level(logging.WARNING):
        s = run_file(kit, path, start=None, end=None)(wh)
    assert any("not NYSE sessions" in w and "SPY 2020-04-10" in w for w in s.warnings)
    assert "SPY 2020-04-10" in caplog.text


def test_macro_available_years_after_the_value_is_reported(kit, wh, tmp_path, caplog):
    macro = tmp_path / "m.csv"
    macro.write_text(
        "date,series_id,value,available_at\n"
        "2020-03-02,VIXCLS,33.4,2020-03-03\n2020-03-03,VIXCLS,36.8,2024-03-04\n"
        "2020-03-02,DGS10,1.1,2020-03-03\n2020-03-03,DGS10,1.0,2020-03-04\n"
    )
    with caplog.at_level(logging.WARNING), wh.connect() as con:
        s = ingest_macro(wh, con, FileSource(macro_path=macro), kit.UNIVERSE, "2020-03-02")
    assert s.warnings and "VIXCLS 2020-03-03" in s.warnings[0]
    assert "available over 366 days after their date" in caplog.text


def test_sample_window_without_data_says_so(kit, wh, capsys):
    """Not "check the universe file": the window lies after the bundled snapshot."""
    code = cli_main(["--db", str(wh.db_path), "ingest", "--start", "2023-06-01", "--full"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "window 2023-06-01 to the last date; the bundled snapshot has SPY from" in err
    assert "check the universe file" not in err
