"""Shared type aliases and option sets."""

from __future__ import annotations

from typing import Literal

AssetClass = Literal["equity", "bond", "credit", "commodity", "real_estate", "cash"]
SeriesRole = Literal[
    "volatility_expectation", "credit_spread", "curve_slope", "risk_free_rate", "other"
]
