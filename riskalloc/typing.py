"""Shared type aliases and option sets."""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.floating]

SourceName = Literal["sample", "yahoo", "fred", "files"]
AssetClass = Literal["equity", "bond", "credit", "commodity", "real_estate", "cash"]
SeriesRole = Literal[
    "volatility_expectation", "credit_spread", "curve_slope", "risk_free_rate", "other"
]
