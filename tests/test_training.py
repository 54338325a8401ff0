"""The one early-stopping loop: it stops after ``patience`` epochs without improvement and
returns the model at its best epoch, for losses and for scores that are maximised."""

from __future__ import annotations

import pytest
import torch

from riskalloc.errors import ConfigError
from riskalloc.training import EarlyStopping, fit_with_early_stopping


def _run(scores: list[float], stopping: EarlyStopping, max_epochs: int | None = None):
    """Epoch e sets the weight to e + 1 and is scored ``scores[e]``."""
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    modes = []

    def run_epoch(epoch: int) -> dict[str, float]:
        modes.append(model.training)
        with torch.no_grad():
            model.weight.fill_(epoch + 1.0)
        return {"train_loss": float(epoch)}

    def validate(epoch: int) -> float:
        modes.append(model.training)
        return scores[epoch]

    fit = fit_with_early_stopping(
        model, max_epochs or len(scores), run_epoch, validate, stopping, score_name="val"
    )
    return fit, float(model.weight), modes, model.training


def test_stops_after_patience_and_restores_the_best_epoch():
    fit, weight, modes, training = _run([3.0, 1.0, 2.0, 1.5, 0.5], EarlyStopping("min", 2))
    assert fit.epochs_run == 4  # epochs 2 and 3 did not beat 1.0: stop before epoch 4
    assert fit.best_epoch == 1 and fit.best_score == 1.0 and weight == 2.0
    assert modes == [True, False] * 4 and training is False  # train mode, then eval to score
    assert fit.history[2] == {"epoch": 2, "train_loss": 2.0, "val": 2.0}


def test_maximises_a_score_and_min_delta_counts_as_no_improvement():
    fit, weight, _, _ = _run([0.1, 0.5, 0.55, 0.4], EarlyStopping("max", 1, min_delta=0.1))
    assert fit.best_epoch == 1 and weight == 2.0 and fit.epochs_run == 3


def test_without_patience_every_epoch_runs_and_the_best_is_kept():
    fit, weight, _, _ = _run([2.0, 1.0, 3.0, 4.0, 5.0], EarlyStopping("min"))
    assert fit.epochs_run == 5 and fit.best_epoch == 1 and weight == 2.0


def test_when_no_epoch_improves_the_initial_weights_come_back():
    fit, weight, _, _ = _run([float("nan")] * 3, EarlyStopping("min", 5))
    assert fit.best_epoch == -1 and weight == 0.0


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"mode": "up"}, "mode='up'"),
        ({"patience": 0}, "patience"),
        ({"min_delta": -1}, "min_delta"),
    ],
)
def test_bad_options_are_refused_before_training(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        EarlyStopping(**kwargs)
