"""ML and publishing faults: a NaN training loss, bad covariances, a solver that does not
converge, model files that fail to load, and weights that break a constraint. Each raises a
named error, leaves the warehouse (tables, mirror, model artefacts) unchanged, and the
re-run after the fix equals a clean run."""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import pandas as pd
import pytest
import torch

from riskalloc.allocate.artefacts import load_allocator, save_allocator
from riskalloc.allocate.model import AllocatorNetwork, NetworkConfig
from riskalloc.allocate.publish import TARGET_WEIGHT_COLUMNS, validate_target_weights
from riskalloc.allocate.risk_budgeting import risk_contributions, solve_risk_budgeting
from riskalloc.allocate.train import Normaliser, TrainConfig, TrainedNetwork
from riskalloc.errors import ModelError, NotConvergedError, PublishError, SolverError
from riskalloc.forecast import lstm as lstm_mod
from riskalloc.forecast.artefacts import forecaster_record, load_model, save_model
from riskalloc.forecast.lstm import LSTMConfig, train_lstm
from riskalloc.forecast.panel import build_panel
from riskalloc.market import MarketData
from riskalloc.warehouse import upsert
from riskalloc.warehouse.registry import register

pytestmark = pytest.mark.faults
torch.set_num_threads(1)

TINY = LSTMConfig(
    seq_len=10,
    hidden=4,
    emb_dim=0,
    stride=10,
    max_epochs=1,
    batch_size=32,
    val_days=42,
    train_years=1,
)


@functools.cache
def market() -> MarketData:
    """The bundled data for SPY/TLT/GLD (loaded once per session)."""
    return MarketData.sample().select(["SPY", "TLT", "GLD"])


@functools.cache
def panel():
    """Model inputs up to 2008 (training only, nothing out of sample)."""
    return build_panel(market().until("2008-12-31"))


def train_and_register(wh):
    """The retrain step: fit, save the artefact, register it. Returns the version."""
    p = panel()
    trained = train_lstm(p, len(p.dates) - 30, TINY)
    version = save_model(
        trained, {"data": "faults"}, {"val": trained.meta["best_val_loss"]}, wh.models_dir
    )
    with wh.connect() as con:
        register(wh, con, "forecaster", [forecaster_record(version, wh.models_dir)])
    return version


def model_files(wh) -> dict[str, str]:
    """sha256 of every model artefact file under the warehouse."""
    root = wh.models_dir
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*") if root.exists() else [])
        if p.is_file()
    }


def test_nan_loss_during_training(kit, wh, tmp_path, monkeypatch):
    real, calls = lstm_mod.loss_fn, []

    def nan_on_third_batch(kind, pred, target):
        calls.append(1)
        loss = real(kind, pred, target)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(lstm_mod, "loss_fn", nan_on_third_batch)
    before = kit.snapshot(wh)
    with pytest.raises(
        ModelError, match=r"training loss became nan at epoch 0 \(fold ending 2008-11-18\)"
    ):
        train_and_register(wh)
    monkeypatch.undo()
    kit.assert_unchanged(wh, before)
    assert model_files(wh) == {}  # no artefact, no registry row
    version = train_and_register(wh)
    clean = kit.Warehouse(tmp_path / "clean")
    kit.seed(clean)
    assert train_and_register(clean) == version  # same weights and config
    assert model_files(wh) == model_files(clean)
    got, want = kit.contents(wh), kit.contents(clean)
    for name in want:  # registry rows equal apart from trained_at (the file time)
        pd.testing.assert_frame_equal(
            got[name].drop(columns="trained_at", errors="ignore"),
            want[name].drop(columns="trained_at", errors="ignore"),
            obj=name,
        )


def test_model_file_that_fails_to_load(kit, wh, tmp_path):
    version = train_and_register(wh)
    state = wh.models_dir / "forecaster" / version / "state_dict.pt"
    good = state.read_bytes()
    before, files = kit.snapshot(wh), model_files(wh)

    state.write_bytes(good[: len(good) // 2])  # truncated by a crash or a bad copy
    with pytest.raises(ModelError, match=rf"cannot load forecaster weights {state}"):
        load_model(state.parent)

    marker = tmp_path / "pwned"

    class Exploit:  # a pickle that would run code on load
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"lstm.weight": Exploit()}, state)
    with pytest.raises(
        ModelError, match=rf"(?s)cannot load forecaster weights {state}.*Unsupported global"
    ):
        load_model(state.parent)
    assert not marker.exists()  # weights_only=True refused to run it

    config = state.parent / "config.json"
    cfg = config.read_text()
    config.write_text(cfg[:-20])
    with pytest.raises(ModelError, match=rf"cannot read forecaster config {config}"):
        load_model(state.parent)

    state.write_bytes(good)  # fixed: restored from the registry's copy
    config.write_text(cfg)
    kit.assert_unchanged(wh, before)
    assert model_files(wh) == files
    assert load_model(state.parent).meta["version"] == version


