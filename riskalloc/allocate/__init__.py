"""allocate stage of riskalloc: the exact risk-budgeting layer, the v2 designs, the v1 network.

Names are imported on first use, so ``import riskalloc.allocate.design`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AllocatorData",
    "AllocatorDesign",
    "DesignedStrategy",
    "FactorCov",
    "LearnedAllocatorStrategy",
    "TargetDetail",
    "TrainConfig",
    "build_allocator_data",
    "load_design",
    "risk_contributions",
    "solve_risk_budgeting",
    "train_allocator",
]

_WHERE = {
    "AllocatorData": "dataset",
    "AllocatorDesign": "design",
    "DesignedStrategy": "designed",
    "FactorCov": "covariance",
    "LearnedAllocatorStrategy": "strategy",
    "TargetDetail": "designed",
    "TrainConfig": "train",
    "build_allocator_data": "dataset",
    "load_design": "design",
    "risk_contributions": "risk_budgeting",
    "solve_risk_budgeting": "risk_budgeting",
    "train_allocator": "train",
}


def __getattr__(name: str) -> Any:
    """Import a public name of the stage on first access (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'riskalloc.allocate' has no attribute {name!r}")
    return getattr(importlib.import_module(f"riskalloc.allocate.{_WHERE[name]}"), name)
