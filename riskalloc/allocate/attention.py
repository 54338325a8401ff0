"""Sparse attention across assets through m learned inducing points (Set Transformer ISAB).

Assets never attend to each other directly: they write into m ≪ n inducing slots and read
back from them, so a layer costs O(n m d) instead of O(n² d), and permuting the assets
permutes the outputs (no positional information anywhere).
"""

from __future__ import annotations

import torch
from torch import nn


class _MAB(nn.Module):
    """Multi-head attention block: queries attend to a key set, then a feed-forward layer."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(
        self, q: torch.Tensor, kv: torch.Tensor, kv_pad: torch.Tensor | None = None
    ) -> torch.Tensor:
        h = self.norm1(q + self.attn(q, kv, kv, key_padding_mask=kv_pad, need_weights=False)[0])
        return self.norm2(h + self.ff(h))


class InducedSetAttention(nn.Module):
    """ISAB(X) = MAB(X, MAB(I, X)) with m learned inducing points I: linear in n."""

    def __init__(self, dim: int, heads: int = 2, inducing: int = 8) -> None:
        super().__init__()
        self.inducing = nn.Parameter(torch.randn(1, inducing, dim) * dim**-0.5)
        self.write = _MAB(dim, heads)
        self.read = _MAB(dim, heads)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, n, d); ``pad`` (B, n) True where an asset is absent (ignored as a key)."""
        slots = self.write(self.inducing.expand(x.shape[0], -1, -1), x, pad)
        return self.read(x, slots)
