"""Batched SHAP of published allocations: exact on all orders, additive, same game as the
per-date explainer, checked against the published outputs; ``riskalloc explain``."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from riskalloc.allocate.artefacts import save_allocator
from riskalloc.allocate.dataset import AllocatorData, build_allocator_data
from riskalloc.allocate.strategy import allocation_frame
from riskalloc.allocate.train import TrainConfig, TrainedNetwork, train_allocator
from riskalloc.cli import main
from riskalloc.errors import ModelError
from riskalloc.market import MarketData
from riskalloc.reports.allocation_game import allocation_game, player_names
from riskalloc.reports.explain_batch import (
    allocation_game_batch,
    batched_shapley,
    explain_dates,
    explain_published,
    per_date_games,
)
from riskalloc.reports.shap_attributions import BASE_FEATURE
from riskalloc.warehouse.store import Warehouse, upsert

FAST = TrainConfig(epochs=1, blocks_per_epoch=8, batch=8, block=8, val_days=126)


def _exact_shapley(f, p: int) -> np.ndarray:
    """Shapley values by the subset formula (2^p coalitions) of f on {0,1}^p masks."""
    phi = np.zeros(p)
    for i in range(p):
        others = [j for j in range(p) if j != i]
        for k in range(p):
            for s in itertools.combinations(others, k):
                w = math.factorial(k) * math.factorial(p - k - 1) / math.factorial(p)
                z = np.zeros((1, p))
                z[0, list(s)] = 1.0
                without = f(z)[0, 0]
                z[0, i] = 1.0
                phi[i] += w * (f(z)[0, 0] - without)
    return phi


def test_all_orders_give_the_exact_shapley_values() -> None:
    # a nonlinear game with interactions on real March-2020 VIX / spread moves
    md = MarketData.sample()
    x = np.array(
        [
            np.log(md.macro_asof("VIXCLS").loc["2020-03-16"] / 15),
            md.macro_asof("BAMLH0A0HYM2").loc["2020-03-16"] - 3.5,
            md.macro_asof("T10Y2Y").loc["2020-03-16"],
            0.3,
        ]
    )

    def f(z: np.ndarray) -> np.ndarray:
        v = z * x
        return np.column_stack([np.tanh(v[:, 0] * v[:, 1] + v[:, 2]) + v[:, 3] ** 2])

    phi, base, full = batched_shapley(lambda z, j: f(z), 1, 4, n_pairs="all")
    np.testing.assert_allclose(phi[0, :, 0], _exact_shapley(f, 4), atol=1e-12)
    assert base[0, 0] + phi[0].sum() == pytest.approx(full[0, 0], abs=1e-12)


@pytest.fixture(scope="module")
def data() -> AllocatorData:
    md = MarketData.sample().select(["SPY", "TLT", "GLD", "LQD", "BIL"])
    return build_allocator_data(md.until("2013-03-28"), start="2010-01-01")


@pytest.fixture(scope="module")
def trained(data: AllocatorData) -> TrainedNetwork:
    torch.set_num_threads(1)
    return train_allocator(data.slice(0, data.index_of("2012-12-31") + 1), train_cfg=FAST)


def test_batched_game_is_the_per_date_game(trained, data) -> None:
    idx = np.arange(len(data.dates) - 6, len(data.dates))
    ref = np.median(data.vol, axis=0)
    z = np.random.default_rng(0).random((12, len(player_names(data))))
    j = np.repeat(np.arange(6), 2)
    batch = allocation_game_batch(trained, data, idx, ref)(z, j)
    for k in range(6):
        one = allocation_game(trained, data, int(idx[k]), ref)(z[j == k])
        np.testing.assert_allclose(batch[j == k], one, rtol=0, atol=1e-6)  # float32 batches
    a = explain_dates(trained, data, idx)
    b = explain_dates(trained, data, idx, game_factory=per_date_games(allocation_game))
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-6)


def test_attributions_add_up_to_the_published_allocation(trained, data, tmp_path) -> None:
    idx = np.arange(len(data.dates) - 20, len(data.dates))
    published = allocation_frame(trained, data, idx, {t: "x" for t in data.tickers})
    path = save_allocator(trained, tmp_path)
    published["model_version"] = path.name
    rows = explain_published(published, data, tmp_path)
    assert rows["date"].nunique() == 20
    per = rows.groupby(["date", "ticker", "target"])["value"].sum()  # base + Σ SHAP
    got = per.xs("risk_budget", level="target")
    want = published.set_index(["date", "ticker"])["risk_budget"]
    np.testing.assert_allclose(got.loc[want.index].to_numpy(), want.to_numpy(), atol=1e-6)
    assert set(rows.loc[rows["feature"] != BASE_FEATURE, "feature"]) == set(player_names(data))
    # attributions that would not add up to what was published are refused
    bad = published.copy()
    bad.loc[bad.index[0], "risk_budget"] += 0.01
    with pytest.raises(ModelError, match="local accuracy"):
        explain_published(bad, data, tmp_path)


def test_cli_explain_prints_plain_drivers(trained, data, tmp_path: Path, capsys) -> None:
    t = len(data.dates) - 1
    res = explain_dates(trained, data, [t])
    wh = Warehouse(tmp_path / "wh")
    with wh.connect() as con:
        upsert(wh, con, "shap_attributions", res.to_frame(include_base=True))
    day = str(data.dates[t].date())
    assert main(["--db", str(wh.db_path), "explain", "--date", day, "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert f"allocation of {day}" in out
    lines = [x.strip() for x in out.splitlines()[1:]]
    assert lines[0].startswith("exposure: ") and len(lines) == 1 + len(data.tickers)
    assert any(x.startswith("SPY risk budget: ") for x in lines)
    assert "raises it by" in out or "lowers it by" in out
    value = float(lines[0].split()[1])
    assert value == pytest.approx(float(trained.allocate(data, [t]).exposure[0]), abs=1e-4)
    assert main(["--db", str(wh.db_path), "explain", "--date", "2001-01-02"]) == 2
    assert "no SHAP attributions stored for 2001-01-02" in capsys.readouterr().err


def test_every_date_uses_the_same_coalitions(trained, data) -> None:
    idx = np.arange(len(data.dates) - 3, len(data.dates))
    one = explain_dates(trained, data, idx[-1:])
    three = explain_dates(trained, data, idx)
    np.testing.assert_allclose(three.values[-1], one.values[0], rtol=0, atol=1e-6)
    assert isinstance(three.dates, pd.Index) and list(three.dates) == list(data.dates[idx])
