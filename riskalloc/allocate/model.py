"""The allocator network: features → regime mix of risk budgets → exact risk-budgeting weights.

Per date: asset features and volatility forecasts are encoded per asset, mixed across assets
by induced-set (linear-cost) attention, and scored by K regime-specific heads; a macro
regime module gives the K probabilities that mix the heads' budgets. The differentiable
layer turns budgets and the factor covariance into weights, and an adaptive volatility
target, moved by the regime and the indicators, sets the exposure (the rest is cash).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, get_args

import torch
from torch import nn

from riskalloc.allocate.attention import InducedSetAttention
from riskalloc.allocate.covariance import factor_cov
from riskalloc.allocate.risk_budgeting import solve_risk_budgeting
from riskalloc.errors import ConfigError

BudgetMode = Literal["heads", "tilt"]  # floored softmax per regime head, or a tilt around 1/n


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture and ablation switches (all JSON-serialisable)."""

    n_asset_features: int
    n_macro_features: int
    hidden: int = 32
    heads: int = 2
    inducing: int = 8
    regimes: int = 3
    budget_floor: float = 0.2  # share of the budget spread equally: b_i ≥ floor / n
    target_min: float = 0.05
    target_max: float = 0.12
    use_regime: bool = True
    adaptive_target: bool = True
    learn_budgets: bool = True
    use_macro: bool = True
    # "heads": a floored softmax per regime head; "tilt": log b = log(1/n) + tilt, the tilt
    # centred per date (the model starts from equal risk and must earn each deviation)
    budget_mode: BudgetMode = "heads"
    fully_invested: bool = False  # exposure 1 (the vol overlay, if any, is applied outside)

    def __post_init__(self) -> None:
        if self.budget_mode not in get_args(BudgetMode):
            raise ConfigError(
                f"budget_mode {self.budget_mode!r}: use one of {list(get_args(BudgetMode))}"
            )

    def to_dict(self) -> dict:
        """Plain dict for config.json."""
        return asdict(self)


@dataclass
class Allocation:
    """Everything the model decides for a batch of dates."""

    weights: torch.Tensor  # (B, n) risky weights, sum = exposure
    budgets: torch.Tensor  # (B, n) risk budgets (simplex)
    exposure: torch.Tensor  # (B,)
    target_vol: torch.Tensor  # (B,) annualised
    predicted_vol: torch.Tensor  # (B,) of the fully invested risk-budgeting portfolio
    regime_probs: torch.Tensor  # (B, K)
    rb_weights: torch.Tensor  # (B, n) fully invested risk-budgeting weights
    tilt: torch.Tensor | None = None  # (B, n) log-budget tilt from equal risk (tilt mode)


class AllocatorNetwork(nn.Module):
    """The end-to-end allocator (see module docstring)."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        k = cfg.regimes if cfg.use_regime else 1
        self.encode = nn.Sequential(
            nn.Linear(cfg.n_asset_features + 1, h), nn.GELU(), nn.Linear(h, h)
        )
        self.macro_in = nn.Linear(cfg.n_macro_features, h) if cfg.use_macro else None
        self.mix = InducedSetAttention(h, cfg.heads, cfg.inducing)
        self.heads = nn.Linear(h, k)  # one budget score per regime head
        self.regime = (
            nn.Sequential(nn.Linear(cfg.n_macro_features, h), nn.GELU(), nn.Linear(h, k))
            if cfg.use_regime
            else None
        )
        self.target = (
            nn.Sequential(nn.Linear(cfg.n_macro_features + k, h), nn.GELU(), nn.Linear(h, 1))
            if cfg.adaptive_target
            else None
        )

    def regime_probs(self, macro: torch.Tensor) -> torch.Tensor:
        """(B, K) regime probabilities from the macro state (one regime when disabled)."""
        if self.regime is None:
            return torch.ones(macro.shape[0], 1, dtype=macro.dtype, device=macro.device)
        return torch.softmax(self.regime(macro), -1)

    def budgets(
        self, asset_x: torch.Tensor, macro: torch.Tensor, log_vol: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Risk budgets (B, n), regime probabilities (B, K) and the tilt (tilt mode)."""
        probs = self.regime_probs(macro)
        n = asset_x.shape[1]
        if not self.cfg.learn_budgets:
            eq = torch.full(asset_x.shape[:2], 1.0 / n, dtype=asset_x.dtype, device=asset_x.device)
            return eq, probs, None
        z = self.encode(torch.cat([asset_x, log_vol.unsqueeze(-1)], -1))
        if self.macro_in is not None:
            z = z + self.macro_in(macro).unsqueeze(1)
        z = self.mix(z)
        if self.cfg.budget_mode == "tilt":
            tilt = torch.einsum("bnk,bk->bn", self.heads(z), probs)
            tilt = tilt - tilt.mean(-1, keepdim=True)
            return torch.softmax(tilt, dim=-1), probs, tilt  # softmax(log(1/n) + tilt)
        per_head = torch.softmax(self.heads(z), dim=1)  # (B, n, K): a simplex per head
        floor = self.cfg.budget_floor
        per_head = floor / n + (1 - floor) * per_head
        return torch.einsum("bnk,bk->bn", per_head, probs), probs, None

    def forward(
        self,
        asset_x: torch.Tensor,
        macro: torch.Tensor,
        vol: torch.Tensor,
        loadings: torch.Tensor,
        uniq: torch.Tensor,
    ) -> Allocation:
        """Weights for B dates: features (B,n,p), macro (B,q), annualised vols (B,n), factor
        loadings (B,n,k) and uniquenesses (B,n) of the correlation."""
        b, probs, tilt = self.budgets(asset_x, macro, torch.log(vol).to(asset_x.dtype))
        b = b.to(torch.float64)
        b = b / b.sum(-1, keepdim=True)  # exactly on the simplex in float64 (float32 is ~4e-8 off)
        cov = factor_cov(vol.to(torch.float64), loadings.to(torch.float64), uniq.to(torch.float64))
        w = solve_risk_budgeting(cov, b, check=False)
        port_vol = torch.sqrt((w * cov.matvec(w)).sum(-1))
        lo, hi = self.cfg.target_min, self.cfg.target_max
        if self.target is not None:
            target = lo + (hi - lo) * torch.sigmoid(self.target(torch.cat([macro, probs], -1)))
            target = target.to(port_vol.dtype)
            target = target.squeeze(-1)
        else:
            target = torch.full_like(port_vol, 0.5 * (lo + hi))
        exposure = torch.clamp(target.to(port_vol.dtype) / port_vol, max=1.0)
        if self.cfg.fully_invested:
            exposure = torch.ones_like(port_vol)
        return Allocation(
            weights=w * exposure.unsqueeze(-1),
            budgets=b,
            exposure=exposure,
            target_vol=target,
            predicted_vol=port_vol,
            regime_probs=probs,
            rb_weights=w,
            tilt=tilt,
        )