def saved_allocator(root, n_asset_features: int = 4):
    """An untrained allocator artefact saved the production way (config JSON + state dict)."""
    cfg = NetworkConfig(n_asset_features=n_asset_features, n_macro_features=3)
    norm = Normaliser(
        np.zeros(n_asset_features), np.ones(n_asset_features), np.zeros(3), np.ones(3)
    )
    torch.manual_seed(0)
    trained = TrainedNetwork(
        AllocatorNetwork(cfg),
        norm,
        cfg,
        TrainConfig(),
        ["SPY", "TLT", "GLD"],
        {"train_end": "2016-12-30"},
    )
    return save_allocator(trained, root)


def _truncate(state, other):
    state.write_bytes(state.read_bytes()[:100])


def _pickle_exploit(state, other):
    class Exploit:
        def __reduce__(self):
            return (open, (str(state.parent.parent / "pwned"), "w"))

    torch.save({"x": Exploit()}, state)


def _other_architecture(state, other):
    state.write_bytes((other / "state_dict.pt").read_bytes())


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (_truncate, r"(?s)cannot load allocator weights .*state_dict\.pt"),
        (_pickle_exploit, r"(?s)cannot load allocator weights .*Unsupported global"),
        (_other_architecture, r"(?s)cannot load allocator weights .*size mismatch"),
    ],
)
def test_allocator_file_that_fails_to_load(kit, wh, tmp_path, corrupt, match):
    path = saved_allocator(wh.models_dir)
    other = saved_allocator(tmp_path / "other", n_asset_features=6)
    state = path / "state_dict.pt"
    good = state.read_bytes()
    before, files = kit.snapshot(wh), model_files(wh)
    corrupt(state, other)
    with pytest.raises(ModelError, match=match) as info:
        load_allocator(path)
    assert str(state) in str(info.value)
    assert not (path.parent / "pwned").exists()
    state.write_bytes(good)  # fixed: the artefact restored
    kit.assert_unchanged(wh, before)
    assert model_files(wh) == files
    reloaded, fresh = load_allocator(path), load_allocator(saved_allocator(tmp_path / "clean"))
    for (k, a), (_, b) in zip(
        reloaded.model.state_dict().items(), fresh.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k


# --- covariance, solver and publishing -----------------------------------------------------

TICKERS = ["SPY", "TLT", "GLD"]


@functools.cache
def _cov_2019() -> torch.Tensor:
    rets = market().returns().loc["2019-01-01":"2019-12-31", TICKERS].dropna()
    return torch.as_tensor(np.cov(rets.to_numpy().T) * 252, dtype=torch.float64)


def sample_cov() -> torch.Tensor:
    """Annualised 2019 covariance of SPY/TLT/GLD (a fresh copy)."""
    return _cov_2019().clone()


BUDGETS = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)


def weights_frame(
    cov: torch.Tensor, day: str = "2020-01-02", exposure: float = 0.8, max_iter: int = 100
):
    """Published rows for one day from the risk-budgeting solve (the publish step's input)."""
    w = solve_risk_budgeting(cov, BUDGETS, max_iter=max_iter)
    rc = risk_contributions(cov, w)
    return pd.DataFrame(
        {
            "date": pd.Timestamp(day),
            "ticker": TICKERS,
            "weight": (w * exposure).numpy(),
            "risk_budget": BUDGETS.numpy(),
            "risk_contribution": rc.numpy(),
            "exposure": exposure,
            "regime": "calm",
            "model_version": "faults-test",
        }
    )[list(TARGET_WEIGHT_COLUMNS)]


def publish(wh, frame: pd.DataFrame) -> None:
    """Validate, then upsert: the order the target_weights asset uses."""
    validate_target_weights(frame, TICKERS)
    with wh.connect() as con:
        upsert(wh, con, "target_weights", frame)


