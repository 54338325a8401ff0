"""The one early-stopping training loop every network of riskalloc is fitted with.

The volatility LSTM, the allocator network and the deep-learning baseline differ in what an
epoch does and in how they score the validation window; they share this loop: run an epoch,
score it, keep the best weights seen, stop after ``patience`` epochs without improvement,
and hand back the best weights (the initial ones when no epoch ever improved).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from tqdm.auto import tqdm

from riskalloc.errors import ConfigError

__all__ = ["EarlyStopping", "FitResult", "fit_with_early_stopping"]

Mode = Literal["min", "max"]


@dataclass(frozen=True)
class EarlyStopping:
    """When an epoch counts as better, and how long to wait for one.

    ``mode`` says whether the validation score is minimised (a loss) or maximised (a Sharpe
    ratio); an epoch improves when it beats the best by more than ``min_delta``;
    ``patience=None`` runs every epoch and still returns the best one.
    """

    mode: Mode = "min"
    patience: int | None = None
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        """Refuse options that would make the loop meaningless, before any training."""
        if self.mode not in ("min", "max"):
            raise ConfigError(f"EarlyStopping.mode={self.mode!r}; use 'min' or 'max'")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"EarlyStopping.patience must be at least 1, got {self.patience}")
        if not self.min_delta >= 0:
            raise ConfigError(f"EarlyStopping.min_delta must be >= 0, got {self.min_delta}")

    def improves(self, score: float, best: float) -> bool:
        """Whether ``score`` beats ``best`` by more than ``min_delta``."""
        if self.mode == "min":
            return score < best - self.min_delta
        return score > best + self.min_delta


@dataclass
class FitResult:
    """What the loop saw: the best validation score, its epoch (0-based; -1 when none
    improved on the initial weights) and one history row per epoch run."""

    best_score: float
    best_epoch: int
    history: list[dict] = field(default_factory=list)

    @property
    def epochs_run(self) -> int:
        """How many epochs ran before the loop stopped."""
        return len(self.history)


class _Module:  # the part of torch.nn.Module the loop needs (typing only)
    def train(self, mode: bool = True) -> object: ...
    def eval(self) -> object: ...
    def state_dict(self) -> Mapping: ...
    def load_state_dict(self, state: Mapping) -> object: ...


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Temporarily set torch's intra-op threads (restored afterwards). Our models are small:
    fastest on one thread (on a busy 2-core machine 2 threads measured ~16x slower, spin-waiting),
    and torch's parallel sums depend on the thread count, so one thread also gives the same
    weights on any machine."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fit_with_early_stopping(
    model: _Module,
    max_epochs: int,
    run_epoch: Callable[[int], Mapping[str, float]],
    validate: Callable[[int], float],
    stopping: EarlyStopping,
    *,
    score_name: str = "val_loss",
    progress: str | None = None,
    threads: int = 1,
) -> FitResult:
    """Train ``model`` for up to ``max_epochs`` and leave it, in eval mode, at its best epoch.

    ``run_epoch(epoch)`` does one pass over the training data (the model is in train mode) and
    returns what to log (e.g. ``{"train_loss": ...}``); ``validate(epoch)`` scores the model in
    eval mode. ``progress`` names a progress bar (none when None). The fit runs on ``threads``
    torch threads (one by default: the same weights whatever the machine's cores).
    """
    with torch_threads(threads):
        best = math.inf if stopping.mode == "min" else -math.inf
        best_state, best_epoch, bad, history = copy.deepcopy(model.state_dict()), -1, 0, []
        epochs = tqdm(range(max_epochs), desc=progress, disable=progress is None, leave=False)
        for epoch in epochs:
            model.train()
            logged = dict(run_epoch(epoch))
            model.eval()
            score = float(validate(epoch))
            history.append({"epoch": epoch, **logged, score_name: score})
            if stopping.improves(score, best):
                best, best_state, best_epoch, bad = (
                    score,
                    copy.deepcopy(model.state_dict()),
                    epoch,
                    0,
                )
            else:
                bad += 1
                if stopping.patience is not None and bad >= stopping.patience:
                    break
        model.load_state_dict(best_state)
        model.eval()
        return FitResult(best, best_epoch, history)
