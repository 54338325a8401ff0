"""Allocator v2: the design, its pure overlays and the walk-forward strategy."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from riskalloc.allocate.design import AllocatorDesign, load_design
from riskalloc.allocate.designed import DesignedStrategy, week_ends
from riskalloc.allocate.overlays import (
    class_budgets,
    class_trend_multipliers,
    constant_correlation_shrunk,
    ewma_variance,
    relative_exposure,
    risk_budget_weights,
    trend_multipliers,
    window_covariance,
)
from riskalloc.backtest.baselines import EqualRiskContribution
from riskalloc.errors import ConfigError

TICKERS = ["SPY", "EFA", "TLT", "IEF", "LQD", "GLD", "DBC", "VNQ", "BIL"]
DATES = pd.DatetimeIndex(["2013-06-28", "2015-08-31", "2016-02-12"])


@pytest.fixture(scope="module")
def md(sample_md):
    return sample_md.select(TICKERS).until("2016-12-31")


def test_equal_design_is_exactly_erc(md):
    """Equal budgets, sample covariance and no overlays: the same weights as the ERC baseline."""
    ours = DesignedStrategy(AllocatorDesign())
    ours.fit(md)
    erc = EqualRiskContribution()
    np.testing.assert_allclose(
        ours.weights(md, DATES).to_numpy(), erc.weights(md, DATES).to_numpy(), atol=1e-10
    )


def test_class_budgets_give_each_class_equal_risk(md):
    b = class_budgets(["equity", "equity", "bond", "bond", "bond", "gold"])
    np.testing.assert_allclose(b.sum(), 1.0)
    np.testing.assert_allclose([b[:2].sum(), b[2:5].sum(), b[5:].sum()], [1 / 3] * 3)
    np.testing.assert_allclose(class_budgets(["equity"] * 4), 0.25)  # equity-only: plain ERC


def test_layer_hits_the_budgets_on_a_real_window(md):
    r = md.returns().loc["2014":"2014", TICKERS[:-1]].to_numpy()
    cov = window_covariance(r, "blend")
    b = class_budgets([md.asset_classes[t] for t in TICKERS[:-1]])
    w = risk_budget_weights(cov, b)
    rc = w * (cov @ w)
    np.testing.assert_allclose(rc / rc.sum(), b, atol=1e-10)
    assert w.min() > 0 and abs(w.sum() - 1) < 1e-12


def _corr(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def test_constant_correlation_shrinkage_blends_towards_the_average_pair(md):
    r = md.returns().loc["2014":"2014", TICKERS[:-1]].to_numpy()
    sample = np.cov(r, rowvar=False)
    shrunk = window_covariance(r, "sample", "constant")
    _, delta = constant_correlation_shrunk(r)
    # a multi-asset window has blocks (stocks vs bonds): the data ask for little shrinkage
    assert 0.0 < delta < 0.5
    np.testing.assert_allclose(np.diag(shrunk), np.diag(sample), rtol=1e-12)  # vols kept
    rs, off = _corr(sample), ~np.eye(len(sample), dtype=bool)
    expected = (1 - delta) * rs + delta * rs[off].mean()
    np.testing.assert_allclose(_corr(shrunk)[off], expected[off], atol=1e-12)
    # one common factor with equal loadings: the target is the truth, full intensity, and
    # equal risk contributions are then inverse volatility
    rng = np.random.default_rng(0)
    x = (0.6 * rng.standard_normal((252, 1)) + 0.8 * rng.standard_normal((252, 6))) * 0.01
    x *= np.linspace(0.5, 2.0, 6)
    assert constant_correlation_shrunk(x)[1] == 1.0
    w = risk_budget_weights(window_covariance(x, "sample", "constant"), np.full(6, 1 / 6))
    inv = 1 / x.std(axis=0, ddof=1)
    np.testing.assert_allclose(w, inv / inv.sum(), rtol=1e-8)
    assert AllocatorDesign(corr_shrink="constant").key == "equal-sample-cc"


def test_ewma_variance_reacts_faster_than_the_sample(md):
    r = md.returns().loc["2007-10-01":"2008-10-31", ["SPY"]].dropna().to_numpy()
    assert ewma_variance(r)[0] > 3 * r.var()  # October 2008 dominates the EWMA, not the sample


def test_trend_moves_only_downtrending_assets_to_cash():
    up = np.full((252, 1), 0.001)
    down = np.full((252, 1), -0.001)
    flat_rf = np.full(252, 0.0001)
    m = trend_multipliers(np.hstack([up, down]), flat_rf, 252, 0.25)
    np.testing.assert_array_equal(m, [1.0, 0.25])
    np.testing.assert_array_equal(trend_multipliers(np.hstack([up, down]), flat_rf, 252, 1.0), 1)


def test_class_trend_moves_a_whole_class_on_its_aggregate_return():
    """One asset of a class falling while its class rises keeps its weight; a class whose
    equal-weight return is below cash is cut as a whole, its rising member included."""
    up, down, slow = (np.full((252, 1), x) for x in (0.002, -0.001, 0.0002))
    flat_rf = np.full(252, 0.0001)
    r = np.hstack([up, down, slow, down])
    classes = ["equity", "equity", "bonds", "bonds"]
    m = class_trend_multipliers(r, flat_rf, classes, 252, 0.0)
    np.testing.assert_array_equal(m, [1.0, 1.0, 0.0, 0.0])  # per asset it would be 1, 0, 1, 0
    np.testing.assert_array_equal(trend_multipliers(r, flat_rf, 252, 0.0), [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(class_trend_multipliers(r, flat_rf, classes, 252, 1.0), 1.0)


def test_class_trend_design_reads_the_universe_classes(md):
    design = AllocatorDesign(trend_floor=0.0, trend_scope="class")
    assert design.key == "equal-sample-clstrend252x0"
    s = DesignedStrategy(design)
    s.fit(md)
    d = s.detail(md.until("2015-12-31"))
    by_class = pd.Series({t: md.asset_classes[t] for t in d.trend.index})
    # the multiplier is one value per asset class
    assert (d.trend.groupby(by_class).nunique() == 1).all()
    assert (d.weights >= 0).all() and d.weights.sum() <= 1 + 1e-12


def test_relative_exposure_is_capped_and_falls_when_vol_rises(md):
    hist = md.returns().loc["2012":"2016", TICKERS[:-1]].dropna().to_numpy()
    calm, target = relative_exposure(0.01, hist, 1.0, 1.0)
    wild, _ = relative_exposure(0.20, hist, 1.0, 1.0)
    assert calm == 1.0 and 0 < wild < 1.0
    assert wild == pytest.approx(target / 0.20)
    assert relative_exposure(0.20, hist, 2.0, 1.0)[0] == pytest.approx(min(1.0, 2 * wild))


def test_overlays_keep_weights_long_only_and_within_one(md):
    design = AllocatorDesign(
        budgets="class_equal",
        vol_source="ewma",
        trend_floor=0.0,
        vol_target=1.0,
        rebalance_speed=0.5,
    )
    s = DesignedStrategy(design)
    s.fit(md)
    dates = pd.DatetimeIndex(week_ends(md.dates[(md.dates >= "2015-01-01")])[:30])
    w = s.weights(md, dates)
    assert (w.to_numpy() >= -1e-15).all()
    assert (w.sum(axis=1) <= 1 + 1e-12).all()
    assert (w["BIL"] == 0).all()  # cash is the uninvested part, not a risky asset
    assert w.sum(axis=1).min() < 0.9  # 2015's commodity downtrend went partly to cash


def test_a_levered_vol_target_goes_above_one_in_calm_markets_and_stays_under_its_cap(md):
    design = AllocatorDesign(vol_target=1.0, max_exposure=2.0)
    assert design.key == "equal-sample-vt1-lev2"
    s = DesignedStrategy(design)
    assert s.max_gross == 2.0 and DesignedStrategy(AllocatorDesign()).max_gross == 1.0
    s.fit(md)
    dates = pd.DatetimeIndex(week_ends(md.dates[(md.dates >= "2012-01-01")])[::8])
    sums = s.weights(md, dates).sum(axis=1)
    unlevered = DesignedStrategy(AllocatorDesign(vol_target=1.0))
    unlevered.fit(md)
    capped = unlevered.weights(md, dates).sum(axis=1)
    assert sums.max() > 1.05 and (sums <= 2.0 + 1e-12).all()
    # the same target: where the unlevered design is below its cap the two agree
    below = capped < 1.0 - 1e-9
    assert below.any()
    np.testing.assert_allclose(sums[below], capped[below], rtol=1e-9)


def test_forecast_vols_replace_the_sample_vols_of_the_layer(md):
    day = pd.Timestamp("2015-08-31")
    view = md.until(day)
    sample = DesignedStrategy(AllocatorDesign())
    base = sample.detail(view)
    assets = list(base.layer_weights.index)
    window = view.returns().loc[:, assets].tail(252)
    vols = pd.DataFrame([window.std().mul(np.sqrt(252))], index=[day])
    forecast = DesignedStrategy(AllocatorDesign(vol_source="forecast"), vol_forecast=vols)
    forecast.fit(view)
    # forecasts equal to the window's own vols give the sample design's weights
    same = forecast.detail(view).layer_weights
    np.testing.assert_allclose(same.to_numpy(), base.layer_weights.to_numpy(), atol=1e-8)
    # a doubled forecast for one asset quarters its variance share: its weight falls
    doubled = vols.copy()
    doubled[assets[0]] *= 2.0
    lower = DesignedStrategy(AllocatorDesign(vol_source="forecast"), vol_forecast=doubled)
    assert lower.detail(view).layer_weights[assets[0]] < 0.6 * base.layer_weights[assets[0]]
    # a stale forecast (older than 5 trading days) is not used: the sample vols are kept
    stale = doubled.set_axis([view.dates[-10]])
    kept = DesignedStrategy(AllocatorDesign(vol_source="forecast"), vol_forecast=stale)
    np.testing.assert_allclose(
        kept.detail(view).layer_weights.to_numpy(), base.layer_weights.to_numpy(), atol=1e-8
    )
    with pytest.raises(ConfigError, match="needs vol_forecast"):
        DesignedStrategy(AllocatorDesign(vol_source="forecast")).fit(view)


def test_the_nightly_reads_stored_forecasts_only_for_a_forecast_design(md):
    import duckdb

    from riskalloc.allocate.design_weights import design_target_weights, stored_design_forecasts
    from riskalloc.errors import DataError
    from riskalloc.forecast.production import PRODUCTION

    design = AllocatorDesign(vol_source="forecast")
    con = duckdb.connect()
    assert stored_design_forecasts(con, AllocatorDesign()) is None  # ERC reads none
    with pytest.raises(DataError, match="materialise vol_forecaster"):
        stored_design_forecasts(con, design)
    days = md.dates[(md.dates >= "2016-06-01") & (md.dates <= "2016-06-30")]
    vols = md.returns().rolling(63).std().mul(np.sqrt(252)).loc["2016-05-01":"2016-06-30"]
    long = vols.rename_axis("date").reset_index().melt("date", var_name="ticker")
    long = long.rename(columns={"value": "forecast_vol"}).dropna()
    rows = pd.concat(
        [long.assign(model=PRODUCTION.name), long.assign(model="garch", forecast_vol=9.0)]
    )
    con.register("rows", rows)
    con.execute("CREATE TABLE vol_forecasts AS SELECT * FROM rows")
    stored = stored_design_forecasts(con, design, pd.Timestamp("2016-06-15"))
    assert stored.index.max() <= pd.Timestamp("2016-06-15")
    assert float(stored.max().max()) < 9.0  # only the production forecaster's rows
    published, _ = design_target_weights(md, design, days, vol_forecast=stored)
    direct, _ = design_target_weights(md, design, days, vol_forecast=vols)
    first = published["date"] <= pd.Timestamp("2016-06-15")
    np.testing.assert_allclose(
        published.loc[first, "weight"], direct.loc[first, "weight"], atol=1e-12
    )


def test_partial_rebalance_trades_less_than_the_raw_target(md):
    dates = pd.DatetimeIndex(week_ends(md.dates[(md.dates >= "2014-01-01")])[:40])
    turn = {}
    for speed in (1.0, 0.3):
        s = DesignedStrategy(AllocatorDesign(vol_source="ewma", rebalance_speed=speed))
        s.fit(md)
        w = s.weights(md, dates)
        turn[speed] = w.diff().abs().sum(axis=1).iloc[1:].mean()
    assert turn[0.3] < 0.6 * turn[1.0]


def test_a_delisted_asset_leaves_the_smoothed_weights_the_day_it_stops(md):
    """Partial rebalancing would keep (1−κ)^j of an asset's old target after its last price;
    the weight must drop to 0 at once (to cash), and the backtest must accept the weights."""
    from dataclasses import replace

    from riskalloc.backtest.engine import simulate

    last = pd.Timestamp("2015-06-30")
    prices = md.prices.copy()
    prices.loc[prices.index > last, "DBC"] = np.nan
    gone = replace(md, prices=prices)
    s = DesignedStrategy(AllocatorDesign(vol_source="blend", rebalance_speed=0.5))
    s.fit(gone)
    dates = pd.DatetimeIndex(week_ends(gone.dates[(gone.dates >= "2015-05-01")])[:12])
    w = s.weights(gone, dates)
    before, after = w.loc[w.index <= last, "DBC"], w.loc[w.index > last, "DBC"]
    assert (before > 0).all() and (after == 0).all()
    assert (w.loc[w.index > last].sum(axis=1) <= 1 + 1e-12).all()
    res = simulate(w, gone, 10.0, "2015-05-11", "2015-07-31")  # no "no price that day" error
    assert np.isfinite(res.returns).all()


def test_no_lookahead_later_data_never_changes_a_weight(sample_md):
    """Weights on dates ≤ T are identical whether the data ends at T or years later."""
    full = sample_md.select(TICKERS)
    design = AllocatorDesign(
        vol_source="blend", trend_floor=0.5, vol_target=1.0, rebalance_speed=0.5
    )
    dates = pd.DatetimeIndex(["2015-03-31", "2015-06-30"])
    a, b = DesignedStrategy(design), DesignedStrategy(design)
    a.fit(full.until("2014-12-31"))
    b.fit(full.until("2014-12-31"))
    wa = a.weights(full.until("2015-06-30"), dates)
    wb = b.weights(full, dates)
    pd.testing.assert_frame_equal(wa, wb)


def test_learned_tilt_penalty_pulls_budgets_towards_equal(md):
    """A strong penalty keeps the learned budgets close to 1/n (the model starts from ERC)."""
    from riskalloc.allocate.train import TrainConfig

    fast = TrainConfig(epochs=2, blocks_per_epoch=16, batch=8, block=8, val_days=126, patience=2)
    spread = {}
    for pen in (0.0, 1000.0):
        s = DesignedStrategy(
            AllocatorDesign(budgets="learned_tilt", tilt_penalty=pen), train_cfg=fast
        )
        s.fit(md.until("2014-12-31"))
        assert s.trained, "the tilt model should train on 2009-2014"
        s.weights(md.until("2015-03-31"), pd.DatetimeIndex(["2015-03-31"]))
        b = s.last_budgets.to_numpy()
        spread[pen] = np.abs(np.log(b * len(b))).max()
    assert spread[1000.0] < 0.5 * spread[0.0]
    assert spread[1000.0] < 0.1


@pytest.mark.parametrize(
    "bad",
    [
        {"budgets": "bogus"},
        {"vol_source": "garch"},
        {"trend_floor": 1.5},
        {"rebalance_speed": 0.0},
        {"max_exposure": 2.0},  # leverage without a vol target
        {"max_exposure": 4.0, "vol_target": 1.0},  # beyond MAX_GROSS_EXPOSURE
        {"vol_target": -1.0},
        {"corr_window": 5},
        {"corr_shrink": "identity"},
        {"trend_scope": "sector"},
    ],
)
def test_bad_designs_are_refused_up_front(bad):
    with pytest.raises(ConfigError):
        AllocatorDesign(**bad)


def test_design_round_trips_and_refuses_unknown_keys(tmp_path):
    d = AllocatorDesign(budgets="class_equal", trend_floor=0.5, vol_target=1.0)
    assert AllocatorDesign.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    with pytest.raises(ConfigError, match="trend_flor"):
        AllocatorDesign.from_dict({"trend_flor": 0.5})
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"design": d.to_dict()}))
    assert load_design(p) == d
    assert isinstance(load_design(), AllocatorDesign)  # the committed production choice
