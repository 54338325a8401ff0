"""SHAP attributions of allocations: local accuracy and zero credit for unused inputs."""

from __future__ import annotations

import numpy as np
import pytest

from riskalloc.allocate.dataset import build_allocator_data
from riskalloc.allocate.model import NetworkConfig
from riskalloc.allocate.train import TrainConfig, train_allocator
from riskalloc.market import MarketData
from riskalloc.reports.allocation_game import allocation_game, explain_allocations, player_names

FAST = TrainConfig(epochs=1, blocks_per_epoch=8, batch=8, block=8, val_days=126)


@pytest.fixture(scope="module")
def data():
    md = MarketData.sample().select(["SPY", "TLT", "GLD", "LQD", "BIL"])
    return build_allocator_data(md.until("2012-12-31"), start="2010-01-01")


def test_attributions_add_up_to_the_allocation(data):
    trained = train_allocator(data, train_cfg=FAST)
    t = len(data.dates) - 1
    shap_long = explain_allocations(trained, data, [t, t - 40])
    assert set(shap_long.columns) >= {"date", "ticker", "target", "feature", "value"}
    fn = allocation_game(trained, data, t, np.median(data.vol, axis=0))
    players = player_names(data)
    full, ref = fn(np.ones((1, len(players))))[0], fn(np.zeros((1, len(players))))[0]
    day = shap_long.loc[shap_long["date"] == data.dates[t]]
    sums = day.groupby(["target", "ticker"], sort=False)["value"].sum()
    exposure = sums.xs("exposure", level="target").iloc[0]
    assert exposure == pytest.approx(full[-1] - ref[-1], abs=1e-6)
    budget_tlt = sums.loc[("risk_budget", "TLT")]
    assert budget_tlt == pytest.approx(full[1] - ref[1], abs=1e-6)


def test_macro_players_get_zero_credit_when_the_model_ignores_macro(data):
    cfg = NetworkConfig(
        len(data.asset_features),
        len(data.macro_features),
        use_regime=False,
        adaptive_target=False,
        use_macro=False,
    )
    trained = train_allocator(data, cfg, FAST)
    shap_long = explain_allocations(trained, data, [len(data.dates) - 1])
    macro = shap_long.loc[shap_long["feature"].str.startswith("macro:"), "value"]
    assert len(macro) > 0 and float(macro.abs().max()) < 1e-12
    asset = shap_long.loc[shap_long["feature"].str.startswith("asset:"), "value"]
    assert float(asset.abs().max()) > 1e-6
