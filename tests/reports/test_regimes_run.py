"""The regime report run: files, check periods, and the selection cache the nightly run reuses."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from riskalloc.market import MarketData
from riskalloc.reports.regimes import _fingerprint, run_regime_report


def test_run_writes_the_report_and_reuses_the_selection(tmp_path: Path) -> None:
    md = MarketData.sample()
    t0 = time.perf_counter()
    first = run_regime_report(md, tmp_path, n_init=1)
    cold = time.perf_counter() - t0
    assert {"hmm.json", "selection.md", "selection_cache.json", "regime_report.html"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert json.loads((tmp_path / "hmm.json").read_text())["inputs"] == first.model.inputs
    assert list(first.periods.index) == ["2008 Q4", "March 2020", "2017", "2022"]
    assert first.periods.loc["2008 Q4", "stress"] == 1.0
    assert "Share of days per state" in (tmp_path / "regime_report.md").read_text()
    t0 = time.perf_counter()
    again = run_regime_report(md, tmp_path, n_init=1)  # the nightly case: nothing ≤ 2016 moved
    assert time.perf_counter() - t0 < cold / 2
    pd.testing.assert_frame_equal(again.probs, first.probs)
    pd.testing.assert_frame_equal(again.selection, first.selection, check_dtype=False)
    # new days after 2016 keep the cache; any change before the training end invalidates it
    key = _fingerprint(md, "2016-12-31", 1)
    assert _fingerprint(md.until("2020-06-30"), "2016-12-31", 1) == key
    macro = md.macro.copy()
    macro.loc[macro["date"] == pd.Timestamp("2008-10-10"), "value"] += 1.0
    assert _fingerprint(replace(md, macro=macro), "2016-12-31", 1) != key
