"""riskalloc: daily risk-based portfolio target weights with machine learning.

The public API (see the README's "Use it as a library")::

    import riskalloc
    from riskalloc import datasets

    X = datasets.load_etf_prices(["SPY", "TLT", "GLD"]).pct_change().iloc[1:]
    model = riskalloc.AdaptiveRiskBudgeting().fit(X)   # the production allocator
    model.weights_

Names are imported on first use, so ``import riskalloc`` stays light (no torch, no skfolio).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AdaptiveRiskBudgeting",
    "AllocatorDesign",
    "MarketData",
    "VolForecaster",
    "__version__",
    "backtest",
    "datasets",
    "load_design",
    "risk_budgeting_weights",
]

_LAZY = {
    "AdaptiveRiskBudgeting": ("riskalloc.estimator", "AdaptiveRiskBudgeting"),
    "AllocatorDesign": ("riskalloc.allocate.design", "AllocatorDesign"),
    "MarketData": ("riskalloc.market", "MarketData"),
    "VolForecaster": ("riskalloc.api", "VolForecaster"),
    "load_design": ("riskalloc.allocate.design", "load_design"),
    "risk_budgeting_weights": ("riskalloc.api", "risk_budgeting_weights"),
    "backtest": ("riskalloc.backtest", None),  # a callable module: riskalloc.backtest(...)
    "datasets": ("riskalloc.datasets", None),
}

if TYPE_CHECKING:
    from riskalloc import backtest, datasets
    from riskalloc.allocate.design import AllocatorDesign, load_design
    from riskalloc.api import VolForecaster, risk_budgeting_weights
    from riskalloc.estimator import AdaptiveRiskBudgeting
    from riskalloc.market import MarketData


def __getattr__(name: str) -> Any:
    """Import a public name on first access (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'riskalloc' has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Public names, for tab completion."""
    return sorted(set(globals()) | set(__all__))
