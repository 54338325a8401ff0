"""Forecaster v2: GARCH path, v2 inputs, losses and epochs, combination, selection protocol."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from riskalloc.errors import ConfigError, ModelError
from riskalloc.features.asset import ewma_vol, log_returns
from riskalloc.forecast.baselines import garch_fit, garch_forecast, garch_path
from riskalloc.forecast.combine import combine_walk_forward, fit_weights
from riskalloc.forecast.lstm import LSTMConfig, predict_lstm, train_lstm
from riskalloc.forecast.panel import V2_FEATURES, attach_garch, build_panel
from riskalloc.forecast.production import PRODUCTION, forecast_eval_frame, period_label
from riskalloc.forecast.selection import (
    CANDIDATES,
    Candidate,
    candidate_forecasts,
    gated_choice,
    select_forecaster,
)
from riskalloc.forecast.walkforward import fold_plan, garch_params, garch_paths
from riskalloc.market import MarketData

from .conftest import TINY

TINY_V2 = replace(
    TINY,
    features="v2",
    base="garch",
    loss="qlike",
    lr_schedule="cosine",
    max_epochs=4,
    patience=4,
    clip_z=8.0,
)
SMALL = (
    Candidate("ewma", "baseline"),
    Candidate("garch", "baseline"),
    Candidate("har", "baseline"),
    Candidate("net", "network", net=TINY_V2),
    Candidate("net_ln", "network", net=replace(TINY_V2, loss="logmse", bias_correct=True)),
    Candidate("combo", "combination", members=("net", "har", "garch")),
    Candidate("combo_cls", "combination", members=("har", "garch"), by="asset_class"),
)


@pytest.fixture(scope="module")
def v2_panel(small_md: MarketData):
    """A v2 panel with the 2009 fold's GARCH forecasts attached (GARCH as the base)."""
    panel = build_panel(small_md, 21, "v2")
    fold = fold_plan(panel.dates, "2009-01-01", "2009-06-30")[0]
    lr = log_returns(small_md)
    params = garch_params(panel.tickers, lr, panel.dates[fold.start])
    g = garch_paths(panel.dates, panel.tickers, lr, params, 21)
    return attach_garch(panel, g, as_base=True), g, fold


def test_garch_path_equals_arch_forecast_on_real_returns(small_md: MarketData) -> None:
    r = log_returns(small_md)["TLT"].dropna()
    params = garch_fit(r.loc[:"2007-12-31"])
    path = garch_path(r, params, 21)
    ref = garch_forecast(r, params, r.index[300], 21)
    np.testing.assert_allclose(path.loc[ref.index].to_numpy(), ref.to_numpy(), rtol=1e-10)
    # the value at t does not move when later returns are dropped
    short = garch_path(r.loc[:"2008-06-30"], params, 21)
    np.testing.assert_allclose(short.to_numpy(), path.loc[short.index].to_numpy(), rtol=1e-12)


def test_config_options_are_validated_up_front() -> None:
    with pytest.raises(ConfigError, match="loss"):
        LSTMConfig(loss="mse")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="garch"):
        LSTMConfig(base="garch")  # the GARCH base needs the v2 inputs
    with pytest.raises(ConfigError, match="lr_schedule"):
        LSTMConfig(lr_schedule="step")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="feature set"):
        build_panel(MarketData.sample().select(["SPY"]), 21, "v3")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="members"):
        Candidate("c", "combination", members=("har",))


def test_v2_panel_inputs(v2_panel, small_md: MarketData) -> None:
    panel, g, _ = v2_panel
    assert panel.feature_names[11 : 11 + len(V2_FEATURES)] == list(V2_FEATURES)
    j = panel.feature_names.index("garch_vol")
    spy = panel.tickers.index("SPY")
    t = panel.dates.get_loc(pd.Timestamp("2008-10-10"))
    assert panel.x[spy, t, j] == pytest.approx(np.log(g[spy, t]), rel=1e-5)
    assert panel.base[spy, t] == pytest.approx(np.log(g[spy, t]))
    r = log_returns(small_md)["SPY"]
    k = panel.feature_names.index("abs_ret")
    assert panel.x[spy, t, k] == pytest.approx(np.sqrt(252) * abs(r.loc["2008-10-10"]), rel=1e-5)
    # BIL (from mid-2007) has no GARCH fit before 2008: its EWMA vol stands in
    lr = log_returns(small_md)
    params = garch_params(panel.tickers, lr, pd.Timestamp("2008-01-02"))
    assert "BIL" not in params and "SPY" in params
    g08 = garch_paths(panel.dates, panel.tickers, lr, params, 21)
    p08 = attach_garch(build_panel(small_md, 21, "v2"), g08, as_base=False)
    bil = panel.tickers.index("BIL")
    ew = np.log(ewma_vol(lr)["BIL"].loc["2008-10-10"])
    assert p08.x[bil, t, j] == pytest.approx(ew, rel=1e-5)
    assert p08.base[spy, t] == pytest.approx(np.log(ewma_vol(lr)["SPY"].loc["2008-10-10"]))


