"""The model-development protocol: development folds only, every candidate reported."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from riskalloc.allocate.design import AllocatorDesign
from riskalloc.backtest.selection import (
    SelectionConfig,
    run_selection,
    search_space,
    selection_table,
    stepm_gate,
    vol_matched_losses,
    write_selected,
)
from riskalloc.errors import ConfigError

TICKERS = ["SPY", "EFA", "TLT", "LQD", "GLD", "DBC", "BIL"]
SPACE = [
    AllocatorDesign(),
    AllocatorDesign(trend_floor=0.0),
    AllocatorDesign(vol_source="blend", vol_target=1.0, rebalance_speed=0.5),
]
CFG = SelectionConfig(dev_start="2014-01-01", rebalance="monthly")


@pytest.fixture(scope="module")
def small(sample_md):
    return sample_md.select(TICKERS)


@pytest.fixture(scope="module")
def result(small):
    return run_selection(small, SPACE, CFG)


def test_selection_never_reads_after_2016(small, result):
    """Truncating the data at 2016-12-31 gives the same rows and the same choice."""
    cut = run_selection(small.until("2016-12-31"), SPACE, CFG)
    assert cut.chosen == result.chosen
    pd.testing.assert_frame_equal(cut.rows, result.rows)
    pd.testing.assert_frame_equal(cut.daily, result.daily)
    pd.testing.assert_frame_equal(cut.summary, result.summary)
    assert cut.gate == result.gate
    assert result.daily["date"].max() <= pd.Timestamp("2016-12-31")


def test_every_candidate_is_reported_per_fold(result):
    assert set(result.rows["candidate"]) == {d.key for d in SPACE}
    assert set(result.rows["fold"]) == {2014, 2015, 2016}
    assert result.n_trials == len(SPACE)
    assert set(result.references["candidate"]) == {"erc", "inverse_vol", "equal_weight"}
    # the equal-budget design is ERC itself: identical fold Sharpe ratios
    ours = result.rows.loc[result.rows["candidate"] == "equal-sample"].set_index("fold")
    erc = result.references.loc[result.references["candidate"] == "erc"].set_index("fold")
    pd.testing.assert_series_equal(ours["sharpe"], erc["sharpe"])


def test_choice_is_the_best_eligible_score_among_those_beating_erc(small, result):
    s = result.summary
    assert (s["score"] <= s["mean_sharpe"] + 1e-12).all()  # the spread penalty only subtracts
    passed = s.loc[s["eligible"] & s["beats_reference"]]
    expected = passed.iloc[0]["candidate"] if len(passed) else AllocatorDesign().key
    assert result.chosen.key == expected == result.gate["chosen"]
    assert set(result.gate["superior"]) == set(s.loc[s["beats_reference"], "candidate"])
    assert 0.0 <= result.gate["spa_pvalue"] <= 1.0
    # only eligible candidates are tested, and equal-sample (ERC itself) is not
    tested = s.loc[s["eligible"] & (s["candidate"] != AllocatorDesign().key)]
    assert result.gate["n_tested"] == len(tested) >= 1
    # without the gate the rule is the best eligible score, as in the first two rounds
    ungated = run_selection(small, SPACE, replace(CFG, gate_alpha=None))
    eligible = ungated.summary.loc[ungated.summary["eligible"]]
    assert ungated.chosen.key == eligible.sort_values("score").iloc[-1]["candidate"]
    assert ungated.gate == {} and "beats_reference" not in ungated.summary


def _daily(cols: dict[str, np.ndarray], dates: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.concat(
        pd.DataFrame({"candidate": k, "seed": 0, "date": dates, "excess_return": v})
        for k, v in cols.items()
    )


def test_gate_finds_a_real_edge_and_not_noise():
    """A candidate with a true Sharpe edge over the reference passes StepM; one that is the
    reference plus noise, or the reference levered (same Sharpe), does not."""
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2009-01-01", periods=2000)
    ref = rng.normal(0.0002, 0.005, len(dates))
    cols = {
        "edge": ref + rng.normal(0.0006, 0.001, len(dates)),
        "noise": ref + rng.normal(0.0, 0.002, len(dates)),
        "levered": 2.0 * ref,
        "same": ref.copy(),
    }
    reference = pd.DataFrame({"date": dates, "excess_return": ref})
    bench, losses = vol_matched_losses(_daily(cols, dates), reference)
    assert set(losses.columns) == {"edge", "noise", "levered"}  # "same" is the reference
    np.testing.assert_allclose(losses["levered"], bench)  # vol-matched: leverage is no edge
    gate = stepm_gate(_daily(cols, dates), reference, list(cols), replace(CFG, gate_reps=300))
    assert gate["superior"] == ["edge"] and gate["spa_pvalue"] < 0.05
    without = stepm_gate(
        _daily({k: cols[k] for k in ("noise", "levered")}, dates),
        reference,
        ["noise", "levered"],
        replace(CFG, gate_reps=300),
    )
    assert without["superior"] == [] and without["spa_pvalue"] > 0.05


def test_a_gated_selection_needs_the_reference_design(small):
    with pytest.raises(ConfigError, match="reference design"):
        run_selection(small, SPACE[1:], CFG)


def test_written_choice_round_trips(result, tmp_path):
    from riskalloc.allocate.design import load_design

    path = write_selected(result, tmp_path / "selected.json")
    assert load_design(path) == result.chosen
    doc = json.loads(path.read_text())
    assert doc["n_trials"] == len(SPACE) and doc["selection"]["dev_end"] == "2016-12-31"
    table = selection_table(result)
    assert table["chosen"].sum() == 1


def test_the_final_exam_years_cannot_be_selected_on():
    with pytest.raises(ConfigError, match="final exam"):
        SelectionConfig(dev_end="2017-06-30")


def test_search_space_is_declared_with_unique_keys_and_seeded_learning():
    space = search_space()
    assert len({d.key for d in space}) == len(space)
    assert any(d.learned for d in space) and any(d.ensemble > 1 for d in space)
    assert len(SelectionConfig().seeds) >= 3


def test_a_second_round_reuses_the_first_rounds_rows(small, result):
    """Rows of candidates already run are taken as they are; only new candidates run, and the
    scores, the choice and the trial count are those of a run of everything."""
    first = result.rows.loc[result.rows["candidate"] != SPACE[1].key]
    first_daily = result.daily.loc[result.daily["candidate"] != SPACE[1].key]
    again = run_selection(
        small, SPACE, CFG, reuse=first.assign(kind="candidate"), reuse_daily=first_daily
    )
    pd.testing.assert_frame_equal(
        again.summary.sort_values("candidate").reset_index(drop=True),
        result.summary.sort_values("candidate").reset_index(drop=True),
    )
    assert again.chosen == result.chosen and again.n_trials == len(SPACE)
    assert again.gate == result.gate
    # a reused row is used as given: a doctored one moves its candidate's score
    doctored = result.rows.assign(sharpe=result.rows["sharpe"] + 1.0)
    moved = run_selection(small, SPACE, CFG, reuse=doctored, reuse_daily=result.daily)
    assert (moved.summary["mean_sharpe"] > result.summary["mean_sharpe"].min() + 0.9).all()


def _trailing_vols(md) -> pd.DataFrame:
    """A stand-in forecaster for the tests: the trailing 63-day vol, annualised."""
    return md.returns().rolling(63).std().mul(np.sqrt(252)).dropna(how="all")


def test_a_forecast_vol_candidate_reads_no_forecast_after_2016(small):
    from riskalloc.backtest.selection import evaluate_candidate

    design = AllocatorDesign(vol_source="forecast")
    vols = _trailing_vols(small)
    rows, daily = evaluate_candidate(small, design, 0, CFG, vol_forecast=vols)
    later = vols.index > "2016-12-31"
    scrambled = vols.copy()
    scrambled.loc[later] = scrambled.loc[later].to_numpy()[::-1] * 3.0
    again = evaluate_candidate(small, design, 0, CFG, vol_forecast=scrambled)
    pd.testing.assert_frame_equal(rows, again[0])
    pd.testing.assert_frame_equal(daily, again[1])
    # the forecasts are really used: other vols give other returns
    other = evaluate_candidate(small, design, 0, CFG, vol_forecast=vols**2 / vols.mean())
    assert not np.allclose(other[1]["excess_return"], daily["excess_return"])


def test_selection_forecasts_are_the_production_forecasters_dev_walk_forward(small):
    from riskalloc.backtest.selection import selection_forecasts

    cfg = SelectionConfig(dev_start="2016-01-01", rebalance="monthly")
    f = selection_forecasts(small, cfg)
    # from a year before the first fold (its first decision and the smoothing's look-back)
    assert f.index.min() >= pd.Timestamp("2015-01-01")
    assert f.index.max() <= pd.Timestamp("2016-12-31")
    assert set(f.columns) <= set(TICKERS) and (f.stack() > 0).all()