def publish_solved(cov, **kw):
    return lambda wh: publish(wh, weights_frame(cov, **kw))


def non_psd(cov: torch.Tensor) -> torch.Tensor:
    bad = cov.clone()
    bad[0, 1] = bad[1, 0] = 2 * torch.sqrt(cov[0, 0] * cov[1, 1])  # correlation 2
    return bad


def nan_cov(cov: torch.Tensor) -> torch.Tensor:
    bad = cov.clone()
    bad[2, 2] = float("nan")
    return bad


def zero_var(cov: torch.Tensor) -> torch.Tensor:
    bad = cov.clone()
    bad[1, :] = bad[:, 1] = 0.0  # a stale price series: singular, no risk to budget
    return bad


@pytest.mark.parametrize(
    ("broken", "match"),
    [
        (non_psd, r"covariance is not positive semi-definite \(min eigenvalue -"),
        (nan_cov, r"covariance has NaN or inf entries"),
        (zero_var, r"covariance has an asset with zero or negative variance"),
    ],
)
def test_bad_covariance_blocks_publishing(kit, wh, tmp_path, broken, match):
    publish_solved(sample_cov())(wh)  # a day already published
    before = kit.snapshot(wh)
    with pytest.raises(SolverError, match=match):
        publish_solved(broken(sample_cov()), day="2020-01-03")(wh)
    kit.assert_unchanged(wh, before)

    def rerun(w):
        publish_solved(sample_cov())(w)
        publish_solved(sample_cov(), day="2020-01-03")(w)

    kit.assert_same_as_clean(wh, rerun, tmp_path / "clean")


def test_singular_but_psd_covariance_is_solved_exactly():
    """A duplicated asset makes Σ singular (PSD); the log-barrier problem is still well posed."""
    cov = sample_cov()
    dup = torch.cat([cov, cov[:, :1]], dim=1)
    dup = torch.cat([dup, dup[:1, :]], dim=0)
    assert torch.linalg.matrix_rank(dup) == 3
    b = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    w = solve_risk_budgeting(dup, b)
    torch.testing.assert_close(risk_contributions(dup, w), b, atol=1e-10, rtol=0)


def test_solver_that_does_not_converge(kit, wh, tmp_path):
    cov = sample_cov()
    before = kit.snapshot(wh)
    match = r"did not converge in 1 Newton steps \(max residual"
    with pytest.raises(NotConvergedError, match=match):
        publish_solved(cov, max_iter=1)(wh)
    kit.assert_unchanged(wh, before)
    kit.assert_same_as_clean(wh, publish_solved(cov), tmp_path / "clean")


def _negative(df):
    df = df.copy()
    df.loc[1, "weight"] = -0.05
    return df


def _over_invested(df):
    df = df.copy()
    df["weight"] *= 1.5
    df["exposure"] = 1.2
    return df


def _budget_missed(df):
    df = df.copy()
    df.loc[2, "risk_contribution"] += 0.01
    df.loc[0, "risk_contribution"] -= 0.01
    return df


def _unknown_ticker(df):
    return df.assign(ticker=["SPY", "TLT", "GDX"])


def _nan_weight(df):
    df = df.copy()
    df.loc[0, "weight"] = np.nan
    return df


@pytest.mark.parametrize(
    ("breaks", "match"),
    [
        (_negative, r"negative weight -0\.05 for TLT on 2020-01-02"),
        (_over_invested, r"exposure 1\.200000 outside \[0, 1\] on 2020-01-02"),
        (_budget_missed, r"risk contribution of (SPY|GLD) on 2020-01-02 is .* budget"),
        (_unknown_ticker, r"tickers outside the universe: \['GDX'\]"),
        (_nan_weight, r"non-finite value for SPY on 2020-01-02"),
    ],
)
def test_weights_that_break_a_constraint_are_not_published(kit, wh, tmp_path, breaks, match):
    cov = sample_cov()
    good = weights_frame(cov)
    publish(wh, weights_frame(cov, day="2019-12-31"))  # yesterday's weights are live
    before = kit.snapshot(wh)
    with pytest.raises(PublishError, match=match):
        publish(wh, breaks(good))
    kit.assert_unchanged(wh, before)

    def rerun(w):
        publish(w, weights_frame(cov, day="2019-12-31"))
        publish(w, good)

    kit.assert_same_as_clean(wh, rerun, tmp_path / "clean")
