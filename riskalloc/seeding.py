"""Deterministic seeds for Python, NumPy and torch."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy's legacy state and torch; return a fresh NumPy generator."""
    import torch

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (third-party code may use the legacy state)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def torch_device(prefer_gpu: bool = True) -> str:
    """Return ``"cuda"`` when a GPU is present and wanted, else ``"cpu"``."""
    import torch

    return "cuda" if prefer_gpu and torch.cuda.is_available() else "cpu"