def test_v2_training_epochs_schedule_and_validation_after_labels(v2_panel) -> None:
    panel, _, fold = v2_panel
    tr = train_lstm(panel, fold.label_end, TINY_V2)
    m = tr.meta
    assert 1 <= m["kept_epoch"] <= m["epochs_run"] <= TINY_V2.max_epochs
    val = [h["val_loss"] for h in tr.history]
    assert val[m["kept_epoch"] - 1] == min(val)
    lrs = [h["lr"] for h in tr.history]
    assert lrs[0] == pytest.approx(TINY_V2.lr) and all(a > b for a, b in itertools.pairwise(lrs))
    # the last training label's 21-day window ends before the first validation date
    t_lab = panel.dates.get_loc(pd.Timestamp(m["train_label_end"]))
    assert t_lab + 21 < panel.dates.get_loc(pd.Timestamp(m["val_start"]))
    assert m["log_bias"] == 0.0


def test_lognormal_bias_is_the_training_residual_variance(v2_panel) -> None:
    panel, _, fold = v2_panel
    cfg = replace(TINY_V2, loss="logmse", val_metric="logmse", bias_correct=True)
    tr = train_lstm(panel, fold.label_end, cfg)
    bias = tr.meta["log_bias"]
    assert 0.0 < bias < 1.0
    lo, hi = fold.start, fold.start + 20
    with_bias = predict_lstm(tr, panel, lo, hi)
    tr.meta["log_bias"] = 0.0
    without = predict_lstm(tr, panel, lo, hi)
    ok = np.isfinite(without)
    assert ok.any()
    # the mean-variance forecast is the median one scaled up by exp(s²)
    np.testing.assert_allclose(with_bias[ok] / without[ok], np.exp(bias), rtol=1e-6)


def test_fit_weights_finds_the_informative_member() -> None:
    rng = np.random.default_rng(0)
    y = np.exp(rng.normal(np.log(0.15), 0.4, 2000))
    good = y * np.exp(rng.normal(0, 0.05, 2000))
    noise = np.exp(rng.normal(np.log(0.15), 0.4, 2000))
    w = fit_weights(np.column_stack([noise, good]), y)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    assert w[1] > 0.9


def test_combination_weights_use_only_the_validation_year(small_md: MarketData) -> None:
    fc, _ = candidate_forecasts(small_md, "2009-01-01", "2009-06-30", SMALL[:3])
    warm, _ = candidate_forecasts(small_md, "2008-01-01", "2009-06-30", SMALL[:3])
    folds = fold_plan(small_md.dates, "2009-01-01", "2009-06-30")
    base, info = combine_walk_forward(
        warm, "c", ("har", "garch"), folds, small_md.dates, small_md.asset_classes
    )
    # scrambling forecasts inside the fold (and after its validation year) leaves the weights
    late = warm["date"] > small_md.dates[folds[0].label_end]
    shaken = warm.copy()
    shaken.loc[late, "forecast_vol"] *= 1.5
    _, info2 = combine_walk_forward(
        shaken, "c", ("har", "garch"), folds, small_md.dates, small_md.asset_classes
    )
    assert info[0]["weights"] == info2[0]["weights"]
    assert len(fc) > 0 and (base["forecast_vol"] > 0).all()
    w = np.array(info[0]["weights"]["all"])
    wide = warm.loc[warm["date"] >= "2009-01-01"].pivot_table(
        index=["date", "ticker"], columns="model", values="forecast_vol"
    )
    got = base.set_index(["date", "ticker"])["forecast_vol"]
    both = wide[["har", "garch"]].dropna()
    expect = np.sqrt((both.to_numpy() ** 2) @ w)
    np.testing.assert_allclose(got.loc[both.index].to_numpy(), expect, rtol=1e-10)


