"""A small LSTM shared across assets that corrects the EWMA log-vol forecast.

Input: the last ``seq_len`` days of standardised asset and macro features; output: log vol over
the next h days as ``log EWMA vol + correction``, so an untrained head starts at the baseline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn

from riskalloc.errors import ConfigError, ModelError
from riskalloc.forecast.panel import FeatureSet, Panel
from riskalloc.seeding import seed_everything, torch_device
from riskalloc.training import EarlyStopping, fit_with_early_stopping, torch_threads

Loss = Literal["logmse", "qlike"]
Base = Literal["ewma", "garch"]
Schedule = Literal["constant", "cosine"]


@dataclass(frozen=True)
class LSTMConfig:
    """Hyper-parameters. The defaults are the v1 ``lstm`` (chosen on the 2012-2016 folds).

    v1 validation QLIKE (all assets, EWMA 0.2266, HAR 0.2126): seq 63/lr 3e-3 0.2107; lr 1e-3
    0.1914; seq 21/lr 1e-3 0.1907 (stride 5), 0.1855 (stride 3, kept); QLIKE loss 0.2205.
    v2 options: ``features="v2"`` (HAR terms, |r|, r², semivariance, GARCH forecast),
    ``base="garch"`` (correct the asset's GARCH forecast instead of EWMA), ``bias_correct``
    (add the lognormal mean correction s² of the training log-vol residuals, so a log-MSE
    median forecast becomes a mean-variance one), ``lr_schedule="cosine"`` and ``clip_z``
    (clamp standardised inputs, 0 = off). See ``riskalloc.forecast.selection``.
    """

    seq_len: int = 21
    hidden: int = 32
    emb_dim: int = 4  # 0 disables the asset embedding
    stride: int = 3  # subsample training windows every ``stride`` days
    # an epoch is at most this many windows, drawn afresh each epoch, so its cost stops growing
    # with the number of assets (512 batches; the bundled 35 ETFs have fewer, all used)
    max_windows: int | None = 131_072
    max_epochs: int = 8
    patience: int = 2
    lr: float = 1e-3
    batch_size: int = 256
    loss: Loss = "logmse"
    val_days: int = 252  # early-stopping window: the last year of labels before the fold
    train_years: int | None = None  # None: all history before the validation window
    weight_decay: float = 1e-4
    val_metric: Loss = "qlike"  # early stopping and shrinkage are judged on validation QLIKE
    shrink_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    threads: int = 1  # intra-op CPU threads while training/predicting (restored afterwards)
    seed: int = 0
    features: FeatureSet = "v1"
    base: Base = "ewma"
    bias_correct: bool = False
    lr_schedule: Schedule = "constant"
    clip_z: float = 0.0

    def __post_init__(self) -> None:
        """Reject unknown options up front (not at the first epoch)."""
        for name, kind in (
            ("loss", Loss),
            ("val_metric", Loss),
            ("base", Base),
            ("lr_schedule", Schedule),
            ("features", FeatureSet),
        ):
            if getattr(self, name) not in get_args(kind):
                raise ConfigError(
                    f"LSTMConfig.{name}={getattr(self, name)!r}; use one of {get_args(kind)}"
                )
        if self.base == "garch" and self.features != "v2":
            raise ConfigError("LSTMConfig.base='garch' needs features='v2' (the GARCH input)")
        if self.max_windows is not None and self.max_windows < self.batch_size:
            raise ConfigError(
                f"LSTMConfig.max_windows={self.max_windows} is below one batch ({self.batch_size})"
            )
        if self.max_epochs < 1 or self.patience < 1 or self.lr <= 0 or self.clip_z < 0:
            raise ConfigError("LSTMConfig needs max_epochs, patience >= 1, lr > 0, clip_z >= 0")

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


class VolLSTM(nn.Module):
    """LSTM over feature sequences + optional asset embedding -> log-vol correction."""

    def __init__(self, n_features: int, n_assets: int, cfg: LSTMConfig) -> None:
        super().__init__()
        self.register_buffer("mu", torch.zeros(n_features))
        self.register_buffer("sd", torch.ones(n_features))
        # weight of the learned correction, picked on the validation window (1 while training)
        self.register_buffer("shrink", torch.ones(()))
        self.lstm = nn.LSTM(n_features, cfg.hidden, batch_first=True)
        self.emb = nn.Embedding(n_assets + 1, cfg.emb_dim) if cfg.emb_dim > 0 else None
        self.head = nn.Linear(cfg.hidden + max(cfg.emb_dim, 0), 1)
        self.clip_z = float(cfg.clip_z)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, asset: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """x (batch, seq, feat) raw, asset (batch,) ids (0 = unknown), base (batch,) log EWMA."""
        z = (x - self.mu) / self.sd
        if self.clip_z > 0:
            z = z.clamp(-self.clip_z, self.clip_z)
        _, (h, _) = self.lstm(z)
        feats = h[-1]
        if self.emb is not None:
            feats = torch.cat([feats, self.emb(asset)], dim=1)
        return base + self.shrink * self.head(feats).squeeze(1)


@dataclass
class TrainedLSTM:
    """A fitted model plus what is needed to apply it and register it."""

    model: VolLSTM
    config: LSTMConfig
    feature_names: list[str]
    tickers: list[str]
    history: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def asset_ids(self, tickers: list[str]) -> np.ndarray:
        """Embedding ids of ``tickers`` (0 for a ticker the model never saw)."""
        pos = {t: i + 1 for i, t in enumerate(self.tickers)}
        return np.array([pos.get(t, 0) for t in tickers], dtype=np.int64)


def loss_fn(kind: Loss, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean log-MSE or QLIKE (on variances) between predicted and realised log vol."""
    if kind == "logmse":
        return ((pred - target) ** 2).mean()
    if kind == "qlike":
        d = 2.0 * (target - pred)  # log(realised var / forecast var)
        return (torch.exp(d) - d - 1.0).mean()
    raise ModelError(f"unknown forecaster loss {kind!r}; use 'logmse' or 'qlike'")


def _gather(panel_x: torch.Tensor, a: np.ndarray, t: np.ndarray, seq_len: int) -> torch.Tensor:
    """Windows x[a, t-seq_len+1 .. t] as (n, seq_len, features)."""
    offs = torch.arange(-seq_len + 1, 1)
    ti = torch.as_tensor(t)[:, None] + offs
    return panel_x[torch.as_tensor(a)[:, None], ti]


def sample_index(
    panel: Panel, lo: int, hi: int, seq_len: int, stride: int, need_target: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(asset, date) positions with date in [lo, hi], a full input window and finite base."""
    ok = panel.window_ok(seq_len) & np.isfinite(panel.base)
    if need_target:
        ok &= np.isfinite(panel.target)
    cols = np.arange(max(lo, 0), hi + 1)
    cols = cols[(cols - cols[-1]) % stride == 0] if len(cols) else cols
    sub = ok[:, cols]
    a, j = np.nonzero(sub)
    return a, cols[j]


def _predict_idx(
    model: VolLSTM,
    x: torch.Tensor,
    panel: Panel,
    ids: np.ndarray,
    a: np.ndarray,
    t: np.ndarray,
    seq_len: int,
    batch: int = 4096,
) -> np.ndarray:
    """Predicted log vol at (a, t) positions."""
    out = []
    dev = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for s in range(0, len(a), batch):
            aa, tt = a[s : s + batch], t[s : s + batch]
            xb = _gather(x, aa, tt, seq_len).to(dev)
            bb = torch.as_tensor(panel.base[aa, tt], dtype=torch.float32, device=dev)
            ib = torch.as_tensor(ids[aa], device=dev)
            out.append(model(xb, ib, bb).cpu().numpy())
    return np.concatenate(out) if out else np.empty(0)


def train_lstm(panel: Panel, label_end: int, cfg: LSTMConfig | None = None) -> TrainedLSTM:
    """Fit on windows whose targets end by date index ``label_end + h`` (known before the fold).

    The last ``val_days`` label dates (after an h-day gap) are the early-stopping window; on
    it the correction's weight (``shrink_grid``) is also picked, so a net that does not beat
    EWMA on validation falls back towards it. Raises ``ModelError`` if the loss turns NaN.
    """
    cfg = cfg or LSTMConfig()
    with torch_threads(cfg.threads):
        return _train(panel, label_end, cfg)


def _train(panel: Panel, label_end: int, cfg: LSTMConfig) -> TrainedLSTM:
    """``train_lstm`` body (runs under the configured thread count)."""
    seed_everything(cfg.seed)
    dev = torch_device()
    h = panel.horizon
    val_lo = label_end - cfg.val_days + 1
    train_hi = val_lo - h - 1
    train_lo = 0 if cfg.train_years is None else train_hi - 252 * cfg.train_years
    a_tr, t_tr = sample_index(panel, train_lo, train_hi, cfg.seq_len, cfg.stride, True)
    a_va, t_va = sample_index(panel, val_lo, label_end, cfg.seq_len, 1, True)
    if len(a_tr) < cfg.batch_size or len(a_va) == 0:
        raise ModelError(
            f"too little history to train the forecaster before {panel.dates[label_end].date()}: "
            f"{len(a_tr)} training and {len(a_va)} validation windows"
        )
    x = torch.as_tensor(panel.x_filled)
    rows = panel.x[:, max(train_lo, 0) : train_hi + 1][
        panel.row_ok()[:, max(train_lo, 0) : train_hi + 1]
    ]
    model = VolLSTM(panel.x.shape[2], len(panel.tickers), cfg).to(dev)
    model.mu.copy_(torch.as_tensor(rows.mean(axis=0)))
    model.sd.copy_(torch.as_tensor(np.maximum(rows.std(axis=0), 1e-6)))
    ids = np.arange(1, len(panel.tickers) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.max_epochs, eta_min=cfg.lr / 20)
        if cfg.lr_schedule == "cosine"
        else None
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    y_va = panel.target[a_va, t_va]

    def run_epoch(epoch: int) -> dict[str, float]:
        perm = torch.randperm(len(a_tr), generator=gen).numpy()[: cfg.max_windows]
        total = 0.0
        for s in range(0, len(perm), cfg.batch_size):
            b = perm[s : s + cfg.batch_size]
            aa, tt = a_tr[b], t_tr[b]
            xb = _gather(x, aa, tt, cfg.seq_len).to(dev)
            bb = torch.as_tensor(panel.base[aa, tt], dtype=torch.float32, device=dev)
            yb = torch.as_tensor(panel.target[aa, tt], dtype=torch.float32, device=dev)
            ib = torch.as_tensor(ids[aa], device=dev)
            loss = loss_fn(cfg.loss, model(xb, ib, bb), yb)
            if not torch.isfinite(loss):
                raise ModelError(
                    f"forecaster training loss became {loss.item()} at epoch {epoch} "
                    f"(fold ending {panel.dates[label_end].date()}); check inputs for inf/NaN"
                )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        lr_now = opt.param_groups[0]["lr"]
        if sched is not None:
            sched.step()
        return {"train_loss": total / len(perm), "lr": lr_now}

    def validate(_: int) -> float:
        pred_va = _predict_idx(model, x, panel, ids, a_va, t_va, cfg.seq_len)
        return float(loss_fn(cfg.val_metric, torch.as_tensor(pred_va), torch.as_tensor(y_va)))

    fit = fit_with_early_stopping(
        model,
        cfg.max_epochs,
        run_epoch,
        validate,
        EarlyStopping("min", cfg.patience, 1e-6),
        threads=cfg.threads,
    )
    best, best_epoch, history = fit.best_score, fit.best_epoch, fit.history
    log_bias = _lognormal_bias(model, x, panel, ids, a_tr, t_tr, cfg) if cfg.bias_correct else 0.0
    shrink, val_by_shrink = _pick_shrink(model, x, panel, ids, a_va, t_va, y_va, cfg)
    model.shrink.fill_(shrink)
    final_va = _predict_idx(model, x, panel, ids, a_va, t_va, cfg.seq_len) + log_bias
    meta = {
        "train_start": str(panel.dates[int(t_tr.min())].date()),
        "train_end": str(panel.dates[label_end].date()),
        "labels_known_by": str(panel.dates[min(label_end + h, len(panel.dates) - 1)].date()),
        "horizon": h,
        "train_label_end": str(panel.dates[int(t_tr.max())].date()),
        "val_start": str(panel.dates[int(t_va.min())].date()),
        "n_train": len(a_tr),
        "windows_per_epoch": min(len(a_tr), cfg.max_windows or len(a_tr)),
        "n_val": len(a_va),
        "best_val_loss": best,
        "val_metric": cfg.val_metric,
        "val_loss_ewma": float(
            loss_fn(cfg.val_metric, torch.as_tensor(panel.base[a_va, t_va]), torch.as_tensor(y_va))
        ),
        "val_loss_by_shrink": {str(k): v for k, v in val_by_shrink.items()},
        "shrink": shrink,
        "kept_epoch": best_epoch + 1,  # 1-based; the weights of this epoch are the ones returned
        "epochs_run": len(history),
        "log_bias": log_bias,
        "val_qlike": float(
            loss_fn("qlike", torch.as_tensor(final_va), torch.as_tensor(y_va.astype(np.float64)))
        ),
    }
    return TrainedLSTM(model, cfg, list(panel.feature_names), list(panel.tickers), history, meta)


def _lognormal_bias(
    model: VolLSTM,
    x: torch.Tensor,
    panel: Panel,
    ids: np.ndarray,
    a_tr: np.ndarray,
    t_tr: np.ndarray,
    cfg: LSTMConfig,
    max_rows: int = 20000,
) -> float:
    """s² of the training log-vol residuals: if log vol ~ N(m, s²), E[vol²] = exp(2m + 2s²),
    so the mean-variance (QLIKE-optimal) vol forecast is exp(m + s²)."""
    step = max(1, len(a_tr) // max_rows)
    a, t = a_tr[::step], t_tr[::step]
    resid = panel.target[a, t] - _predict_idx(model, x, panel, ids, a, t, cfg.seq_len)
    return float(np.var(resid))


def _pick_shrink(
    model: VolLSTM,
    x: torch.Tensor,
    panel: Panel,
    ids: np.ndarray,
    a_va: np.ndarray,
    t_va: np.ndarray,
    y_va: np.ndarray,
    cfg: LSTMConfig,
) -> tuple[float, dict[float, float]]:
    """Validation loss for each correction weight; the best weight (ties -> smaller)."""
    full = _predict_idx(model, x, panel, ids, a_va, t_va, cfg.seq_len)
    base = panel.base[a_va, t_va]
    y = torch.as_tensor(y_va)
    losses = {
        float(w): float(loss_fn(cfg.val_metric, torch.as_tensor(base + w * (full - base)), y))
        for w in cfg.shrink_grid
    }
    best = min(losses.items(), key=lambda kv: (kv[1], kv[0]))[0]
    return best, losses


def predict_lstm(trained: TrainedLSTM, panel: Panel, t_lo: int, t_hi: int) -> np.ndarray:
    """(assets, t_hi - t_lo + 1) annualised vol forecasts; NaN where an input window is missing."""
    if list(panel.feature_names) != trained.feature_names:
        raise ModelError(
            f"panel features {panel.feature_names} differ from the model's {trained.feature_names}"
        )
    cfg = trained.config
    out = np.full((len(panel.tickers), t_hi - t_lo + 1), np.nan)
    a, t = sample_index(panel, t_lo, t_hi, cfg.seq_len, 1, False)
    if len(a) == 0:
        return out
    ids = trained.asset_ids(panel.tickers)
    x = torch.as_tensor(panel.x_filled)
    with torch_threads(cfg.threads):
        pred = _predict_idx(trained.model, x, panel, ids, a, t, cfg.seq_len)
    out[a, t - t_lo] = np.exp(pred + float(trained.meta.get("log_bias", 0.0)))
    return out
