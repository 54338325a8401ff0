"""Features are point in time, finite and cover every asset."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from riskalloc.features import ASSET_FEATURES, build_asset_features, build_macro_features, ewma_vol
from riskalloc.market import MarketData

T = pd.Timestamp("2010-06-30")


@pytest.fixture(scope="module")
def md() -> MarketData:
    full = MarketData.sample()
    idx = full.prices.index
    cut = idx[(idx >= "2007-01-01") & (idx <= "2011-06-30")]
    prices = full.prices.loc[cut, ["SPY", "TLT", "BIL", "GLD", "HYG", "ACWI"]]
    mdate = full.macro["date"]
    macro = full.macro.loc[(mdate >= "2006-01-01") & (mdate <= "2011-06-30")]
    return replace(full.select(list(prices.columns)), prices=prices, macro=macro)


def _perturb_after(md: MarketData, t: pd.Timestamp) -> MarketData:
    """Scramble every price after t and every macro value available after t."""
    rng = np.random.default_rng(1)
    prices = md.prices.copy()
    after = prices.index > t
    prices.loc[after] = prices.loc[after] * rng.uniform(0.5, 1.5, size=prices.loc[after].shape)
    macro = md.macro.copy()
    late = macro["available_at"] > t
    macro.loc[late, "value"] = macro.loc[late, "value"] * 3.0 + 7.0
    return replace(md, prices=prices, macro=macro)


def test_asset_features_finite_and_cover_every_asset(md: MarketData) -> None:
    f = build_asset_features(md)
    assert list(f.columns) == ["date", "ticker", *ASSET_FEATURES]
    assert np.isfinite(f[list(ASSET_FEATURES)].to_numpy()).all()
    assert set(f["ticker"]) == set(md.tickers)
    assert not f.duplicated(["date", "ticker"]).any()
    # first row of an asset comes after its 63rd return, never before its inception
    first_price = md.prices.apply(lambda s: s.first_valid_index())
    first_row = f.groupby("ticker")["date"].min()
    for t in md.tickers:
        assert (md.prices.index[(md.prices.index > first_price[t])] <= first_row[t]).sum() >= 63
    spy = f.loc[f["ticker"] == "SPY", "corr_eq_63"]
    assert np.allclose(spy, 1.0)
    assert (f["drawdown"] <= 0).all()


def test_macro_features_finite_and_role_based(md: MarketData) -> None:
    m = build_macro_features(md)
    assert "date" in m.columns and m["date"].is_monotonic_increasing
    num = m.drop(columns="date").to_numpy()
    assert np.isfinite(num).all()
    for col in (
        "vixcls_level",
        "vixcls_chg_5",
        "baa10y_z_252",
        "bamlh0a0hym2_chg_21",
        "t10y2y_chg_21",
        "t10y3m_level",
        "dtb3_level",
    ):
        assert col in m.columns
    assert set(m["date"]).issubset(set(md.dates))


def test_features_never_change_when_the_future_changes(md: MarketData) -> None:
    base_a, base_m = build_asset_features(md), build_macro_features(md)
    other = _perturb_after(md, T)
    pert_a, pert_m = build_asset_features(other), build_macro_features(other)
    a0 = base_a.loc[base_a["date"] <= T].reset_index(drop=True)
    a1 = pert_a.loc[pert_a["date"] <= T].reset_index(drop=True)
    pd.testing.assert_frame_equal(a0, a1)
    m0 = base_m.loc[base_m["date"] <= T].reset_index(drop=True)
    m1 = pert_m.loc[pert_m["date"] <= T].reset_index(drop=True)
    pd.testing.assert_frame_equal(m0, m1)
    # the perturbation is real: features after t do move
    assert not np.allclose(
        base_a.loc[base_a["date"] > T, "rv_21"], pert_a.loc[pert_a["date"] > T, "rv_21"]
    )


def test_macro_value_made_available_later_does_not_leak(md: MarketData) -> None:
    """Delaying publication of a value after t must not alter anything at dates <= t."""
    macro = md.macro.copy()
    hit = (macro["series_id"] == "VIXCLS") & (macro["date"] == T)
    assert hit.any()
    macro.loc[hit, "available_at"] = T + pd.Timedelta(days=10)
    macro.loc[hit, "value"] = 99.0
    late = replace(md, macro=macro)
    m0 = build_macro_features(md)
    m1 = build_macro_features(late)
    pd.testing.assert_frame_equal(
        m0.loc[m0["date"] <= T].reset_index(drop=True),
        m1.loc[m1["date"] <= T].reset_index(drop=True),
    )
    # the delay is real: on the next trading day the original value is visible, the delayed not
    nxt = md.dates[md.dates > T][0]
    assert md.macro_asof("VIXCLS")[nxt] != late.macro_asof("VIXCLS")[nxt]


def test_until_cut_equals_full_features_up_to_t(md: MarketData) -> None:
    full = build_asset_features(md)
    cut = build_asset_features(md.until(T))
    pd.testing.assert_frame_equal(full.loc[full["date"] <= T].reset_index(drop=True), cut)


def test_ewma_vol_matches_hand_recursion() -> None:
    r = pd.DataFrame({"x": [np.nan, 0.01, -0.02, 0.0, 0.03]})
    s2 = [0.01**2]
    for x in (-0.02, 0.0, 0.03):
        s2.append(0.94 * s2[-1] + 0.06 * x**2)
    expected = np.sqrt(252 * np.array(s2))
    got = ewma_vol(r)["x"].to_numpy()
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1:], expected, rtol=1e-12)
