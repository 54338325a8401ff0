"""The Dagster layer adds no writes on failure: a failed blocking check stops everything
downstream, and the `target_weights` asset handed weights that break a constraint fails
naming the ticker and date and publishes nothing. Re-runs after the fix equal clean runs.
"""

from __future__ import annotations

import types

import dagster as dg
import pandas as pd
import pytest

import pipelines.assets.allocate as allocate_assets
from pipelines import checks
from pipelines.assets import ingest
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.allocate.design import AllocatorDesign

pytestmark = pytest.mark.faults

DAY = "2020-03-10"


def weights(day: str = DAY, tlt: float = 0.3) -> pd.DataFrame:
    """Rows as `target_weights_for` returns them: SPY/TLT, equal budgets, exposure 0.6."""
    return pd.DataFrame(
        {
            "date": pd.Timestamp(day),
            "ticker": ["SPY", "TLT"],
            "weight": [0.3, tlt],
            "risk_budget": [0.5, 0.5],
            "risk_contribution": [0.5, 0.5],
            "exposure": 0.6,
            "regime": "calm",
            "model_version": "allocator-faults",
            "asset_class": ["equity", "bond"],
            "target_vol": 0.1,
        }
    )


@pytest.fixture()
def stubbed(monkeypatch):
    """Stub the model inputs; ``frames[day]`` is what the allocator 'produces' for a day."""
    frames: dict[str, pd.DataFrame] = {}
    md = types.SimpleNamespace(asset_classes={"SPY": "equity", "TLT": "bond"})
    monkeypatch.setattr(allocate_assets, "load_market_data", lambda *a, **k: md)
    monkeypatch.setattr(allocate_assets, "load_design", lambda *a, **k: AllocatorDesign())
    monkeypatch.setattr(allocate_assets, "read_table", lambda *a, **k: pd.DataFrame())
    # no reference behind the stub: each day keeps the regime the frame carries
    monkeypatch.setattr(allocate_assets, "reference_for_naming", lambda *a, **k: None)
    monkeypatch.setattr(
        allocate_assets,
        "reference_regime_labels",
        lambda dates, ref: {pd.Timestamp(d): "calm" for d in dates},
    )
    no_shap = pd.DataFrame(columns=["date", "ticker", "target", "feature", "value"])
    monkeypatch.setattr(allocate_assets, "explain_design_weights", lambda *a, **k: no_shap)
    monkeypatch.setattr(
        allocate_assets,
        "design_target_weights",
        lambda md, design, days, **kw: (pd.concat([frames[str(d.date())] for d in days]), []),
    )
    return frames


def run_partition(wh, day: str) -> dg.ExecuteInJobResult:
    resources = {
        "warehouse": WarehouseResource(database=str(wh.db_path)),
        "source": SourceResource(source="sample"),
    }
    return dg.materialize(
        [allocate_assets.target_weights],
        partition_key=day,
        resources=resources,
        raise_on_error=False,
    )


def test_target_weights_breaking_a_constraint_are_not_published(kit, wh, tmp_path, stubbed):
    stubbed["2020-03-09"] = weights("2020-03-09")
    assert run_partition(wh, "2020-03-09").success  # yesterday's weights are live
    before = kit.snapshot(wh)

    stubbed[DAY] = weights(tlt=-0.1)
    result = run_partition(wh, DAY)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "PublishError: negative weight -0.1 for TLT on 2020-03-10" in (
        failure.step_failure_data.error.to_string()
    )
    assert not result.asset_materializations_for_node("target_weights")
    kit.assert_unchanged(wh, before)

    stubbed[DAY] = weights()  # fixed

    def rerun(w):
        for day in ("2020-03-09", DAY):
            assert run_partition(w, day).success

    kit.assert_same_as_clean(wh, rerun, tmp_path / "clean")


PRICE_CHECKS = [checks.prices_checks]
UNIVERSE_YAML = """\
name: faults
assets:
  - {ticker: SPY, asset_class: equity}
  - {ticker: TLT, asset_class: bond}
  - {ticker: GLD, asset_class: commodity}
"""


def test_failed_blocking_check_stops_downstream(kit, tmp_path):
    """SPY's (long) file lacks the rows of 2020-02-03..14 (9 sessions): `prices_no_gaps`
    fails naming SPY and the gap, and the downstream asset does not run. The fixed file
    needs a full re-run (the gap is older than the incremental overlap); then downstream
    runs. (Empty cells in a wide file are refused at ingest, see test_file_faults.)"""
    universe = tmp_path / "universe.yaml"
    universe.write_text(UNIVERSE_YAML)
    path = tmp_path / "prices.csv"
    wide = kit.sample_wide(start="2020-01-02", end="2020-03-31")
    long = kit.sample_prices(start="2020-01-02", end="2020-03-31")[["date", "ticker", "adj_close"]]
    hole = (long["ticker"] == "SPY") & long["date"].between("2020-02-03", "2020-02-13")
    long[~hole].to_csv(path, index=False, date_format="%Y-%m-%d")
    ran: list[str] = []

    @dg.asset(deps=["prices"])
    def downstream() -> None:
        ran.append("downstream")

    def run(root, incremental: bool) -> dg.ExecuteInJobResult:
        config = {"start": "2020-01-02", "incremental": incremental}
        return dg.materialize(
            [ingest.prices, *PRICE_CHECKS, downstream],
            resources={
                "warehouse": WarehouseResource(database=str(root / "riskalloc.duckdb")),
                "source": SourceResource(
                    source="files", prices_path=str(path), universe_file=str(universe)
                ),
            },
            run_config={"ops": {"prices": {"config": config}}},
            raise_on_error=False,
        )

    result = run(tmp_path / "wh", incremental=True)
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    gap = evals["prices_no_gaps"]
    assert not gap.passed
    assert gap.metadata["message"].value == "1 gaps over 5 sessions in ['SPY']"
    assert "| SPY      | 2020-01-31 | 2020-02-14 |                  9 |" in (
        gap.metadata["rows"].value
    )
    assert ran == [] and not result.asset_materializations_for_node("downstream")
    assert all(e.passed for n, e in evals.items() if n != "prices_no_gaps")

    wide.to_csv(path, date_format="%Y-%m-%d")  # fixed
    again = run(tmp_path / "wh", incremental=True)  # 5-day overlap: the hole stays
    assert [
        e.passed for e in again.get_asset_check_evaluations() if e.check_name == gap.check_name
    ] == [False]
    assert ran == []
    assert run(tmp_path / "wh", incremental=False).success and ran == ["downstream"]
    assert run(tmp_path / "clean", incremental=False).success
    kit.assert_same_contents(kit.Warehouse(tmp_path / "wh"), kit.Warehouse(tmp_path / "clean"))
