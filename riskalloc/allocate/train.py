"""End-to-end training of the allocator on holding-period portfolio returns net of costs.

Samples are blocks of L consecutive rebalances h days apart. For each block the loss is

    −Sharpe(excess returns net of costs) + λ_dd · max drawdown + λ_to · mean turnover,

(or −mean / CVaR₉₅ with ``objective="starr"``, the CVaR-based alternative, or
−mean + λ_var · variance with ``objective="mean_var"``). Only decisions whose h-day outcome
is complete before the training end are used; the last ``val_days`` of that window (purged by
h days) drive early stopping on the validation Sharpe.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

import numpy as np
import torch

from riskalloc.allocate.dataset import AllocatorData
from riskalloc.allocate.model import Allocation, AllocatorNetwork, NetworkConfig
from riskalloc.errors import ConfigError, DataError, ModelError
from riskalloc.seeding import seed_everything, torch_device
from riskalloc.training import EarlyStopping, fit_with_early_stopping

Objective = Literal["sharpe", "starr", "mean_var"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (chosen on pre-2017 validation data only)."""

    horizon: int = 5  # trading days between rebalances in training
    block: int = 26  # rebalances per sample (half a year of weekly steps)
    batch: int = 16
    blocks_per_epoch: int = 128
    epochs: int = 20
    patience: int = 4
    lr: float = 3e-3
    weight_decay: float = 1e-4
    cost_bps: float = 10.0
    objective: Objective = "sharpe"  # "sharpe", "starr" (mean / CVaR 95 %) or "mean_var"
    lam_var: float = 5.0
    lam_dd: float = 1.0
    lam_turnover: float = 0.05
    lam_tilt: float = 0.0  # penalty on the mean squared budget tilt (tilt mode): pulls to ERC
    val_days: int = 252
    seed: int = 0

    def __post_init__(self) -> None:
        """Reject unknown options up front (not in the middle of training)."""
        if self.objective not in get_args(Objective):
            raise ConfigError(
                f"TrainConfig.objective={self.objective!r}; use one of {get_args(Objective)}"
            )
        counts = ("horizon", "block", "batch", "blocks_per_epoch", "epochs", "patience", "val_days")
        small = [n for n in counts if int(getattr(self, n)) < 1]
        if small:
            raise ConfigError(f"TrainConfig: {', '.join(small)} must be at least 1")
        if not self.lr > 0:
            raise ConfigError(f"TrainConfig.lr must be positive, got {self.lr}")

    def to_dict(self) -> dict:
        """Plain dict for config.json."""
        return asdict(self)


