"""Regime report: transition and time-in-regime tables, atomic files, the warehouse frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskalloc.errors import DataError
from riskalloc.reports.regime_report import regime_report, regimes_frame
from riskalloc.warehouse.reads import read_table
from riskalloc.warehouse.store import Warehouse, upsert

PATH = ["calm", "calm", "stress", "stress", "stress", "calm", "calm", "stress"]


@pytest.fixture()
def probs() -> pd.DataFrame:
    d = pd.bdate_range("2020-01-01", periods=len(PATH))
    p_stress = np.array([0.1, 0.2, 0.8, 0.9, 0.9, 0.4, 0.3, 0.8])
    return pd.DataFrame({"calm": 1 - p_stress, "stress": p_stress}, index=d)


def test_tables_on_a_small_known_path(probs: pd.DataFrame, tmp_path: Path) -> None:
    rep = regime_report(probs, tmp_path)
    assert rep.current_regime == "stress" and rep.current_spell_days == 1
    assert rep.as_of == pd.Timestamp("2020-01-10")
    # moves: c→c, c→s, s→s, s→s, s→c, c→c, c→s
    assert rep.transition_counts.loc["calm"].tolist() == [2, 2]
    assert rep.transition_counts.loc["stress"].tolist() == [1, 2]
    assert rep.transition_counts.to_numpy().sum() == len(PATH) - 1
    assert rep.transition_probabilities.loc["stress", "stress"] == pytest.approx(2 / 3)
    assert np.allclose(rep.transition_probabilities.sum(axis=1), 1.0)
    tir = rep.time_in_regime
    assert tir.loc["calm", "days"] == 4 and tir.loc["stress", "days"] == 4
    assert tir.loc["stress", "spells"] == 2 and tir.loc["stress", "longest_spell_days"] == 3
    assert tir["share"].sum() == pytest.approx(1.0)
    assert rep.current_probabilities["stress"] == pytest.approx(0.8)


def test_unvisited_regime_gets_zero_rows(probs: pd.DataFrame, tmp_path: Path) -> None:
    p = probs.assign(normal=0.0).loc[:, ["calm", "normal", "stress"]]
    rep = regime_report(p, tmp_path)
    assert rep.transition_counts.loc["normal"].sum() == 0
    assert rep.transition_probabilities.loc["normal"].isna().all()
    assert rep.time_in_regime.loc["normal", "days"] == 0


def test_files_are_written_without_temp_leftovers(probs: pd.DataFrame, tmp_path: Path) -> None:
    vix = pd.Series(np.linspace(15, 30, len(probs)), index=probs.index, name="VIXCLS")
    rep = regime_report(probs, tmp_path / "out", vix=vix)
    assert set(rep.files) == {"png", "markdown", "html"}
    assert rep.files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = rep.files["markdown"].read_text()
    assert "dominant regime is **stress**" in md and "| calm | 2 | 2 |" in md
    assert "regimes.png" in md
    html = rep.files["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and "<table" in html
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "regime_report.html",
        "regime_report.md",
        "regimes.png",
    ]


def test_regimes_frame_round_trips_through_the_warehouse(
    probs: pd.DataFrame, tmp_path: Path
) -> None:
    frame = regimes_frame(probs)
    assert list(frame.columns) == ["date", "regime", "p_calm", "p_stress"]
    assert frame["regime"].tolist() == PATH
    wh = Warehouse(tmp_path / "wh")
    with wh.connect() as con:
        upsert(wh, con, "regimes", frame)
        back = read_table(con, "regimes")
    assert back["regime"].tolist() == PATH
    assert np.allclose(back["p_stress"], probs["stress"])


def test_rejects_rows_that_are_not_distributions(probs: pd.DataFrame, tmp_path: Path) -> None:
    bad = probs.copy()
    bad.iloc[3, 0] = 0.5
    with pytest.raises(DataError, match="2020-01-06"):
        regime_report(bad, tmp_path)
    with pytest.raises(DataError, match="NaN"):
        gap = probs.copy()
        gap.iloc[2] = float("nan")
        regimes_frame(gap)


def test_allocator_regimes_shown_beside_the_reference(probs: pd.DataFrame, tmp_path: Path) -> None:
    # the allocator only knows "stress" (its regimes are named by reference overlap) and
    # starts two days later; it agrees with the reference on the last four of six days
    alloc = pd.DataFrame({"stress": 1.0}, index=probs.index[2:])
    rep = regime_report(
        probs, tmp_path, allocator=alloc, notes=["How chosen."], tables={"Periods": probs}
    )
    assert rep.agreement == pytest.approx(4 / 6)
    assert rep.allocator_current is not None and rep.allocator_current["stress"] == 1.0
    assert rep.allocator_current["calm"] == 0.0  # missing names get probability 0
    md = rep.files["markdown"].read_text()
    assert "## The allocator's regimes" in md and "reads **stress**" in md
    assert "How chosen." in md and "## Periods" in md
    assert "allocator" in rep.files["html"].read_text().lower()
