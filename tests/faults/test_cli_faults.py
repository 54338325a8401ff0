"""The CLI under hostile input: one line on stderr and exit code 2, never a traceback; a
runaway query stops at its time limit or on Ctrl-C; universe files are schema-checked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from riskalloc.cli import main as cli_main
from riskalloc.errors import ConfigError
from riskalloc.universe import load_universe

pytestmark = pytest.mark.faults

SLOW_SQL = "SELECT sum(a.range * b.range) FROM range(200000) a, range(200000) b"


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli_main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, match: str) -> None:
    assert code == 2, err
    assert err.startswith("riskalloc: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert match in err, err


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["weights", "--date", "foo"], "--date: unparseable dates ['foo']"),
        (["weights", "--date", "-1"], "--date: unparseable dates ['-1']"),
        (["weights", "--date", "9" * 400], "--date: not a date ("),
        (["weights", "--date", "99999999"], "'99999999' is not a valid calendar date"),
        (["ingest", "--start", "foo"], "--start: unparseable dates ['foo']"),
        (["ingest", "--end", "2022-13-01"], "--end: '2022-13-01' is not a valid calendar date"),
        (["ingest", "--start", "2020-03-01", "--end", "2020-02-01"], "is after end 2020-02-01"),
        (["query", ""], "query failed: empty SQL"),
        (["query", "   "], "query failed: empty SQL"),
    ],
)
def test_bad_arguments_give_one_line_and_rc_2(kit, wh, capsys, args, match):
    before = kit.snapshot(wh)
    code, _out, err = run_cli(capsys, "--db", str(wh.db_path), *args)
    assert_one_line_error(code, err, match)
    kit.assert_unchanged(wh, before)


def test_binary_universe_file(wh, tmp_path, capsys):
    path = tmp_path / "u.yaml"
    path.write_bytes(bytes(range(256)) * 8)
    code, _, err = run_cli(capsys, "--db", str(wh.db_path), "ingest", "--universe", str(path))
    assert_one_line_error(code, err, "is not UTF-8 text (a binary file?)")


@pytest.mark.parametrize("command", [["query", "SELECT 1"], ["weights"], ["report"]])
def test_corrupt_duckdb_file(tmp_path, capsys, command):
    db = tmp_path / "riskalloc.duckdb"
    db.write_bytes(b"DUCK" + os.urandom(8192))
    code, out, err = run_cli(capsys, "--db", str(db), *command)
    if command == ["report"]:  # report lists what is unavailable and carries on
        assert code == 0 and "not a readable DuckDB warehouse" in out
        return
    assert_one_line_error(code, err, "is not a readable DuckDB warehouse")


def test_a_system_file_as_db_is_not_called_busy(tmp_path, capsys):
    not_db = tmp_path / "passwd"
    not_db.write_text("root:x:0:0:root:/root:/bin/bash\n")
    code, _, err = run_cli(capsys, "--db", str(not_db), "query", "SELECT 1")
    assert_one_line_error(code, err, f"{not_db} is not a readable DuckDB warehouse")
    assert "busy" not in err
    code, _, err = run_cli(capsys, "--db", str(tmp_path), "query", "SELECT 1")
    assert_one_line_error(code, err, "is not a file; give the DuckDB file with --db")


def test_runaway_query_stops_at_its_time_limit(kit, wh, capsys, monkeypatch):
    start = time.monotonic()
    code, _, err = run_cli(capsys, "--db", str(wh.db_path), "query", SLOW_SQL, "--timeout", "0.5")
    assert time.monotonic() - start < 20
    assert_one_line_error(code, err, "query stopped after 0.5 s (the time limit")
    monkeypatch.setenv("RISKALLOC_QUERY_TIMEOUT", "0.3")  # the configurable default
    code, _, err = run_cli(capsys, "--db", str(wh.db_path), "query", SLOW_SQL)
    assert_one_line_error(code, err, "query stopped after 0.3 s")
    monkeypatch.setenv("RISKALLOC_QUERY_TIMEOUT", "soon")
    code, _, err = run_cli(capsys, "--db", str(wh.db_path), "query", "SELECT 1")
    assert_one_line_error(code, err, "RISKALLOC_QUERY_TIMEOUT='soon' is not a number")


def _default_sigint() -> None:
    """Child processes inherit an ignored SIGINT; a user's terminal delivers it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_a_runaway_query(kit, wh):
    """SIGINT reaches a query that runs with bound parameters (DuckDB alone ignored it)."""
    script = textwrap.dedent(
        f"""
        import sys
        from riskalloc.cli import build_parser, main
        build_parser()  # the imports are done: the query starts right after "ready"
        print("ready", flush=True)
        sys.exit(main(["--db", {str(wh.db_path)!r}, "query", {SLOW_SQL!r}, "--timeout", "0"]))
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,  # as from a terminal, even if the test runner ignores SIGINT
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)
        assert proc.poll() is None  # still running: the query takes minutes
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - sent < 15
    assert proc.returncode == 130, err
    assert err.strip() == "riskalloc: interrupted; nothing written"


# --- universe files --------------------------------------------------------------------------

BASE = """\
name: u
assets:
  - {ticker: SPY, asset_class: equity}
  - {ticker: BIL, asset_class: cash}
series:
  - {series_id: DTB3, role: risk_free_rate}
"""


def universe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "u.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("csah: BIL\n", r"unknown keys 'csah' \(did you mean 'cash'\?\)"),
        ("riskfree_rate: DTB3\n", r"unknown keys 'riskfree_rate' \(did you mean 'risk_free_rate'"),
        ("equityproxy: SPY\n", r"did you mean 'equity_proxy'"),
    ],
)
def test_misspelled_top_level_keys_are_refused(tmp_path, extra, match):
    with pytest.raises(ConfigError, match=match):
        load_universe(universe(tmp_path, BASE + extra))


def test_misspelled_entry_keys_are_refused(tmp_path):
    text = BASE.replace("role: risk_free_rate", "rol: risk_free_rate")
    with pytest.raises(ConfigError, match=r"series entry 1: unknown keys 'rol' \(did you mean"):
        load_universe(universe(tmp_path, text))
    text = BASE.replace("asset_class: equity}", "asset_class: equity, tickr: X}")
    with pytest.raises(ConfigError, match=r"assets entry 1: unknown keys 'tickr'"):
        load_universe(universe(tmp_path, text))


def test_cash_and_risk_free_roles_survive_a_correct_file(tmp_path):
    u = load_universe(universe(tmp_path, BASE + "cash: BIL\nrisk_free_rate: DTB3\n"))
    assert (u.cash, u.risk_free_rate) == ("BIL", "DTB3")


def test_yaml_booleans_and_numbers_stay_ticker_strings(tmp_path):
    """YAML 1.1 reads NO as False, ON as True and 0700 as 448: tickers stay as written."""
    text = BASE + "  - {ticker: NO, asset_class: equity}\n  - {ticker: 0700, asset_class: equity}\n"
    text = text.replace("series:", "_series:").replace("_series:\n  - {series_id: DTB3, role: "
                                                       "risk_free_rate}\n", "")  # fmt: skip
    u = load_universe(universe(tmp_path, text.replace("  - {ticker: BIL", "  - {ticker: ON")))
    assert u.tickers == ["SPY", "ON", "NO", "0700"]


def test_null_ticker_is_refused_not_read_as_none(tmp_path):
    text = BASE.replace("ticker: SPY", "ticker: null")
    with pytest.raises(ConfigError, match=r"assets entry 1: 'ticker' is missing or null"):
        load_universe(universe(tmp_path, text))
    text = BASE.replace("ticker: SPY", "ticker: [SPY]")
    with pytest.raises(ConfigError, match=r"'ticker' must be a plain name"):
        load_universe(universe(tmp_path, text))


def test_cli_reports_a_misspelled_universe_in_one_line(wh, tmp_path, capsys):
    path = universe(tmp_path, BASE + "csah: BIL\n")
    code, _, err = run_cli(capsys, "--db", str(wh.db_path), "ingest", "--universe", str(path))
    assert_one_line_error(code, err, "unknown keys 'csah' (did you mean 'cash'?)")


def test_oversized_ticker_in_a_universe_is_refused(tmp_path):
    text = BASE.replace("ticker: SPY", "ticker: " + "S" * 20_000)
    with pytest.raises(ConfigError, match=r"\(20000 characters\) is not a ticker symbol"):
        load_universe(universe(tmp_path, text))


def test_duplicate_yaml_keys_are_refused(tmp_path):
    """YAML keeps the last of two `cash:` keys silently, like pandas' `SPY.1`."""
    with pytest.raises(ConfigError, match=r"not valid YAML: duplicate key 'cash'"):
        load_universe(universe(tmp_path, BASE + "cash: BIL\ncash: SPY\n"))
    text = BASE.replace("asset_class: equity}", "asset_class: equity, asset_class: bond}")
    with pytest.raises(ConfigError, match=r"duplicate key 'asset_class'"):
        load_universe(universe(tmp_path, text))


def test_universe_that_is_a_directory(tmp_path, wh, capsys):
    code, _, err = run_cli(capsys, "--db", str(wh.db_path), "ingest", "--universe", str(tmp_path))
    assert_one_line_error(code, err, "is a directory; give the YAML file")
