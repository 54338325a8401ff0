"""The FRED API key, set in the environment, never shows up after a `source=fred` ingest:
not in logs, stdout/stderr, Dagster events and storage, warehouse tables, Parquet files or
exception messages and tracebacks, also when FRED echoes the key back in an error."""

from __future__ import annotations

import functools
import logging
import traceback
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pipelines.assets import ingest
from pipelines.checks import INGEST_CHECKS
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc import sources
from riskalloc.errors import DownloadError
from riskalloc.sources import FredSource
from riskalloc.warehouse import TABLES, Warehouse, read_table, table_exists

FAKE_KEY = "fakefredkey0000recognisable00042"  # 32 lower-case alphanumerics, like a real key

UNIVERSE_YAML = """\
name: secrecy
assets:
  - {ticker: SPY, asset_class: equity}
  - {ticker: TLT, asset_class: bond}
series:
  - {series_id: VIXCLS, role: volatility_expectation}
  - {series_id: DGS10, role: other}
"""


@pytest.fixture()
def fred(kit, monkeypatch):
    """A loopback FRED accepting FAKE_KEY, wired in as the `fred` source; key in the env."""
    monkeypatch.setenv("FRED_API_KEY", FAKE_KEY)
    with kit.FakeFred(key=FAKE_KEY) as server:
        loopback = functools.partial(
            FredSource, root_url=server.url, timeout=2.0, max_retries=1, sleep=lambda _s: None
        )
        monkeypatch.setitem(sources.SOURCES, "fred", loopback)
        yield server


def dagster_instance(tmp_path: Path):
    """A Dagster instance whose run, event and compute-log storage is on disk under tmp_path."""
    home = tmp_path / "dagster"
    home.mkdir()
    return dg.instance_for_test(temp_dir=str(home))


def files_holding(root: Path, secret: str) -> list[str]:
    """Files under ``root`` whose bytes contain ``secret``."""
    needle = secret.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def materialize_fred(
    tmp_path: Path, instance: dg.DagsterInstance, checks: bool = False
) -> dg.ExecuteInJobResult:
    universe = tmp_path / "universe.yaml"
    universe.write_text(UNIVERSE_YAML)
    resources = {
        "warehouse": WarehouseResource(database=str(tmp_path / "wh" / "riskalloc.duckdb")),
        "source": SourceResource(
            source="fred",
            universe_file=str(universe),
            fred_api_key=dg.EnvVar("FRED_API_KEY"),
        ),
    }
    window = {"start": "2020-01-01", "end": "2020-03-17", "incremental": False}
    return dg.materialize(
        [ingest.prices, ingest.macro, *(INGEST_CHECKS if checks else [])],
        resources=resources,
        run_config={"ops": {"prices": {"config": window}, "macro": {"config": window}}},
        instance=instance,
        raise_on_error=False,
    )


def assert_no_key(tmp_path: Path, result, caplog, capfd) -> None:
    for event in result.all_events:
        assert FAKE_KEY not in repr(event), event.event_type_value
    assert FAKE_KEY not in caplog.text
    out, err = capfd.readouterr()
    assert FAKE_KEY not in out and FAKE_KEY not in err
    # warehouse (DuckDB file, Parquet mirror) and Dagster's on-disk storage and logs
    assert files_holding(tmp_path, FAKE_KEY) == []
    # cell by cell too (the files above may be compressed)
    wh = Warehouse(tmp_path / "wh")
    with wh.connect(read_only=True) as con:
        for name in TABLES:
            if table_exists(con, name):
                assert FAKE_KEY not in read_table(con, name).to_csv(), name
    for f in wh.parquet_dir.rglob("*.parquet"):
        assert FAKE_KEY not in pd.read_parquet(f).to_csv(), f


def test_key_absent_after_a_successful_fred_ingest(fred, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    with dagster_instance(tmp_path) as instance:
        result = materialize_fred(tmp_path, instance, checks=True)
        assert result.success
        assert fred.requests and all(r["api_key"] == FAKE_KEY for r in fred.requests)
        macro = result.asset_materializations_for_node("macro")[0].metadata
        assert macro["source"].value == "fred"
        assert macro["rows_inserted"].value == 10  # 7 + 5 observations less two '.' markers
        assert_no_key(tmp_path, result, caplog, capfd)
        for record in instance.get_records_for_run(result.run_id).records:
            assert FAKE_KEY not in repr(record.event_log_entry)
    assert files_holding(tmp_path, FAKE_KEY) == []


def test_key_absent_when_fred_echoes_it_in_an_error(fred, tmp_path, caplog, capfd):
    """FRED answers 400 quoting the key: the run fails naming the series, key scrubbed."""
    caplog.set_level(logging.DEBUG)
    fred.fail("echo_key", times=2)
    with dagster_instance(tmp_path) as instance:
        result = materialize_fred(tmp_path, instance)
        assert not result.success
        failures = [e for e in result.all_events if e.is_step_failure]
        assert [e.step_key for e in failures] == ["macro"]
        message = failures[0].step_failure_data.error.to_string()  # with the cause chain
        assert "series 'VIXCLS'" in message and "api_key *** rejected" in message
        assert_no_key(tmp_path, result, caplog, capfd)
        with Warehouse(tmp_path / "wh").connect(read_only=True) as con:
            assert not table_exists(con, "macro")  # the failed step stored nothing
    assert files_holding(tmp_path, FAKE_KEY) == []


def test_key_absent_from_exception_and_traceback(fred, caplog):
    caplog.set_level(logging.DEBUG)
    fred.fail("echo_key", times=1)
    with pytest.raises(DownloadError) as info:
        sources.make_source("fred").fetch_macro(["DGS10"], "2020-01-01", "2020-03-17")
    text = "".join(traceback.format_exception(info.value))
    assert "series 'DGS10'" in text and "api_key *** rejected" in text
    assert FAKE_KEY not in text and FAKE_KEY not in repr(info.value.args)
    assert FAKE_KEY not in caplog.text
    fred.fail("500", times=1)  # a retried failure is logged: scrubbed there too
    sources.make_source("fred").fetch_macro(["DGS10"], "2020-01-01", "2020-03-17")
    assert "fred DGS10 failed (attempt 1 of 2)" in caplog.text
    assert FAKE_KEY not in caplog.text
    assert FAKE_KEY not in repr(sources.make_source("fred", api_key=FAKE_KEY))
