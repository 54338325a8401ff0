"""SHAP report: mean |SHAP| tables overall and per regime, PNG/Markdown/HTML files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskalloc.errors import DataError
from riskalloc.reports.shap_report import shap_report, shap_tables

DATES = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"])


@pytest.fixture()
def shap_long() -> pd.DataFrame:
    rows = []
    for d, (a, b, e) in zip(DATES, [(-1.0, 0.5, 0.2), (3.0, -0.5, 0.4), (2.0, 1.0, -0.6)]):
        rows += [
            (d, "SPY", "risk_budget", "vix", a),
            (d, "TLT", "risk_budget", "vix", -a),
            (d, "SPY", "risk_budget", "slope", b),
            (d, "TLT", "risk_budget", "slope", -b),
            (d, "PORTFOLIO", "exposure", "vix", e),
            (d, "PORTFOLIO", "exposure", "slope", 0.0),
            (d, "PORTFOLIO", "exposure", "_base_value", 0.7),
        ]
    return pd.DataFrame(rows, columns=["date", "ticker", "target", "feature", "value"])


@pytest.fixture()
def regimes() -> pd.Series:
    return pd.Series(["stress", "calm", "stress"], index=DATES)


def test_tables_overall_and_per_regime(shap_long: pd.DataFrame, regimes: pd.Series) -> None:
    tables = shap_tables(shap_long, regimes)
    assert set(tables) == {"risk_budget", "exposure"}
    rb = tables["risk_budget"]
    assert list(rb.columns) == ["overall", "calm", "stress"]  # known regimes in calm→stress order
    assert list(rb.index) == ["vix", "slope"]  # sorted by overall importance
    assert rb.loc["vix", "overall"] == pytest.approx(2.0)  # |−1|,|3|,|2| pooled over SPY/TLT
    assert rb.loc["vix", "stress"] == pytest.approx(1.5)
    assert rb.loc["slope", "calm"] == pytest.approx(0.5)
    ex = tables["exposure"]
    assert "_base_value" not in ex.index
    assert ex.loc["vix", "overall"] == pytest.approx(0.4)
    assert ex.loc["slope"].eq(0.0).all()


def test_report_files(shap_long: pd.DataFrame, regimes: pd.Series, tmp_path: Path) -> None:
    rep = shap_report(shap_long, regimes, tmp_path)
    assert rep.files["png_risk_budget"].read_bytes()[:4] == b"\x89PNG"
    assert rep.files["png_exposure"].exists()
    md = rep.files["markdown"].read_text()
    assert "## risk_budget" in md and "| vix | 2 | 3 | 1.5 |" in md
    assert "<table" in rep.files["html"].read_text()
    assert not list(tmp_path.glob(".*.tmp"))
    agg = rep.by_regime.set_index(["regime", "target", "feature"])
    assert agg.loc[("calm", "exposure", "vix"), "mean_abs_shap"] == pytest.approx(0.4)


def test_empty_input_is_an_error(
    shap_long: pd.DataFrame, regimes: pd.Series, tmp_path: Path
) -> None:
    base_only = shap_long.loc[shap_long["feature"] == "_base_value"]
    with pytest.raises(DataError, match="no SHAP"):
        shap_report(base_only, regimes, tmp_path)