def test_combination_window_and_shrink(small_md: MarketData) -> None:
    """Expanding weights fit on every year before the fold (a change in the year before the
    validation year moves them, not the one-year fit); shrink mixes the fit with equal weights,
    shrink 1 is equal weights; bad options are refused up front."""
    warm, _ = candidate_forecasts(small_md, "2007-01-01", "2009-06-30", SMALL[:3])
    folds = fold_plan(small_md.dates, "2009-01-01", "2009-06-30")
    args = (("har", "garch"), folds, small_md.dates, small_md.asset_classes)
    val_lo = small_md.dates[folds[0].label_end - 251]
    early = warm["date"] < val_lo
    shaken = warm.copy()
    shaken.loc[early & (shaken["model"] == "har"), "forecast_vol"] *= 2.0
    w = {}
    for label, frame in (("base", warm), ("shaken", shaken)):
        for window in ("year", "expanding"):
            _, info = combine_walk_forward(frame, "c", *args, window=window)
            w[label, window] = np.array(info[0]["weights"]["all"])
    np.testing.assert_allclose(w["base", "year"], w["shaken", "year"])
    assert not np.allclose(w["base", "expanding"], w["shaken", "expanding"])
    _, half = combine_walk_forward(warm, "c", *args, shrink=0.5)
    np.testing.assert_allclose(half[0]["weights"]["all"], 0.5 * w["base", "year"] + 0.25, atol=1e-6)
    _, equal = combine_walk_forward(warm, "c", *args, by="asset_class", shrink=1.0)
    assert equal[0]["weights"] == {"all": [0.5, 0.5]}
    with pytest.raises(ConfigError, match="window"):
        combine_walk_forward(warm, "c", *args, window="monthly")
    with pytest.raises(ConfigError, match="shrink"):
        Candidate("x", "combination", members=("har", "garch"), shrink=1.5)


def _perturb_after(md: MarketData, t: str) -> MarketData:
    rng = np.random.default_rng(11)
    prices = md.prices.copy()
    after = prices.index > pd.Timestamp(t)
    prices.loc[after] = prices.loc[after] * rng.uniform(0.6, 1.4, size=prices.loc[after].shape)
    macro = md.macro.copy()
    macro.loc[macro["available_at"] > pd.Timestamp(t), "value"] *= 3.0
    return replace(md, prices=prices, macro=macro)


def test_selection_cannot_read_after_dev_end(small_md: MarketData) -> None:
    """The choice (and every score) is the same with the data cut at dev_end or scrambled after."""
    args = {"candidates": SMALL, "dev_start": "2008-01-01", "dev_end": "2008-12-31"}
    a, fc, _ = select_forecaster(small_md, **args)
    b, _, _ = select_forecaster(small_md.until("2008-12-31"), **args)
    c, _, _ = select_forecaster(_perturb_after(small_md, "2008-12-31"), **args)
    drop = ["train_s_per_fold"]
    pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop))
    pd.testing.assert_frame_equal(a.drop(columns=drop), c.drop(columns=drop))
    assert a["chosen"].sum() == 1 and (a["n_candidates"] == len(SMALL)).all()
    assert fc["date"].max() <= pd.Timestamp("2008-12-31")
    assert a.loc[a["candidate"] == "net", "kept_epochs"].iloc[0].startswith("2008:")
    # the chosen model is in the model confidence set: the best, or the best baseline
    assert a.loc[a["chosen"], "in_mcs"].all() and a["mcs_pvalue"].between(0, 1).all()
    assert a["mcs_pvalue"].max() == 1.0


def test_a_learned_forecaster_replaces_the_baselines_only_once_they_leave_the_mcs() -> None:
    mean = {"ewma": 0.25, "har": 0.235, "combo": 0.213, "net": 0.22}
    order = list(mean)
    out = {"ewma": 0.03, "har": 0.087, "combo": 1.0, "net": 0.6}
    assert gated_choice(mean, out, ["ewma", "har"], order) == "combo"
    still_in = {**out, "har": 0.12}  # HAR cannot be told from the best: keep HAR
    assert gated_choice(mean, still_in, ["ewma", "har"], order) == "har"
    assert gated_choice(mean, still_in, [], order) == "combo"
    # a baseline that scores best is chosen either way
    assert gated_choice({**mean, "har": 0.2}, still_in, ["ewma", "har"], order) == "har"


