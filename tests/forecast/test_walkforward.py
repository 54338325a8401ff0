"""Walk-forward forecasts: shapes, no look-ahead across folds, determinism."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from riskalloc.errors import ConfigError
from riskalloc.features.asset import ewma_vol, log_returns
from riskalloc.forecast.targets import future_realised_vol
from riskalloc.forecast.walkforward import fold_plan, walk_forward_forecasts
from riskalloc.market import MarketData

from .conftest import TINY

START, END = "2008-01-01", "2009-06-30"
FOLD2 = pd.Timestamp("2009-01-02")


@pytest.fixture(scope="module")
def wf(small_md: MarketData) -> pd.DataFrame:
    return walk_forward_forecasts(small_md, START, END, lstm_config=TINY)


def test_shapes_and_columns(wf: pd.DataFrame, small_md: MarketData) -> None:
    assert list(wf.columns) == [
        "date",
        "ticker",
        "model",
        "forecast_vol",
        "target_vol",
        "fold",
        "model_version",
    ]
    assert set(wf["model"]) == {"lstm", "ewma", "garch", "har"}
    assert set(wf["fold"]) == {"2008", "2009"}
    assert not wf.duplicated(["date", "ticker", "model"]).any()
    assert (wf["forecast_vol"] > 0).all() and np.isfinite(wf["forecast_vol"]).all()
    assert wf["date"].between(pd.Timestamp(START), pd.Timestamp(END)).all()
    # the future is unknown for the last h days of data, known before
    last = small_md.dates[-21:]
    assert wf.loc[wf["date"].isin(last), "target_vol"].isna().all()
    assert wf.loc[wf["date"] < last[0], "target_vol"].notna().all()
    # every asset gets every model on the dates it is alive
    assert wf.groupby("model")["ticker"].nunique().eq(4).all()
    sizes = wf.groupby("model").size()
    assert sizes["lstm"] == sizes["ewma"] == sizes["har"]
    # GARCH needs a year of returns before the fold: BIL (from mid-2007) lacks it in 2008
    garch = wf.loc[wf["model"] == "garch"]
    assert not ((garch["ticker"] == "BIL") & (garch["fold"] == "2008")).any()
    assert ((garch["ticker"] == "BIL") & (garch["fold"] == "2009")).any()
    assert wf.groupby(["model", "fold"])["model_version"].nunique().eq(1).all()


def test_ewma_rows_equal_the_feature_and_targets_are_future_vol(
    wf: pd.DataFrame, small_md: MarketData
) -> None:
    r = log_returns(small_md)
    ew = ewma_vol(r).stack().rename("expected")
    tv = future_realised_vol(r, 21).stack().rename("tv")
    got = wf.loc[wf["model"] == "ewma"].set_index(["date", "ticker"])
    joined = got.join(ew).join(tv)
    np.testing.assert_allclose(joined["forecast_vol"], joined["expected"], rtol=1e-12)
    ok = joined["target_vol"].notna()
    np.testing.assert_allclose(joined.loc[ok, "target_vol"], joined.loc[ok, "tv"], rtol=1e-12)
    spy = r["SPY"]
    t = small_md.dates.get_loc(pd.Timestamp("2008-06-02"))
    hand = np.sqrt(252 / 21 * (spy.iloc[t + 1 : t + 22] ** 2).sum())
    row = got.loc[(pd.Timestamp("2008-06-02"), "SPY"), "target_vol"]
    assert row == pytest.approx(hand, rel=1e-12)


def test_fold_labels_end_before_fold_start(small_md: MarketData) -> None:
    folds = fold_plan(small_md.dates, START, END, horizon=21)
    assert [f.name for f in folds] == ["2008", "2009"]
    for f in folds:
        assert small_md.dates[f.start].year == int(f.name)
        assert f.label_end + 21 < f.start  # the label at label_end uses t+1..t+21 < start
        # every return used by the last training label is dated before the fold
        assert small_md.dates[f.label_end + 21] < small_md.dates[f.start]
    with pytest.raises(ConfigError):
        fold_plan(small_md.dates, START, END, retrain="daily")


def _perturb_after(md: MarketData, t: pd.Timestamp) -> MarketData:
    rng = np.random.default_rng(7)
    prices = md.prices.copy()
    after = prices.index >= t
    prices.loc[after] = prices.loc[after] * rng.uniform(0.7, 1.3, size=prices.loc[after].shape)
    macro = md.macro.copy()
    late = macro["available_at"] >= t
    macro.loc[late, "value"] = macro.loc[late, "value"] * 2.0 + 1.0
    return replace(md, prices=prices, macro=macro)


def test_no_lookahead_across_folds(wf: pd.DataFrame, small_md: MarketData) -> None:
    """Scrambling data from the second fold on leaves every first-fold forecast unchanged."""
    other = walk_forward_forecasts(_perturb_after(small_md, FOLD2), START, END, lstm_config=TINY)
    key = ["model", "date", "ticker"]
    a = wf.loc[wf["date"] < FOLD2].set_index(key).sort_index()
    b = other.loc[other["date"] < FOLD2].set_index(key).sort_index()
    pd.testing.assert_series_equal(a["forecast_vol"], b["forecast_vol"])
    assert (a["model_version"] == b["model_version"]).all()
    # targets before FOLD2 - h do not use the scrambled days; later ones do
    cut = small_md.dates[small_md.dates.get_loc(FOLD2) - 21]
    early = a.index.get_level_values("date") < cut
    pd.testing.assert_series_equal(a.loc[early, "target_vol"], b.loc[early, "target_vol"])
    # the second fold did see the change (so the test can fail)
    a2 = wf.loc[wf["date"] >= FOLD2].set_index(key).sort_index()["forecast_vol"]
    b2 = other.loc[other["date"] >= FOLD2].set_index(key).sort_index()["forecast_vol"]
    assert not np.allclose(a2.to_numpy(), b2.to_numpy())


def test_same_seed_same_forecasts(wf: pd.DataFrame, small_md: MarketData) -> None:
    again = walk_forward_forecasts(small_md, START, END, models=("lstm",), lstm_config=TINY)
    first = wf.loc[wf["model"] == "lstm"].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, again.reset_index(drop=True))
    other_seed = walk_forward_forecasts(
        small_md, START, END, models=("lstm",), lstm_config=TINY, seed=1
    )
    assert not np.allclose(first["forecast_vol"], other_seed["forecast_vol"])


def test_unknown_model_is_rejected(small_md: MarketData) -> None:
    with pytest.raises(ConfigError, match="unknown forecast models"):
        walk_forward_forecasts(small_md, START, END, models=("prophet",))


def test_two_workers_give_the_serial_rows_and_callbacks_in_fold_order(
    wf: pd.DataFrame, small_md: MarketData
) -> None:
    """Folds on two worker processes: the same rows bit for bit, models seen in fold order."""
    seen: list[str] = []
    par = walk_forward_forecasts(
        small_md,
        START,
        END,
        lstm_config=TINY,
        n_jobs=2,
        on_fold_model=lambda fold, trained: seen.append(fold.name),
    )
    pd.testing.assert_frame_equal(par, wf)
    assert seen == ["2008", "2009"]
    with pytest.raises(ConfigError, match="n_jobs"):
        walk_forward_forecasts(small_md, START, END, lstm_config=TINY, n_jobs=0)
