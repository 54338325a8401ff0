"""The allocator network, its training loop, artefacts and the walk-forward strategy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from riskalloc.allocate.artefacts import allocator_record, load_allocator, save_allocator
from riskalloc.allocate.covariance import factor_cov
from riskalloc.allocate.dataset import build_allocator_data
from riskalloc.allocate.model import AllocatorNetwork, NetworkConfig
from riskalloc.allocate.risk_budgeting import risk_contributions
from riskalloc.allocate.strategy import LearnedAllocatorStrategy
from riskalloc.allocate.train import TrainConfig, train_allocator
from riskalloc.errors import ConfigError, DataError, ModelError

TICKERS = ["SPY", "EFA", "TLT", "LQD", "GLD", "VNQ", "BIL"]
FAST = TrainConfig(epochs=2, blocks_per_epoch=16, batch=8, block=8, val_days=126, patience=2)


@pytest.fixture(scope="module")
def small_md(sample_md):
    return sample_md.select(TICKERS)


@pytest.fixture(scope="module")
def small_data(small_md):
    return build_allocator_data(small_md.until("2012-12-31"), start="2010-01-01")


def _random_inputs(n: int, batch: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, n, 11, generator=g)
    m = torch.randn(batch, 13, generator=g)
    vol = 0.05 + 0.3 * torch.rand(batch, n, generator=g, dtype=torch.float64)
    load = 0.4 * torch.rand(batch, n, 3, generator=g, dtype=torch.float64)
    uniq = 1 - (load**2).sum(-1)
    return a, m, vol, load, uniq


def test_outputs_are_valid_allocations():
    torch.manual_seed(0)
    model = AllocatorNetwork(NetworkConfig(11, 13)).eval()
    a, m, vol, load, uniq = _random_inputs(20)
    with torch.no_grad():
        out = model(a, m, vol, load, uniq)
    assert torch.allclose(out.budgets.sum(-1), torch.ones(3, dtype=torch.float64), atol=1e-14)
    assert bool((out.budgets >= 0.2 / 20 - 1e-7).all())  # the floor
    cov = factor_cov(vol, load, uniq)
    rc = risk_contributions(cov, out.rb_weights)
    assert float((rc - out.budgets).abs().max()) < 1e-12
    assert bool((out.weights >= 0).all())
    assert torch.allclose(out.weights.sum(-1), out.exposure, atol=1e-12)
    assert bool((out.exposure <= 1 + 1e-12).all())
    assert bool(((out.target_vol >= 0.05) & (out.target_vol <= 0.12)).all())
    assert torch.allclose(out.regime_probs.sum(-1), torch.ones(3), atol=1e-6)


def test_permuting_assets_permutes_outputs():
    torch.manual_seed(1)
    model = AllocatorNetwork(NetworkConfig(11, 13)).eval()
    a, m, vol, load, uniq = _random_inputs(12, seed=3)
    perm = torch.randperm(12)
    with torch.no_grad():
        out = model(a, m, vol, load, uniq)
        outp = model(a[:, perm], m, vol[:, perm], load[:, perm], uniq[:, perm])
    torch.testing.assert_close(outp.weights, out.weights[:, perm], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(outp.exposure, out.exposure, atol=1e-6, rtol=1e-5)


def test_gradients_reach_every_module_through_the_layer():
    torch.manual_seed(2)
    model = AllocatorNetwork(NetworkConfig(11, 13))
    a, m, vol, load, uniq = _random_inputs(8)
    out = model(a, m, vol, load, uniq)
    (out.weights * torch.linspace(-1, 1, 8, dtype=torch.float64)).sum().backward()
    for name in ("encode.0.weight", "heads.weight", "regime.0.weight", "mix.inducing"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and float(grad.abs().sum()) > 0, name


def test_sliced_full_history_equals_rebuilding_on_the_cut(small_md):
    """No look-ahead: rows up to t are identical whether built on data to t or to 2022."""
    cut = "2012-06-29"
    full = build_allocator_data(small_md, start="2010-01-01")
    past = build_allocator_data(small_md.until(cut), start="2010-01-01")
    sliced = full.slice(0, full.index_of(cut) + 1)
    assert list(sliced.dates) == list(past.dates)
    for name in ("asset_x", "macro_x", "vol", "loadings", "uniq", "daily_ret", "rf"):
        np.testing.assert_allclose(getattr(sliced, name), getattr(past, name), rtol=0, atol=0)


def test_cash_etf_is_not_a_risky_asset(small_data):
    assert "BIL" not in small_data.tickers
    assert np.isfinite(small_data.asset_x).all() and np.isfinite(small_data.vol).all()


def test_training_is_deterministic_and_uses_only_its_window(small_data):
    a = train_allocator(small_data, train_cfg=FAST)
    b = train_allocator(small_data, train_cfg=FAST)
    idx = np.arange(len(small_data.dates) - 5, len(small_data.dates))
    wa, wb = a.allocate(small_data, idx).weights, b.allocate(small_data, idx).weights
    torch.testing.assert_close(wa, wb)
    assert a.meta["train_end"] == str(small_data.dates[-1].date())
    assert pd.Timestamp(a.meta["val_start"]) < small_data.dates[-1]


def test_nan_loss_is_a_model_error(small_data):
    bad = TrainConfig(**{**FAST.to_dict(), "lam_dd": float("nan")})
    with pytest.raises(ModelError, match="non-finite loss"):
        train_allocator(small_data, train_cfg=bad)


def test_too_short_window_is_a_clear_error(small_data):
    with pytest.raises(DataError, match="too short"):
        train_allocator(small_data.slice(0, 100), train_cfg=FAST)


def test_save_load_round_trip_and_corrupt_file(small_data, tmp_path):
    trained = train_allocator(small_data, train_cfg=FAST)
    path = save_allocator(trained, tmp_path)
    again = load_allocator(path)
    idx = np.arange(10)
    torch.testing.assert_close(
        trained.allocate(small_data, idx).weights, again.allocate(small_data, idx).weights
    )
    record = allocator_record(trained, path, "abc")
    assert record.version == path.name and record.kind == "allocator"
    (path / "state_dict.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match=r"state_dict\.pt"):
        load_allocator(path)


def test_strategy_weights_sum_to_exposure_and_skip_cash(small_md):
    strat = LearnedAllocatorStrategy(train_cfg=FAST)
    strat.fit(small_md.until("2012-12-31"))
    dates = small_md.dates[(small_md.dates > "2013-01-01") & (small_md.dates < "2013-02-01")]
    w = strat.weights(small_md.until("2013-01-31"), dates)
    assert list(w.columns) == small_md.tickers
    assert (w["BIL"] == 0).all()
    assert ((w >= 0).all().all()) and (w.sum(axis=1) <= 1 + 1e-9).all()


def test_precomputed_inputs_give_the_weights_of_a_rebuild_on_the_cut(small_md):
    """The backtest hands the strategy inputs built once on the full history; slicing them at a
    date must equal rebuilding them from data up to that date (no look-ahead)."""
    full = build_allocator_data(small_md, start="2010-01-01")
    fast = LearnedAllocatorStrategy(train_cfg=FAST, precomputed=full)
    fast.fit(small_md.until("2012-12-31"))
    slow = LearnedAllocatorStrategy(train_cfg=FAST, trained=fast.trained)
    d = pd.DatetimeIndex([pd.Timestamp("2013-03-28")])
    w_fast = fast.weights(small_md.until(d[0]), d)
    w_slow = slow.weights(small_md.until(d[0]), d)
    pd.testing.assert_frame_equal(w_fast, w_slow, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"objective": "sortino"}, "objective='sortino'"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"lr": 0.0}, "lr must be positive"),
    ],
)
def test_train_options_are_checked_when_built_not_mid_training(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        TrainConfig(**kwargs)
    with pytest.raises(ConfigError, match="budget_mode"):
        NetworkConfig(4, 3, budget_mode="softmax")


def test_a_fit_gives_the_same_weights_whatever_the_callers_threads(sample_md):
    """The allocator network trained from a 2-thread caller equals the 1-thread one bit for bit
    (torch's parallel sums depend on the thread count; the fit pins one), and the caller's
    setting is restored."""
    from riskalloc.allocate.dataset import build_allocator_data
    from riskalloc.allocate.train import TrainConfig, train_allocator

    data = build_allocator_data(
        sample_md.select(["SPY", "EFA", "TLT", "IEF", "GLD", "LQD", "BIL"]),
        start="2012-01-01",
        end="2014-12-31",
    )
    cfg = TrainConfig(epochs=2, blocks_per_epoch=16)
    old = torch.get_num_threads()
    states = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            net = train_allocator(data, train_cfg=cfg)
            assert torch.get_num_threads() == n
            states.append(net.model.state_dict())
    finally:
        torch.set_num_threads(old)
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