def test_forecast_eval_frame_labels_period_and_flags_production(small_md: MarketData) -> None:
    cand = Candidate("combo", "combination", members=("net", "har", "garch"))
    ev = forecast_eval_frame(
        small_md, "2009-01-01", "2009-06-30", candidate=cand, members=SMALL[3:4]
    )
    assert set(ev["period"]) == {"2009"}
    assert set(ev["model"]) == {"lstm", "ewma", "garch", "har", "net", "combo"}
    assert ev["production"].dtype == bool
    assert set(ev.loc[ev["production"], "model"]) == {"combo"}
    assert {"all", "equity", "bond", "cash", "commodity"} == set(ev["asset_class"])
    for col in ("qlike", "rmse_log", "mz_r2", "dm_vs_ewma", "dm_p_vs_garch", "dm_p_vs_har"):
        assert col in ev.columns
    assert period_label(pd.Timestamp("2017-01-01"), pd.Timestamp("2022-12-31")) == "2017-2022"


def test_production_is_the_chosen_candidate() -> None:
    """PRODUCTION is one of the selection's candidates, the one its table marks chosen."""
    from pathlib import Path

    assert PRODUCTION in CANDIDATES
    path = Path(__file__).resolve().parents[2] / "benchmarks/results/forecaster_selection.csv"
    if path.exists():
        table = pd.read_csv(path)
        assert table.loc[table["chosen"], "candidate"].tolist() == [PRODUCTION.name]
        assert set(table["candidate"]) == {c.name for c in CANDIDATES}


def _user_files(md: MarketData, tmp_path) -> tuple[str, str]:
    """The slice as a user's wide price CSV and FRED-style macro CSV."""
    prices = tmp_path / "prices.csv"
    md.prices.rename_axis("date").reset_index().to_csv(prices, index=False)
    m = md.macro.loc[md.macro["series_id"].isin(["DTB3", "VIXCLS"])]
    wide = m.pivot_table(index="date", columns="series_id", values="value")
    macro = tmp_path / "macro.csv"
    wide.rename_axis("date").reset_index().to_csv(macro, index=False, na_rep=".")
    return str(prices), str(macro)


def _check_eval_csv(path) -> None:
    ev = pd.read_csv(path)
    assert set(ev["period"].astype(str)) == {"2009"}
    assert set(ev.loc[ev["production"], "model"]) == {"combo_cls"}
    assert {"lstm", "ewma", "garch", "har"} <= set(ev["model"])
    assert {"all", "equity", "bond", "cash", "commodity"} == set(ev["asset_class"])
    assert {"dm_vs_ewma", "dm_p_vs_ewma", "dm_vs_garch", "dm_vs_har"} <= set(ev.columns)
    assert ev["qlike"].gt(0).all() and ev["n_obs"].gt(0).all()


CLS_COMBO = Candidate("combo_cls", "combination", members=("har", "garch"), by="asset_class")


def test_write_forecast_eval_on_user_files(small_md: MarketData, tmp_path, monkeypatch) -> None:
    """What ``riskalloc backtest`` writes: forecast_eval.csv from the user's own files."""
    import riskalloc.forecast.production as production
    from riskalloc.sources.files import FileSource
    from riskalloc.universe import load_universe

    monkeypatch.setattr(production, "PRODUCTION", CLS_COMBO)
    prices, macro = _user_files(small_md, tmp_path)
    src = FileSource(prices_path=prices, macro_path=macro)
    md = MarketData.from_long(src.fetch_prices(), src.fetch_macro(), load_universe())
    path = production.write_forecast_eval(md, "2009-01-01", "2009-06-30", tmp_path)
    assert path is not None
    _check_eval_csv(path)
    # too little history before --start: no file, no exception (the backtest goes on)
    short = md.until("2005-06-30")
    assert production.write_forecast_eval(short, "2005-03-01", "2005-06-30", tmp_path / "x") is None


