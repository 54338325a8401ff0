"""LSTM training errors, artefact save/load round trip, registry row, latest forecasts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskalloc.errors import ConfigError, ModelError
from riskalloc.forecast.artefacts import forecaster_record, load_model, market_hash, save_model
from riskalloc.forecast.lstm import TrainedLSTM, predict_lstm, train_lstm
from riskalloc.forecast.panel import Panel, build_panel
from riskalloc.forecast.walkforward import fold_plan, forecast_latest, forecast_range
from riskalloc.market import MarketData

from .conftest import TINY


@pytest.fixture(scope="module")
def panel(small_md: MarketData) -> Panel:
    return build_panel(small_md, 21)


@pytest.fixture(scope="module")
def trained(panel: Panel) -> TrainedLSTM:
    fold = fold_plan(panel.dates, "2009-01-01", "2009-06-30")[0]
    return train_lstm(panel, fold.label_end, TINY)


def test_shrinkage_is_picked_on_validation(panel: Panel) -> None:
    fold = fold_plan(panel.dates, "2009-01-01", "2009-06-30")[0]
    tr = train_lstm(panel, fold.label_end, replace(TINY, shrink_grid=(0.0, 0.5, 1.0)))
    by = {float(k): v for k, v in tr.meta["val_loss_by_shrink"].items()}
    assert tr.meta["shrink"] == min(by, key=by.get)
    assert by[0.0] == pytest.approx(tr.meta["val_loss_ewma"], rel=1e-6)
    assert float(tr.model.shrink) == tr.meta["shrink"]
    # with weight 0 the model is exactly the EWMA forecast
    tr.model.shrink.fill_(0.0)
    t0 = len(panel.dates) - 30
    got = predict_lstm(tr, panel, t0, len(panel.dates) - 1)
    np.testing.assert_allclose(got, np.exp(panel.base[:, t0:]), rtol=1e-5)


def test_an_epoch_draws_at_most_max_windows(trained: TrainedLSTM, panel: Panel) -> None:
    # the cap bounds an epoch's cost at any universe size; above the window count it changes
    # nothing (same weights bit for bit), below it each epoch trains on a fresh draw
    fold = fold_plan(panel.dates, "2009-01-01", "2009-06-30")[0]
    n = trained.meta["n_train"]
    assert trained.meta["windows_per_epoch"] == n
    uncapped = train_lstm(panel, fold.label_end, replace(TINY, max_windows=None))
    for a, b in zip(uncapped.model.state_dict().values(), trained.model.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy())
    cap = 2 * TINY.batch_size
    assert cap < n
    capped = train_lstm(panel, fold.label_end, replace(TINY, max_windows=cap))
    assert capped.meta["windows_per_epoch"] == cap and capped.meta["n_train"] == n
    w_capped = capped.model.state_dict()["lstm.weight_ih_l0"].numpy()
    assert not np.array_equal(w_capped, trained.model.state_dict()["lstm.weight_ih_l0"].numpy())
    with pytest.raises(ConfigError, match="max_windows"):
        replace(TINY, max_windows=TINY.batch_size - 1)


def test_training_respects_label_end(trained: TrainedLSTM, panel: Panel) -> None:
    fold = fold_plan(panel.dates, "2009-01-01", "2009-06-30")[0]
    assert pd.Timestamp(trained.meta["labels_known_by"]) < panel.dates[fold.start]
    assert pd.Timestamp(trained.meta["train_end"]) == panel.dates[fold.label_end]
    assert 1 <= len(trained.history) <= TINY.max_epochs


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_nan_loss_raises_model_error(panel: Panel) -> None:
    x = panel.x.copy()
    x[0, 100:400, 0] = 3e38  # overflows the float32 standardisation -> NaN loss
    bad = replace(panel, x=x)
    fold = fold_plan(panel.dates, "2009-01-01", "2009-06-30")[0]
    with pytest.raises(ModelError, match="loss became nan"):
        train_lstm(bad, fold.label_end, TINY)


def test_save_load_round_trip(
    trained: TrainedLSTM, panel: Panel, small_md: MarketData, tmp_path: Path
) -> None:
    cfg = {"data_hash": market_hash(small_md, trained.meta["train_end"])}
    version = save_model(trained, cfg, {"val_loss": trained.meta["best_val_loss"]}, tmp_path)
    folder = tmp_path / "forecaster" / version
    assert {p.name for p in folder.iterdir()} == {"config.json", "metrics.json", "state_dict.pt"}
    loaded = load_model(folder)
    t0 = len(panel.dates) - 60
    a = predict_lstm(trained, panel, t0, len(panel.dates) - 1)
    b = predict_lstm(loaded, panel, t0, len(panel.dates) - 1)
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all()
    # saving the same model again gives the same version (content-addressed)
    again = save_model(trained, cfg, {"val_loss": trained.meta["best_val_loss"]}, tmp_path)
    assert again == version
    row = forecaster_record(version, tmp_path)
    assert row.kind == "forecaster" and row.version == version
    assert row.data_hash == cfg["data_hash"] and len(row.data_hash) == 16
    assert row.train_end == pd.Timestamp(trained.meta["train_end"])
    assert "val_loss" in row.metrics_json


def test_corrupt_weights_raise_model_error_naming_file(
    trained: TrainedLSTM, tmp_path: Path
) -> None:
    version = save_model(trained, {}, {}, tmp_path)
    folder = tmp_path / "forecaster" / version
    (folder / "state_dict.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match=r"state_dict\.pt"):
        load_model(folder)
    (folder / "config.json").write_text("{broken")
    with pytest.raises(ModelError, match=r"config\.json"):
        load_model(folder)


def test_market_hash_changes_with_data(small_md: MarketData) -> None:
    prices = small_md.prices.copy()
    prices.iloc[-1, 0] *= 1.01
    changed = replace(small_md, prices=prices)
    assert market_hash(small_md) != market_hash(changed)
    assert market_hash(small_md, "2008-12-31") == market_hash(changed, "2008-12-31")


def test_forecast_latest_uses_only_data_up_to_as_of(
    trained: TrainedLSTM, panel: Panel, small_md: MarketData
) -> None:
    as_of = pd.Timestamp("2009-03-31")
    out = forecast_latest(small_md, trained, as_of)
    assert list(out.columns) == ["date", "ticker", "forecast_vol"]
    assert (out["date"] == as_of).all() and set(out["ticker"]) == set(small_md.tickers)
    t = panel.dates.get_loc(as_of)
    ref = predict_lstm(trained, panel, t, t)[:, 0]
    np.testing.assert_allclose(
        out.set_index("ticker").loc[panel.tickers, "forecast_vol"], ref, rtol=1e-6
    )


def test_forecast_range_matches_day_by_day(trained: TrainedLSTM, small_md: MarketData) -> None:
    days = small_md.dates[(small_md.dates >= "2009-03-25") & (small_md.dates <= "2009-03-31")]
    rng = forecast_range(small_md, trained, days[0], days[-1])
    assert sorted(set(rng["date"])) == list(days)
    one_by_one = pd.concat([forecast_latest(small_md, trained, d) for d in days], ignore_index=True)
    pd.testing.assert_frame_equal(rng, one_by_one, check_dtype=False, rtol=1e-6)
