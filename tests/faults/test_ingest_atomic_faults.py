"""An ingest is all-or-nothing: prices and macro are both validated before anything is
written and committed in one transaction, through the library and through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskalloc.cli import main as cli_main
from riskalloc.errors import DataError, SchemaError
from riskalloc.sources import FileSource
from riskalloc.sources.sample import SampleSource
from riskalloc.universe import Series, Universe
from riskalloc.warehouse.ingest import ingest

pytestmark = pytest.mark.faults

UNIVERSE_YAML = """\
name: atomic
assets:
  - {ticker: SPY, asset_class: equity}
  - {ticker: TLT, asset_class: bond}
  - {ticker: GLD, asset_class: commodity}
series:
  - {series_id: VIXCLS, role: volatility_expectation}
  - {series_id: DGS10, role: other}
"""


def run_both(kit, universe=None, prices=None, macro=None):
    """A library ingest of March 2020 prices and macro (sample sources by default)."""

    def run(wh):
        with wh.connect() as con:
            return ingest(
                wh,
                con,
                universe or kit.UNIVERSE,
                prices or SampleSource(),
                macro or SampleSource(),
                "2020-03-02",
                "2020-03-31",
            )

    return run


def test_series_the_source_lacks_writes_no_prices(kit, wh, tmp_path):
    """The probe's case: the universe names a series the source lacks."""
    typo = Universe("typo", kit.UNIVERSE.assets, (Series("VIXCLSX", "volatility_expectation"),))
    before = kit.snapshot(wh)
    with pytest.raises(DataError, match=r"sample series: unknown \['VIXCLSX'\]"):
        run_both(kit, universe=typo)(wh)
    kit.assert_unchanged(wh, before)  # prices were valid, and are not written either
    kit.assert_same_as_clean(wh, run_both(kit), tmp_path / "clean")


def test_cli_series_the_source_lacks_writes_nothing(kit, wh, tmp_path, capsys):
    universe = tmp_path / "u.yaml"
    universe.write_text(UNIVERSE_YAML.replace("DGS10", "NOSUCHSERIES"))
    before = kit.snapshot(wh)
    args = ["--db", str(wh.db_path), "ingest", "--universe", str(universe), "--end", "2020-03-31"]
    assert cli_main(args) == 2
    out, err = capsys.readouterr()
    assert "inserted=" not in out  # nothing claimed as written
    assert err.startswith("riskalloc: error: sample series: unknown ['NOSUCHSERIES']")
    kit.assert_unchanged(wh, before)


def test_valid_prices_with_a_malformed_macro_file(kit, wh, tmp_path, capsys):
    prices = tmp_path / "prices.csv"
    kit.sample_wide().to_csv(prices, date_format="%Y-%m-%d")
    macro = tmp_path / "macro.csv"
    macro.write_text('date,VIXCLS,DGS10\n2020-03-02,"33.4,1.1\n2020-03-03,36.8,1.0\n')
    before = kit.snapshot(wh)
    src = (FileSource(prices_path=prices), FileSource(macro_path=macro))
    with pytest.raises(SchemaError, match=r"macro.csv: cannot be read"):
        run_both(kit, prices=src[0], macro=src[1])(wh)
    kit.assert_unchanged(wh, before)
    args = ["--db", str(wh.db_path), "ingest", "--source", "files"]
    args += ["--prices", str(prices), "--macro", str(macro), "--universe", str(_yaml(tmp_path))]
    assert cli_main(args) == 2
    assert "macro.csv: cannot be read" in capsys.readouterr().err
    kit.assert_unchanged(wh, before)


def test_interrupt_between_the_two_tables_writes_nothing(kit, wh, tmp_path):
    before = kit.snapshot(wh)

    def interrupt(_fetched):
        raise KeyboardInterrupt  # both validated, nothing written yet

    with pytest.raises(KeyboardInterrupt), wh.connect() as con:
        ingest(wh, con, kit.UNIVERSE, SampleSource(), SampleSource(), None, "2020-03-31",
               on_fetched=interrupt)  # fmt: skip
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, run_both(kit), tmp_path / "clean")


def test_failure_writing_the_second_table_rolls_back_the_first(kit, wh, tmp_path, monkeypatch):
    """Staging macro's Parquet fails (disk full) after prices' rows went in: both roll back."""
    from riskalloc.warehouse import mirror as pq_mod

    real = pq_mod.stage_table

    def full(data, final):
        if "macro" in str(final):
            raise OSError(28, "No space left on device")
        return real(data, final)

    before = kit.snapshot(wh)
    monkeypatch.setattr(pq_mod, "stage_table", full)
    with pytest.raises(OSError, match="No space left"):
        run_both(kit)(wh)
    monkeypatch.undo()
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, run_both(kit), tmp_path / "clean")


def test_cli_files_source_with_prices_and_macro_paths(kit, wh, tmp_path, capsys):
    """`ingest --source files --prices P --macro M` works (the README's example) and says
    what it committed."""
    prices, macro = tmp_path / "prices.csv", tmp_path / "macro.csv"
    kit.sample_wide().to_csv(prices, date_format="%Y-%m-%d")
    rows = SampleSource().fetch_macro(["VIXCLS", "DGS10"], "2020-03-02", "2020-03-31")
    rows.pivot(index="date", columns="series_id", values="value").to_csv(
        macro, date_format="%Y-%m-%d"
    )
    args = ["--db", str(wh.db_path), "ingest", "--source", "files", "--universe"]
    args += [str(_yaml(tmp_path)), "--prices", str(prices), "--macro", str(macro)]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "prices: inserted=" in out and "macro: inserted=" in out
    assert "committed prices and macro in one transaction" in out
    assert cli_main(["--db", str(wh.db_path), "ingest", "--source", "files"]) == 2
    assert "needs --prices FILE and/or --macro FILE" in capsys.readouterr().err
    assert cli_main(["--db", str(wh.db_path), "ingest", "--prices", str(prices)]) == 2
    assert "--prices/--macro are for --source files" in capsys.readouterr().err


def _yaml(tmp_path: Path) -> Path:
    path = tmp_path / "universe.yaml"
    path.write_text(UNIVERSE_YAML)
    return path