def test_nightly_extension_matches_the_walk_forward(small_md: MarketData, tmp_path) -> None:
    """Saved production pieces reproduce the weekly walk-forward rows for the same days."""
    from riskalloc.forecast.production import extend_production, save_production

    cand = Candidate("combo", "combination", members=("net", "har", "garch"), by="asset_class")
    nets: dict = {}
    fc, details = candidate_forecasts(
        small_md,
        "2009-01-01",
        "2009-06-30",
        (cand, SMALL[3]),
        on_net_model=lambda name, fold, trained: nets.__setitem__(name, trained),
    )
    spec = save_production(tmp_path, "2009", nets, details, candidate=cand)
    assert set(spec["nets"]) == {"net"} and spec["weights"]["all"]
    days = small_md.dates[-5:]
    live = extend_production(small_md, days[0], days[-1], tmp_path, candidate=cand)
    assert (live["fold"] == "live").all() and live["target_vol"].isna().all()
    ref = fc.loc[(fc["model"] == "combo") & fc["date"].isin(days)].set_index(["date", "ticker"])
    got = live.set_index(["date", "ticker"]).loc[ref.index]
    np.testing.assert_allclose(got["forecast_vol"], ref["forecast_vol"], rtol=1e-5)
    with pytest.raises(ModelError, match="is not"):
        extend_production(small_md, days[0], days[-1], tmp_path)  # PRODUCTION is another model
    # the next night reads the GARCH fits back (one per asset) and gives the same rows
    fits = json.loads((tmp_path / "garch_fits.json").read_text())
    assert set(fits) == set(small_md.tickers)
    again = extend_production(small_md, days[0], days[-1], tmp_path, candidate=cand)
    pd.testing.assert_frame_equal(again, live)


def test_garch_fit_cache_returns_fresh_fits_and_refits_changed_data(
    small_md: MarketData, tmp_path
) -> None:
    """Cached parameters equal a fresh fit; a revised training return forces a refit."""
    from riskalloc.forecast.walkforward import GarchFitCache

    lr = log_returns(small_md)
    before = pd.Timestamp("2009-01-02")
    fresh = garch_params(list(small_md.tickers), lr, before)
    cache = GarchFitCache(tmp_path / "fits.json")
    assert garch_params(list(small_md.tickers), lr, before, cache) == fresh and cache.hits == 0
    reread = GarchFitCache(tmp_path / "fits.json")
    assert garch_params(list(small_md.tickers), lr, before, reread) == fresh
    assert reread.hits == len(fresh)
    revised = lr.copy()
    t = small_md.tickers[0]
    revised.loc["2008-10-10", t] *= 1.5
    again = GarchFitCache(tmp_path / "fits.json")
    got = garch_params(list(small_md.tickers), revised, before, again)
    assert again.hits == len(fresh) - 1 and got[t] != fresh[t]
    assert got[t] == garch_params([t], revised, before)[t]
    # every fold's fit is kept (a retrain refits none of the earlier folds)
    later = pd.Timestamp("2010-01-04")
    garch_params(list(small_md.tickers), lr, later, again)
    both = GarchFitCache(tmp_path / "fits.json")
    garch_params(list(small_md.tickers), lr, before, both)
    garch_params(list(small_md.tickers), lr, later, both)
    assert both.hits == 2 * len(fresh)


def test_shared_panels_equal_separate_builds(small_md: MarketData) -> None:
    """The v1 panel read from the shared v2 one is the v1 build, array for array."""
    from riskalloc.forecast.panel import Panels

    panels = Panels(small_md)
    for features in ("v1", "v2"):
        a, b = panels.get(21, features), build_panel(small_md, 21, features)
        assert a.feature_names == b.feature_names
        for name in ("x", "base", "target", "target_vol"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    alone = Panels(small_md, share_v2=False).get(21)  # no v2 reader: the v1 build only
    np.testing.assert_array_equal(alone.x, panels.get(21).x)
    with pytest.raises(ConfigError, match="another MarketData"):
        panels.check(small_md.until("2008-12-31"))


def test_selection_at_the_real_cutoff_ignores_2017_on() -> None:
    """With the default DEV_END (2016-12-31): data to mid-2017 or cut at the cutoff, same table."""
    from riskalloc.forecast.selection import DEV_END

    full = MarketData.sample().select(["SPY", "TLT", "GLD"])
    idx = full.prices.index
    md = replace(full, prices=full.prices.loc[(idx >= "2012-01-01") & (idx <= "2017-06-30")])
    cands = (*SMALL[:3], SMALL[-1])
    a, fc, _ = select_forecaster(md, cands, dev_start="2016-01-01")
    b, _, _ = select_forecaster(md.until(DEV_END), cands, dev_start="2016-01-01")
    pd.testing.assert_frame_equal(a, b)
    assert fc["date"].max() <= pd.Timestamp(DEV_END) and a["chosen"].sum() == 1
