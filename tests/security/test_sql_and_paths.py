"""SQL identifiers only come from the table allow-list, user values are bound parameters,
the `riskalloc query` CLI cannot write, and config paths stay inside the warehouse root."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from riskalloc.cli import main as cli_main
from riskalloc.errors import SchemaError, WarehouseError
from riskalloc.warehouse import (
    TableSpec,
    Warehouse,
    last_dates,
    query_readonly,
    read_table,
    resolve_inside,
    table_exists,
    upsert,
)

INJECTION = "x'; DROP TABLE prices; --"


def test_user_values_are_parameters(kit, wh):
    before = kit.snapshot(wh)
    with wh.connect() as con:
        assert read_table(con, "prices", where={"ticker": INJECTION}).empty
        both = read_table(con, "prices", where={"ticker": [INJECTION, "SPY"]})
        assert set(both["ticker"]) == {"SPY"}
        assert table_exists(con, "prices")
    sql = "SELECT count(*) AS n FROM prices WHERE ticker = ?"
    assert query_readonly(wh.db_path, sql, [INJECTION])["n"].iloc[0] == 0
    kit.assert_unchanged(wh, before)


@pytest.mark.parametrize(
    "name", ["prices; DROP TABLE macro", 'prices" --', "PRICES", "information_schema.tables"]
)
def test_table_names_come_from_the_allow_list(kit, wh, name):
    before = kit.snapshot(wh)
    with wh.connect() as con:
        with pytest.raises(SchemaError, match="unknown warehouse table"):
            read_table(con, name)
        with pytest.raises(SchemaError, match="unknown warehouse table"):
            upsert(wh, con, name, kit.sample_prices())
    kit.assert_unchanged(wh, before)


def test_column_names_are_checked_against_the_table(kit, wh):
    before = kit.snapshot(wh)
    with wh.connect() as con:
        with pytest.raises(SchemaError, match=r"table 'prices' has no column"):
            read_table(con, "prices", where={'ticker" = ticker OR "1': "x"})
        with pytest.raises(SchemaError, match=r"table 'prices' has no column"):
            last_dates(con, "prices", 'ticker"; DROP TABLE prices; --')
        # frame-defined tables refuse column names that could break out of quotes
        with pytest.raises(SchemaError, match=r"bad column name"):
            upsert(wh, con, "features", pd.DataFrame({"date": [1], "ticker": ["a"], 'x"': [1]}))
        assert not table_exists(con, "features")
    with pytest.raises(SchemaError, match="invalid SQL identifier"):
        TableSpec("evil; DROP TABLE prices", ("date",))
    kit.assert_unchanged(wh, before)


def test_read_table_date_col_is_checked_against_the_table(kit, wh):
    with wh.connect() as con:
        with pytest.raises(SchemaError, match=r"table 'prices' has no column"):
            read_table(
                con,
                "prices",
                start="2020-01-01",
                date_col='date" IS NOT NULL; DROP TABLE prices; SELECT 1 AS "date',
            )
        assert table_exists(con, "prices")


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO prices SELECT * FROM prices LIMIT 1",
        "DELETE FROM prices",
        "UPDATE prices SET adj_close = 0",
        "DROP TABLE prices",
        "CREATE TABLE evil AS SELECT 1",
        "COPY prices TO '{out}' (HEADER)",
        "ATTACH '{out}.duckdb' AS other",
        "SELECT * FROM read_csv('{secret}')",
        "INSTALL httpfs",
        "SELECT 1; DROP TABLE prices",
        "SET enable_external_access = true",
        "SET memory_limit = '1TB'",
        "SELECT * FROM glob('/etc/*')",
    ],
)
def test_query_cli_is_read_only(kit, wh, tmp_path, capsys, sql):
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    out = tmp_path / "exfiltrated.csv"
    before = kit.snapshot(wh)
    code = cli_main(["--db", str(wh.db_path), "query", sql.format(out=out, secret=secret)])
    captured = capsys.readouterr()
    assert code == 2, captured.out
    assert captured.err.startswith("riskalloc: error: query failed:")
    assert "hunter2" not in captured.out
    assert not out.exists() and not out.with_suffix(".csv.duckdb").exists()
    kit.assert_unchanged(wh, before)
    assert not list(tmp_path.glob("exfiltrated*"))


def test_query_cli_still_reads(kit, wh, capsys):
    assert (
        cli_main(
            [
                "--db",
                str(wh.db_path),
                "query",
                "SELECT DISTINCT ticker FROM prices ORDER BY 1",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.split() == ["ticker", "GLD", "SPY", "TLT"]


@pytest.mark.parametrize("bad", ["../outside", "models/../../outside", "/etc/passwd"])
def test_config_paths_cannot_escape_the_root(tmp_path, bad):
    root = tmp_path / "wh"
    root.mkdir()
    with pytest.raises(WarehouseError, match=r"escapes the warehouse root"):
        resolve_inside(root, bad)


def test_symlink_out_of_the_root_is_refused(tmp_path):
    root, outside = tmp_path / "wh", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "models")
    with pytest.raises(WarehouseError, match=r"'models/x\.pt' escapes the warehouse root"):
        resolve_inside(root, "models/x.pt")
    assert resolve_inside(root, "parquet/prices") == (root / "parquet" / "prices").resolve()


@pytest.mark.parametrize("db_file", ["../x.duckdb", "sub/x.duckdb", "/tmp/x.duckdb"])
def test_db_file_is_a_name_not_a_path(tmp_path, db_file):
    with pytest.raises(WarehouseError, match="must be a file name"):
        Warehouse(tmp_path, db_file)