@dataclass
class Normaliser:
    """Per-feature mean and scale from the training rows (applied at every later date)."""

    asset_mean: np.ndarray
    asset_std: np.ndarray
    macro_mean: np.ndarray
    macro_std: np.ndarray

    @classmethod
    def fit(cls, data: AllocatorData) -> Normaliser:
        """Statistics of ``data`` (the training slice only)."""
        a = data.asset_x.reshape(-1, data.asset_x.shape[-1]).astype(float)
        return cls(a.mean(0), a.std(0) + 1e-8, data.macro_x.mean(0), data.macro_x.std(0) + 1e-8)

    def apply(self, data: AllocatorData, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised (asset, macro) features at rows ``idx``, clipped to ±5."""
        a = np.clip((data.asset_x[idx] - self.asset_mean) / self.asset_std, -5, 5)
        m = np.clip((data.macro_x[idx] - self.macro_mean) / self.macro_std, -5, 5)
        return a.astype(np.float32), m.astype(np.float32)

    def to_dict(self) -> dict:
        """JSON-ready lists, with each array's dtype so a loaded model normalises bit for bit
        as the trained one (float32 statistics stay float32)."""
        arrays = asdict(self)
        out: dict = {k: np.asarray(v, float).tolist() for k, v in arrays.items()}
        out["dtypes"] = {k: np.asarray(v).dtype.name for k, v in arrays.items()}
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Normaliser:
        """Inverse of :meth:`to_dict` (files without ``dtypes`` load as float64)."""
        dtypes = d.get("dtypes", {})
        return cls(
            **{
                k: np.asarray(v, float).astype(dtypes.get(k, "float64"))
                for k, v in d.items()
                if k != "dtypes"
            }
        )


@dataclass
class TrainedNetwork:
    """A fitted model with its normaliser, configs and training history."""

    model: AllocatorNetwork
    norm: Normaliser
    cfg: NetworkConfig
    train_cfg: TrainConfig
    tickers: list[str]
    meta: dict = field(default_factory=dict)

    def allocate(self, data: AllocatorData, idx: np.ndarray | list[int]) -> Allocation:
        """Allocations at rows ``idx`` of ``data`` (no gradient)."""
        if list(data.tickers) != list(self.tickers):
            raise ModelError(f"model trained on tickers {self.tickers} but data has {data.tickers}")
        if not data.has_factors:
            raise DataError(
                "allocator data built with factors=False has no correlation: an allocation"
                " needs build_allocator_data(..., factors=True)"
            )
        idx = np.asarray(idx, int)
        self.model.eval()
        with torch.no_grad():
            return _forward(self.model, self.norm, data, idx, next(self.model.parameters()).device)


def _forward(
    model: AllocatorNetwork, norm: Normaliser, data: AllocatorData, idx: np.ndarray, device: str
) -> Allocation:
    a, m = norm.apply(data, idx)
    return model(
        torch.from_numpy(a).to(device),
        torch.from_numpy(m).to(device),
        torch.from_numpy(data.vol[idx]).to(device),
        torch.from_numpy(data.loadings[idx]).to(device),
        torch.from_numpy(data.uniq[idx]).to(device),
    )


def holding_returns(data: AllocatorData, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Buy-and-hold growth over days t+1..t+h per asset (T, n) and of cash (T,); NaN at the end."""
    T = len(data.dates)
    g = np.full(data.daily_ret.shape, np.nan)
    grf = np.full(T, np.nan)
    logp = np.cumsum(np.log1p(data.daily_ret), axis=0)
    crf = np.cumsum(np.log1p(data.rf))
    g[: T - h] = np.expm1(logp[h:] - logp[: T - h])
    grf[: T - h] = np.expm1(crf[h:] - crf[: T - h])
    return g, grf


def block_loss(
    alloc: Allocation,
    g: torch.Tensor,
    grf: torch.Tensor,
    shape: tuple[int, int],
    cfg: TrainConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training objective on (blocks, steps) of allocations and their realised growth."""
    nb, steps = shape
    w = alloc.weights.reshape(nb, steps, -1).float()
    e = alloc.exposure.reshape(nb, steps).float()
    g = g.reshape(nb, steps, -1).float()
    grf = grf.reshape(nb, steps).float()
    turnover = (w[:, 1:] - w[:, :-1]).abs().sum(-1)
    cost = torch.cat([torch.zeros_like(turnover[:, :1]), turnover], 1) * cfg.cost_bps / 1e4
    r = (w * g).sum(-1) + (1 - e) * grf - cost
    ex = r - grf
    wealth = torch.cumprod(1 + r, dim=1)
    peak = torch.cummax(wealth, dim=1).values
    mdd = (1 - wealth / peak).amax(1)
    if cfg.objective == "sharpe":
        risk_adj = ex.mean(1) / (ex.std(1) + 1e-4)
    elif cfg.objective == "starr":
        k = max(1, round(0.05 * ex.shape[1]))
        cvar = (-ex).topk(k, dim=1).values.mean(1)  # mean of the worst 5 % of holding returns
        risk_adj = ex.mean(1) / (cvar.clamp_min(0.0) + 1e-3)
    elif cfg.objective == "mean_var":
        risk_adj = ex.mean(1) - cfg.lam_var * ex.var(1)
    else:
        raise ModelError(f"unknown objective {cfg.objective!r}")
    loss = (-risk_adj + cfg.lam_dd * mdd + cfg.lam_turnover * turnover.mean(1)).mean()
    if alloc.tilt is not None and cfg.lam_tilt > 0:
        loss = loss + cfg.lam_tilt * alloc.tilt.float().pow(2).mean()
    return loss, {"mdd": float(mdd.detach().mean()), "turnover": float(turnover.detach().mean())}


def _sharpe_path(
    model: AllocatorNetwork,
    norm: Normaliser,
    data: AllocatorData,
    idx: np.ndarray,
    g: np.ndarray,
    grf: np.ndarray,
    cfg: TrainConfig,
    device: str,
) -> float:
    """Annualised Sharpe net of costs of non-overlapping h-day holdings at rows ``idx``."""
    with torch.no_grad():
        alloc = _forward(model, norm, data, idx, device)
        w = alloc.weights.cpu().double().numpy()
        e = alloc.exposure.cpu().double().numpy()
    turnover = np.abs(np.diff(w, axis=0, prepend=w[:1])).sum(1)
    r = (w * g[idx]).sum(1) + (1 - e) * grf[idx] - turnover * cfg.cost_bps / 1e4
    ex = r - grf[idx]
    return float(ex.mean() / (ex.std() + 1e-12) * math.sqrt(252 / cfg.horizon))


def train_allocator(
    data: AllocatorData,
    cfg: NetworkConfig | None = None,
    train_cfg: TrainConfig | None = None,
    *,
    progress: bool = False,
) -> TrainedNetwork:
    """Fit on every row of ``data`` (the caller cuts it at the training end)."""
    tc = train_cfg or TrainConfig()
    mc = cfg or NetworkConfig(len(data.asset_features), len(data.macro_features))
    seed_everything(tc.seed)
    rng = np.random.default_rng(tc.seed)
    device = torch_device()
    T, h, L = len(data.dates), tc.horizon, tc.block
    g_np, grf_np = holding_returns(data, h)
    last_ok = T - h - 1  # last decision whose outcome is inside the data
    val_lo = last_ok - tc.val_days + 1
    train_hi = val_lo - h  # purge: training outcomes end before validation decisions start
    max_start = train_hi - (L - 1) * h
    if max_start < 1 or val_lo < 0:
        raise DataError(
            f"training window {data.dates[0].date()}..{data.dates[-1].date()} is too short "
            f"for blocks of {L}x{h} days plus {tc.val_days} validation days"
        )
    norm = Normaliser.fit(data.slice(0, train_hi + h))
    model = AllocatorNetwork(mc).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    g_t = torch.from_numpy(np.nan_to_num(g_np)).to(device)
    grf_t = torch.from_numpy(np.nan_to_num(grf_np)).to(device)
    val_idx = np.arange(val_lo, last_ok + 1, h)

    def run_epoch(epoch: int) -> dict[str, float]:
        starts = rng.integers(0, max_start + 1, size=tc.blocks_per_epoch)
        losses = []
        for s in range(0, len(starts), tc.batch):
            chunk = starts[s : s + tc.batch]
            idx = (chunk[:, None] + h * np.arange(L)[None, :]).reshape(-1)
            alloc = _forward(model, norm, data, idx, device)
            loss, _ = block_loss(alloc, g_t[idx], grf_t[idx], (len(chunk), L), tc)
            if not torch.isfinite(loss):
                raise ModelError(
                    f"allocator training produced a non-finite loss at epoch {epoch} "
                    f"(window {data.dates[0].date()}..{data.dates[-1].date()})"
                )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(loss.detach()))
        return {"train_loss": float(np.mean(losses))}

    fit = fit_with_early_stopping(
        model,
        tc.epochs,
        run_epoch,
        lambda _: _sharpe_path(model, norm, data, val_idx, g_np, grf_np, tc, device),
        EarlyStopping("max", tc.patience, 1e-4),
        score_name="val_sharpe",
        progress="allocator" if progress else None,
    )
    best, history = fit.best_score, fit.history
    meta = {
        "train_start": str(data.dates[0].date()),
        "train_end": str(data.dates[-1].date()),
        "val_start": str(data.dates[val_lo].date()),
        "val_sharpe": float(best),
        "epochs": len(history),
        "history": history,
    }
    return TrainedNetwork(model, norm, mc, tc, list(data.tickers), meta)
