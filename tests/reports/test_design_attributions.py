"""Every published weight of the production design explained, exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskalloc.allocate.design import AllocatorDesign
from riskalloc.allocate.design_weights import design_target_weights
from riskalloc.allocate.publish import validate_target_weights
from riskalloc.market import MarketData
from riskalloc.reports.design_attributions import (
    PLAYERS,
    explain_design_weights,
    product_shapley,
)
from riskalloc.reports.shap_attributions import BASE_FEATURE

TICKERS = ["SPY", "EFA", "TLT", "IEF", "LQD", "GLD", "DBC", "VNQ", "BIL"]
DESIGN = AllocatorDesign(
    budgets="class_equal",
    vol_source="blend",
    trend_floor=0.5,
    vol_target=1.0,
    rebalance_speed=0.5,
)


@pytest.fixture(scope="module")
def published():
    md = MarketData.sample().select(TICKERS).until("2016-12-31")
    days = md.dates[(md.dates >= "2015-06-01") & (md.dates <= "2015-09-30")]
    df, skipped = design_target_weights(md, DESIGN, days)
    return df.assign(regime="calm"), skipped


def test_product_shapley_is_efficient_symmetric_and_null():
    f = np.array([[2.0, 0.5, 0.8], [1.0, 1.0, 3.0], [1.5, 1.5, 1.0]])
    base = np.array([0.1, 0.2, 0.3])
    phi = product_shapley(f, base)
    np.testing.assert_allclose(phi.sum(1), base * f.prod(1) - base)  # efficiency
    assert phi[1, 0] == 0 and phi[1, 1] == 0  # a factor of 1 is a null player
    assert phi[2, 0] == pytest.approx(phi[2, 1])  # symmetric players share equally


def test_published_design_weights_pass_the_gate(published):
    df, skipped = published
    assert not skipped
    validate_target_weights(df, TICKERS)
    assert (df["exposure"] < 1.0).any()  # the trend overlay moved 2015's commodities to cash


def test_attributions_add_up_to_every_weight_and_exposure(published):
    df, _ = published
    rows = explain_design_weights(df)
    w = rows.loc[rows["target"] == "weight"].groupby(["date", "ticker"])["value"].sum()
    pub = df.set_index(["date", "ticker"])["weight"]
    pd.testing.assert_series_equal(
        w.sort_index(), pub.loc[w.index].sort_index(), check_names=False, atol=1e-9
    )
    e = rows.loc[rows["target"] == "exposure"].groupby("date")["value"].sum()
    np.testing.assert_allclose(e.to_numpy(), df.groupby("date")["exposure"].first().to_numpy())
    assert set(rows["feature"]) == {*PLAYERS, "partial_rebalance", BASE_FEATURE}
    assert rows["date"].nunique() == df["date"].nunique()  # every published day explained
